//! The PostgreSQL store through the real binary and a real PostgreSQL: plan and apply
//! straight against the database, as CI does, and a daemon that delivers from it.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Daemon, Test, URL_GOV, URL_OPS, eventually, live_hooks};

const URL_DEV: &str = "https://hooks.slack.com/services/T0FAKE000/B0FAKE003/FAKEfakeFAKEfakeDEV3";

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
    assert!(run.stdout.contains("is at schema version 2"), "{}", run.stdout);

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

/// `ops` alone, applied to `store` (the sled state in the test's directory by default).
fn ops_applied(store: Option<&str>) -> Test {
    let test = Test::new();
    let config = test.config_of(&[("ops", "Ops", Some("#ops"), URL_OPS)], None);
    let mut test = test
        .file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .slack(live_hooks(&[URL_OPS]));
    if let Some(store) = store {
        test = test.env("HOOKWARDEN_STORE", store);
    }
    test.exec(&["apply", "--auto-approve"]).code(0);
    test
}

/// `args` run without the test's `HOOKWARDEN_STORE`, as the CLI beside a daemon is.
fn without_store(test: &Test, args: &[&str]) -> crate::harness::Run {
    let output = test
        .command(args)
        .env_remove("HOOKWARDEN_STORE")
        .output()
        .expect("runs");
    crate::harness::Run::from_output(output, test)
}

/// The texts `url` received, in order.
fn texts_at(test: &Test, url: &str) -> Vec<String> {
    test.slack_fake()
        .delivered(&crate::fake_slack::hook_path(url))
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn two_daemons_share_one_database_and_one_takes_the_webhooks_over_after_kill_9() {
    let Some(test) = on_postgres() else { return };
    let test = test.env("RUST_LOG", "hookwarden=info");
    test.exec(&["apply", "--auto-approve"]).code(0);
    // Slack's limit, strictly: 4 messages a second per webhook, no burst; both daemons
    // paced to it, with a lease of 3s.
    test.slack_fake()
        .edit(|script| script.webhook_limit = Some((4.0, 1.0)));
    let paced = [
        "--periodic",
        "1h",
        "--rate",
        "4",
        "--burst",
        "1",
        "--digest",
        "off",
        "--lease",
        "3s",
    ];
    let first = Daemon::start(&test, &paced);
    let holds = || {
        first
            .log()
            .contains("delivering 2 of the shared store's webhooks")
    };
    eventually(
        "the first daemon holds both webhooks",
        Duration::from_secs(5),
        holds,
    );
    // The second, on its own state directory as another host would be.
    let mut args = paced.to_vec();
    args.extend(["--state", "other"]);
    let second = Daemon::start(&test, &args);

    // A flood to one webhook, half of it through each daemon.
    let ids: Vec<String> = (1..=24)
        .map(|i| {
            let daemon = if i % 2 == 1 { &first } else { &second };
            let answer = daemon.post(&json!({"webhook": "ops", "text": format!("alert {i}")}));
            assert_eq!(answer.status, 202, "{:?}", answer.json);
            answer.json["id"].as_str().expect("an id").to_owned()
        })
        .collect();
    // The first delivers what either took in; it dies in the middle.
    first.wait_for(&ids[5], "delivered", Duration::from_secs(10));
    assert!(
        !second.log().contains("of the shared store's webhooks"),
        "the second delivers nothing while the first holds the leases: {}",
        second.log()
    );
    first.crash();
    for id in &ids {
        second.wait_for(id, "delivered", Duration::from_secs(20));
    }
    let log = second.log();
    assert!(
        log.contains("took this webhook's deliveries over") && log.contains("webhook=ops"),
        "{log}"
    );

    // Every accepted alert arrived, in order; the one in flight at the kill may have
    // arrived twice. Never over Slack's limit.
    let mut texts = texts_at(&test, URL_OPS);
    let sent = texts.len();
    texts.dedup();
    let expected: Vec<String> = (1..=24).map(|i| format!("alert {i}")).collect();
    assert_eq!(texts, expected);
    assert!(sent <= 25, "at most one sent twice: {sent}");
    assert_eq!(test.slack_fake().rate_limited(), 0, "no 429 from Slack");
}

#[test]
fn two_daemons_applying_the_same_file_apply_each_change_once() {
    let Some(test) = on_postgres() else { return };
    let test = test.slack(live_hooks(&[URL_OPS, URL_GOV, URL_DEV]));
    test.exec(&["apply", "--auto-approve"]).code(0);
    let auto = ["--periodic", "1h", "--apply", "auto"];
    let first = Daemon::start(&test, &auto);
    let mut args = auto.to_vec();
    args.extend(["--state", "other"]);
    let second = Daemon::start(&test, &args);

    let config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
            ("dev", "Dev", None, URL_DEV),
        ],
        None,
    );
    // A plan saved before the daemons apply the change is stale once they have.
    test.write("next.yaml", &config);
    test.exec(&["-c", "next.yaml", "plan", "--out", "plan.json"])
        .code(0);
    test.write("hookwarden.yaml", &config);
    // Both serve the new webhook, whichever applied it.
    for daemon in [&first, &second] {
        eventually("dev is served", Duration::from_secs(10), || {
            daemon.get("/v1/webhooks").json["webhooks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|w| w["name"] == "Dev")
        });
    }
    let history = test.exec(&["history", "--format", "json"]);
    history.code(0);
    let entries: serde_json::Value = serde_json::from_str(&history.stdout).expect("JSON history");
    let entries = entries.as_array().expect("a list of entries");
    assert_eq!(
        entries.len(),
        2,
        "the first apply and one for the change: {entries:?}"
    );
    for daemon in [&first, &second] {
        let health = daemon.get("/healthz");
        assert_eq!(health.status, 200, "{:?}", health.json);
    }
    // The CLI beside a daemon on the database, naming its state directory, goes through
    // that daemon's socket; a directory that holds no state gets none.
    let beside = without_store(&test, &["--state", "other", "status"]);
    beside.code(0);
    assert!(beside.stdout.contains("State serial: 2"), "{}", beside.stdout);
    std::fs::create_dir(test.path("empty")).expect("a directory");
    let empty = without_store(&test, &["--state", "empty", "status"]);
    assert!(empty.stdout.contains("Nothing applied yet"), "{}", empty.stdout);
    assert!(!test.path("empty/db").exists(), "no state left behind");
    let stale = test.exec(&["-c", "next.yaml", "apply", "plan.json"]);
    stale.code(1);
    assert!(
        stale
            .stderr
            .contains("the state changed since the plan was made (serial 1, now 2)"),
        "{}",
        stale.stderr
    );
    // And an alert to it is delivered, by whichever daemon holds its lease.
    let answer = second.post(&json!({"webhook": "dev", "text": "new"}));
    let id = answer.json["id"].as_str().expect("an id").to_owned();
    eventually("the alert to dev is delivered", Duration::from_secs(10), || {
        texts_at(&test, URL_DEV) == ["new"]
    });
    assert_eq!(
        second.get(&format!("/v1/alerts/{id}")).json["status"],
        "delivered"
    );
}

