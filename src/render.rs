//! Showing a plan: text for terminals and logs, JSON for programs, markdown for
//! pull-request comments.
//!
//! Pure: a plan in, a string out. Plans only ever hold redacted URLs, so nothing here
//! can print a secret.

use std::fmt::Write as _;

use serde::Serialize;
use similar::{ChangeTag, capture_diff_slices};

use crate::plan::{Action, Change, Field, Plan, RoutesChange, Summary, TokenChange, View};

/// How a command prints its data (markdown: `plan` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// ANSI colours, on only when writing to a terminal and `NO_COLOR` is unset.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn symbol(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Create => ("+", "32"),
        Action::Update => ("~", "33"),
        Action::Rotate => ("±", "35"),
        Action::Delete => ("-", "31"),
    }
}

/// What a plan would do: `2 to create, 0 to update, 0 to rotate, 0 to delete; bot
/// token: set`.
pub fn summary_line(plan: &Plan) -> String {
    changes_line(plan, Tense::Planned)
}

/// What an apply did, in the past tense: `2 created, 0 updated, 0 rotated, 0 deleted; bot
/// token: set`.
pub fn done_line(plan: &Plan) -> String {
    changes_line(plan, Tense::Done)
}

#[derive(Clone, Copy)]
enum Tense {
    Planned,
    Done,
}

fn changes_line(plan: &Plan, tense: Tense) -> String {
    let counted = |n: usize, action| match tense {
        Tense::Planned => format!("{n} to {}", action_word(action)),
        Tense::Done => format!("{n} {}", past_word(action)),
    };
    let Summary {
        create,
        update,
        rotate,
        delete,
    } = plan.summary();
    let mut line = [
        (create, Action::Create),
        (update, Action::Update),
        (rotate, Action::Rotate),
        (delete, Action::Delete),
    ]
    .map(|(n, action)| counted(n, action))
    .join(", ");
    if let Some(token) = plan.token {
        let word = match tense {
            Tense::Planned => token_word(token),
            Tense::Done => token_past(token),
        };
        let _ = write!(line, "; bot token: {word}");
    }
    if let Some(routes) = &plan.routes {
        let word = match tense {
            Tense::Planned => action_word(routes.action),
            Tense::Done => past_word(routes.action),
        };
        let _ = write!(line, "; routes: {word}");
    }
    if !plan.templates.is_empty() {
        let count = |action| plan.templates.iter().filter(|t| t.action == action).count();
        let parts: Vec<String> = [Action::Create, Action::Update, Action::Delete]
            .into_iter()
            .filter(|a| count(*a) > 0)
            .map(|a| counted(count(a), a))
            .collect();
        let _ = write!(line, "; templates: {}", parts.join(", "));
    }
    line
}

fn past_word(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Rotate => "rotated",
        Action::Delete => "deleted",
    }
}

fn token_past(change: TokenChange) -> &'static str {
    match change {
        TokenChange::Set => "set",
        TokenChange::Rotate => "rotated",
        TokenChange::Remove => "removed",
    }
}

fn action_word(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Rotate => "rotate",
        Action::Delete => "delete",
    }
}

fn token_word(change: TokenChange) -> &'static str {
    match change {
        TokenChange::Set => "set",
        TokenChange::Rotate => "rotate",
        TokenChange::Remove => "remove",
    }
}

/// The plan as a person reads it, Terraform-style.
pub fn text(plan: &Plan, style: Style) -> String {
    text_with(plan, style, false)
}

