//! The alert endpoint through the real daemon: delivery, pacing, retries, failures,
//! durability across kill -9, the bad-input matrix, auth and limits.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_slack::{Hook, Script};
use crate::harness::{Test, URL_GOV, URL_OPS, applied_with, hook_path as path, live_hooks};

fn live() -> Script {
    live_hooks(&[URL_OPS, URL_GOV])
}

/// A test with `ops` and `gov` applied, talking to a fake Slack that follows `script`.
fn applied(script: Script) -> Test {
    applied_with(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        script,
    )
}

pub struct Daemon {
    child: Child,
    pub url: String,
    log: std::path::PathBuf,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Daemon {
    pub fn start(test: &Test, extra: &[&str]) -> Daemon {
        let log = test.path(&format!(
            "daemon-{}.log",
            std::time::SystemTime::now().elapsed().map_or(0, |d| d.as_nanos())
        ));
        let mut args = vec!["daemon", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = test
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the daemon starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the daemon says where it listens");
        let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "the daemon did not start: {line:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Daemon { child, url, log }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        token: Option<&str>,
    ) -> Answer {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let client = reqwest::Client::new();
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut request = client.request(method, format!("{}{path}", self.url));
            if let Some((content_type, bytes)) = body {
                request = request.header("content-type", content_type).body(bytes);
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("the daemon answers");
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            let text = response.text().await.expect("a body");
            Answer {
                status,
                headers,
                json: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            }
        })
    }

    pub fn post(&self, alert: &Value) -> Answer {
        self.request(
            "POST",
            "/v1/alerts",
            Some(("application/json", alert.to_string().into_bytes())),
            None,
        )
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, None, None)
    }

