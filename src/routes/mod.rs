//! Notifications from the monitoring stack (Alertmanager, Grafana) turned into Slack
//! messages: label routes to webhooks, templates, the built-in layout, Slack's limits.
//!
//! Pure: a notification, the applied routes and templates, the webhooks' mentions and
//! the directory in; the messages to queue out. No I/O, no clock.
//!
//! ```text
//! notification -> route (labels) -> groups (webhook, route) -> template | layout -> parts
//! ```

mod build;
mod layout;
mod mentions;
pub mod notification;
mod template;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub use build::{Built, Message, Target, messages};
pub use notification::{Alert, Notification};
pub use template::{TemplateProblem, Templates, sample};

/// `notification` in the built-in layout, without mentions: how a dead letter keeps it.
pub fn layout_messages(notification: &Notification) -> Vec<serde_json::Value> {
    layout::messages(notification, &mentions::Mentions::default())
}

/// A route as the desired-state file writes it and the state keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    /// Label equality, against each alert's labels.
    #[serde(default, rename = "match", skip_serializing_if = "BTreeMap::is_empty")]
    pub matchers: BTreeMap<String, String>,
    /// Anchored regular expressions, against each alert's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_re: BTreeMap<String, String>,
    /// The notification's `receiver` must equal it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    pub webhooks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Go on to the next route after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

impl RouteSpec {
    /// The route on one line, as plans and `routes test` show it:
    /// `team="finops", severity=~"critical|page" -> finops-budgets (template budget)`.
    pub fn describe(&self) -> String {
        let mut matchers: Vec<String> = self.receiver.iter().map(|r| format!("receiver={r:?}")).collect();
        matchers.extend(
            self.matchers
                .iter()
                .map(|(name, value)| format!("{name}={value:?}")),
        );
        matchers.extend(self.match_re.iter().map(|(name, re)| format!("{name}=~{re:?}")));
        let matched = if matchers.is_empty() {
            "every alert".to_owned()
        } else {
            matchers.join(", ")
        };
        let mut extras = Vec::new();
        if !self.mentions.is_empty() {
            extras.push(format!("mentions {}", self.mentions.join(" ")));
        }
        if let Some(template) = &self.template {
            extras.push(format!("template {template}"));
        }
        if self.continue_matching {
            extras.push("continue".to_owned());
        }
        let extras = if extras.is_empty() {
            String::new()
        } else {
            format!(" ({})", extras.join("; "))
        };
        format!("{matched} -> {}{extras}", self.webhooks.join(", "))
    }
}

/// A template as the desired-state file writes it and the state keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// MiniJinja: the message's text.
    pub text: String,
    /// MiniJinja that renders to a JSON array of Block Kit blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<String>,
}

/// Routes and templates: how the receivers turn notifications into messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    #[serde(default)]
    pub templates: BTreeMap<String, TemplateSpec>,
}

/// A route ready to match.
#[derive(Debug, Clone)]
pub struct Route {
    pub spec: RouteSpec,
    regexes: Vec<(String, Regex)>,
}

impl Route {
    /// Whether an alert with `labels`, in a notification for `receiver`, matches.
    pub fn matches(&self, receiver: &str, labels: &BTreeMap<String, String>) -> bool {
        let value = |name: &str| labels.get(name).map_or("", String::as_str);
        self.spec.receiver.as_deref().is_none_or(|r| r == receiver)
            && self.spec.matchers.iter().all(|(name, want)| value(name) == want)
            && self.regexes.iter().all(|(name, re)| re.is_match(value(name)))
    }
}

/// Label names as Prometheus allows them: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Compiles `pattern` as the route matches it: anchored at both ends, as Alertmanager's
/// `match_re` is.
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
}

/// The applied routes and templates, compiled.
#[derive(Debug, Default)]
pub struct Router {
    pub routes: Vec<Route>,
    pub templates: Templates,
}

impl Router {
    /// Compiles applied routing. Everything here passed validation before it was
    /// applied; a route that no longer compiles is left out, loudly, rather than
    /// taking the others down.
    pub fn new(routing: &Routing) -> Self {
        let routes = routing
            .routes
            .iter()
            .filter_map(|spec| {
                let regexes: Result<Vec<_>, _> = spec
                    .match_re
                    .iter()
                    .map(|(name, pattern)| anchored(pattern).map(|re| (name.clone(), re)))
                    .collect();
                match regexes {
                    Ok(regexes) => Some(Route {
                        spec: spec.clone(),
                        regexes,
                    }),
                    Err(error) => {
                        tracing::error!(%error, "an applied route does not compile; it is left out");
                        None
                    }
                }
            })
            .collect();
        Router {
            routes,
            templates: Templates::new(&routing.templates),
        }
    }

    /// The routes an alert with `labels` reaches, in order: the first match, and after
    /// it the next ones while the matched route says `continue`.
    pub fn route<'a>(&'a self, receiver: &str, labels: &BTreeMap<String, String>) -> Vec<(usize, &'a Route)> {
        let mut reached = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            if route.matches(receiver, labels) {
                reached.push((index, route));
                if !route.spec.continue_matching {
                    break;
                }
            }
        }
        reached
    }
}
