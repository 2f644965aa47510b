//! A notification to the messages to queue: each alert routed by its labels, the alerts
//! that reach the same webhook through the same route grouped, each group rendered with
//! the route's template or the built-in layout, within Slack's limits.

use serde_json::{Value, json};

use super::layout::{self, MAX_BLOCKS, MAX_TEXT};
use super::mentions::{self, Mentions};
use super::notification::Notification;
use super::{Route, Router};
use crate::directory::Index;

/// Where a notification goes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// Routed by labels.
    Routes(&'a Router),
    /// All of it to this webhook, with the built-in layout.
    Webhook(&'a str),
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub webhook: String,
    pub payload: Value,
}

/// What a notification becomes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Built {
    /// In order: group by group, each group's parts in order.
    pub messages: Vec<Message>,
    /// The alerts no route reached, in the built-in layout, for the dead letters.
    pub unrouted: Vec<Value>,
    /// Mentions that resolved to no one, as written.
    pub unresolved: Vec<String>,
    /// Templates that failed at render time (`id`, why); their groups were sent in the
    /// built-in layout instead.
    pub template_failures: Vec<(String, String)>,
}

/// The messages `notification` becomes. `webhook_mentions` gives an applied webhook's
/// `mentions:`; `directory` resolves mentions.
pub fn messages(
    notification: &Notification,
    target: Target<'_>,
    webhook_mentions: &dyn Fn(&str) -> Vec<String>,
    directory: Option<&Index>,
) -> Built {
    let mut built = Built::default();
    let (groups, unrouted) = groups(notification, target);
    for group in groups {
        let subset = notification.subset(&group.alerts);
        let route_mentions = group.route.map(|r| r.spec.mentions.clone()).unwrap_or_default();
        let webhook = webhook_mentions(&group.webhook);
        let alert_mentions: Vec<&str> = subset.alerts.iter().flat_map(super::Alert::mentions).collect();
        let wanted = route_mentions
            .iter()
            .chain(&webhook)
            .map(String::as_str)
            .chain(alert_mentions);
        let mentions = mentions::resolve(wanted, directory);
        built.unresolved.extend(mentions.unresolved.iter().cloned());
        let template = group.route.and_then(|r| r.spec.template.as_deref());
        let payloads = match (target, template) {
            (Target::Routes(router), Some(id)) if router.templates.has(id) => {
                templated(router, id, &subset, &mentions, &mut built.template_failures)
            }
            _ => layout::messages(&subset, &mentions),
        };
        built.messages.extend(payloads.into_iter().map(|payload| Message {
            webhook: group.webhook.clone(),
            payload,
        }));
    }
    if !unrouted.is_empty() {
        let subset = notification.subset(&unrouted);
        built.unrouted = layout::messages(&subset, &Mentions::default());
    }
    built
}

/// Alerts that go to one webhook through one route.
struct Group<'a> {
    webhook: String,
    route: Option<&'a Route>,
    route_index: Option<usize>,
    alerts: Vec<usize>,
}

/// The groups, in the order their first alert came, and the alerts no route reached.
fn groups<'a>(notification: &Notification, target: Target<'a>) -> (Vec<Group<'a>>, Vec<usize>) {
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut unrouted = Vec::new();
    for (i, alert) in notification.alerts.iter().enumerate() {
        let reached: Vec<(Option<usize>, Option<&'a Route>, &str)> = match target {
            Target::Webhook(webhook) => vec![(None, None, webhook)],
            Target::Routes(router) => router
                .route(&notification.receiver, &alert.labels)
                .into_iter()
                .flat_map(|(index, route)| {
                    route
                        .spec
                        .webhooks
                        .iter()
                        .map(move |webhook| (Some(index), Some(route), webhook.as_str()))
                })
                .collect(),
        };
        if reached.is_empty() {
            unrouted.push(i);
        }
        for (route_index, route, webhook) in reached {
            let found = groups
                .iter_mut()
                .find(|g| g.webhook == webhook && g.route_index == route_index);
            match found {
                Some(group) if !group.alerts.contains(&i) => group.alerts.push(i),
                Some(_) => {}
                None => groups.push(Group {
                    webhook: webhook.to_owned(),
                    route,
                    route_index,
                    alerts: vec![i],
                }),
            }
        }
    }
    (groups, unrouted)
}

/// A group through template `id`: split in halves while a part is over Slack's limits,
/// and in the built-in layout where the template fails or one alert alone is too much.
fn templated(
    router: &Router,
    id: &str,
    group: &Notification,
    mentions: &Mentions,
    failures: &mut Vec<(String, String)>,
) -> Vec<Value> {
    let rendered = match router.templates.render(id, group) {
        Ok(rendered) => rendered,
        Err(problem) => {
            failures.push((id.to_owned(), problem.message));
            return layout::messages(group, mentions);
        }
    };
    let line = mentions.line();
    let text = match &line {
        Some(line) if rendered.text.is_empty() => line.clone(),
        Some(line) => format!("{line} {}", rendered.text),
        None => rendered.text.clone(),
    };
    let mut blocks = rendered.blocks.unwrap_or_default();
    if let (Some(line), false) = (&line, blocks.is_empty()) {
        blocks.insert(
            0,
            json!({"type": "section", "text": {"type": "mrkdwn", "text": line}}),
        );
    }
    let fits = text.chars().count() <= MAX_TEXT && blocks.len() <= MAX_BLOCKS;
    if fits && (!text.trim().is_empty() || !blocks.is_empty()) {
        let mut payload = json!({ "text": text });
        if !blocks.is_empty() {
            payload["blocks"] = Value::Array(blocks);
        }
        return vec![payload];
    }
    if group.alerts.len() <= 1 {
        failures.push((
            id.to_owned(),
            "the template renders one alert beyond Slack's limits, or to nothing".to_owned(),
        ));
        return layout::messages(group, mentions);
    }
    let half = group.alerts.len() / 2;
    let (first, second): (Vec<usize>, Vec<usize>) = (0..group.alerts.len()).partition(|&i| i < half);
    let mut parts = templated(router, id, &group.subset(&first), mentions, failures);
    parts.extend(templated(router, id, &group.subset(&second), mentions, failures));
    parts
}