    /// Waits until alert `id` has `status`; returns it.
    pub fn wait_for(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let alert = self.get(&format!("/v1/alerts/{id}")).json;
            if alert["status"] == status {
                return alert;
            }
            assert!(
                Instant::now() < deadline,
                "alert {id} is not {status} after {within:?}: {alert}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit code.
    pub fn stop(mut self) -> i32 {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        let status = self.child.wait().expect("the daemon exits");
        status.code().unwrap_or(-1)
    }

    /// SIGKILL: no chance to drain or flush.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alert(webhook: &str, text: &str) -> Value {
    json!({"webhook": webhook, "text": text})
}

fn accepted(answer: &Answer) -> String {
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    answer.json["id"].as_str().expect("an id").to_owned()
}

#[test]
fn an_alert_is_delivered_with_its_mentions_and_escaped_text() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let id = accepted(&daemon.post(
        &json!({"webhook": "ops", "text": "disk <!channel> 95% & rising <@U0BOSS>", "mentions": ["here"]}),
    ));
    let delivered = daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    assert_eq!(delivered["attempts"], 1);
    assert!(
        delivered["delivered_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let slack = test.slack_fake();
    assert_eq!(
        slack.delivered(&path(URL_OPS)),
        [json!({"text": "<!here> disk &lt;!channel&gt; 95% &amp; rising &lt;@U0BOSS&gt;"})]
    );
    assert_eq!(daemon.stop(), 0, "SIGTERM is a clean exit");
}

#[test]
fn a_batch_is_queued_whole_in_order_or_not_at_all() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &["--rate", "0", "--queue-limit", "5"]);
    let batch = |alerts: Vec<Value>| {
        let body = json!({"alerts": alerts}).to_string().into_bytes();
        daemon.request("POST", "/v1/alerts/batch", Some(("application/json", body)), None)
    };
    let refused = batch(vec![alert("ops", "never sent"), alert("nope", "x")]);
    assert_eq!(refused.status, 404, "{:?}", refused.json);
    assert_eq!(refused.json["error"]["index"], 1);
    assert_eq!(
        refused.json["error"]["message"],
        "alerts[1]: no applied webhook has the id `nope`"
    );
    let never = batch((0..6).map(|i| alert("ops", &format!("too many {i}"))).collect());
    assert_eq!(
        (never.status, &never.json["error"]["code"]),
        (400, &json!("batch_size")),
        "a batch that can never fit under the queue limit: {:?}",
        never.json
    );
    assert_eq!(batch(Vec::new()).json["error"]["code"], "batch_size");

    let keyed = json!({"webhook": "gov", "text": "once", "key": "k"});
    let answer = batch(vec![
        alert("ops", "first"),
        keyed.clone(),
        alert("ops", "second"),
        keyed,
    ]);
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    let answers = answer.json["alerts"].as_array().expect("one answer per alert");
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[3]["duplicate"], true, "a key repeated within the batch");
    assert_eq!(answers[3]["id"], answers[1]["id"]);
    daemon.wait_for(
        answers[2]["id"].as_str().expect("id"),
        "delivered",
        Duration::from_secs(10),
    );
    daemon.wait_for(
        answers[1]["id"].as_str().expect("id"),
        "delivered",
        Duration::from_secs(10),
    );
    let slack = test.slack_fake();
    assert_eq!(
        slack.delivered(&path(URL_OPS)),
        [json!({"text": "first"}), json!({"text": "second"})],
        "in order, and nothing of the refused batches"
    );
    assert_eq!(slack.delivered(&path(URL_GOV)), [json!({"text": "once"})]);
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn pacing_keeps_under_slacks_limit() {
    let mut script = live();
    script.webhook_limit = Some((1.0, 3.0));
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let ids: Vec<String> = (0..6)
        .map(|i| accepted(&daemon.post(&alert("ops", &format!("alert {i}")))))
        .collect();
    for id in &ids {
        daemon.wait_for(id, "delivered", Duration::from_secs(15));
    }
    let slack = test.slack_fake();
    assert_eq!(
        slack.rate_limited(),
        0,
        "pacing at 1/s with a burst of 3 never meets a 429"
    );
    let texts: Vec<Value> = slack
        .delivered(&path(URL_OPS))
        .into_iter()
        .map(|m| m["text"].clone())
        .collect();
    assert_eq!(
        texts,
        (0..6).map(|i| json!(format!("alert {i}"))).collect::<Vec<_>>(),
        "in order"
    );
}

#[test]
fn retry_after_is_honoured() {
    let mut script = live();
    script.rate_limits.insert(path(URL_OPS), 1);
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let started = Instant::now();
    let id = accepted(&daemon.post(&alert("ops", "throttled")));
    let delivered = daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After: 1"
    );
    assert_eq!(delivered["attempts"], 2);
    let metrics = daemon.get("/metrics").json;
    assert!(
        metrics
            .as_str()
            .is_some_and(|m| m.contains("hookwarden_slack_rate_limited_total{webhook=\"ops\"} 1")),
        "{metrics}"
    );
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let mut script = live();
    script.server_errors.insert(path(URL_OPS), 2);
    let test = applied(script);
    let daemon = Daemon::start(&test, &["--retry-first", "100ms"]);
    let id = accepted(&daemon.post(&alert("ops", "eventually")));
    let delivered = daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    assert_eq!(delivered["attempts"], 3);
    let webhooks = daemon.get("/v1/webhooks").json;
    assert_eq!(
        webhooks["webhooks"][1]["health"]["state"], "healthy",
        "{webhooks}"
    );
}

#[test]
fn permanent_failures_are_recorded_with_slacks_error() {
    for (status, error, health) in [
        (404, "no_service", "revoked"),
        (403, "invalid_token", "revoked"),
        (410, "channel_is_archived", "revoked"),
        (400, "invalid_payload", "none"),
    ] {
        let mut script = live();
        script.hooks.insert(path(URL_OPS), Hook::Dead(status, error));
        let test = applied(script);
        let daemon = Daemon::start(&test, &[]);
        let id = accepted(&daemon.post(&alert("ops", "doomed")));
        let failed = daemon.wait_for(&id, "failed", Duration::from_secs(10));
        assert_eq!(failed["last_error"], error);
        assert_eq!(
            failed["attempts"], 1,
            "{error}: a permanent failure is not retried"
        );
        let dead = daemon.get("/v1/alerts?status=failed").json;
        assert_eq!(dead["alerts"][0]["id"], id.as_str());
        let webhooks = daemon.get("/v1/webhooks").json;
        let ops = &webhooks["webhooks"][1];
        assert_eq!(
            ops["health"]["state"].as_str().unwrap_or("none"),
            health,
            "{error}: {ops}"
        );
        let metrics = daemon.get("/metrics").json;
        assert!(metrics.as_str().is_some_and(|m| m.contains(&format!(
            "hookwarden_alerts_failed_total{{webhook=\"ops\",reason=\"{error}\"}} 1"
        ))));
    }
}

