//! `routes:` and `templates:`: the rules of the receivers' routing, each problem at its
//! place in the file. A template's own errors point into the template: at the line of
//! the file that holds the template's failing line.

use std::collections::{BTreeMap, HashSet};

use super::Mention;
use super::problem::{Position, Problem};
use super::raw::{RawRoute, RawTemplate};
use super::shape::truncated;
use super::validate::Check;
use crate::routes::{RouteSpec, Routing, TemplateProblem, TemplateSpec, Templates, anchored};

const MAX_TEMPLATE_ID_LEN: usize = 64;

impl Check<'_> {
    /// The valid routing of the file, and the routes' mentions with their positions.
    pub(super) fn routing(
        &mut self,
        routes: Vec<(usize, RawRoute)>,
        templates: Vec<(String, RawTemplate)>,
        webhook_ids: &[String],
    ) -> (Routing, Vec<Mention>) {
        let templates: BTreeMap<String, TemplateSpec> = templates
            .into_iter()
            .filter_map(|(id, raw)| self.template(&id, raw).map(|spec| (id, spec)))
            .collect();
        let template_ids: Vec<&str> = templates.keys().map(String::as_str).collect();
        let mut mentions = Vec::new();
        let routes = routes
            .into_iter()
            .filter_map(|(i, raw)| self.route(i, raw, webhook_ids, &template_ids, &mut mentions))
            .collect();
        (Routing { routes, templates }, mentions)
    }

    fn route(
        &mut self,
        index: usize,
        raw: RawRoute,
        webhook_ids: &[String],
        template_ids: &[&str],
        mentions: &mut Vec<Mention>,
    ) -> Option<RouteSpec> {
        let path = format!("routes[{index}]");
        let before = self.problems.len();
        for name in raw.matchers.keys().chain(raw.match_re.keys()) {
            self.label_name(&path, name, &raw);
        }
        for (name, pattern) in &raw.match_re {
            if let Err(error) = anchored(pattern) {
                let field = format!("{path}.match_re.{name}");
                self.report(
                    Problem::new(
                        "invalid-regex",
                        self.positions.value(&field),
                        format!("`{field}` is not a valid regular expression: {}", regex_reason(&error)),
                    )
                    .help("write a regular expression as Alertmanager's `match_re` takes it, such as `critical|page`; it is anchored at both ends"),
                );
            }
        }
        if let Some(receiver) = &raw.receiver
            && self.printable(|| format!("{path}.receiver"), receiver)
            && receiver.trim().is_empty()
        {
            self.report(
                Problem::new(
                    "empty-receiver",
                    self.positions.value(&format!("{path}.receiver")),
                    format!("`{path}.receiver` is empty"),
                )
                .help("write the name of the Alertmanager receiver this route is for, or remove the key"),
            );
        }
        let webhooks = self.route_webhooks(&path, raw.webhooks.as_deref(), webhook_ids);
        if let Some(template) = &raw.template
            && !template_ids.contains(&template.as_str())
        {
            let field = format!("{path}.template");
            self.report(
                Problem::new(
                    "unknown-template",
                    self.positions.value(&field),
                    format!("`{field}`: no template has the id `{}`", truncated(template, 70)),
                )
                .help(suggestion(template, template_ids, "templates")),
            );
        }
        let route_mentions: Vec<Mention> = raw
            .mentions
            .iter()
            .enumerate()
            .filter_map(|(i, text)| self.mention(&format!("{path}.mentions[{i}]"), text))
            .collect();
        // A missing `webhooks` was reported by the structural pass.
        if self.problems.len() > before || raw.webhooks.is_none() {
            return None;
        }
        let spec = RouteSpec {
            matchers: raw.matchers,
            match_re: raw.match_re,
            receiver: raw.receiver.map(|r| r.trim().to_owned()),
            webhooks,
            mentions: route_mentions.iter().map(|m| m.text.clone()).collect(),
            template: raw.template,
            continue_matching: raw.continue_matching,
        };
        mentions.extend(route_mentions);
        Some(spec)
    }

    /// Checks a route's `webhooks:` list against the file's webhook ids.
    fn route_webhooks(
        &mut self,
        path: &str,
        listed: Option<&[String]>,
        webhook_ids: &[String],
    ) -> Vec<String> {
        let webhooks = listed.unwrap_or_default().to_vec();
        if listed.is_some() && webhooks.is_empty() {
            self.report(
                Problem::new(
                    "empty-webhooks",
                    self.positions.value(&format!("{path}.webhooks")),
                    format!("`{path}.webhooks` is empty"),
                )
                .help(
                    "list the ids of the webhooks this route sends to, such as `webhooks: [general-alerts]`",
                ),
            );
        }
        let mut seen = HashSet::new();
        for (j, id) in webhooks.iter().enumerate() {
            let field = format!("{path}.webhooks[{j}]");
            let at = self.positions.value(&field);
            if !webhook_ids.iter().any(|known| known == id) {
                let known: Vec<&str> = webhook_ids.iter().map(String::as_str).collect();
                self.report(
                    Problem::new(
                        "unknown-webhook",
                        at,
                        format!("`{field}`: no webhook has the id `{}`", truncated(id, 70)),
                    )
                    .help(suggestion(id, &known, "webhook ids")),
                );
            } else if !seen.insert(id.as_str()) {
                self.report(
                    Problem::new(
                        "duplicate-webhook",
                        at,
                        format!("`{field}`: the webhook `{id}` is listed twice"),
                    )
                    .help("list each webhook once; a route sends one message per webhook"),
                );
            }
        }
        webhooks
    }

    /// Reports a matcher whose name is not a label name.
    fn label_name(&mut self, path: &str, name: &str, raw: &RawRoute) {
        if crate::routes::is_label_name(name) {
            return;
        }
        let map = if raw.matchers.contains_key(name) {
            "match"
        } else {
            "match_re"
        };
        self.report(
            Problem::new(
                "invalid-label-name",
                self.positions.key(&format!("{path}.{map}.{name}")),
                format!("`{}` in `{path}.{map}` is not a label name", truncated(name, 40)),
            )
            .help("label names are letters, digits and `_`, not starting with a digit, as in Prometheus"),
        );
    }

    fn template(&mut self, id: &str, raw: RawTemplate) -> Option<TemplateSpec> {
        let path = format!("templates.{id}");
        let valid_id = !id.is_empty()
            && id.len() <= MAX_TEMPLATE_ID_LEN
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_id {
            self.report(
                Problem::new("invalid-template-id", self.positions.key(&path), format!("`{}` is not a valid template id", truncated(id, 70)))
                    .help(format!("use 1 to {MAX_TEMPLATE_ID_LEN} characters of letters, digits, `-` and `_`, such as `budget`")),
            );
            return None;
        }
        // A missing `text` was reported by the structural pass.
        let text = raw.text?;
        if text.trim().is_empty() && raw.blocks.is_none() {
            self.report(
                Problem::new("empty-template", self.positions.value(&format!("{path}.text")), format!("`{path}.text` is empty"))
                    .help("Slack refuses a message with no text: write the message's text, such as `text: \"{{ status | upper }}: {{ commonLabels.alertname }}\"`"),
            );
            return None;
        }
        let spec = TemplateSpec {
            text,
            blocks: raw.blocks,
        };
        let problems = Templates::check(id, &spec);
        for problem in &problems {
            let problem = self.template_problem(&path, problem);
            self.report(problem);
        }
        problems.is_empty().then_some(spec)
    }

    /// `problem` of the template at `path`, placed in the file.
    fn template_problem(&self, path: &str, problem: &TemplateProblem) -> Problem {
        let field = format!("{path}.{}", problem.field);
        let at = self.within(&field, problem.line);
        let (code, what, help) = if problem.syntax {
            (
                "template-syntax",
                "is not valid MiniJinja",
                "see https://docs.rs/minijinja/latest/minijinja/syntax/ for the syntax; `{{ … }}` prints a value, `{% … %}` is a statement",
            )
        } else {
            (
                "template-render",
                "fails on the sample notification",
                "a template must render any notification: guard optional values with `| default(\"\")` or `{% if … %}`; `hookwarden render --alertmanager FILE` shows what a body becomes",
            )
        };
        Problem::new(code, at, format!("`{field}` {what}: {}", problem.message)).help(help)
    }

    /// The position of line `line` (1-based) of the string at `field`: for a block scalar
    /// (`key: |` or `key: >`) the line of the file that holds it, else the value itself.
    fn within(&self, field: &str, line: Option<usize>) -> Position {
        let start = self.positions.value(field);
        let Some(line) = line.filter(|&l| l >= 1) else {
            return start;
        };
        let text_line = |n: usize| self.text.lines().nth(n.checked_sub(1)?);
        let key = self.positions.key(field);
        let block = text_line(key.line)
            .and_then(|l| l.get(l.char_indices().nth(key.column - 1)?.0..))
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(_, value)| value.trim_start().starts_with(['|', '>']));
        if !block {
            return start;
        }
        // The block's content starts on the line below the indicator, where its value is.
        let target = start.line + line - 1;
        match text_line(target) {
            Some(content) => Position {
                line: target,
                column: content.chars().take_while(|c| *c == ' ').count() + 1,
            },
            None => start,
        }
    }
}

/// The one line of a regex error that says what is wrong.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().last().unwrap_or_default())
        .to_owned()
}

/// `did you mean …?`, or the names there are.
fn suggestion(name: &str, known: &[&str], what: &str) -> String {
    let closest = known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match (closest, known.is_empty()) {
        (Some((_, k)), _) => format!("did you mean `{k}`?"),
        (None, true) => format!("the file defines no {what}"),
        (None, false) => {
            let shown: Vec<String> = known.iter().take(10).map(|k| format!("`{k}`")).collect();
            format!("the {what} in this file are {}", shown.join(", "))
        }
    }
}
