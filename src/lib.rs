//! hookwarden manages Slack alert webhooks declaratively: desired state in a YAML file
//! with age-encrypted secrets, checked, planned and applied from git and CI.
//!
//! ```text
//! cli -> config::load -> config::open (secrets) -> output
//! ```
//!
//! - [`cli`]: clap types and dispatch only.
//! - [`config`]: YAML -> raw types -> valid config -> decrypted desired state, with
//!   every problem and its position.
//! - [`secrets`]: age identities and recipients, encryption, the redacting `Secret`.
//! - [`error`]: the program's error type and how it is printed once, at the top.

pub mod cli;
pub mod config;
mod encrypt;
pub mod error;
pub mod secrets;
mod validate;

pub use cli::run;
pub use error::{Error, Exit};
