//! Integration tests: the real `hookwarden` binary, run in a temporary directory.

mod apply;
mod crash;
mod encrypt;
mod harness;
mod help;
mod validate;
