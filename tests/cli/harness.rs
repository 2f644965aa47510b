//! The `Test` builder: a temporary directory with files, an environment with nothing
//! of the caller's hookwarden settings, the binary run in it, and what it printed; and
//! the `Daemon` a test runs in that directory.

pub mod alertmanager;
pub mod browser;
mod daemon;

use std::path::{Path, PathBuf};
use std::process::Command;

use hookwarden::secrets::{Keyring, Recipients, Secret, encrypt};
use secrecy::ExposeSecret;
use tempfile::TempDir;

use crate::fake_slack::{FakeSlack, Hook, Script, TokenScript, group, hook_path, member};

pub use daemon::{Answer, Daemon};

/// Fake values, shaped like the real thing so that they pass validation.
pub const URL_OPS: &str = "https://hooks.slack.com/services/T0FAKE000/B0FAKE001/FAKEfakeFAKEfakeOPS1";
pub const URL_GOV: &str = "https://hooks.slack.gov/services/T0FAKE000/B0FAKE002/FAKEfakeFAKEfakeGOV2";
pub const TOKEN: &str = "xoxb-0000-FAKE-not-a-real-token";

/// A fake Slack where each of `urls` is a live webhook.
pub fn live_hooks(urls: &[&str]) -> Script {
    Script {
        hooks: urls.iter().map(|u| (hook_path(u), Hook::Live)).collect(),
        ..Script::default()
    }
}

/// A test with `webhooks` applied and its identity in the environment, its runs talking
/// to a fake Slack that follows `script`.
pub fn applied_with(webhooks: &[(&str, &str, Option<&str>, &str)], script: Script) -> Test {
    let test = Test::new();
    let config = test.config_of(webhooks, None);
    let test = test
        .file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .slack(script);
    test.exec(&["apply", "--auto-approve"]).code(0);
    test
}

/// A fake workspace in which [`TOKEN`] is a bot token with every scope hookwarden needs.
pub fn token_workspace() -> Script {
    let scopes = ["users:read", "users:read.email", "usergroups:read"]
        .map(str::to_owned)
        .to_vec();
    let token = TokenScript {
        team_id: "T0FAKE000".into(),
        team: "Fake Co".into(),
        scopes,
        error: None,
    };
    Script {
        tokens: [(TOKEN.to_owned(), token)].into(),
        user_pages: vec![vec![]],
        ..Script::default()
    }
}

/// [`token_workspace`] with Jane and the `finops-team` group, and `ops` and `gov` live.
pub fn finops_workspace() -> Script {
    let mut script = token_workspace();
    script.user_pages = vec![vec![member("U0JANE", "jane.doe", "Jane", "jane.doe@example.com")]];
    script.groups = vec![group("S0FIN", "finops-team", &["U0JANE"], false)];
    script.hooks = [hook_path(URL_OPS), hook_path(URL_GOV)]
        .into_iter()
        .map(|p| (p, Hook::Live))
        .collect();
    script
}

pub struct Test {
    dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: String,
    /// The age key of this test, written to `identity.txt`.
    pub key: String,
    /// The fake Slack this test's runs talk to, if any.
    slack: Option<FakeSlack>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    root: PathBuf,
    /// Kept alive when the run consumed its `Test`.
    owned: Option<TempDir>,
}

