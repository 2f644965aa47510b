//! `hookwarden render --alertmanager FILE | --grafana FILE | --alert FILE`: the Slack
//! messages a body would become, offline, by the same code the daemon runs: the file's
//! routes, templates and webhook mentions, and the applied directory. Nothing is sent.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args};
use serde::Serialize;
use serde_json::Value;

use super::Context;
use crate::alert::{self, AlertRequest};
use crate::config::Config;
use crate::directory::Index;
use crate::error::{Error, Exit};
use crate::render::Format;
use crate::routes::{self, Notification, Router, Target};
use crate::server::{BODY_LIMIT, RECEIVER_BODY_LIMIT};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("body").required(true).args(["alertmanager", "grafana", "alert"])))]
pub struct RenderArgs {
    /// An Alertmanager `webhook_config` body, as `POST /v1/alertmanager` takes it.
    #[arg(long, value_name = "FILE")]
    pub alertmanager: Option<PathBuf>,

    /// A Grafana webhook contact point's body, as `POST /v1/grafana` takes it.
    #[arg(long, value_name = "FILE")]
    pub grafana: Option<PathBuf>,

    /// A hookwarden alert, as `POST /v1/alerts` takes it.
    #[arg(long, value_name = "FILE")]
    pub alert: Option<PathBuf>,

    /// Render the whole notification for this webhook in the built-in layout, as
    /// `/v1/alertmanager/WEBHOOK` does, instead of by the routes.
    #[arg(long, value_name = "WEBHOOK", conflicts_with = "alert")]
    pub webhook: Option<String>,
}

impl RenderArgs {
    /// The body's file.
    pub fn input(&self) -> Option<&Path> {
        [&self.alertmanager, &self.grafana, &self.alert]
            .into_iter()
            .find_map(|p| p.as_deref())
    }
}

/// What `render --format json` prints.
#[derive(Debug, Default, Serialize)]
struct Rendered {
    messages: Vec<Shown>,
    /// What the daemon would keep as a dead letter instead of sending.
    dead_letters: Vec<DeadLetter>,
    /// Mentions that resolve to no one; they are sent as plain text.
    unresolved_mentions: Vec<String>,
    /// Templates that failed on this body; their groups use the built-in layout.
    template_failures: Vec<TemplateFailure>,
    /// Whether a synced directory resolved the mentions.
    directory_synced: bool,
}

#[derive(Debug, Serialize)]
struct Shown {
    webhook: String,
    /// What Slack receives: `text` and `blocks`.
    payload: Value,
}

#[derive(Debug, Serialize)]
struct DeadLetter {
    reason: &'static str,
    payload: Value,
}

#[derive(Debug, Serialize)]
struct TemplateFailure {
    template: String,
    error: String,
}

pub fn run(ctx: &mut Context<'_>, args: &RenderArgs) -> Result<Exit, Error> {
    super::no_markdown(ctx, "render")?;
    let config = ctx.load_config()?;
    let directory = applied_directory(ctx)?;
    if let Some(id) = &args.webhook {
        known_webhook(&config, id)?;
    }
    let mut rendered = match (&args.alert, args.input()) {
        (Some(path), _) => one_alert(ctx, &config, directory.as_ref(), path)?,
        (None, Some(path)) => notification(ctx, &config, directory.as_ref(), path, args.webhook.as_deref())?,
        (None, None) => unreachable!("clap requires one of --alertmanager, --grafana, --alert"),
    };
    rendered.directory_synced = directory.is_some();
    let shown = match ctx.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&rendered).expect("the rendering serializes")
        ),
        _ => text(&rendered),
    };
    ctx.print(&shown)?;
    Ok(Exit::Success)
}

/// The applied directory, if one was ever synced.
fn applied_directory(ctx: &Context<'_>) -> Result<Option<Index>, Error> {
    let Some(store) = ctx.open_existing_store("render")? else {
        return Ok(None);
    };
    Ok(store.directory()?.map(|synced| Index::new(synced.directory)))
}

fn known_webhook(config: &Config, id: &str) -> Result<(), Error> {
    if config.webhooks.iter().any(|w| w.id == id) {
        return Ok(());
    }
    Err(Error::UnknownWebhook {
        id: id.to_owned(),
        known: config.webhooks.iter().map(|w| w.id.clone()).collect(),
    })
}

