//! Planning: desired state and applied state in, the list of changes out.
//!
//! Pure: no I/O, no clock. A webhook's identity is its id; a rotation is a change of the
//! URL's plaintext, detected through fingerprints, so re-encrypting an unchanged URL
//! (age output is randomised) is no change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Desired, DesiredWebhook};
use crate::routes::{RouteSpec, Routing};
use crate::state::{Applied, AppliedWebhook};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The serial of the applied state this plan was made against.
    pub state_serial: u64,
    /// One change per webhook that differs, sorted by id.
    pub changes: Vec<Change>,
    pub token: Option<TokenChange>,
    /// How many webhooks the applied state had, for the mass-deletion guard.
    pub applied_webhooks: usize,
    /// Worth a look, not worth failing for.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The change to `routes:`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<RoutesChange>,
    /// One change per template that differs, sorted by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateChange>,
}

/// The routes replace the applied ones whole: their order is their meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutesChange {
    pub action: Action,
    /// Each route on one line ([`RouteSpec::describe`]), in order.
    pub before: Vec<String>,
    pub after: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateChange {
    pub id: String,
    pub action: Action,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Rotate,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Url,
    Name,
    Channel,
    Mentions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub id: String,
    pub action: Action,
    /// The fields that change; for a rotation `url` comes first.
    pub fields: Vec<Field>,
    pub before: Option<View>,
    pub after: Option<View>,
}

/// A webhook as plans show it: the URL redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub name: String,
    pub channel: Option<String>,
    pub url: String,
    pub mentions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenChange {
    Set,
    Rotate,
    Remove,
}

/// How many changes of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub rotate: usize,
    pub delete: usize,
}

pub fn plan(desired: &Desired, applied: &Applied) -> Plan {
    let mut before: BTreeMap<&str, &AppliedWebhook> =
        applied.webhooks.iter().map(|w| (w.id.as_str(), w)).collect();
    let mut changes: Vec<Change> = desired
        .webhooks
        .iter()
        .filter_map(|webhook| compare(webhook, before.remove(webhook.id.as_str())))
        .collect();
    changes.extend(before.into_values().map(|gone| Change {
        id: gone.id.clone(),
        action: Action::Delete,
        fields: Vec::new(),
        before: Some(view_applied(gone)),
        after: None,
    }));
    changes.sort_by(|a, b| a.id.cmp(&b.id));
    let token = match (&desired.bot_token, &applied.token) {
        (Some(_), None) => Some(TokenChange::Set),
        (Some(new), Some(old)) if new.fingerprint != old.secret.fingerprint => Some(TokenChange::Rotate),
        (None, Some(_)) => Some(TokenChange::Remove),
        _ => None,
    };
    Plan {
        state_serial: applied.serial,
        changes,
        warnings: applied_team_warnings(desired, applied, token),
        token,
        applied_webhooks: applied.webhooks.len(),
        routes: routes_change(&desired.routing, &applied.routing),
        templates: template_changes(&desired.routing, &applied.routing),
    }
}

fn routes_change(desired: &Routing, applied: &Routing) -> Option<RoutesChange> {
    if desired.routes == applied.routes {
        return None;
    }
    let action = match (applied.routes.is_empty(), desired.routes.is_empty()) {
        (true, _) => Action::Create,
        (false, true) => Action::Delete,
        (false, false) => Action::Update,
    };
    let lines = |routes: &[RouteSpec]| routes.iter().map(RouteSpec::describe).collect();
    Some(RoutesChange {
        action,
        before: lines(&applied.routes),
        after: lines(&desired.routes),
    })
}

