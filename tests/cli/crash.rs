//! Atomicity: an apply killed with SIGKILL at any moment leaves the old state or the
//! new one, never a mix.

use std::path::Path;
use std::time::{Duration, Instant};

use hookwarden::state::{Applied, Store};

use crate::harness::Test;

const WEBHOOKS: usize = 2_000;
const KILLS: u32 = 24;

fn url(n: usize) -> String {
    format!("https://hooks.slack.com/services/T0FAKE000/B{n:08}/FAKEcrashFAKEcrash{n:06}")
}

fn config(test: &Test, name: &str, offset: usize) -> String {
    let mut text = format!("version: 1\nrecipients: [{}]\nwebhooks:\n", test.recipient());
    for i in 0..WEBHOOKS {
        text.push_str(&format!(
            "  - id: hook-{i}\n    name: {name} {i}\n    url: {}\n",
            test.sealed(&url(i + offset))
        ));
    }
    text
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("readable").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// "old" or "new" when `applied` is wholly one of them.
fn which(applied: &Applied) -> Option<&'static str> {
    let names = |prefix: &str| {
        applied.webhooks.len() == WEBHOOKS && applied.webhooks.iter().all(|w| w.name.starts_with(prefix))
    };
    match applied.serial {
        1 if names("Old ") => Some("old"),
        2 if names("New ") => Some("new"),
        _ => None,
    }
}

/// xorshift: kill moments vary from run to run; the seed is printed to replay one.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn a_killed_apply_leaves_the_old_state_or_the_new_one() {
    let test = Test::new().env("HOOKWARDEN_IDENTITY", "identity.txt");
    let (old, new) = (config(&test, "Old", 0), config(&test, "New", WEBHOOKS));
    test.write("old.yaml", &old);
    test.write("new.yaml", &new);
    test.exec(&["-c", "old.yaml", "--state", "base", "apply", "--auto-approve"])
        .code(0);

    copy_dir(&test.path("base"), &test.path("timed"));
    let started = Instant::now();
    test.exec(&["-c", "new.yaml", "--state", "timed", "apply", "--auto-approve"])
        .code(0);
    let full = started.elapsed();

    let mut seed = u64::from(std::process::id()) | 1;
    eprintln!("crash test: a whole apply takes {full:?}; seed {seed}");
    let mut seen = std::collections::BTreeMap::new();
    for kill in 0..KILLS {
        let dir = test.path(&format!("state-{kill}"));
        copy_dir(&test.path("base"), &dir);
        let state = dir.to_str().expect("utf-8 path");
        let mut child = test
            .command(&["-c", "new.yaml", "--state", state, "apply", "--auto-approve"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawns");
        // From halfway through to a little past the end: decryption and encryption come
        // first, the transaction and the flush last.
        let full_us = u64::try_from(full.as_micros()).unwrap_or(u64::MAX).max(10);
        std::thread::sleep(Duration::from_micros(
            full_us / 2 + next(&mut seed) % (full_us * 7 / 10),
        ));
        let _ = child.kill();
        let _ = child.wait();
        let store = Store::open(&dir, "crash test").expect("the state opens after a crash");
        let applied = store.applied().expect("the state reads after a crash");
        let Some(outcome) = which(&applied) else {
            panic!(
                "kill {kill}: the state is neither old nor new: serial {}, {} webhooks",
                applied.serial,
                applied.webhooks.len()
            );
        };
        assert_eq!(
            store.history().expect("history reads").len() as u64,
            applied.serial,
            "kill {kill}: one audit entry per apply"
        );
        *seen.entry(outcome).or_insert(0) += 1;
    }
    eprintln!("crash test: {seen:?}");
}
