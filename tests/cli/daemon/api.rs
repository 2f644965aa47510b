//! The daemon's HTTP API as its clients meet it: the bad-input matrix, the API token,
//! the error shape, the OpenAPI document, the Unix socket, a stalled client, the
//! `alerts` CLI, and no secret in answers or logs.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{accepted, alert, applied, live};
use crate::fake_slack::{Hook, hook_path as path};
use crate::harness::{Daemon, URL_GOV, URL_OPS};

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
            "19,000 mentions",
            json(
                json!({"webhook": "ops", "text": "x", "mentions": (0..19_000).map(|i| format!("@x{i}")).collect::<Vec<_>>()}),
            ),
            400,
            "too_many_mentions",
        ),
        (
            "a block that is not a block",
            json(json!({"webhook": "ops", "blocks": [{"type": "divider"}, 1, "x", null]})),
            400,
            "invalid_block",
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
    // The scheme in any case, as RFC 9110 has it; the token exactly.
    let with_header = |value: String| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            reqwest::Client::new()
                .get(format!("{}/metrics", daemon.url))
                .header("authorization", value)
                .send()
                .await
                .expect("answers")
                .status()
                .as_u16()
        })
    };
    assert_eq!(with_header(format!("bearer {token}")), 200);
    assert_eq!(
        with_header(format!("Bearer  {token}")),
        401,
        "a space more is another token"
    );
    assert_eq!(with_header(format!("Bearer {token}x")), 401);
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
    let mut without = test.command(&[
        "send",
        "--endpoint",
        &daemon.url,
        "--webhook",
        "ops",
        "--text",
        "x",
    ]);
    without.env_remove("HOOKWARDEN_API_TOKEN_FILE");
    let refused = crate::harness::Run::from_output(without.output().expect("runs"), &test);
    refused.code(1);
    assert!(
        refused.stderr.contains("set HOOKWARDEN_API_TOKEN_FILE"),
        "{}",
        refused.stderr
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

/// `promtool`, from Debian's `prometheus` package: CI installs it (.ci/run) and a
/// missing one fails there; elsewhere the test says it was skipped.
fn promtool() -> bool {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is required in CI: apt-get install prometheus"
        );
        eprintln!("skipped: promtool is not installed (apt-get install prometheus, or run .ci/run)");
    }
    found
}

#[test]
fn metrics_pass_promtool_and_openmetrics_is_served_when_asked_for() {
    if !promtool() {
        return;
    }
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let id = accepted(&daemon.post(&alert("ops", "counted")));
    daemon.wait_for(&id, "delivered", Duration::from_secs(10));
    let classic = daemon.get("/metrics");
    assert_eq!(
        classic.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = classic.json.as_str().expect("text").to_owned();
    assert!(
        !text.contains("# EOF"),
        "an OpenMetrics body under the classic type"
    );
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    std::io::Write::write_all(&mut check.stdin.take().expect("stdin"), text.as_bytes()).expect("write");
    let output = check.wait_with_output().expect("promtool ends");
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (content_type, body) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(format!("{}/metrics", daemon.url))
            .header(
                "accept",
                "application/openmetrics-text; version=1.0.0,text/plain;q=0.5",
            )
            .send()
            .await
            .expect("answers");
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        (content_type, response.text().await.expect("text"))
    });
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
}

#[test]
fn every_request_is_counted_and_every_refusal_logged_without_its_body() {
    let test = applied(live());
    let daemon = Daemon::start(&test, &[]);
    let refused = daemon.post(&alert("nope", "FAKE-body-never-logged"));
    assert_eq!(refused.status, 404);
    accepted(&daemon.post(&alert("ops", "fine")));
    let metrics = daemon.get("/metrics").json;
    let metrics = metrics.as_str().expect("text");
    for line in [
        "hookwarden_requests_total{route=\"/v1/alerts\",status=\"404\"} 1",
        "hookwarden_requests_total{route=\"/v1/alerts\",status=\"202\"} 1",
        "hookwarden_requests_refused_total{route=\"/v1/alerts\",code=\"unknown_webhook\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("refused a request"))
        .unwrap_or_else(|| panic!("no refusal logged: {log}"));
    for part in [
        "method=POST",
        "route=/v1/alerts",
        "status=404",
        "code=unknown_webhook",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(!log.contains("FAKE-body-never-logged"), "the body was logged");
}