/// [`text`], for an apply that was given `--allow-mass-delete` when `allowed`.
pub fn text_with(plan: &Plan, style: Style, allowed: bool) -> String {
    if plan.is_empty() {
        let mut out = format!(
            "No changes. The applied state (serial {}) matches the desired state.\n",
            plan.state_serial
        );
        warnings(&mut out, plan, style);
        return out;
    }
    let width = plan
        .changes
        .iter()
        .map(|c| c.id.len())
        .chain(plan.templates.iter().map(|t| t.id.len() + "template ".len()))
        .chain([9])
        .max()
        .unwrap_or(9);
    let mut out = String::from("hookwarden will make these changes:\n\n");
    for change in &plan.changes {
        let (sign, color) = symbol(change.action);
        let action = format!("{:?}", change.action).to_lowercase();
        let _ = writeln!(
            out,
            "  {} {:<width$}  {}",
            style.paint(color, sign),
            change.id,
            style.paint(color, &action)
        );
        details(&mut out, change, style);
        out.push('\n');
    }
    if let Some(token) = plan.token {
        let (sign, color) = match token {
            TokenChange::Set => ("+", "32"),
            TokenChange::Rotate => ("±", "35"),
            TokenChange::Remove => ("-", "31"),
        };
        let _ = writeln!(
            out,
            "  {} {:<width$}  {}\n",
            style.paint(color, sign),
            "bot token",
            style.paint(color, token_word(token))
        );
    }
    let heading = |out: &mut String, action: Action, what: &str| {
        let (sign, color) = symbol(action);
        let _ = writeln!(
            out,
            "  {} {what:<width$}  {}",
            style.paint(color, sign),
            style.paint(color, action_word(action))
        );
    };
    if let Some(routes) = &plan.routes {
        heading(&mut out, routes.action, "routes");
        routes_diff(&mut out, routes, style);
        out.push('\n');
    }
    for template in &plan.templates {
        heading(&mut out, template.action, &format!("template {}", template.id));
    }
    if !plan.templates.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "Plan: {}.", summary_line(plan));
    if plan.is_mass_deletion() {
        let why = if allowed {
            "as --allow-mass-delete allows"
        } else {
            "`apply` refuses it without --allow-mass-delete"
        };
        let _ = writeln!(
            out,
            "\n{} this plan deletes {} of {} webhooks; {why}.",
            style.paint("1;33", "Warning:"),
            plan.summary().delete,
            plan.applied_webhooks
        );
    }
    warnings(&mut out, plan, style);
    out
}

fn warnings(out: &mut String, plan: &Plan, style: Style) {
    for warning in &plan.warnings {
        let _ = writeln!(out, "\n{} {warning}", style.paint("1;33", "Warning:"));
    }
}

fn details(out: &mut String, change: &Change, style: Style) {
    let quote = |s: &str| format!("{s:?}");
    let channel = |v: &View| v.channel.as_deref().map_or_else(|| "(none)".to_owned(), quote);
    match (&change.before, &change.after) {
        (None, Some(after)) => {
            let _ = writeln!(out, "      url      = {}", after.url);
            let _ = writeln!(out, "      name     = {}", quote(&after.name));
            if after.channel.is_some() {
                let _ = writeln!(out, "      channel  = {}", channel(after));
            }
            if !after.mentions.is_empty() {
                let _ = writeln!(out, "      mentions = {:?}", after.mentions);
            }
        }
        (Some(before), None) => {
            let _ = writeln!(out, "      name     = {}", quote(&before.name));
            let _ = writeln!(out, "      url      = {}", before.url);
        }
        (Some(before), Some(after)) => {
            for field in &change.fields {
                match field {
                    Field::Url => {
                        let _ = writeln!(out, "      url      = {} -> {}", before.url, after.url);
                    }
                    Field::Name => {
                        let _ = writeln!(
                            out,
                            "      name     = {} -> {}",
                            quote(&before.name),
                            quote(&after.name)
                        );
                    }
                    Field::Channel => {
                        let _ = writeln!(out, "      channel  = {} -> {}", channel(before), channel(after));
                    }
                    Field::Mentions => mentions_diff(out, &before.mentions, &after.mentions, style),
                }
            }
        }
        (None, None) => {}
    }
}

/// Mentions as a line diff: `+` added, `-` removed, unchanged ones for context.
fn mentions_diff(out: &mut String, before: &[String], after: &[String], style: Style) {
    out.push_str("      mentions:\n");
    for op in capture_diff_slices(similar::Algorithm::Myers, before, after) {
        for change in op.iter_changes(before, after) {
            let value = change.value();
            let line = match change.tag() {
                ChangeTag::Insert => style.paint("32", &format!("+ {value:?}")),
                ChangeTag::Delete => style.paint("31", &format!("- {value:?}")),
                ChangeTag::Equal => format!("  {value:?}"),
            };
            let _ = writeln!(out, "        {line}");
        }
    }
}

/// The routes as a line diff, one route a line, in order.
fn routes_diff(out: &mut String, change: &RoutesChange, style: Style) {
    let (before, after) = (&change.before, &change.after);
    for op in capture_diff_slices(similar::Algorithm::Myers, before, after) {
        for line in op.iter_changes(before, after) {
            let value = line.value();
            let shown = match line.tag() {
                ChangeTag::Insert => style.paint("32", &format!("+ {value}")),
                ChangeTag::Delete => style.paint("31", &format!("- {value}")),
                ChangeTag::Equal => format!("  {value}"),
            };
            let _ = writeln!(out, "      {shown}");
        }
    }
}

