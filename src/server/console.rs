//! The console page, `GET /`: what an operator on call looks at. The webhooks with
//! their health, queue and last delivery, the bot token and directory, the routes, the
//! failed alerts (each with a Retry button), the latest applies and anything that
//! needs attention, from the applied state. Server-rendered HTML and CSS, no script;
//! every value shown is escaped, and none is a secret: URLs and the token are shown
//! redacted, as the state keeps them beside their ciphertexts.
//!
//! The one action, Retry, is a form POST that must come from the page itself: a
//! request another site's page makes (`Sec-Fetch-Site`, else `Origin`, names another
//! origin, or neither is sent) is refused with 403.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::{Deserialize, Serialize};

use super::{ApiError, Entry, Shared};
use crate::clock::{now_ms, rfc3339_millis};
use crate::state::{AlertRecord, AlertStatus, HealthState};

const TEMPLATE: &str = include_str!("../../templates/console.html");

/// The page while the store cannot be read.
const UNAVAILABLE: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>hookwarden (unavailable)</title><h1>hookwarden</h1><p>The store cannot be read just now: {{ reason }}. Alerts are refused with 503 until it can, and nothing accepted is lost. Reload this page later.</p></html>";

/// Failed alerts shown at once; the rest are a link away.
pub const FAILED_PAGE: usize = 50;

/// The latest applies shown.
const HISTORY: usize = 10;

/// The first characters of an alert's text shown beside it.
const TEXT_SHOWN: usize = 160;

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        // `.html`: every value is HTML-escaped.
        let mut env = Environment::new();
        env.add_template("console.html", TEMPLATE)
            .expect("the console template is valid");
        env.add_template("unavailable.html", UNAVAILABLE)
            .expect("the unavailable template is valid");
        env
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    /// The page of failed alerts after this id.
    failed_after: Option<String>,
    /// The outcome of a Retry, to say on the page.
    retried: Option<String>,
    not_retried: Option<String>,
}

/// A moment, as the page shows it: relative, absolute, and machine-readable.
#[derive(Debug, Serialize)]
struct When {
    iso: String,
    absolute: String,
    relative: String,
}

fn when(ms: u64, now: u64) -> When {
    let iso = rfc3339_millis(ms);
    let absolute = format!("{} UTC", iso.get(..19).unwrap_or(&iso).replace('T', " "));
    When {
        iso,
        absolute,
        relative: relative(ms, now),
    }
}

