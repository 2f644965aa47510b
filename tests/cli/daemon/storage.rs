//! A full disk under the state: intake answers 503 `storage_full`, `/healthz` and
//! `/readyz` say why, nothing is sent that could not be recorded (so nothing is sent
//! twice), the daemon stops promptly, and once there is space again and it restarts,
//! every accepted alert is delivered.
//!
//! The state is put on a small tmpfs, mounted by the test, which needs root; without it
//! the test says it was skipped, except under `CI`, where it fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::alert;
use crate::fake_slack::hook_path as path;
use crate::harness::{Daemon, Test, URL_GOV, URL_OPS, live_hooks};

/// A tmpfs of `size` at `at`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        std::fs::create_dir_all(at).expect("mkdir");
        let mounted = root
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
                .arg(at)
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var_os("CI").is_none(),
                "the full-disk test needs root, to mount a tmpfs, in CI"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `file` until the disk is full.
fn fill(file: &Path) {
    let mut out = std::fs::File::create(file).expect("filler");
    for size in [64 * 1024, 4096, 512, 1] {
        let chunk = vec![0u8; size];
        while out.write_all(&chunk).is_ok() {}
    }
    let _ = out.sync_all();
}

fn copies(test: &Test) -> BTreeMap<String, usize> {
    let mut copies = BTreeMap::new();
    for message in test.slack_fake().delivered(&path(URL_OPS)) {
        let text = message["text"].as_str().unwrap_or_default().to_owned();
        *copies.entry(text).or_insert(0) += 1;
    }
    copies
}

#[test]
fn a_full_disk_refuses_intake_sends_nothing_twice_and_loses_nothing() {
    let test = Test::new();
    let Some(_tmpfs) = Tmpfs::mount(&test.path(".hookwarden"), "4m") else {
        return;
    };
    let config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        None,
    );
    let test = test
        .file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .slack(live_hooks(&[URL_OPS, URL_GOV]));
    test.exec(&["apply", "--auto-approve"]).code(0);
    let daemon = Daemon::start(
        &test,
        &[
            "--rate",
            "2",
            "--burst",
            "1",
            "--digest",
            "off",
            "--storage-timeout",
            "4s",
        ],
    );
    let texts: Vec<String> = (0..20).map(|i| format!("accepted {i:02}")).collect();
    for text in &texts {
        let answer = daemon.post(&alert("ops", text));
        assert_eq!(answer.status, 202, "{:?}", answer.json);
    }
    fill(&test.path(".hookwarden/filler"));

    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let answer = daemon.post(&alert(
            "ops",
            &format!("after the disk filled {}", "x".repeat(4000)),
        ));
        assert_ne!(answer.status, 500, "{:?}", answer.json);
        if answer.status == 503 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(refused.status, 503, "{:?}", refused.json);
    assert_eq!(refused.json["error"]["code"], "storage_full");
    assert!(refused.headers.contains_key("retry-after"));
    let health = daemon.get("/healthz").json;
    assert_eq!(health["status"], "degraded");
    assert!(
        health["problems"].to_string().contains("cannot be written"),
        "{health}"
    );
    let ready = daemon.get("/readyz");
    assert_eq!(
        (ready.status, ready.json["reason"].as_str()),
        (503, Some("storage_full"))
    );

    std::thread::sleep(Duration::from_secs(3));
    assert!(
        copies(&test).values().all(|&n| n == 1),
        "a delivery that could not be recorded was sent again: {:?}",
        copies(&test)
    );
    // Still unwritable after --storage-timeout: the daemon stops, as a failure, for a
    // restart to reopen the state.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !daemon.log().contains("could not be written for") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = daemon.log();
    assert_eq!(daemon.stop(), 1, "{log}");

    std::fs::remove_file(test.path(".hookwarden/filler")).expect("space again");
    let daemon = Daemon::start(&test, &["--rate", "0"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !texts.iter().all(|t| copies(&test).contains_key(t)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let copies = copies(&test);
    for text in &texts {
        assert!(
            copies.contains_key(text),
            "{text} was accepted and never delivered: {copies:?}"
        );
    }
    assert!(
        copies.values().filter(|&&n| n > 1).count() <= 1,
        "more than the send in flight repeated: {copies:?}"
    );
    assert_eq!(daemon.stop(), 0);
}
