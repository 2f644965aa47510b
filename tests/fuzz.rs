//! Fuzzing on the stable toolchain: each parser and classifier that takes input from
//! outside, fed the seeds under `tests/fuzz/seeds/` mutated (bytes flipped, inserted,
//! deleted, runs repeated) and arbitrary bytes, with the invariants that hold for any
//! input: no panic, every problem positioned, no secret in what is said, every message
//! within Slack's limits.
//!
//! `cargo test --test fuzz` runs a short budget (`FUZZ_CASES`, default 200 a target);
//! `FUZZ_CASES=20000 cargo test --release --test fuzz` a longer one.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use hookwarden::alert::{self, AlertBatch, AlertRequest};
use hookwarden::directory::{Directory, Group, Index, User};
use hookwarden::routes::{self, Notification, Router, Routing, Target};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The plaintext secrets of the seeds, which no output may show.
const SECRETS: [&str; 2] = ["FAKEsecretFAKE", "xoxb-0000-FAKEsecret"];

fn seeds(names: &[&str]) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds");
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).expect("a seed"))
        .collect()
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

/// Bytes that change what YAML and JSON mean, inserted more often than chance would.
const YAML_PUNCTUATION: &[u8] = b"[{:&*!|>\"'\n -#";

/// A seed, mutated; or, one time in eight, arbitrary bytes.
fn input(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<u8>(), any::<usize>(), 0u8..5, 1usize..64);
    let mutated = (0..seeds.len(), proptest::collection::vec(edit, 0..10)).prop_map(move |(i, edits)| {
        let mut bytes = seeds[i].clone();
        for (byte, at, op, len) in edits {
            let at = at % (bytes.len() + 1);
            let end = (at + len).min(bytes.len());
            match op {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                2 => {
                    bytes.drain(at..end);
                }
                3 => {
                    let run: Vec<u8> = bytes[at..end].to_vec();
                    let repeats = usize::from(byte % 8) + 1;
                    for _ in 0..repeats {
                        bytes.splice(at..at, run.iter().copied());
                    }
                }
                _ => bytes.insert(at, YAML_PUNCTUATION[usize::from(byte) % YAML_PUNCTUATION.len()]),
            }
        }
        bytes
    });
    prop_oneof![7 => mutated, 1 => proptest::collection::vec(any::<u8>(), 0..512)]
}

fn run(strategy: impl Strategy<Value = Vec<u8>>, check: impl Fn(&[u8]) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |bytes| check(&bytes))
        .expect("an invariant held");
}

fn no_secret(text: &str) -> Result<(), TestCaseError> {
    for secret in SECRETS {
        prop_assert!(!text.contains(secret), "a secret in: {text}");
    }
    Ok(())
}

static DIRECTORY: LazyLock<Index> = LazyLock::new(|| {
    let user = |id: &str, name: &str, email: &str| User {
        id: id.to_owned(),
        name: name.to_owned(),
        display_name: name.to_owned(),
        real_name: name.to_owned(),
        email: Some(email.to_owned()),
    };
    Index::new(Directory {
        users: vec![
            user("U0JANE", "jane.doe", "jane.doe@example.com"),
            user("U0JOHN", "john", "john@example.com"),
        ],
        groups: vec![Group {
            id: "S0FIN".to_owned(),
            handle: "finops-team".to_owned(),
            name: "FinOps".to_owned(),
            users: vec!["U0JANE".to_owned()],
        }],
    })
});

#[test]
fn the_desired_state_loader() {
    let seeds = seeds(&[
        "example.yaml",
        "routes.yaml",
        "alias-bomb.yaml",
        "deep.yaml",
        "not-utf8.yaml",
        "plaintext-secret.yaml",
    ]);
    run(input(seeds), |bytes| {
        match hookwarden::config::parse_bytes("f.yaml", bytes.to_vec()) {
            Ok(config) => no_secret(&format!("{config:?}"))?,
            Err(report) => {
                prop_assert!(!report.problems.is_empty());
                for problem in &report.problems {
                    prop_assert!(problem.at.line >= 1 && problem.at.column >= 1, "{problem:?}");
                }
                no_secret(&report.render())?;
            }
        }
        Ok(())
    });
}

#[test]
fn alert_and_batch_bodies() {
    run(input(seeds(&["alert.json", "batch.json"])), |bytes| {
        let defaults = vec!["@finops-team".to_owned()];
        let mut requests: Vec<AlertRequest> = Vec::new();
        if let Ok(request) = serde_json::from_slice::<AlertRequest>(bytes) {
            requests.push(request);
        }
        if let Ok(batch) = serde_json::from_slice::<AlertBatch>(bytes) {
            requests.extend(batch.alerts);
        }
        for request in &requests {
            if let Ok(payload) = alert::build(request, &defaults, Some(&DIRECTORY)) {
                let text = payload["text"].as_str().unwrap_or_default();
                prop_assert!(text.chars().count() <= alert::MAX_TEXT);
                prop_assert!(payload["blocks"].as_array().map_or(0, Vec::len) <= alert::MAX_BLOCKS);
            }
        }
        Ok(())
    });
}

#[test]
fn receiver_bodies() {
    let routing = Routing {
        routes: vec![routes::RouteSpec {
            matchers: [("team".to_owned(), "finops".to_owned())].into(),
            webhooks: vec!["ops".to_owned()],
            mentions: vec!["@finops-team".to_owned()],
            template: Some("budget".to_owned()),
            continue_matching: true,
            ..routes::RouteSpec::default()
        }],
        templates: [(
            "budget".to_owned(),
            routes::TemplateSpec {
                text: "{{ status | upper }}: {{ alerts | length }} {{ commonAnnotations.summary }}"
                    .to_owned(),
                blocks: None,
            },
        )]
        .into(),
    };
    let router = Router::new(&routing);
    run(input(seeds(&["alertmanager.json", "grafana.json"])), |bytes| {
        let Ok(notification) = serde_json::from_slice::<Notification>(bytes) else {
            return Ok(());
        };
        for target in [Target::Routes(&router), Target::Webhook("ops")] {
            let built = routes::messages(
                &notification,
                target,
                &|_| vec!["here".to_owned()],
                Some(&DIRECTORY),
            );
            for message in built.messages.iter().map(|m| &m.payload).chain(&built.unrouted) {
                prop_assert!(message["blocks"].as_array().map_or(0, Vec::len) <= alert::MAX_BLOCKS);
                let text = message["text"].as_str().unwrap_or_default();
                prop_assert!(text.chars().count() <= alert::MAX_TEXT);
            }
        }
        Ok(())
    });
}

#[test]
fn mentions_and_slack_answers() {
    let seeds = vec![
        b"@jane.doe".to_vec(),
        b"jane.doe@example.com".to_vec(),
        b"@FinOps-Team".to_vec(),
        b"invalid_token".to_vec(),
        b"{\"ok\": false, \"error\": \"missing_scope\", \"needed\": \"users:read\", \"provided\": \"chat:write\"}".to_vec(),
    ];
    run(input(seeds), |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let _ = DIRECTORY.resolve(&text);
        let status = StatusCode::from_u16(100 + u16::from(bytes.first().copied().unwrap_or(0)) * 2)
            .unwrap_or(StatusCode::OK);
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(bytes.get(..bytes.len().min(24)).unwrap_or_default()) {
            headers.insert("retry-after", value);
        }
        let _ = hookwarden::slack::answer::webhook(status, &headers, &text);
        let json = serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null);
        let _ = hookwarden::slack::answer::web_api(status, &headers, &json);
        Ok(())
    });
}
