//! The PostgreSQL store through the real binary and a real PostgreSQL: plan and apply
//! straight against the database, as CI does, and a daemon that delivers from it.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Daemon, Test, URL_GOV, URL_OPS, live_hooks};

#[path = "../support/postgres.rs"]
#[allow(dead_code, clippy::unused_self)]
mod cluster;

/// A test whose every run uses a fresh database, with `ops` and `gov` in its file.
fn on_postgres() -> Option<Test> {
    let url = cluster::cluster()?.database();
    let test = Test::new();
    let config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        None,
    );
    Some(
        test.file("hookwarden.yaml", &config)
            .env("HOOKWARDEN_IDENTITY", "identity.txt")
            .env("HOOKWARDEN_STORE", &url)
            .slack(live_hooks(&[URL_OPS, URL_GOV])),
    )
}

#[test]
fn plan_and_apply_go_straight_to_the_database() {
    let Some(test) = on_postgres() else { return };
    let run = test.exec(&["store", "migrate"]);
    run.code(0);
    assert!(run.stdout.contains("is at schema version 1"), "{}", run.stdout);

    test.exec(&["plan", "--detailed-exitcode"]).code(2).no_secrets();
    test.exec(&["plan", "--out", "plan.json"]).code(0);
    let applied = test.exec(&["apply", "--auto-approve"]);
    applied.code(0).no_secrets();
    assert!(
        applied.stdout.contains("Apply complete: 2 created"),
        "{}",
        applied.stdout
    );
    test.exec(&["plan", "--detailed-exitcode"]).code(0);

    // A plan made before that apply is stale, as with sled.
    let stale = test.exec(&["apply", "plan.json"]);
    stale.code(1);
    assert!(
        stale
            .stderr
            .starts_with("error: the state changed since the plan was made (serial 0, now 1)"),
        "{}",
        stale.stderr
    );
    let status = test.exec(&["status"]);
    assert!(
        status.stdout.contains("ops") && status.stdout.contains("Gov"),
        "{}",
        status.stdout
    );
    let history = test.exec(&["history", "--verify"]);
    history.code(0);
    assert!(
        !test.path(".hookwarden").exists(),
        "no local state: {}",
        history.stdout
    );
}

#[test]
fn two_daemons_share_one_database_and_the_standby_takes_over_after_kill_9() {
    let Some(test) = on_postgres() else { return };
    test.exec(&["apply", "--auto-approve"]).code(0);
    // The first delivers, paced to one message in 5 s, so that alerts are still queued
    // when it dies; the second, on its own state directory as another host would be,
    // takes alerts in while it stands by.
    let first = Daemon::start(
        &test,
        &[
            "--periodic",
            "1h",
            "--rate",
            "0.2",
            "--burst",
            "1",
            "--digest",
            "off",
        ],
    );
    let second = Daemon::start(&test, &["--periodic", "1h", "--state", "other"]);
    assert!(second.log().contains("standby"), "{}", second.log());
    let post = |daemon: &Daemon, i: usize| {
        let answer = daemon.post(&json!({"webhook": "ops", "text": format!("alert {i}")}));
        assert_eq!(answer.status, 202, "{:?}", answer.json);
        answer.json["id"].as_str().expect("an id").to_owned()
    };
    let ids = [
        post(&first, 1),
        post(&second, 2),
        post(&first, 3),
        post(&second, 4),
    ];
    // What the standby took in, the first delivers.
    first.wait_for(&ids[0], "delivered", Duration::from_secs(10));
    first.wait_for(&ids[1], "delivered", Duration::from_secs(15));

    // Killed, its lock goes with its connection: the standby delivers what it left, in
    // order, and every accepted alert arrives.
    first.crash();
    for id in &ids[2..] {
        second.wait_for(id, "delivered", Duration::from_secs(15));
    }
    assert!(second.log().contains("took delivery over"), "{}", second.log());
    let texts: Vec<String> = test
        .slack_fake()
        .delivered(&crate::fake_slack::hook_path(URL_OPS))
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts, ["alert 1", "alert 2", "alert 3", "alert 4"]);
}

#[test]
fn store_copy_moves_a_sled_state_with_its_queued_alerts() {
    let Some(cluster) = cluster::cluster() else { return };
    let url = cluster.database();
    let test = Test::new();
    let config = test.config_of(&[("ops", "Ops", Some("#ops"), URL_OPS)], None);
    let test = test
        .file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .slack(live_hooks(&[URL_OPS]));
    test.exec(&["apply", "--auto-approve"]).code(0);
    // A sled daemon paced to one message in 10 s: two alerts are still queued when it stops.
    let daemon = Daemon::start(
        &test,
        &[
            "--periodic",
            "1h",
            "--rate",
            "0.1",
            "--burst",
            "1",
            "--digest",
            "off",
        ],
    );
    let ids: Vec<String> = (1..=3)
        .map(|i| {
            let answer = daemon.post(&json!({"webhook": "ops", "text": format!("alert {i}")}));
            answer.json["id"].as_str().expect("an id").to_owned()
        })
        .collect();
    daemon.wait_for(&ids[0], "delivered", Duration::from_secs(10));
    assert_eq!(daemon.stop(), 0);

    let copied = test.exec(&["store", "copy", "--from", "sled:.hookwarden", "--to", &url]);
    copied.code(0);
    assert!(
        copied.stdout.contains("(serial 1)") && copied.stdout.contains("3 alerts, 2 of them queued"),
        "{}",
        copied.stdout
    );
    let again = test.exec(&["store", "copy", "--from", "sled:.hookwarden", "--to", &url]);
    again.code(1);
    assert!(again.stderr.contains("it is not empty"), "{}", again.stderr);

    let test = test.env("HOOKWARDEN_STORE", &url);
    test.exec(&["history", "--verify"]).code(0);
    test.exec(&["plan", "--detailed-exitcode"]).code(0);
    let daemon = Daemon::start(&test, &["--periodic", "1h", "--state", "pg-host"]);
    for id in &ids[1..] {
        daemon.wait_for(id, "delivered", Duration::from_secs(10));
    }
    let texts: Vec<String> = test
        .slack_fake()
        .delivered(&crate::fake_slack::hook_path(URL_OPS))
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(texts, ["alert 1", "alert 2", "alert 3"]);
    // New alerts are numbered after the copied ones.
    let answer = daemon.post(&json!({"webhook": "ops", "text": "alert 4"}));
    let id = answer.json["id"].as_str().expect("an id").to_owned();
    assert!(id > ids[2], "{id} after {}", ids[2]);
}
