//! `Browser`: Debian's headless Chromium, driven through its ChromeDriver (packages
//! `chromium` and `chromium-driver`) with the W3C WebDriver protocol: open a page, read
//! its DOM as the browser built it, click, take a screenshot. CI installs both
//! (.ci/run) and a missing one fails there; elsewhere the tests that need them say
//! they were skipped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    /// Chromium's profile, removed with the browser.
    profile: Option<tempfile::TempDir>,
}

const CHROMIUM: &str = "/usr/bin/chromium";

fn installed() -> Option<&'static str> {
    let driver = ["chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|d| {
            Command::new(d)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let found = driver.filter(|_| Path::new(CHROMIUM).exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Chromium is required in CI: apt-get install chromium chromium-driver"
        );
        eprintln!(
            "skipped: Chromium is not installed (apt-get install chromium chromium-driver, or run .ci/run)"
        );
    }
    found
}

impl Browser {
    /// A headless Chromium, or `None` (and the test says it was skipped) without one.
    pub fn start() -> Option<Browser> {
        let driver = installed()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Browser {
            driver: child,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            client: reqwest::Client::new(),
            profile: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser.call("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("a profile directory");
        let created = browser
            .call(
                "POST",
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--window-size=1280,1000", format!("--user-data-dir={}", profile.path().display())],
                }}}})),
            )
            .expect("a browser session");
        created["sessionId"]
            .as_str()
            .expect("a session id")
            .clone_into(&mut browser.session);
        browser.profile = Some(profile);
        Some(browser)
    }

    /// One WebDriver command: its `value`, or the error it answered.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.runtime.block_on(async {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut request = self.client.request(method, format!("{}{path}", self.base));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.map_err(|e| e.to_string())?;
            let ok = response.status().is_success();
            let answer: Value = response.json().await.map_err(|e| e.to_string())?;
            if ok {
                Ok(answer["value"].clone())
            } else {
                Err(answer["value"].to_string())
            }
        })
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body)
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    /// Opens `url` and waits until it has loaded.
    pub fn open(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({"url": url})));
    }

    /// The DOM as the browser holds it, serialized.
    pub fn dom(&self) -> String {
        self.session_call("GET", "/source", None)
            .as_str()
            .expect("the page source")
            .to_owned()
    }

    /// The visible text of the page.
    pub fn text(&self) -> String {
        let body = self.find("body");
        self.session_call("GET", &format!("/element/{body}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element `css` selects (it must exist).
    fn find(&self, css: &str) -> String {
        let found = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("an element reference")
            .to_owned()
    }

    /// Clicks the element `css` selects, and waits for the page it loads: until the
    /// document it was clicked on is gone and the next one has loaded. ChromeDriver
    /// may answer the click before a form's navigation has begun.
    pub fn click(&self, css: &str) {
        let before = self.find("html");
        let element = self.find(css);
        self.session_call("POST", &format!("/element/{element}/click"), Some(json!({})));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let gone = self
                .call(
                    "GET",
                    &format!("/session/{}/element/{before}/name", self.session),
                    None,
                )
                .is_err();
            let loaded = gone
                && self
                    .call(
                        "POST",
                        &format!("/session/{}/execute/sync", self.session),
                        Some(json!({"script": "return document.readyState", "args": []})),
                    )
                    .is_ok_and(|state| state == "complete");
            if loaded {
                return;
            }
            assert!(Instant::now() < deadline, "the click on {css} loaded no page");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG of the whole page, saved at `path`.
    pub fn screenshot(&self, path: &Path) {
        let data = self.session_call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64"))
            .expect("a PNG");
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