fn template_changes(desired: &Routing, applied: &Routing) -> Vec<TemplateChange> {
    let ids: std::collections::BTreeSet<&String> =
        desired.templates.keys().chain(applied.templates.keys()).collect();
    ids.into_iter()
        .filter_map(|id| {
            let action = match (applied.templates.get(id), desired.templates.get(id)) {
                (None, Some(_)) => Action::Create,
                (Some(_), None) => Action::Delete,
                (Some(old), Some(new)) if old != new => Action::Update,
                _ => return None,
            };
            Some(TemplateChange {
                id: id.clone(),
                action,
            })
        })
        .collect()
}

/// A webhook of another workspace than the bot token's cannot have its mentions
/// resolved: the directory is the token's workspace. Unknown while the token changes.
fn applied_team_warnings(desired: &Desired, applied: &Applied, token: Option<TokenChange>) -> Vec<String> {
    match applied
        .token
        .as_ref()
        .and_then(|t| t.facts.as_ref())
        .filter(|_| token.is_none())
    {
        Some(facts) => team_warnings(desired, &facts.team_id, &facts.team),
        None => Vec::new(),
    }
}

/// A warning for each webhook whose Slack team is not `team_id` (named `team`).
pub fn team_warnings(desired: &Desired, team_id: &str, team: &str) -> Vec<String> {
    desired
        .webhooks
        .iter()
        .filter(|w| w.team != team_id)
        .map(|w| {
            format!(
                "webhook `{}` belongs to Slack team {}, the bot token to {team_id} ({team}): mentions in its alerts resolve against the token's directory",
                w.id, w.team,
            )
        })
        .collect()
}

fn compare(desired: &DesiredWebhook, applied: Option<&AppliedWebhook>) -> Option<Change> {
    let after = view_desired(desired);
    let Some(applied) = applied else {
        let mut fields = vec![Field::Url, Field::Name];
        fields.extend(desired.channel.as_ref().map(|_| Field::Channel));
        fields.extend((!desired.mentions.is_empty()).then_some(Field::Mentions));
        return Some(Change {
            id: desired.id.clone(),
            action: Action::Create,
            fields,
            before: None,
            after: Some(after),
        });
    };
    let rotated = desired.url.fingerprint != applied.url.fingerprint;
    let mut fields = Vec::new();
    fields.extend(rotated.then_some(Field::Url));
    fields.extend((desired.name != applied.name).then_some(Field::Name));
    fields.extend((desired.channel != applied.channel).then_some(Field::Channel));
    fields.extend((desired.mentions != applied.mentions).then_some(Field::Mentions));
    if fields.is_empty() {
        return None;
    }
    Some(Change {
        id: desired.id.clone(),
        action: if rotated { Action::Rotate } else { Action::Update },
        fields,
        before: Some(view_applied(applied)),
        after: Some(after),
    })
}

fn view_desired(webhook: &DesiredWebhook) -> View {
    View {
        name: webhook.name.clone(),
        channel: webhook.channel.clone(),
        url: webhook.url.redacted(),
        mentions: webhook.mentions.clone(),
    }
}

fn view_applied(webhook: &AppliedWebhook) -> View {
    View {
        name: webhook.name.clone(),
        channel: webhook.channel.clone(),
        url: webhook.url.redacted.clone(),
        mentions: webhook.mentions.clone(),
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.token.is_none() && !self.changes_routing()
    }

    /// Whether applying this plan replaces the routes and templates.
    pub fn changes_routing(&self) -> bool {
        self.routes.is_some() || !self.templates.is_empty()
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for change in &self.changes {
            *match change.action {
                Action::Create => &mut summary.create,
                Action::Update => &mut summary.update,
                Action::Rotate => &mut summary.rotate,
                Action::Delete => &mut summary.delete,
            } += 1;
        }
        summary
    }

    /// Deletes every applied webhook, or more than half of them: too easy to do by
    /// accident (a truncated file, a bad merge) to go through without saying so.
    pub fn is_mass_deletion(&self) -> bool {
        let deletes = self.summary().delete;
        deletes > 0 && (deletes == self.applied_webhooks || deletes * 2 > self.applied_webhooks)
    }
}

#[cfg(test)]
mod tests;
