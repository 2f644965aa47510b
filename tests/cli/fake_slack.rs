//! A fake Slack on 127.0.0.1:0 that answers as Slack documents: the Web API (JSON with
//! `ok`, errors as HTTP 200 except 429 `ratelimited`, `x-oauth-scopes`, cursor
//! pagination, `usergroups.list` unpaginated with `user_count` as a string) and incoming
//! webhooks (plain-text `ok` or an error string, 429 with `Retry-After` and a JSON body).
//! Every request is recorded, so tests can say which calls came.
//!
//! It fails fast on a call no test scripted: a webhook path not in `hooks`, a Web API
//! method it does not implement, a token not in `tokens`, any other route. Such a call is
//! answered `unexpected_call` with an error status, and dropping the fake panics with a
//! list of them, so the test fails naming the call rather than passing on a default.

// A path relative to this file, so that the benchmarks, which include this file by
// path, find it too.
#[path = "fake_slack/answers.rs"]
mod answers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

use answers::{unrouted, web_api, webhook};

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
    /// The calls nothing above scripted, each said in a line; see [`FakeSlack`]'s `Drop`.
    pub unexpected: Vec<String>,
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
            .route("/api/{method}", post(web_api).fallback(unrouted))
            .route("/services/{*hook}", post(webhook).fallback(unrouted))
            .fallback(unrouted)
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

/// Fails the test on calls it did not script, once the server has stopped; not while
/// the test is already failing, when a second panic would abort and hide the first.
impl Drop for FakeSlack {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let unexpected = std::mem::take(
            &mut self
                .script
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .unexpected,
        );
        if std::thread::panicking() {
            return;
        }
        assert!(
            unexpected.is_empty(),
            "the fake Slack got {} call(s) no test scripted:\n  {}",
            unexpected.len(),
            unexpected.join("\n  ")
        );
    }
}

impl FakeSlack {
    /// The messages a webhook path accepted, in order.
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

/// The path of a webhook URL, as the fake Slack sees it.
pub fn hook_path(url: &str) -> String {
    url[url.find("/services/").expect("a webhook URL")..].to_owned()
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