#[test]
fn a_failed_alert_can_be_retried() {
    let mut script = live();
    script.hooks.insert(path(URL_OPS), Hook::Dead(404, "no_service"));
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let id = accepted(&daemon.post(&alert("ops", "second chance")));
    daemon.wait_for(&id, "failed", Duration::from_secs(10));
    test.slack_fake().edit(|s| {
        s.hooks.insert(path(URL_OPS), Hook::Live);
    });
    let retried = daemon.request("POST", &format!("/v1/alerts/{id}/retry"), None, None);
    let new_id = accepted(&retried);
    daemon.wait_for(&new_id, "delivered", Duration::from_secs(10));
    let again = daemon.request("POST", &format!("/v1/alerts/{new_id}/retry"), None, None);
    assert_eq!(
        (again.status, again.json["error"]["code"].as_str()),
        (409, Some("not_failed"))
    );
}

#[test]
fn bad_requests_get_the_documented_errors() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let json = |v: Value| Some(("application/json", v.to_string().into_bytes()));
    let cases: Vec<(&str, Option<(&str, Vec<u8>)>, u16, &str)> = vec![
        (
            "malformed JSON",
            Some(("application/json", b"{\"webhook\":".to_vec())),
            400,
            "malformed",
        ),
        (
            "not JSON",
            Some(("text/plain", b"hello".to_vec())),
            415,
            "not_json",
        ),
        (
            "too large",
            json(alert("ops", &"x".repeat(300 * 1024))),
            413,
            "too_large",
        ),
        (
            "unknown field",
            json(json!({"webhook": "ops", "text": "x", "colour": "red"})),
            400,
            "malformed",
        ),
        ("no webhook", json(json!({"text": "x"})), 400, "malformed"),
        (
            "unknown webhook",
            json(alert("nope", "x")),
            404,
            "unknown_webhook",
        ),
        (
            "no text or blocks",
            json(json!({"webhook": "ops"})),
            400,
            "empty_alert",
        ),
        (
            "text too long",
            json(alert("ops", &"x".repeat(40_001))),
            400,
            "text_too_long",
        ),
        (
            "too many blocks",
            json(json!({"webhook": "ops", "blocks": vec![json!({"type": "divider"}); 51]})),
            400,
            "too_many_blocks",
        ),
        (
            "unknown mention",
            json(json!({"webhook": "ops", "text": "x", "mentions": ["@nobody"]})),
            422,
            "unknown_mention",
        ),
    ];
    for (case, body, status, code) in cases {
        let answer = daemon.request("POST", "/v1/alerts", body, None);
        assert_eq!(
            (answer.status, answer.json["error"]["code"].as_str()),
            (status, Some(code)),
            "{case}: {:?}",
            answer.json
        );
        assert!(
            answer.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }
    let unknown = daemon.request(
        "POST",
        "/v1/alerts",
        json(json!({"webhook": "ops", "text": "x", "mentions": ["@nobody", "here"]})),
        None,
    );
    assert_eq!(unknown.json["error"]["mentions"][0]["mention"], "@nobody");
    assert_eq!(daemon.get("/v1/alerts/ffffffffffffffff").status, 404);
}

