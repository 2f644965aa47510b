//! `hookwarden routes test LABEL=VALUE…`: which of the file's routes, and so which
//! webhooks, an alert with these labels reaches, as `amtool config routes test` shows
//! for Alertmanager's tree. Offline: the file's routes, no state, no identity.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use crate::error::{Error, Exit};
use crate::render::Format;
use crate::routes::{self, Router};

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Show the routes and webhooks an alert with these labels reaches.
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The alert's labels, such as `team=finops severity=critical`.
    #[arg(value_name = "LABEL=VALUE", value_parser = label)]
    labels: Vec<(String, String)>,

    /// The notification's receiver (Alertmanager's receiver name), for routes that
    /// match on `receiver:`.
    #[arg(long, value_name = "NAME", default_value = "")]
    receiver: String,

    /// Fail unless the alert reaches exactly these webhooks, in any order
    /// (comma-separated; empty: no route): a routing change checked in CI.
    #[arg(long, value_name = "WEBHOOK,...", value_delimiter = ',')]
    expect: Option<Vec<String>>,
}

/// `LABEL=VALUE`, the value optionally in double quotes, as amtool takes it.
fn label(arg: &str) -> Result<(String, String), String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("`{arg}` is not LABEL=VALUE"))?;
    if !routes::is_label_name(name) {
        return Err(format!(
            "`{name}` is not a label name: letters, digits and `_`, not starting with a digit"
        ));
    }
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Ok((name.to_owned(), value.to_owned()))
}

/// What `routes test --format json` prints.
#[derive(Debug, Serialize)]
struct Outcome {
    labels: BTreeMap<String, String>,
    receiver: String,
    routes: Vec<Reached>,
    /// Every webhook reached, in the order the routes reach them, each once.
    webhooks: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<Vec<String>>,
    /// Whether `webhooks` are the expected ones (with `--expect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
}

#[derive(Debug, Serialize)]
struct Reached {
    /// Where it is in the file: `routes[2]`.
    route: String,
    index: usize,
    description: String,
    webhooks: Vec<String>,
    template: Option<String>,
    mentions: Vec<String>,
}

pub fn run(ctx: &mut Context<'_>, command: &RoutesCommand) -> Result<Exit, Error> {
    super::no_markdown(ctx, "routes")?;
    let RoutesCommand::Test(args) = command;
    let config = ctx.load_config()?;
    let router = Router::new(&config.routing);
    let labels: BTreeMap<String, String> = args.labels.iter().cloned().collect();
    let routes: Vec<Reached> = router
        .route(&args.receiver, &labels)
        .into_iter()
        .map(|(index, route)| Reached {
            route: format!("routes[{index}]"),
            index,
            description: route.spec.describe(),
            webhooks: route.spec.webhooks.clone(),
            template: route.spec.template.clone(),
            mentions: route.spec.mentions.clone(),
        })
        .collect();
    let mut webhooks: Vec<String> = Vec::new();
    for webhook in routes.iter().flat_map(|r| &r.webhooks) {
        if !webhooks.contains(webhook) {
            webhooks.push(webhook.clone());
        }
    }
    let expected = args
        .expect
        .as_ref()
        .map(|e| e.iter().filter(|w| !w.is_empty()).cloned().collect::<Vec<_>>());
    let ok = expected.as_ref().map(|expected| same_set(expected, &webhooks));
    let outcome = Outcome {
        labels,
        receiver: args.receiver.clone(),
        routes,
        webhooks,
        expected,
        ok,
    };
    let shown = match ctx.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&outcome).expect("the outcome serializes")
        ),
        _ => text(&outcome, &config.routing.routes),
    };
    ctx.print(&shown)?;
    Ok(if outcome.ok == Some(false) {
        Exit::Failure
    } else {
        Exit::Success
    })
}

/// Which routes only a named receiver reaches, when none was given.
fn receiver_note(routes: &[routes::RouteSpec]) -> String {
    let only: Vec<String> = routes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.receiver.is_some())
        .map(|(i, _)| format!("routes[{i}]"))
        .collect();
    if only.is_empty() {
        return String::new();
    }
    format!(
        "Note: without --receiver NAME, no route with `receiver:` matches ({}).\n",
        only.join(", ")
    )
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

fn text(outcome: &Outcome, routes: &[routes::RouteSpec]) -> String {
    let route_count = routes.len();
    let mut out = String::new();
    let mut labels: Vec<String> = outcome
        .labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    if !outcome.receiver.is_empty() {
        labels.insert(0, format!("receiver={:?}", outcome.receiver));
    }
    let subject = if labels.is_empty() {
        "An alert without labels".to_owned()
    } else {
        format!("An alert with {}", labels.join(", "))
    };
    if outcome.routes.is_empty() {
        let _ = writeln!(
            out,
            "{subject} reaches none of the {route_count} routes: the daemon keeps it as a dead letter (no_route), \
             shown by `hookwarden alerts list`."
        );
    } else {
        let _ = writeln!(out, "{subject} reaches:");
        for reached in &outcome.routes {
            let _ = writeln!(out, "  {:<11}{}", reached.route, reached.description);
        }
        let _ = writeln!(out, "Webhooks: {}", outcome.webhooks.join(", "));
    }
    if outcome.receiver.is_empty() {
        out.push_str(&receiver_note(routes));
    }
    if let (Some(expected), Some(false)) = (&outcome.expected, outcome.ok) {
        let expected = if expected.is_empty() {
            "no webhook".to_owned()
        } else {
            expected.join(", ")
        };
        let _ = writeln!(out, "Not as expected: --expect names {expected}.");
    }
    out
}