/// `just now`, `5 min ago`, `3 h ago`, `2 days ago`; `in 4 min` for a time ahead.
fn relative(ms: u64, now: u64) -> String {
    let (seconds, ahead) = if ms > now {
        ((ms - now) / 1000, true)
    } else {
        ((now - ms) / 1000, false)
    };
    let span = match seconds {
        0..60 => return "just now".to_owned(),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h", seconds / 3600),
        86_400..172_800 => "1 day".to_owned(),
        _ => format!("{} days", seconds / 86_400),
    };
    if ahead {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

#[derive(Debug, Serialize)]
struct WebhookView {
    id: String,
    name: String,
    channel: Option<String>,
    url: String,
    health: &'static str,
    queued: usize,
    delivered: Option<When>,
    error: Option<String>,
    since: Option<When>,
}

#[derive(Debug, Serialize)]
struct FailedView {
    id: String,
    webhook: String,
    error: String,
    text: String,
    created: When,
    attempts: u32,
}

#[derive(Debug, Serialize)]
struct FailedPage {
    total: usize,
    alerts: Vec<FailedView>,
    /// The id to page on from, when there are more.
    next: Option<String>,
    first: bool,
    page_size: usize,
    shown: String,
}

pub(super) async fn page(
    State(state): State<Shared>,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let shown = state.clone();
    let rendered = tokio::task::spawn_blocking(move || render(&state, &query))
        .await
        .expect("rendering does not panic");
    let mut response = match rendered {
        Ok(html) => Html(html).into_response(),
        // The store cannot be read: a page that says so, not the API's error.
        Err(error) if error.status == StatusCode::SERVICE_UNAVAILABLE => {
            let reason = shown.outbox.storage_problem().map_or_else(
                || "the store does not answer just now".to_owned(),
                |(reason, _)| reason,
            );
            let page = environment()
                .get_template("unavailable.html")
                .and_then(|template| template.render(minijinja::context! { reason }))
                .expect("the unavailable page renders");
            (StatusCode::SERVICE_UNAVAILABLE, Html(page)).into_response()
        }
        Err(error) => return Err(error),
    };
    let headers = response.headers_mut();
    for (name, value) in [
        // No script, no frames, no form posted anywhere but here.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Ok(response)
}

fn render(state: &Shared, query: &PageQuery) -> Result<String, ApiError> {
    let now = now_ms();
    let store = &state.store;
    let applied = store.applied()?;
    let counts = store.queued_counts()?;
    let (entries, directory) = {
        let catalog = state.catalog.read().expect("never poisoned");
        let directory = catalog
            .directory
            .as_ref()
            .zip(catalog.synced_at)
            .map(|(index, at)| (index.counts(), at));
        (catalog.webhooks.clone(), directory)
    };
    let webhooks = webhook_views(state, entries, &counts, now)?;
    let token = applied.token.as_ref().map(|token| {
        let facts = token.facts.clone().unwrap_or_default();
        minijinja::context! {
            redacted => token.secret.redacted,
            team => (!facts.team.is_empty()).then_some(facts.team),
            team_id => (!facts.team_id.is_empty()).then_some(facts.team_id),
            scopes => facts.scopes,
            set => when(token.set_at.saturating_mul(1000), now),
            rotated => token.rotated_at.map(|at| when(at.saturating_mul(1000), now)),
        }
    });
    let directory = directory.map(|((users, groups), at)| {
        minijinja::context! { users, groups, synced => when(at.saturating_mul(1000), now) }
    });
    let routes: Vec<String> = applied
        .routing
        .routes
        .iter()
        .map(crate::routes::RouteSpec::describe)
        .collect();
    let failed = failed_page(state, query.failed_after.as_deref(), now)?;
    let history: Vec<_> = store
        .latest_history(HISTORY)?
        .into_iter()
        .map(|entry| {
            minijinja::context! {
                serial => entry.serial,
                time => when(entry.time.saturating_mul(1000), now),
                actor => entry.actor,
                summary => entry.summary,
            }
        })
        .collect();
    let mut problems = state.problems.read().expect("never poisoned").clone();
    if let Some((reason, _)) = state.outbox.storage_problem() {
        problems.push(format!(
            "the state cannot be written ({reason}): alerts are refused and nothing is sent until it can"
        ));
    }
    // Ids only: the page says nothing a link chose.
    let id = |id: &Option<String>| {
        id.clone()
            .filter(|id| !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_hexdigit()))
    };
    let notice = match (&id(&query.retried), &id(&query.not_retried)) {
        (Some(id), _) => Some(format!("Retried: the alert is queued again as {id}.")),
        (None, Some(id)) => Some(format!(
            "Alert {id} is no longer failed, or was retried already; nothing was queued."
        )),
        (None, None) => None,
    };
    let context = minijinja::context! {
        serial => applied.serial,
        store => store.dir().display().to_string(),
        now => when(now, now),
        notice,
        problems,
        webhooks,
        token,
        directory,
        routes,
        failed,
        history,
    };
    environment()
        .get_template("console.html")
        .and_then(|template| template.render(context))
        .map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the console page: {error}"),
            )
        })
}

/// Each applied webhook with its health and queue.
fn webhook_views(
    state: &Shared,
    entries: BTreeMap<String, Entry>,
    counts: &BTreeMap<String, usize>,
    now: u64,
) -> Result<Vec<WebhookView>, ApiError> {
    let mut healths = state.store.healths()?;
    let mut webhooks = Vec::with_capacity(entries.len());
    for (id, entry) in entries {
        let health = healths.remove(&id);
        let state_name = match health.as_ref().map(|h| h.state) {
            None => "unknown",
            Some(HealthState::Healthy) => "healthy",
            Some(HealthState::Failing) => "failing",
            Some(HealthState::Revoked) => "revoked",
        };
        let failing = health.as_ref().filter(|h| h.state != HealthState::Healthy);
        webhooks.push(WebhookView {
            queued: counts.get(&id).copied().unwrap_or(0),
            delivered: health
                .as_ref()
                .and_then(|h| h.last_delivered_at)
                .map(|at| when(at, now)),
            error: failing.and_then(|h| h.last_error.clone()),
            since: failing.map(|h| when(h.updated_at, now)),
            health: state_name,
            id,
            name: entry.name,
            channel: entry.channel,
            url: entry.url,
        });
    }
    Ok(webhooks)
}