#[test]
fn the_api_token_guards_everything_but_the_health_checks() {
    let test = applied(live());
    let token = "fake-api-token-0123456789";
    test.write("api-token", &format!("{token}\n"));
    let test = test.env("HOOKWARDEN_API_TOKEN_FILE", "api-token");
    let daemon = Daemon::start(&test, &[]);
    let body = || Some(("application/json", alert("ops", "x").to_string().into_bytes()));
    assert_eq!(daemon.request("POST", "/v1/alerts", body(), None).status, 401);
    assert_eq!(
        daemon.request("POST", "/v1/alerts", body(), Some("wrong")).status,
        401
    );
    assert_eq!(daemon.request("GET", "/metrics", None, None).status, 401);
    assert_eq!(
        daemon.request("POST", "/v1/alerts", body(), Some(token)).status,
        202
    );
    assert_eq!(daemon.get("/healthz").status, 200);
    assert_eq!(daemon.get("/readyz").status, 200);
    let sent = test.exec(&[
        "send",
        "--endpoint",
        &daemon.url,
        "--webhook",
        "ops",
        "--text",
        "from the CLI",
    ]);
    sent.code(0);
    assert!(sent.stdout.starts_with("queued alert "), "{}", sent.stdout);
}

#[test]
fn a_full_outbox_answers_503_with_retry_after() {
    let mut script = live();
    script.server_errors.insert(path(URL_OPS), 1000);
    let test = applied(script);
    let daemon = Daemon::start(&test, &["--queue-limit", "2", "--retry-first", "10s"]);
    accepted(&daemon.post(&alert("ops", "one")));
    accepted(&daemon.post(&alert("ops", "two")));
    let full = daemon.post(&alert("ops", "three"));
    assert_eq!(
        (full.status, full.json["error"]["code"].as_str()),
        (503, Some("queue_full"))
    );
    assert_eq!(
        full.headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("5")
    );
}

#[test]
fn a_key_deduplicates() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let first = daemon.post(&json!({"webhook": "ops", "text": "once", "key": "disk-full-db1"}));
    let second = daemon.post(&json!({"webhook": "ops", "text": "once", "key": "disk-full-db1"}));
    let id = accepted(&first);
    assert_eq!(accepted(&second), id, "the same id");
    assert_eq!(second.json["duplicate"], true);
    daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(test.slack_fake().delivered(&path(URL_OPS)).len(), 1);
}