/// A webhook's `mentions:` in the file.
fn webhook_mentions(config: &Config, id: &str) -> Vec<String> {
    config
        .webhooks
        .iter()
        .find(|w| w.id == id)
        .map(|w| w.mentions.iter().map(|m| m.text.clone()).collect())
        .unwrap_or_default()
}

fn notification(
    ctx: &Context<'_>,
    config: &Config,
    directory: Option<&Index>,
    path: &Path,
    webhook: Option<&str>,
) -> Result<Rendered, Error> {
    let text = ctx.read_input(path, RECEIVER_BODY_LIMIT)?;
    let notification: Notification = parse(path, &text, "an Alertmanager or Grafana webhook body (JSON)")?;
    let router = Router::new(&config.routing);
    let target = match webhook {
        Some(id) => Target::Webhook(id),
        None => Target::Routes(&router),
    };
    let built = routes::messages(
        &notification,
        target,
        &|id| webhook_mentions(config, id),
        directory,
    );
    Ok(Rendered {
        messages: built
            .messages
            .into_iter()
            .map(|m| Shown {
                webhook: m.webhook,
                payload: m.payload,
            })
            .collect(),
        dead_letters: built
            .unrouted
            .into_iter()
            .map(|payload| DeadLetter {
                reason: "no_route",
                payload,
            })
            .collect(),
        unresolved_mentions: built.unresolved,
        template_failures: built
            .template_failures
            .into_iter()
            .map(|(template, error)| TemplateFailure { template, error })
            .collect(),
        directory_synced: false,
    })
}

fn one_alert(
    ctx: &Context<'_>,
    config: &Config,
    directory: Option<&Index>,
    path: &Path,
) -> Result<Rendered, Error> {
    let text = ctx.read_input(path, BODY_LIMIT)?;
    let request: AlertRequest = parse(
        path,
        &text,
        "a hookwarden alert (JSON with `webhook` and `text` or `blocks`)",
    )?;
    known_webhook(config, &request.webhook)?;
    let defaults = webhook_mentions(config, &request.webhook);
    let payload = alert::build(&request, &defaults, directory).map_err(|refusal| Error::AlertRefused {
        code: refusal.code(),
        message: refusal.message(),
    })?;
    Ok(Rendered {
        messages: vec![Shown {
            webhook: request.webhook,
            payload,
        }],
        ..Rendered::default()
    })
}

/// `text` as JSON of type `T`, or where and why it is not.
fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    expected: &'static str,
) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|error| Error::InputInvalid {
        path: path.to_owned(),
        line: error.line(),
        column: error.column(),
        reason: without_position(&error),
        expected,
    })
}

/// serde_json's message without its trailing ` at line L column C`.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn text(rendered: &Rendered) -> String {
    let mut out = String::new();
    let count = rendered.messages.len();
    for (i, message) in rendered.messages.iter().enumerate() {
        let _ = writeln!(out, "Message {} of {count} to {}:", i + 1, message.webhook);
        let _ = writeln!(out, "{}", pretty(&message.payload));
    }
    if count == 0 {
        let _ = writeln!(out, "No message would be sent.");
    }
    for dead in &rendered.dead_letters {
        let _ = writeln!(
            out,
            "Dead letter ({}): alerts no route reaches, kept by the daemon and shown by `hookwarden alerts list`:",
            dead.reason
        );
        let _ = writeln!(out, "{}", pretty(&dead.payload));
    }
    if !rendered.unresolved_mentions.is_empty() {
        let why = if rendered.directory_synced {
            "they resolve to no one in the synced directory"
        } else {
            "the directory was never synced (`hookwarden directory sync`)"
        };
        let _ = writeln!(
            out,
            "Sent as plain text, since {why}: {}",
            rendered.unresolved_mentions.join(", ")
        );
    }
    for failure in &rendered.template_failures {
        let _ = writeln!(
            out,
            "Template `{}` failed ({}); its alerts use the built-in layout.",
            failure.template, failure.error
        );
    }
    out
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("a payload serializes")
}
