//! One module per command: each takes its [`Context`] and its arguments, calls the
//! library, and prints.

pub mod alerts;
pub mod apply;
mod context;
pub mod daemon;
pub mod directory;
pub mod encrypt;
pub mod history;
pub mod plan;
pub mod render;
pub mod routes;
mod slack;
pub mod status;
pub mod store;
mod table;
pub mod updatekeys;
pub mod validate;

pub use context::{Context, Files, Terminal, read_bounded};

use crate::error::Error;
use crate::render::Format;

/// Refuses `--format markdown`, which only `plan` prints.
fn no_markdown(ctx: &Context<'_>, command: &'static str) -> Result<(), Error> {
    if ctx.format == Format::Markdown {
        return Err(Error::FormatUnsupported {
            command,
            format: "markdown",
        });
    }
    Ok(())
}

/// A client of the daemon's HTTP API runs on one thread: it makes a request or two.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// Frees `values` on a thread of their own: a large plan's (10,000 webhooks, their
/// state and their file) take tens of milliseconds to free, which an exiting process
/// need not wait for.
fn free_aside<T: Send + 'static>(values: T) {
    // Should no thread start, they are freed here.
    let _ = std::thread::Builder::new()
        .name("free".to_owned())
        .spawn(move || drop(values));
}
