//! How the fake Slack answers each call, as its [`Script`] says, and what it records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Call, Hook, Script};

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

/// Records `call` as one no test scripted, and answers it `status` `unexpected_call`.
fn unexpected(script: &mut Script, status: StatusCode, call: String) -> Response {
    script.unexpected.push(call);
    let error = json!({"ok": false, "error": "unexpected_call"});
    (status, axum::Json(error)).into_response()
}

/// Any route the fake does not serve.
pub async fn unrouted(State(script): State<Arc<Mutex<Script>>>, method: Method, uri: Uri) -> Response {
    let mut script = script.lock().expect("script");
    let call = format!("{method} {uri}: no such route in the fake Slack");
    unexpected(&mut script, StatusCode::NOT_FOUND, call)
}

pub async fn web_api(
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
        let call = format!("POST /api/{method} with a token not in `tokens`");
        return unexpected(&mut script, StatusCode::UNAUTHORIZED, call);
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
        _ => {
            let call = format!("POST /api/{method}: a Web API method the fake does not implement");
            unexpected(&mut script, StatusCode::NOT_FOUND, call)
        }
    }
}

pub async fn webhook(
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
    let Some(hook) = script.hooks.get(path).cloned() else {
        let call = format!("POST {path}: a webhook not in `hooks`");
        return unexpected(script, StatusCode::NOT_FOUND, call);
    };
    if rate_limited(script, path) || over_limit(script, path) {
        return too_many_requests(script, "rate_limited");
    }
    if let Some(left) = script.server_errors.get_mut(path).filter(|left| **left > 0) {
        *left -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal_error").into_response();
    }
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