#[test]
fn store_copy_moves_a_sled_state_with_its_queued_alerts() {
    let Some(cluster) = cluster::cluster() else { return };
    let url = cluster.database();
    let test = ops_applied(None);
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

#[test]
fn while_the_database_is_away_intake_answers_503_and_nothing_accepted_is_lost() {
    let Some(cluster) = cluster::cluster() else { return };
    let url = cluster.database();
    let (base, database) = url.rsplit_once('/').expect("a URL with a database");
    let maintenance = format!("{base}/postgres");
    let test = ops_applied(Some(&url));
    // Paced to one message in 2 s: the second alert is still queued when the database goes.
    let daemon = Daemon::start(
        &test,
        &[
            "--periodic",
            "1h",
            "--rate",
            "0.5",
            "--burst",
            "1",
            "--digest",
            "off",
            "--lease",
            "2s",
        ],
    );
    let post = |text: &str| daemon.post(&json!({"webhook": "ops", "text": text, "key": text}));
    let first = post("alert 1");
    let second = post("alert 2");
    assert_eq!((first.status, second.status), (202, 202), "{}", daemon.log());

    // The database refuses every connection, and drops those it had.
    cluster.psql(
        &maintenance,
        &format!(
            "alter database {database} allow_connections false;
             select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = '{database}'"
        ),
    );
    let refused = post("alert 3");
    assert_eq!(refused.status, 503, "{:?}", refused.json);
    // Not ready, degraded, and the console says why.
    eventually(
        "not ready while the database is away",
        Duration::from_secs(10),
        || daemon.get("/readyz").status == 503,
    );
    assert_eq!(daemon.get("/healthz").json["status"], "degraded");
    let page = daemon.get("/");
    assert_eq!(page.status, 503);
    assert!(
        page.json
            .as_str()
            .is_some_and(|html| html.contains("The store cannot be read just now")),
        "{:?}",
        page.json
    );
    assert_eq!(refused.json["error"]["code"], "unavailable", "{:?}", refused.json);
    std::thread::sleep(Duration::from_secs(3));

    cluster.psql(
        &maintenance,
        &format!("alter database {database} allow_connections true"),
    );
    eventually("ready again", Duration::from_secs(10), || {
        daemon.get("/readyz").status == 200
    });
    // The sender retries, with the same key; the alert queued before is delivered too.
    let retried = post("alert 3");
    assert_eq!(retried.status, 202, "{:?}", retried.json);
    let id = retried.json["id"].as_str().expect("an id").to_owned();
    daemon.wait_for(&id, "delivered", Duration::from_secs(20));
    let mut texts = texts_at(&test, URL_OPS);
    texts.dedup();
    assert_eq!(texts, ["alert 1", "alert 2", "alert 3"]);
}

#[test]
fn the_password_comes_from_its_file_and_is_never_shown() {
    let Some(cluster) = cluster::cluster() else { return };
    let url = cluster.database();
    let test = Test::new();
    test.write("store-password", "not-a-real-password\n");
    let test = test.env("HOOKWARDEN_STORE", &url);
    let absent = test
        .command(&["store", "migrate"])
        .env("HOOKWARDEN_STORE_PASSWORD_FILE", "absent")
        .output()
        .expect("runs");
    let refused = crate::harness::Run::from_output(absent, &test);
    refused.code(1);
    assert!(
        refused.stderr.contains("cannot read the password file absent"),
        "{}",
        refused.stderr
    );
    let with_file = test.env("HOOKWARDEN_STORE_PASSWORD_FILE", "store-password");
    let migrated = with_file.exec(&["store", "migrate"]);
    migrated.code(0);
    // A password in the URL is shown masked.
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let with_password = format!("{scheme}://{}", rest.replacen('@', ":not-a-real-password@", 1));
    let shown = with_file.exec(&["--store", &with_password, "store", "migrate"]);
    shown.code(0);
    assert!(shown.stdout.contains(":****@"), "{}", shown.stdout);
    assert!(!shown.stdout.contains("not-a-real-password") && !shown.stderr.contains("not-a-real-password"));
}