fn failed_page(state: &Shared, after: Option<&str>, now: u64) -> Result<FailedPage, ApiError> {
    let total = state.store.failed_count()?;
    let mut records = state.store.failed_alerts(after, FAILED_PAGE + 1)?;
    let more = records.len() > FAILED_PAGE;
    records.truncate(FAILED_PAGE);
    let next = more.then(|| records.last().map(|r| r.id.clone())).flatten();
    let shown = match (records.first(), records.last()) {
        (Some(_), Some(_)) if !more && after.is_none() => String::new(),
        (Some(_), Some(_)) => format!("{} shown of {total}", records.len()),
        _ => String::new(),
    };
    let alerts = records.iter().map(|record| failed_view(record, now)).collect();
    Ok(FailedPage {
        total,
        alerts,
        next,
        first: after.is_some(),
        page_size: FAILED_PAGE,
        shown,
    })
}

fn failed_view(record: &AlertRecord, now: u64) -> FailedView {
    // The payload is Slack's text, with `&`, `<` and `>` escaped as Slack asks: shown as
    // it was sent (the template escapes it for HTML).
    let text = record
        .payload
        .get("text")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let mut shown: String = text.chars().take(TEXT_SHOWN).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    FailedView {
        id: record.id.clone(),
        webhook: if record.webhook.is_empty() {
            "(no route)".to_owned()
        } else {
            record.webhook.clone()
        },
        error: record.last_error.clone().unwrap_or_default(),
        text: shown,
        created: when(record.created_at, now),
        attempts: record.attempts,
    }
}

/// The Retry button: from this page only; back to the page, which says what happened.
pub(super) async fn retry(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Ids are hex; anything else names no alert, and must not reach the Location header.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(super::alerts::unknown_alert(&id));
    }
    if !same_origin(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "the console's Retry takes requests from the console page only (same origin)",
        ));
    }
    // Only a failed alert that was not retried yet is queued again.
    let record = state.outbox.retry(&id).await?;
    let location = match record {
        Some(record) if record.id != id && record.status == AlertStatus::Queued => {
            format!("/?retried={}#failed", record.id)
        }
        Some(_) => format!("/?not_retried={id}#failed"),
        None => return Err(super::alerts::unknown_alert(&id)),
    };
    Ok(Redirect::to(&location).into_response())
}

/// Whether the browser says the request comes from a page of this same origin.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return site == "same-origin";
    }
    let (Some(origin), Some(host)) = (text("origin"), text("host")) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        let now = 1_000_000_000_000;
        for (ago, said) in [
            (5_000, "just now"),
            (300_000, "5 min ago"),
            (3 * 3_600_000, "3 h ago"),
            (90_000_000, "1 day ago"),
            (3 * 86_400_000, "3 days ago"),
        ] {
            assert_eq!(relative(now - ago, now), said);
        }
        assert_eq!(relative(now + 240_000, now), "in 4 min");
        assert_eq!(when(0, now).absolute, "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn only_a_request_from_the_page_itself_retries() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(same_origin(&headers(&[
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(!same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "a:1")
        ])));
        assert!(
            !same_origin(&headers(&[("host", "a:1")])),
            "neither header: refused"
        );
    }

    #[test]
    fn the_template_renders_an_empty_state() {
        let html = environment()
            .get_template("console.html")
            .expect("the template")
            .render(minijinja::context! {
                serial => 0,
                now => when(0, 0),
                webhooks => Vec::<()>::new(),
                routes => Vec::<()>::new(),
                failed => minijinja::context! { total => 0 },
                problems => vec!["<b>x</b>"],
            })
            .expect("renders");
        assert!(html.contains("No webhooks applied yet."));
        assert!(
            html.contains("&lt;b&gt;x&lt;") && !html.contains("<b>x"),
            "escaped: {html}"
        );
    }
}
