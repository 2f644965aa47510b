//! The inputs: a demo age identity, desired-state files of N webhooks encrypted to it,
//! and the hookwarden binary run against them and against the fake Slack.

use std::path::PathBuf;
use std::process::Command;

use hookwarden::secrets::{Recipients, Secret, encrypt};
use secrecy::ExposeSecret;
use tempfile::TempDir;

use crate::daemon_process::{self, Listening};
use crate::measure::Service;

/// A fake bot token, shaped like one.
pub const TOKEN: &str = "xoxb-0000-BENCH-not-a-real-token";

/// A scratch directory with a fresh identity.
pub struct Workdir {
    pub dir: TempDir,
    recipients: Recipients,
    /// `--store`, when not the sled state in the directory.
    store: Option<String>,
}

impl Workdir {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookwarden-bench-")
            .disable_cleanup(std::env::var_os("BENCH_KEEP").is_some())
            .tempdir()
            .expect("temp dir");
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        std::fs::write(
            dir.path().join("identity.txt"),
            format!("# benchmark key\n{}\n", identity.to_string().expose_secret()),
        )
        .expect("write the identity");
        let recipients = Recipients::parse(&[recipient]).expect("a recipient");
        Workdir {
            dir,
            recipients,
            store: None,
        }
    }

    /// The same, its state in `store` (`postgres://…`).
    pub fn on_store(store: &str) -> Self {
        Workdir {
            store: Some(store.to_owned()),
            ..Workdir::new()
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn seal(&self, plaintext: &str) -> String {
        encrypt(&Secret::new(plaintext), &self.recipients).expect("encrypts")
    }

    /// Writes `name`: `count` webhooks and maybe a bot token, every secret sealed.
    /// Returns the webhook URLs in order.
    pub fn config(&self, name: &str, count: usize, token: bool) -> Vec<String> {
        let urls: Vec<String> = (0..count).map(webhook_url).collect();
        let mut yaml = String::from("version: 1\n");
        if token {
            yaml += &format!(
                "slack:\n  bot_token:\n    age: |\n{}",
                indent(&self.seal(TOKEN), 6)
            );
        }
        yaml += "webhooks:\n";
        for (i, url) in urls.iter().enumerate() {
            yaml += &format!(
                "  - id: hook-{i}\n    name: Bench hook {i}\n    channel: \"#bench-{i}\"\n    url:\n      age: |\n{}",
                indent(&self.seal(url), 8)
            );
        }
        std::fs::write(self.path(name), yaml).expect("write the config");
        urls
    }

    /// The hookwarden binary, with this directory's identity and state, talking to
    /// `slack` (the fake's origin) if given.
    pub fn hookwarden(&self, args: &[&str], slack: Option<&str>) -> Command {
        let mut command = Command::new(binary());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOOKWARDEN_IDENTITY", self.path("identity.txt"))
            .env("HOOKWARDEN_STATE_DIR", self.path("state"));
        if let Some(store) = &self.store {
            command.env("HOOKWARDEN_STORE", store);
        }
        if let Some(origin) = slack {
            command
                .env("HOOKWARDEN_SLACK_WEBHOOK_ORIGIN", origin)
                .env("HOOKWARDEN_SLACK_API_URL", format!("{origin}/api"));
        }
        command
    }

    /// `hookwarden daemon` on 127.0.0.1:0 with `args`; returns it and its base URL
    /// once it listens.
    pub fn daemon(&self, config: &str, slack: &str, args: &[&str]) -> (Service, String) {
        let log = self.path("daemon.log");
        let mut all = vec!["daemon", "-c", config];
        all.extend_from_slice(args);
        let Listening { child, url } = daemon_process::start(self.hookwarden(&all, Some(slack)), &log);
        (Service { child }, url)
    }
}

/// The hookwarden measured: the one named by `BENCH_BINARY` (`bench/run` names the
/// release build, as `cargo install` makes it; another for an A/B of two builds in the
/// same harness), else the bench profile's own.
pub fn binary() -> PathBuf {
    std::env::var_os("BENCH_BINARY")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_hookwarden")), PathBuf::from)
}

/// An obviously fake webhook URL, one per index.
pub fn webhook_url(i: usize) -> String {
    format!("https://hooks.slack.com/services/T0BENCH00/B{i:08}/FAKEbenchFAKEbench{i:06}")
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().flat_map(|line| [pad.as_str(), line, "\n"]).collect()
}
