//! `Alertmanager`: a real Alertmanager (Debian's `prometheus-alertmanager`, 0.25) on
//! loopback, in a test's directory, with one `webhook_configs` receiver pointed at a
//! daemon; alerts are pushed to its `POST /api/v2/alerts` as Prometheus pushes them.
//! CI installs it (.ci/run) and a missing one fails there; elsewhere the tests that
//! need it say they were skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Test;

pub struct Alertmanager {
    child: Child,
    pub url: String,
    log: PathBuf,
}

/// The Alertmanager binary: Debian names it `prometheus-alertmanager`, upstream
/// `alertmanager`.
pub fn binary() -> Option<&'static str> {
    let found = ["prometheus-alertmanager", "alertmanager"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Alertmanager is required in CI: apt-get install prometheus-alertmanager"
        );
        eprintln!(
            "skipped: Alertmanager is not installed (apt-get install prometheus-alertmanager, or run .ci/run)"
        );
    }
    found
}

/// A free loopback port, for a program that cannot report the one it was given.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("address").port()
}

impl Alertmanager {
    /// Starts `binary` with `config` (YAML) in `test`'s directory, without clustering,
    /// and waits until it is ready.
    pub fn start(test: &Test, binary: &str, config: &str) -> Alertmanager {
        let dir = test.path("alertmanager");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("alertmanager.yml"), config).expect("write config");
        let log = dir.join("alertmanager.log");
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=debug")
            .current_dir(test.path(""))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log file"))
            .stderr(
                std::fs::File::options()
                    .append(true)
                    .open(&log)
                    .expect("log file"),
            )
            .spawn()
            .expect("start Alertmanager");
        let mut alertmanager = Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        alertmanager.wait_ready();
        alertmanager
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!("Alertmanager exited with {status}:\n{}", self.log());
            }
            if http(&format!("{}/-/ready", self.url), None).is_some_and(|(status, _)| status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Alertmanager was not ready within 20 s:\n{}", self.log());
    }

    /// `POST /api/v2/alerts`, as Prometheus sends alerts.
    pub fn push(&self, alerts: &Value) {
        let (status, body) =
            http(&format!("{}/api/v2/alerts", self.url), Some(alerts)).expect("Alertmanager answers");
        assert_eq!(status, 200, "Alertmanager refused the alerts: {body}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request with a short timeout: the status and body, or `None` when nothing
/// answered.
fn http(url: &str, json: Option<&Value>) -> Option<(u16, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let request = match json {
            Some(body) => client.post(url).json(body),
            None => client.get(url),
        };
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.unwrap_or_default()))
    })
}

/// A path as YAML wants it in a config.
pub fn yaml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}