#[test]
fn accepted_alerts_survive_kill_9_and_are_sent_once_each_after_restart() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &["--rate", "2", "--burst", "1"]);
    let texts: Vec<String> = (0..40).map(|i| format!("alert {i:02}")).collect();
    for text in &texts {
        accepted(&daemon.post(&alert("ops", text)));
    }
    std::thread::sleep(Duration::from_millis(1200));
    daemon.crash();
    let before = test.slack_fake().delivered(&path(URL_OPS)).len();
    assert!(
        before < texts.len(),
        "the kill came before everything was delivered"
    );
    let daemon = Daemon::start(&test, &["--rate", "0"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while test.slack_fake().delivered(&path(URL_OPS)).len() < texts.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let delivered: Vec<String> = test
        .slack_fake()
        .delivered(&path(URL_OPS))
        .iter()
        .map(|m| m["text"].as_str().expect("text").to_owned())
        .collect();
    let mut unique = delivered.clone();
    unique.dedup();
    assert_eq!(unique, texts, "every alert, exactly as sent, in order");
    assert!(
        delivered.len() <= texts.len() + 1,
        "only a send in flight at the kill may repeat: {delivered:?}"
    );
    assert_eq!(daemon.stop(), 0);
}

/// With pacing off, deliveries are flushed in groups: a kill -9 in the middle of a burst
/// may repeat the last few, never more than a worker's window of 32, and loses none.
#[test]
fn a_kill_9_mid_burst_repeats_at_most_a_window_and_loses_nothing() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &["--rate", "0"]);
    let total = 1500;
    for first in (0..total).step_by(500) {
        let alerts: Vec<Value> = (first..first + 500)
            .map(|i| alert("ops", &format!("alert {i:04}")))
            .collect();
        let body = json!({"alerts": alerts}).to_string().into_bytes();
        let answer = daemon.request("POST", "/v1/alerts/batch", Some(("application/json", body)), None);
        assert_eq!(answer.status, 202, "{:?}", answer.json);
    }
    let sent = || test.slack_fake().delivered(&path(URL_OPS)).len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sent() < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    daemon.crash();
    let daemon = Daemon::start(&test, &["--rate", "0"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let numbers = || -> Vec<usize> {
        test.slack_fake()
            .delivered(&path(URL_OPS))
            .iter()
            .map(|m| m["text"].as_str().expect("text")[6..].parse().expect("a number"))
            .collect()
    };
    while numbers().iter().max() != Some(&(total - 1)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let delivered = numbers();
    // In order, but for one step back where the restart resent what was not on disk.
    let steps_back: Vec<usize> = delivered
        .windows(2)
        .filter(|pair| pair[1] <= pair[0])
        .map(|pair| pair[0] + 1 - pair[1])
        .collect();
    assert!(
        steps_back.len() <= 1,
        "one restart, one step back: {steps_back:?}"
    );
    assert!(
        steps_back.iter().all(|&repeated| repeated <= 32 + 1),
        "at most a window (and the send in flight) repeats: {steps_back:?}"
    );
    let mut unique = delivered.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique, (0..total).collect::<Vec<_>>(), "every alert, none lost");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn queued_alerts_follow_a_rotation_and_fail_when_their_webhook_is_deleted() {
    let rotated = "https://hooks.slack.com/services/T0FAKE000/B0FAKE005/FAKEfakeFAKEfakeROT5";
    let mut script = live();
    script.hooks.insert(path(rotated), Hook::Live);
    script.server_errors.insert(path(URL_OPS), 1000);
    script.server_errors.insert(path(URL_GOV), 1000);
    let test = applied(script);
    let daemon = Daemon::start(&test, &["--retry-first", "1s"]);
    let to_ops = accepted(&daemon.post(&alert("ops", "follows the rotation")));
    let to_gov = accepted(&daemon.post(&alert("gov", "its webhook goes away")));
    assert_eq!(daemon.stop(), 0);
    let config = test.config_of(&[("ops", "Ops", Some("#ops"), rotated)], None);
    test.write("hookwarden.yaml", &config);
    test.exec(&["apply", "--auto-approve"]).code(0);
    let daemon = Daemon::start(&test, &[]);
    daemon.wait_for(&to_ops, "delivered", Duration::from_secs(10));
    let failed = daemon.wait_for(&to_gov, "failed", Duration::from_secs(10));
    assert_eq!(failed["last_error"], "webhook_deleted");
    assert_eq!(
        test.slack_fake().delivered(&path(rotated)),
        [json!({"text": "follows the rotation"})]
    );
}

#[test]
fn no_secret_reaches_logs_or_answers() {
    let test = applied(live()).env("RUST_LOG", "debug");
    let daemon = Daemon::start(&test, &[]);
    let id = accepted(&daemon.post(&alert("ops", "x")));
    daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    let webhooks = daemon.get("/v1/webhooks").json.to_string();
    assert!(
        webhooks.contains("https://hooks.slack.com/services/T0FAKE000/B0FAKE001/****OPS1"),
        "{webhooks}"
    );
    let metrics = daemon.get("/metrics").json.to_string();
    let log = daemon.log();
    for secret in ["FAKEfakeFAKEfake", URL_OPS, URL_GOV] {
        for (what, text) in [("webhooks", &webhooks), ("metrics", &metrics), ("log", &log)] {
            assert!(!text.contains(secret), "{what} shows a secret");
        }
    }
}

#[test]
fn the_alerts_cli_lists_shows_and_retries() {
    let mut script = live();
    script.hooks.insert(path(URL_GOV), Hook::Dead(404, "no_service"));
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let id = accepted(&daemon.post(&alert("gov", "nowhere")));
    daemon.wait_for(&id, "failed", Duration::from_secs(10));
    let list = test.exec(&["alerts", "list", "--endpoint", &daemon.url]);
    list.code(0);
    assert_eq!(
        list.stdout,
        format!("{id}  gov  failed  attempts 1  no_service\n")
    );
    let show = test.exec(&[
        "alerts",
        "show",
        &id,
        "--endpoint",
        &daemon.url,
        "--format",
        "json",
    ]);
    assert_eq!(
        serde_json::from_str::<Value>(&show.stdout).expect("JSON")["status"],
        "failed"
    );
    let retry = test.exec(&["alerts", "retry", &id, "--endpoint", &daemon.url]);
    retry.code(0);
    assert!(
        retry.stdout.starts_with("queued again as alert "),
        "{}",
        retry.stdout
    );
    let unknown = test.exec(&[
        "send",
        "--endpoint",
        &daemon.url,
        "--webhook",
        "nope",
        "--text",
        "x",
    ]);
    unknown.code(1);
    assert!(
        unknown
            .stderr
            .starts_with("error: the endpoint answered 404: no applied webhook has the id `nope`"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn every_route_is_in_the_openapi_document_and_no_other() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/openapi.yaml"))
        .expect("schema/openapi.yaml");
    let document: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, operations) in document["paths"].as_mapping().expect("paths") {
        for (method, _) in operations.as_mapping().expect("operations") {
            documented.push((
                path.as_str().expect("path").to_owned(),
                method.as_str().expect("method").to_uppercase(),
            ));
        }
    }
    let mut served: Vec<(String, String)> = hookwarden::server::routes()
        .into_iter()
        .map(|(path, method, _)| (path.to_owned(), method.to_string()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
}

#[test]
fn the_api_listens_on_a_unix_socket_too() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let test = applied(live());
    let socket = test.path("api.sock");
    let mut child = test
        .command(&["daemon", "--listen", &format!("unix:{}", socket.display())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    assert_eq!(
        line.trim(),
        format!("hookwarden daemon listening on unix:{}", socket.display())
    );
    assert_eq!(
        std::fs::metadata(&socket).expect("socket").permissions().mode() & 0o777,
        0o600
    );
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("connects");
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: hookwarden\r\nConnection: close\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn keys_are_per_webhook() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let ops = accepted(&daemon.post(&json!({"webhook": "ops", "text": "x", "key": "same"})));
    let gov = daemon.post(&json!({"webhook": "gov", "text": "x", "key": "same"}));
    assert_ne!(accepted(&gov), ops);
    assert_eq!(gov.json["duplicate"], false);
}

#[test]
fn an_absurd_retry_after_neither_panics_nor_blocks_other_webhooks() {
    let mut script = live();
    script.rate_limits.insert(path(URL_OPS), 1);
    script.retry_after = Some("18446744073709551615");
    let test = applied(script);
    let daemon = Daemon::start(&test, &[]);
    let held = accepted(&daemon.post(&alert("ops", "waits, capped at 15 minutes")));
    let other = accepted(&daemon.post(&alert("gov", "goes")));
    daemon.wait_for(&other, "delivered", Duration::from_secs(10));
    let waiting = daemon.get(&format!("/v1/alerts/{held}")).json;
    assert_eq!(
        (waiting["status"].as_str(), waiting["last_error"].as_str()),
        (Some("queued"), Some("rate_limited"))
    );
    assert_eq!(daemon.get("/healthz").status, 200);
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn a_stalled_client_does_not_keep_the_daemon_from_stopping() {
    use std::io::Write;
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let address = daemon.url.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(address).expect("connects");
    stalled.write_all(b"POST /v1/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"web").expect("half a request");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(daemon.stop(), 0);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stopped after {:?}",
        started.elapsed()
    );
}

#[test]
fn odd_queries_and_methods_answer_in_the_error_shape() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let bad_limit = daemon.get("/v1/alerts?status=failed&limit=x");
    assert_eq!(
        (bad_limit.status, bad_limit.json["error"]["code"].as_str()),
        (400, Some("malformed"))
    );
    let wrong_method = daemon.request("DELETE", "/v1/alerts", None, None);
    assert_eq!(
        (wrong_method.status, wrong_method.json["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}