impl Test {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = age::x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_owned();
        std::fs::write(dir.path().join("identity.txt"), format!("# test key\n{key}\n")).expect("write key");
        Test {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            stdin: String::new(),
            key,
            slack: None,
        }
    }

    /// The public key of [`Test::key`].
    pub fn recipient(&self) -> String {
        self.keyring().recipients().names().remove(0)
    }

    pub fn keyring(&self) -> Keyring {
        Keyring::from_text(&self.key).expect("test key parses")
    }

    /// `{age: "…"}`: `plaintext` encrypted to this test's key, as one line of YAML.
    pub fn sealed(&self, plaintext: &str) -> String {
        let recipients = Recipients::parse(&[self.recipient()]).expect("recipient");
        let armored = encrypt(&Secret::new(plaintext), &recipients).expect("encrypts");
        format!("{{age: \"{}\"}}", armored.replace('\n', "\\n"))
    }

    /// A config of `webhooks` (id, name, channel, plaintext URL) and maybe a token,
    /// every secret encrypted to this test's key.
    pub fn config_of(&self, webhooks: &[(&str, &str, Option<&str>, &str)], token: Option<&str>) -> String {
        let mut text = format!("version: 1\nrecipients: [{}]\n", self.recipient());
        if let Some(token) = token {
            text.push_str(&format!("slack:\n  bot_token: {}\n", self.sealed(token)));
        }
        text.push_str("webhooks:\n");
        for (id, name, channel, url) in webhooks {
            text.push_str(&format!(
                "  - id: {id}\n    name: {name}\n    url: {}\n",
                self.sealed(url)
            ));
            if let Some(channel) = channel {
                text.push_str(&format!("    channel: \"{channel}\"\n"));
            }
        }
        text
    }

    /// A valid config with two webhooks and a token, all encrypted to this test's key.
    pub fn config(&self) -> String {
        format!(
            "version: 1\nrecipients: [{}]\nslack:\n  bot_token: {}\nwebhooks:\n  - id: ops\n    name: Ops\n    channel: \"#ops\"\n    url: {}\n  - name: Gov Incidents\n    url: {}\n",
            self.recipient(),
            self.sealed(TOKEN),
            self.sealed(URL_OPS),
            self.sealed(URL_GOV)
        )
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` in this test's directory, replacing it.
    pub fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.path(name), contents).expect("write file");
    }

    pub fn file(self, name: &str, contents: &str) -> Self {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write file");
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// The fake Slack started by [`Test::slack`].
    pub fn slack_fake(&self) -> &FakeSlack {
        self.slack.as_ref().expect("the test started a fake Slack")
    }

    /// Points every run at a fake Slack that follows `script`.
    pub fn slack(self, script: Script) -> Self {
        let slack = FakeSlack::start(script);
        let test = self
            .env("HOOKWARDEN_SLACK_API_URL", &slack.api_url())
            .env("HOOKWARDEN_SLACK_WEBHOOK_ORIGIN", &slack.origin());
        Test {
            slack: Some(slack),
            ..test
        }
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        text.clone_into(&mut self.stdin);
        self
    }

    /// Runs the arguments and input given so far; the directory goes with the result.
    pub fn run(self) -> Run {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut run = self.exec_with(&args, &self.stdin);
        run.owned = Some(self.dir);
        run
    }

    /// Runs `args` in this test's directory, which stays for further runs.
    pub fn exec(&self, args: &[&str]) -> Run {
        self.exec_with(args, "")
    }

    pub fn exec_with(&self, args: &[&str], stdin: &str) -> Run {
        let output = assert_cmd::Command::from_std(self.command(args))
            .write_stdin(stdin.to_owned())
            .output()
            .expect("runs");
        Run {
            code: output.status.code().expect("exited"),
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
            root: self.dir.path().to_owned(),
            owned: None,
        }
    }

    /// Runs the binary with `args` on a pseudo-terminal (util-linux's `script`), as a
    /// person would, typing `typed` once it has started; returns what the terminal
    /// showed. `None` (skipped) without `script`, except under `CI`.
    pub fn on_terminal(&self, args: &[&str], typed: &[u8]) -> Option<String> {
        if Command::new("script").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "script (util-linux) is required in CI"
            );
            eprintln!("skipped: `script` (util-linux) is not installed");
            return None;
        }
        let binary = self.command(args);
        let line: Vec<String> = std::iter::once(binary.get_program())
            .chain(binary.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
            .collect();
        let mut script = Command::new("script");
        script
            .args(["-qec", &line.join(" "), "/dev/null"])
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (name, value) in binary.get_envs() {
            match value {
                Some(value) => script.env(name, value),
                None => script.env_remove(name),
            };
        }
        let mut child = script.spawn().expect("script runs");
        let mut stdin = child.stdin.take().expect("stdin");
        std::thread::sleep(std::time::Duration::from_millis(500));
        std::io::Write::write_all(&mut stdin, typed).expect("type");
        let output = child.wait_with_output().expect("ends");
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The binary with `args`, in this test's directory and environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin!("hookwarden"));
        command.current_dir(self.dir.path()).args(args);
        for (name, _) in std::env::vars() {
            if name.starts_with("HOOKWARDEN_")
                || [
                    "CREDENTIALS_DIRECTORY",
                    "STATE_DIRECTORY",
                    "RUNTIME_DIRECTORY",
                    "NO_COLOR",
                ]
                .contains(&name.as_str())
            {
                command.env_remove(name);
            }
        }
        command.env("HOME", self.dir.path());
        // Never this machine's daemon: a test names the runtime socket it means.
        command.env(
            "HOOKWARDEN_ADMIN_SOCKET",
            self.dir.path().join("run/no-daemon.sock"),
        );
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }
}

impl Run {
    /// The outcome of a command run with [`Test::command`].
    pub fn from_output(output: std::process::Output, test: &Test) -> Run {
        Run {
            code: output.status.code().expect("exited"),
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
            root: test.dir.path().to_owned(),
            owned: None,
        }
    }

    /// Asserts the exit code, showing what was printed when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that no fake secret, nor the secret segment of a URL, was printed.
    #[track_caller]
    pub fn no_secrets(&self) -> &Self {
        for secret in [URL_OPS, URL_GOV, TOKEN, "FAKEfakeFAKEfake", "not-a-real-token"] {
            assert!(
                !self.stdout.contains(secret),
                "stdout shows a secret:\n{}",
                self.stdout
            );
            assert!(
                !self.stderr.contains(secret),
                "stderr shows a secret:\n{}",
                self.stderr
            );
        }
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// The `age` CLI, which the interoperability tests need. CI installs it (.ci/run) and a
/// missing one fails there; elsewhere those tests say they were skipped.
pub fn age_cli() -> Option<&'static str> {
    let found = Command::new("age")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("age");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the age CLI is required in CI: apt-get install age"
    );
    eprintln!("skipped: the age CLI is not installed (apt-get install age, or run .ci/run)");
    None
}

/// The value of the first line of Prometheus text `metrics` that starts with
/// `line_start` (a name and its labels).
pub fn metric_value(metrics: &str, line_start: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Polls `check` every 100 ms until it holds; fails the test after `within`.
pub fn eventually(what: &str, within: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A file under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}
