//! Integration tests: the real `hookwarden` binary, run in a temporary directory.

mod admin;
mod apply;
mod bounds;
mod console;
mod crash;
mod daemon;
mod daemon_process;
mod encrypt;
mod fake_slack;
mod harness;
mod help;
mod postgres;
mod routes;
mod slack;
mod updatekeys;
mod validate;
mod watch;
