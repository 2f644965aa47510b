//! `Daemon`: the real `hookwarden daemon` of a [`Test`], the HTTP calls tests make to
//! it, and the ways it ends (SIGTERM, SIGKILL, or killed when the test is done).

use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Test;
use crate::daemon_process;

pub struct Daemon {
    child: Child,
    pub url: String,
    log: PathBuf,
}

/// What the daemon answered: the body as JSON, or as a JSON string when it is not JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

/// Numbers the logs, so that a daemon restarted in the same test keeps the first one's.
static STARTED: AtomicUsize = AtomicUsize::new(0);

impl Daemon {
    /// `hookwarden daemon` with `extra` arguments, in `test`'s directory and environment.
    pub fn start(test: &Test, extra: &[&str]) -> Daemon {
        let log = test.path(&format!("daemon-{}.log", STARTED.fetch_add(1, Ordering::Relaxed)));
        let mut args = vec!["daemon"];
        args.extend_from_slice(extra);
        let daemon_process::Listening { child, url } = daemon_process::start(test.command(&args), &log);
        Daemon { child, url, log }
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        token: Option<&str>,
    ) -> Answer {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let client = reqwest::Client::new();
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut request = client.request(method, format!("{}{path}", self.url));
            if let Some((content_type, bytes)) = body {
                request = request.header("content-type", content_type).body(bytes);
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("the daemon answers");
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            let text = response.text().await.expect("a body");
            Answer {
                status,
                headers,
                json: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            }
        })
    }

    pub fn post(&self, alert: &Value) -> Answer {
        self.request(
            "POST",
            "/v1/alerts",
            Some(("application/json", alert.to_string().into_bytes())),
            None,
        )
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, None, None)
    }

    /// Waits until alert `id` has `status`; returns it.
    pub fn wait_for(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let alert = self.get(&format!("/v1/alerts/{id}")).json;
            if alert["status"] == status {
                return alert;
            }
            assert!(
                Instant::now() < deadline,
                "alert {id} is not {status} after {within:?}: {alert}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then the exit code.
    pub fn stop(mut self) -> i32 {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        let status = self.child.wait().expect("the daemon exits");
        status.code().unwrap_or(-1)
    }

    /// SIGKILL: no chance to drain or flush.
    pub fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