/// The JSON document of DESIGN.md section 2 (`format_version` 1).
#[derive(Debug, Serialize)]
struct JsonPlan<'a> {
    format_version: u32,
    state_serial: u64,
    changes: Vec<JsonChange<'a>>,
    summary: Summary,
    mass_deletion: bool,
    warnings: &'a [String],
}

#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum JsonChange<'a> {
    Webhook {
        action: Action,
        id: &'a str,
        fields: &'a [Field],
        before: Option<&'a View>,
        after: Option<&'a View>,
    },
    BotToken {
        action: TokenChange,
    },
    Routes {
        action: Action,
        before: &'a [String],
        after: &'a [String],
    },
    Template {
        action: Action,
        id: &'a str,
    },
}

pub fn json(plan: &Plan) -> String {
    let mut text = serde_json::to_string_pretty(&json_value(plan)).expect("a plan serializes");
    text.push('\n');
    text
}

/// The JSON document, for embedding in another one.
pub fn json_value(plan: &Plan) -> serde_json::Value {
    let mut changes: Vec<JsonChange<'_>> = plan
        .changes
        .iter()
        .map(|c| JsonChange::Webhook {
            action: c.action,
            id: &c.id,
            fields: &c.fields,
            before: c.before.as_ref(),
            after: c.after.as_ref(),
        })
        .collect();
    changes.extend(plan.token.map(|action| JsonChange::BotToken { action }));
    changes.extend(plan.routes.as_ref().map(|r| JsonChange::Routes {
        action: r.action,
        before: &r.before,
        after: &r.after,
    }));
    changes.extend(plan.templates.iter().map(|t| JsonChange::Template {
        action: t.action,
        id: &t.id,
    }));
    let document = JsonPlan {
        format_version: 1,
        state_serial: plan.state_serial,
        changes,
        summary: plan.summary(),
        mass_deletion: plan.is_mass_deletion(),
        warnings: &plan.warnings,
    };
    serde_json::to_value(&document).expect("a plan serializes")
}

/// A pull-request comment: a table of changes and the text plan in a `diff` block.
pub fn markdown(plan: &Plan) -> String {
    if plan.is_empty() {
        return "#### hookwarden plan: no changes\n\nThe applied state matches the desired state.\n"
            .to_owned();
    }
    let mut out = format!(
        "#### hookwarden plan: {}\n\n| | webhook | action | fields |\n|---|---|---|---|\n",
        summary_line(plan)
    );
    for change in &plan.changes {
        let fields: Vec<String> = change
            .fields
            .iter()
            .map(|f| format!("{f:?}").to_lowercase())
            .collect();
        let action = format!("{:?}", change.action).to_lowercase();
        let _ = writeln!(
            out,
            "| {} | `{}` | {action} | {} |",
            symbol(change.action).0,
            change.id,
            fields.join(", ")
        );
    }
    if let Some(token) = plan.token {
        let _ = writeln!(out, "| 🔑 | bot token | {} | |", token_word(token));
    }
    if let Some(routes) = &plan.routes {
        let _ = writeln!(
            out,
            "| {} | routes | {} | {} → {} routes |",
            symbol(routes.action).0,
            action_word(routes.action),
            routes.before.len(),
            routes.after.len()
        );
    }
    for template in &plan.templates {
        let _ = writeln!(
            out,
            "| {} | template `{}` | {} | |",
            symbol(template.action).0,
            template.id,
            action_word(template.action)
        );
    }
    if plan.is_mass_deletion() {
        out.push_str("\n> [!WARNING]\n> This plan deletes more than half of the webhooks; `apply` needs `--allow-mass-delete`.\n");
    }
    for warning in &plan.warnings {
        let _ = write!(out, "\n> [!WARNING]\n> {warning}\n");
    }
    // In a `diff` block, a line's first character picks its colour.
    let details = text(plan, Style { color: false })
        .lines()
        .fold(String::new(), |mut out, line| {
            out.push_str(line.strip_prefix("  ").unwrap_or(line));
            out.push('\n');
            out
        });
    let _ = write!(
        out,
        "\n<details><summary>Details</summary>\n\n```diff\n{details}```\n\n</details>\n"
    );
    out
}
