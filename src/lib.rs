//! hookwarden manages Slack alert webhooks declaratively: desired state in a YAML file
//! with age-encrypted secrets, planned against the applied state and applied from git
//! and CI.
//!
//! ```text
//! cli -> config::load -> config::open (secrets) -> reconcile -+-> state (read) -> plan (pure) -> render (pure)
//!                                                             +-> apply -> state (write)
//! ```
//!
//! - [`cli`]: clap types and dispatch only; [`commands`]: one module per command.
//! - [`config`]: YAML -> raw types -> valid config -> decrypted desired state, with
//!   every problem and its position.
//! - [`secrets`]: age identities and recipients, encryption, the redacting `Secret`.
//! - [`state`]: the sled store, the only module that touches sled.
//! - [`plan`]: pure diff of desired against applied; [`render`]: pure text, JSON and
//!   markdown of a plan.
//! - [`apply`]: the writes that carry out a plan; [`reconcile`]: one pass, shared by the
//!   commands.
//! - [`error`]: the program's error type and how it is printed once, at the top.

pub mod admin;
pub mod alert;
pub mod apply;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod directory;
pub mod error;
pub mod metrics;
pub mod outbox;
pub mod plan;
pub mod planfile;
pub mod reconcile;
pub mod render;
pub mod secrets;
pub mod server;
pub mod slack;
pub mod state;
pub mod watch;

pub use cli::run;
pub use error::{Error, Exit};
