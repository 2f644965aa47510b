//! Files whose size or shape would cost unbounded time or memory are refused, with a
//! position, before any tree is built: in the CLI, through the daemon that holds the
//! state, and by the daemon's watcher, which keeps serving the last good state.

use std::time::Duration;

use crate::harness::{Daemon, Test, URL_GOV, URL_OPS, applied_with, live_hooks};

/// A 9-level alias chain (9^9 nodes expanded) and a 10,000-deep value under
/// `channel:`: each part alone was fast, together 18 s and 4.2 GB.
fn bomb() -> String {
    let mut text = String::from("version: 1\nx0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
    }
    text.push_str(&format!(
        "webhooks:\n  - name: Ops\n    channel: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    ));
    text
}

#[test]
fn an_alias_bomb_with_deep_nesting_is_refused_with_a_position() {
    let run = Test::new()
        .file("hookwarden.yaml", &bomb())
        .args(&["validate", "--format", "json"])
        .run();
    run.code(1);
    let outcome: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(outcome["problems"][0]["code"], "alias-expansion");
    assert_eq!(
        outcome["problems"][0]["line"], 8,
        "at the alias that crosses the limit"
    );
    let deep = Test::new()
        .file(
            "hookwarden.yaml",
            &format!(
                "version: 1\nwebhooks:\n  - name: Ops\n    channel: {}\n",
                "{a: ".repeat(100_000)
            ),
        )
        .args(&["validate"])
        .run();
    deep.code(1);
    assert!(
        deep.stderr.starts_with("hookwarden.yaml:4:") && deep.stderr.contains("error[too-deep]"),
        "{}",
        deep.stderr
    );
}

#[test]
fn a_file_that_is_not_utf8_is_positioned() {
    let test = Test::new();
    std::fs::write(test.path("hookwarden.yaml"), b"version: 1\nwebhooks: \xff\n").expect("write");
    let run = test.exec(&["validate"]);
    run.code(1);
    assert!(
        run.stderr
            .starts_with("hookwarden.yaml:2:11: error[invalid-utf8]: the file is not UTF-8: byte 0xff"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_daemon_refuses_a_bomb_sent_to_it_and_watched_and_keeps_serving() {
    let test = applied_with(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        live_hooks(&[URL_OPS, URL_GOV]),
    );
    let daemon = Daemon::start(&test, &["--periodic", "1h"]);
    test.write("bomb.yaml", &bomb());
    let sent = test.exec(&["-c", "bomb.yaml", "plan"]);
    sent.code(1);
    assert!(sent.stderr.contains("error[alias-expansion]"), "{}", sent.stderr);
    std::fs::write(test.path("latin1.yaml"), b"version: 1\nwebhooks: \xe9\n").expect("write");
    let latin1 = test.exec(&["-c", "latin1.yaml", "plan"]);
    latin1.code(1);
    assert!(
        latin1.stderr.contains("latin1.yaml:2:11: error[invalid-utf8]"),
        "{}",
        latin1.stderr
    );

    test.write("hookwarden.yaml", &bomb());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !daemon.log().contains("alias-expansion") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(daemon.log().contains("alias-expansion"), "{}", daemon.log());
    assert_eq!(daemon.get("/healthz").status, 200, "still serving");
    let status = test.exec(&["status"]);
    status.code(0);
    assert!(
        status.stdout.contains("ops"),
        "the applied state is kept: {}",
        status.stdout
    );
}
