//! `hookwarden send` and `hookwarden alerts`: clients of the daemon's HTTP API.

use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::Context;
use crate::error::{Error, Exit};
use crate::remote::{Client, Target};
use crate::render::Format;
use crate::secrets::{API_TOKEN_FILE, token_from_env};

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The webhook's id.
    #[arg(long)]
    pub webhook: String,

    /// The message.
    #[arg(long)]
    pub text: String,

    /// Mention a user or group (repeatable): handle, display name, email, `here`.
    #[arg(long = "mention", value_name = "MENTION")]
    pub mentions: Vec<String>,

    /// De-duplicate: another alert with this key within 24 hours is not sent again.
    #[arg(long)]
    pub key: Option<String>,

    /// Send the text as Slack mrkdwn, unescaped.
    #[arg(long)]
    pub mrkdwn: bool,

    /// The daemon's base URL [default: http://$HOOKWARDEN_LISTEN, else http://127.0.0.1:8787]
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// The failed alerts (dead letters).
    List {
        /// The daemon's base URL [default: http://$HOOKWARDEN_LISTEN, else http://127.0.0.1:8787]
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// One alert's status, attempts and last error.
    Show {
        /// The alert's id.
        id: String,
        /// The daemon's base URL [default: http://$HOOKWARDEN_LISTEN, else http://127.0.0.1:8787]
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// Queue a failed alert again.
    Retry {
        /// The failed alert's id.
        id: String,
        /// The daemon's base URL [default: http://$HOOKWARDEN_LISTEN, else http://127.0.0.1:8787]
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
}

/// The endpoint: `--endpoint`, else `HOOKWARDEN_LISTEN` as the daemon uses it.
fn endpoint(given: Option<&str>) -> String {
    let listen = std::env::var("HOOKWARDEN_LISTEN").ok().filter(|l| !l.is_empty());
    let base = given
        .map(str::to_owned)
        .or_else(|| listen.map(|l| format!("http://{l}")));
    base.unwrap_or_else(|| "http://127.0.0.1:8787".to_owned())
}

/// One request to the API, with the API token when one is configured.
fn call(method: Method, endpoint: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
    let token = token_from_env(API_TOKEN_FILE)?;
    let client = Client::new(Target::Http(endpoint.to_owned()), token, Duration::from_secs(30));
    Ok(super::runtime().block_on(client.call(method, path, body))?)
}

fn print(ctx: &mut Context<'_>, answer: &Value, text: String) -> Result<Exit, Error> {
    let shown = match ctx.format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(answer).expect("serializes")),
        _ => text,
    };
    ctx.print(&shown)?;
    Ok(Exit::Success)
}

pub fn send(ctx: &mut Context<'_>, args: &SendArgs) -> Result<Exit, Error> {
    let body = json!({
        "webhook": args.webhook,
        "text": args.text,
        "mentions": args.mentions,
        "key": args.key,
        "mrkdwn": args.mrkdwn,
    });
    let answer = call(
        Method::POST,
        &endpoint(args.endpoint.as_deref()),
        "/v1/alerts",
        Some(&body),
    )?;
    let id = answer["id"].as_str().unwrap_or_default();
    let text = if answer["duplicate"] == true {
        format!(
            "alert {id} was already accepted with this key ({})\n",
            answer["status"].as_str().unwrap_or_default()
        )
    } else {
        format!("queued alert {id}\n")
    };
    print(ctx, &answer, text)
}

pub fn alerts(ctx: &mut Context<'_>, command: &AlertsCommand) -> Result<Exit, Error> {
    match command {
        AlertsCommand::List { endpoint: given } => {
            let answer = call(
                Method::GET,
                &endpoint(given.as_deref()),
                "/v1/alerts?status=failed",
                None,
            )?;
            let rows: Vec<String> = answer["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(line)
                .collect();
            let text = if rows.is_empty() {
                "No failed alerts.\n".to_owned()
            } else {
                rows.concat()
            };
            print(ctx, &answer, text)
        }
        AlertsCommand::Show { id, endpoint: given } => {
            let path = format!("/v1/alerts/{id}");
            let answer = call(Method::GET, &endpoint(given.as_deref()), &path, None)?;
            let mut text = line(&answer);
            if let Some(digest) = answer["digest"].as_object() {
                let alerts = digest["alerts"].as_array().map_or(0, Vec::len);
                text.push_str(&format!(
                    "carried by digest {} with {alerts} alerts\n",
                    digest["id"].as_str().unwrap_or_default()
                ));
            }
            print(ctx, &answer, text)
        }
        AlertsCommand::Retry { id, endpoint: given } => {
            let path = format!("/v1/alerts/{id}/retry");
            let answer = call(Method::POST, &endpoint(given.as_deref()), &path, None)?;
            let text = format!(
                "queued again as alert {}\n",
                answer["id"].as_str().unwrap_or_default()
            );
            print(ctx, &answer, text)
        }
    }
}

/// `ID  WEBHOOK  STATUS  attempts N  LAST ERROR`.
fn line(alert: &Value) -> String {
    let field = |name: &str| {
        alert[name]
            .as_str()
            .filter(|v| !v.is_empty())
            .unwrap_or("-")
            .to_owned()
    };
    format!(
        "{}  {}  {}  attempts {}  {}\n",
        field("id"),
        field("webhook"),
        field("status"),
        alert["attempts"].as_u64().unwrap_or(0),
        field("last_error")
    )
}
