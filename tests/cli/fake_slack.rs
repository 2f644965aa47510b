//! A fake Slack on 127.0.0.1:0 that answers as Slack documents: the Web API (JSON with
//! `ok`, errors as HTTP 200 except 429 `ratelimited`, `x-oauth-scopes`, cursor
//! pagination, `usergroups.list` unpaginated with `user_count` as a string) and incoming
//! webhooks (plain-text `ok` or an error string, 429 with `Retry-After` and a JSON body).
//! Every request is recorded, so tests can say which calls came.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What a token is, to `auth.test`.
#[derive(Clone, Debug)]
pub struct TokenScript {
    pub team_id: String,
    pub team: String,
    pub scopes: Vec<String>,
    /// Answer `{"ok": false, "error": …}` instead.
    pub error: Option<String>,
}

/// How a webhook path answers.
#[derive(Clone, Debug)]
pub enum Hook {
    Live,
    /// A status code and Slack's plain-text error: 404 `no_service`, 403 `invalid_token`…
    Dead(u16, &'static str),
}

#[derive(Default, Debug)]
pub struct Script {
    pub tokens: HashMap<String, TokenScript>,
    /// `users.list` pages, in order; each member is Slack's user object.
    pub user_pages: Vec<Vec<Value>>,
    pub groups: Vec<Value>,
    /// How many 429s an endpoint (`users.list`, a webhook path) answers before it works.
    pub rate_limits: HashMap<String, u32>,
    /// The `Retry-After` of 429s, Web API and webhooks alike (default 1).
    pub retry_after: Option<&'static str>,
    /// `users.list` answers the last page's cursor again and again.
    pub endless_cursor: bool,
    /// A `users.list` page that answers this Web API error instead.
    pub failing_page: Option<(usize, &'static str)>,
    pub hooks: HashMap<String, Hook>,
    /// How many 5xx answers a webhook path gives before it works.
    pub server_errors: HashMap<String, u32>,
    /// Enforce Slack's webhook limit: this many messages a second per webhook, with a
    /// burst; beyond it, 429 with `Retry-After: 1`.
    pub webhook_limit: Option<(f64, f64)>,
    /// The fake's own bookkeeping for `webhook_limit`.
    pub buckets: HashMap<String, (f64, std::time::Instant)>,
    pub calls: Vec<Call>,
}
#[derive(Clone, Debug)]
pub struct Call {
    /// `auth.test`, `users.list`, or the webhook path `/services/T…/B…/…`.
    pub endpoint: String,
    pub authorization: Option<String>,
    pub body: String,
    /// The status answered.
    pub status: u16,
    /// When it arrived (read by the benchmarks).
    #[allow(dead_code)]
    pub at: std::time::Instant,
}

pub struct FakeSlack {
    pub addr: SocketAddr,
    pub script: Arc<Mutex<Script>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeSlack {
    pub fn start(script: Script) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("address");
        let script = Arc::new(Mutex::new(script));
        let app = Router::new()
            .route("/api/{method}", post(web_api))
            .route("/services/{*hook}", post(webhook))
            .with_state(script.clone());
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await
                    .expect("fake Slack serves");
            });
        });
        FakeSlack {
            addr,
            script,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `HOOKWARDEN_SLACK_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// `HOOKWARDEN_SLACK_WEBHOOK_ORIGIN`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The calls made to `endpoint`, in order.
    pub fn calls(&self, endpoint: &str) -> Vec<Call> {
        self.script
            .lock()
            .expect("script")
            .calls
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .cloned()
            .collect()
    }

    pub fn edit(&self, edit: impl FnOnce(&mut Script)) {
        edit(&mut self.script.lock().expect("script"));
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn record(script: &mut Script, endpoint: &str, headers: &HeaderMap, body: &str) {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    script.calls.push(Call {
        endpoint: endpoint.to_owned(),
        authorization,
        body: body.to_owned(),
        status: 0,
        at: std::time::Instant::now(),
    });
}

/// A 429 as Slack sends it: a JSON body with `error` and a `Retry-After`.
fn too_many_requests(script: &Script, error: &str) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"ok": false, "error": error})),
    )
        .into_response();
    let retry_after = script.retry_after.unwrap_or("1");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after.parse().expect("header"));
    response
}

/// Counts down a scripted run of 429s; true while one is due.
fn rate_limited(script: &mut Script, endpoint: &str) -> bool {
    match script.rate_limits.get_mut(endpoint) {
        Some(left) if *left > 0 => {
            *left -= 1;
            true
        }
        _ => false,
    }
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn ok(mut value: Value) -> Value {
    value["ok"] = true.into();
    value
}

fn api_error(error: &str) -> Response {
    axum::Json(json!({"ok": false, "error": error})).into_response()
}

async fn web_api(
    State(script): State<Arc<Mutex<Script>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut script = script.lock().expect("script");
    record(&mut script, &method, &headers, &body);
    if rate_limited(&mut script, &method) {
        return too_many_requests(&script, "ratelimited");
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    let Some(known) = script.tokens.get(&token).cloned() else {
        return api_error(if token.is_empty() {
            "not_authed"
        } else {
            "invalid_auth"
        });
    };
    if let Some(error) = &known.error {
        return api_error(error);
    }
    match method.as_str() {
        "auth.test" => {
            let body = ok(
                json!({"url": "https://fake.slack.test/", "team": known.team, "team_id": known.team_id, "user": "hookwarden", "user_id": "U0BOT", "bot_id": "B0BOT"}),
            );
            let mut response = axum::Json(body).into_response();
            response
                .headers_mut()
                .insert("x-oauth-scopes", known.scopes.join(",").parse().expect("header"));
            response
        }
        "users.list" => {
            let params = form(&body);
            let page: usize = params
                .get("cursor")
                .and_then(|c| c.strip_prefix("page-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if let Some((_, error)) = script.failing_page.filter(|(failing, _)| *failing == page) {
                return api_error(error);
            }
            let Some(members) = script.user_pages.get(page) else {
                return api_error("invalid_cursor");
            };
            let next = if page + 1 < script.user_pages.len() {
                format!("page-{}", page + 1)
            } else if script.endless_cursor {
                format!("page-{page}")
            } else {
                String::new()
            };
            axum::Json(ok(
                json!({"members": members, "cache_ts": 0, "response_metadata": {"next_cursor": next}}),
            ))
            .into_response()
        }
        "usergroups.list" => {
            let params = form(&body);
            let include_users = params.get("include_users").is_some_and(|v| v == "true");
            let include_disabled = params.get("include_disabled").is_some_and(|v| v == "true");
            let groups: Vec<Value> = script
                .groups
                .iter()
                .filter(|g| include_disabled || g["date_delete"].as_i64().unwrap_or(0) == 0)
                .map(|g| {
                    let mut g = g.clone();
                    let count = g["users"].as_array().map_or(0, Vec::len);
                    g["user_count"] = count.to_string().into();
                    if !include_users {
                        g.as_object_mut().expect("object").remove("users");
                    }
                    g
                })
                .collect();
            axum::Json(ok(json!({"usergroups": groups}))).into_response()
        }
        _ => api_error("unknown_method"),
    }
}

async fn webhook(
    State(script): State<Arc<Mutex<Script>>>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = format!("/services/{hook}");
    let mut script = script.lock().expect("script");
    record(&mut script, &path, &headers, &body);
    let response = answer_webhook(&mut script, &path, &body);
    if let Some(call) = script.calls.last_mut() {
        call.status = response.status().as_u16();
    }
    response
}

fn answer_webhook(script: &mut Script, path: &str, body: &str) -> Response {
    if rate_limited(script, path) || over_limit(script, path) {
        return too_many_requests(script, "rate_limited");
    }
    if let Some(left) = script.server_errors.get_mut(path).filter(|left| **left > 0) {
        *left -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal_error").into_response();
    }
    let hook = script
        .hooks
        .get(path)
        .cloned()
        .unwrap_or(Hook::Dead(404, "no_service"));
    if let Hook::Dead(status, error) = hook {
        return (StatusCode::from_u16(status).expect("status"), error).into_response();
    }
    let Ok(message) = serde_json::from_str::<Value>(body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    let text = message["text"].as_str().unwrap_or_default();
    let blocks = message["blocks"].as_array().map_or(0, Vec::len);
    let attachments = message["attachments"].as_array().map_or(0, Vec::len);
    if text.is_empty() && blocks == 0 && attachments == 0 {
        return (StatusCode::BAD_REQUEST, "no_text").into_response();
    }
    (StatusCode::OK, "ok").into_response()
}

/// Slack's per-webhook limit as a token bucket; true when this message is over it.
fn over_limit(script: &mut Script, path: &str) -> bool {
    let Some((per_second, burst)) = script.webhook_limit else {
        return false;
    };
    let now = std::time::Instant::now();
    let (tokens, last) = script.buckets.entry(path.to_owned()).or_insert((burst, now));
    *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(burst);
    *last = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        false
    } else {
        true
    }
}

/// The messages a webhook path accepted, in order.
impl FakeSlack {
    pub fn delivered(&self, path: &str) -> Vec<Value> {
        let script = self.script.lock().expect("script");
        script
            .calls
            .iter()
            .filter(|c| c.endpoint == path && c.status == 200)
            .map(|c| serde_json::from_str(&c.body).expect("JSON"))
            .collect()
    }

    /// How many 429s webhooks answered.
    pub fn rate_limited(&self) -> usize {
        self.script
            .lock()
            .expect("script")
            .calls
            .iter()
            .filter(|c| c.status == 429)
            .count()
    }
}

/// A Slack user object as `users.list` returns it.
pub fn member(id: &str, name: &str, display_name: &str, email: &str) -> Value {
    json!({
        "id": id, "team_id": "T0FAKE000", "name": name, "deleted": false, "real_name": format!("{display_name} Real"),
        "is_bot": false, "profile": {"display_name": display_name, "real_name": format!("{display_name} Real"), "email": email}
    })
}

pub fn group(id: &str, handle: &str, users: &[&str], disabled: bool) -> Value {
    json!({"id": id, "team_id": "T0FAKE000", "handle": handle, "name": handle.to_uppercase(), "date_delete": i64::from(disabled) * 1_700_000_000, "users": users})
}
