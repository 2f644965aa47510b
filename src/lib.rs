//! hookwarden manages Slack alert webhooks declaratively: desired state in a YAML file
//! with age-encrypted secrets, planned against the applied state and applied from git
//! and CI, and a daemon that reconciles the file and delivers alerts to Slack.
//!
//! ```text
//! main -> cli -> commands -+-> reconcile (the one pass) -+-> config -> secrets
//!                          |                             +-> plan -> render (pure)
//!                          |                             +-> state (sled)
//!                          |                             +-> slack
//!                          +-> remote (the admin exchange, the daemon's API client)
//!                          +-> daemon -> server -> alert, delivery -> slack, state
//!                                     -> reconcile            (the runner: handed in)
//! ```
//!
//! Imports run one way, from the entry points down to the pure core:
//!
//! - [`cli`]: clap's definitions, where a command runs (here, or in the daemon that
//!   holds the state), and the dispatch that builds each command's [`commands::Context`].
//! - [`commands`]: one module per command, each taking its context as a parameter.
//! - [`daemon`]: the supervisor (watch, reconcile loop, directory sync, the listeners,
//!   shutdown); it knows no command: what it runs for others is a [`remote::Runner`]
//!   handed to it by the `daemon` command.
//! - [`server`]: HTTP transport only (routes, auth, errors), delegating to [`alert`] and
//!   [`delivery`]; [`remote`]: what crosses the admin socket and the one client of the
//!   daemon's API.
//! - [`reconcile`]: the one pass that `apply` and the daemon both run: plan, guard, token
//!   check and directory read, probes, apply and audit record.
//! - [`delivery`]: the workers: pacing, retries, group commit.
//! - [`config`]: YAML -> raw types -> valid config -> decrypted desired state, with
//!   every problem and its position; [`secrets`]: age identities and recipients, the
//!   redacting `Secret`, token files.
//! - [`plan`]: pure diff of desired against applied; [`render`]: pure text, JSON and
//!   markdown of a plan; [`planfile`]: saved plans.
//! - [`state`]: the store, the only module that touches sled; [`slack`]: the client,
//!   wire types and directory sync, every answer classified in [`slack::answer`];
//!   [`alert`]: pure, a request -> a Slack message; [`directory`]: mention resolution.
//! - [`error`]: the command line's error and exit codes; [`explain`]: how any error is
//!   printed, once, at the top; [`clock`], [`actor`], [`metrics`].

pub mod actor;
pub mod alert;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod directory;
pub mod error;
pub mod explain;
pub mod metrics;
pub mod plan;
pub mod planfile;
pub mod reconcile;
pub mod remote;
pub mod render;
pub mod routes;
pub mod secrets;
pub mod server;
pub mod slack;
pub mod state;

pub use cli::run;
pub use error::{Error, Exit};
