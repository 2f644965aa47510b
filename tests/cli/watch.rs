//! The daemon keeping up with the desired-state file: edits, renames, deletes, broken
//! files, held-back mass deletions, SIGHUP and systemd's notify protocol.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Daemon, Test, URL_GOV, URL_OPS, applied_with, live_hooks};

const URL_THIRD: &str = "https://hooks.slack.com/services/T0FAKE000/B0FAKE003/FAKEfakeFAKEfakeTHR3";

/// `ops`, `gov` and `third`, applied, with the daemon's identity in the environment.
fn applied() -> (
    Test,
    Vec<(&'static str, &'static str, Option<&'static str>, &'static str)>,
) {
    let webhooks = vec![
        ("ops", "Ops", None, URL_OPS),
        ("gov", "Gov", None, URL_GOV),
        ("third", "Third", None, URL_THIRD),
    ];
    let test = applied_with(&webhooks, live_hooks(&[URL_OPS, URL_GOV, URL_THIRD]));
    (test, webhooks)
}

/// Polls `check` until it holds, for up to ten seconds.
fn eventually(what: &str, check: impl FnMut() -> bool) {
    crate::harness::eventually(what, Duration::from_secs(10), check);
}

fn names(daemon: &Daemon) -> Vec<String> {
    let webhooks = daemon.get("/v1/webhooks").json;
    webhooks["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| w["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn healthz(daemon: &Daemon) -> Value {
    daemon.get("/healthz").json
}

/// The daemon only reacts to file events in these tests: no periodic pass.
const QUIET: [&str; 2] = ["--periodic", "1h"];

#[test]
fn an_edit_in_place_is_applied() {
    let (test, mut webhooks) = applied();
    let daemon = Daemon::start(&test, &QUIET);
    webhooks[0].1 = "Operations";
    test.write("hookwarden.yaml", &test.config_of(&webhooks, None));
    eventually("the rename is applied", || {
        names(&daemon).contains(&"Operations".to_owned())
    });
    let history = test.slack_fake();
    let _ = history;
    assert_eq!(daemon.stop(), 0);
    let audit = test.exec(&["history", "--format", "json"]);
    let entries: Value = serde_json::from_str(&audit.stdout).expect("JSON");
    assert_eq!(entries.as_array().map(Vec::len), Some(2));
    assert!(
        entries[1]["actor"]
            .as_str()
            .is_some_and(|a| a.ends_with("(daemon)")),
        "{}",
        entries[1]
    );
}

#[test]
fn a_file_replaced_by_rename_is_applied() {
    let (test, mut webhooks) = applied();
    let daemon = Daemon::start(&test, &QUIET);
    webhooks[1].1 = "Government";
    test.write("next.yaml", &test.config_of(&webhooks, None));
    std::fs::rename(test.path("next.yaml"), test.path("hookwarden.yaml")).expect("rename");
    eventually("the renamed-in file is applied", || {
        names(&daemon).contains(&"Government".to_owned())
    });
}

#[test]
fn a_deleted_then_recreated_file_keeps_the_state_then_applies() {
    let (test, mut webhooks) = applied();
    let daemon = Daemon::start(&test, &QUIET);
    std::fs::remove_file(test.path("hookwarden.yaml")).expect("delete");
    eventually("the missing file is reported", || {
        healthz(&daemon)["status"] == "degraded"
    });
    assert_eq!(names(&daemon).len(), 3, "the last good state is kept");
    webhooks[2].1 = "Third Again";
    test.write("hookwarden.yaml", &test.config_of(&webhooks, None));
    eventually("the recreated file is applied", || {
        names(&daemon).contains(&"Third Again".to_owned())
    });
    assert_eq!(healthz(&daemon)["status"], "ok");
}

#[test]
fn a_broken_file_keeps_the_last_good_state_until_it_is_fixed() {
    let (test, mut webhooks) = applied();
    let daemon = Daemon::start(&test, &QUIET);
    let good = test.config_of(&webhooks, None);
    test.write("hookwarden.yaml", &good.replace("name: Ops", "nmae: Ops"));
    eventually("the problem is reported", || {
        healthz(&daemon)["status"] == "degraded"
    });
    let problems = healthz(&daemon)["problems"].to_string();
    assert!(
        problems.contains("hookwarden.yaml:") && problems.contains("unknown key `nmae`"),
        "{problems}"
    );
    let metrics = daemon.get("/metrics").json.to_string();
    assert!(metrics.contains("hookwarden_config_valid 0"), "{metrics}");
    assert_eq!(
        names(&daemon),
        ["Gov", "Ops", "Third"],
        "the last good state is served"
    );
    webhooks[0].1 = "Fixed";
    test.write("hookwarden.yaml", &test.config_of(&webhooks, None));
    eventually("the fixed file is applied", || {
        names(&daemon).contains(&"Fixed".to_owned())
    });
    assert_eq!(healthz(&daemon)["status"], "ok");
    assert!(
        daemon
            .get("/metrics")
            .json
            .to_string()
            .contains("hookwarden_config_valid 1")
    );
    assert!(
        daemon.log().contains("unknown key `nmae`"),
        "the problem is logged"
    );
}

#[test]
fn a_mass_deletion_is_held_back() {
    let (test, webhooks) = applied();
    let daemon = Daemon::start(&test, &QUIET);
    test.write("hookwarden.yaml", &test.config_of(&webhooks[..1], None));
    eventually("the held plan is reported", || {
        healthz(&daemon)["status"] == "degraded"
    });
    let problem = healthz(&daemon)["problems"][0]
        .as_str()
        .expect("a problem")
        .to_owned();
    assert!(problem.contains("--allow-mass-delete"), "{problem}");
    assert_eq!(names(&daemon).len(), 3, "nothing was deleted");
    assert!(
        daemon
            .get("/metrics")
            .json
            .to_string()
            .contains("hookwarden_mass_deletions_held_total 1")
    );
    // The command it prints works as printed, beside the daemon, and clears it.
    let command = problem
        .split('`')
        .nth(1)
        .and_then(|c| c.strip_prefix("hookwarden "))
        .expect("a command in backticks");
    let args: Vec<&str> = command.split_whitespace().collect();
    let applied = test.exec(&args);
    applied.code(0);
    assert!(
        applied.stdout.contains("as --allow-mass-delete allows") && !applied.stdout.contains("refuses it"),
        "{}",
        applied.stdout
    );
    eventually("the held plan clears once applied", || {
        healthz(&daemon)["status"] == "ok"
    });
    assert_eq!(names(&daemon).len(), 1);
}

#[test]
fn with_apply_off_drift_is_only_reported() {
    let (test, mut webhooks) = applied();
    let daemon = Daemon::start(&test, &["--periodic", "1h", "--apply", "off"]);
    webhooks[0].1 = "Not Yet";
    test.write("hookwarden.yaml", &test.config_of(&webhooks, None));
    eventually("drift is reported", || healthz(&daemon)["status"] == "degraded");
    assert!(
        healthz(&daemon)["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains(" apply --auto-approve`"))
    );
    assert!(!names(&daemon).contains(&"Not Yet".to_owned()));
}

#[test]
fn a_switched_symlink_is_followed() {
    let (test, mut webhooks) = applied();
    std::fs::create_dir(test.path("release-1")).expect("mkdir");
    std::fs::rename(
        test.path("hookwarden.yaml"),
        test.path("release-1/hookwarden.yaml"),
    )
    .expect("move");
    std::os::unix::fs::symlink("release-1/hookwarden.yaml", test.path("hookwarden.yaml")).expect("symlink");
    let daemon = Daemon::start(&test, &QUIET);
    std::fs::create_dir(test.path("release-2")).expect("mkdir");
    webhooks[0].1 = "Release Two";
    test.write("release-2/hookwarden.yaml", &test.config_of(&webhooks, None));
    std::os::unix::fs::symlink("release-2/hookwarden.yaml", test.path("next-link")).expect("symlink");
    std::fs::rename(test.path("next-link"), test.path("hookwarden.yaml")).expect("switch");
    eventually("the new release is applied", || {
        names(&daemon).contains(&"Release Two".to_owned())
    });
}

/// Reads systemd notifications from `socket` until `expected` came, in order.
fn notifications(socket: &UnixDatagram, expected: &[&str]) -> Vec<String> {
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut seen = Vec::new();
    let mut buffer = [0; 4096];
    let mut next = 0;
    while next < expected.len() {
        let n = socket
            .recv(&mut buffer)
            .unwrap_or_else(|e| panic!("no {:?} after {seen:?}: {e}", expected[next]));
        let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if message.lines().any(|line| line == expected[next]) {
            next += 1;
        }
        seen.push(message);
    }
    seen
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let (test, _) = applied();
    let socket_path = test.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind");
    let test = test.env("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8"));
    let daemon = Daemon::start(&test, &QUIET);
    let ready = notifications(&socket, &["READY=1"]);
    assert!(
        ready
            .last()
            .is_some_and(|m| m.contains("STATUS=in sync with the desired-state file")),
        "{ready:?}"
    );
    std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .expect("kill");
    notifications(&socket, &["RELOADING=1", "READY=1"]);
    assert_eq!(daemon.stop(), 0);
    notifications(&socket, &["STOPPING=1"]);
}

#[test]
fn the_example_unit_passes_systemd_analyze_verify() {
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let unit = std::fs::read_to_string(format!("{root}/examples/hookwarden.service")).expect("the unit");
    // The paths the unit names must exist for verify; point them at this checkout.
    let unit = unit
        .replace(
            "/usr/local/bin/hookwarden",
            assert_cmd::cargo::cargo_bin!("hookwarden")
                .to_str()
                .expect("utf-8"),
        )
        .replace(
            "/etc/hookwarden/age-identity",
            &format!("{root}/examples/demo-identity.txt"),
        )
        .replace(
            "ReadOnlyPaths=/etc/hookwarden",
            &format!("ReadOnlyPaths={root}/examples"),
        );
    let test = Test::new().file("hookwarden.service", &unit);
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(test.path("hookwarden.service"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn a_switched_folder_symlink_is_followed_and_later_edits_too() {
    let (test, mut webhooks) = applied();
    for release in ["release-1", "release-2"] {
        std::fs::create_dir(test.path(release)).expect("mkdir");
    }
    std::fs::rename(
        test.path("hookwarden.yaml"),
        test.path("release-1/hookwarden.yaml"),
    )
    .expect("move");
    std::os::unix::fs::symlink("release-1", test.path("current")).expect("symlink");
    let daemon = Daemon::start(&test, &["--periodic", "1h", "-c", "current/hookwarden.yaml"]);
    webhooks[0].1 = "Release Two";
    test.write("release-2/hookwarden.yaml", &test.config_of(&webhooks, None));
    std::os::unix::fs::symlink("release-2", test.path("next")).expect("symlink");
    std::fs::rename(test.path("next"), test.path("current")).expect("switch");
    eventually("the switched folder is applied", || {
        names(&daemon).contains(&"Release Two".to_owned())
    });
    webhooks[0].1 = "Edited In Release Two";
    test.write("release-2/hookwarden.yaml", &test.config_of(&webhooks, None));
    eventually("an edit in the new folder is applied", || {
        names(&daemon).contains(&"Edited In Release Two".to_owned())
    });
}
