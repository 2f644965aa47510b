//! 2. Intake: `POST /v1/alerts` from oha on loopback, each alert durably queued before
//!    its 202.

use std::process::Command;

use serde_json::{Value, json};

use crate::fake_slack::hook_path;
use crate::fixture::Workdir;
use crate::measure::{median, mib};
use crate::report::Report;
use crate::sink::{Sink, text};

/// Alerts posted flat out, one a request, and then held in the queue.
const FLOOD: usize = 100_000;
/// The steady rate at which latency is measured.
const STEADY: u32 = 1_000;
/// Alerts in each request of the batch run.
const BATCH: usize = 100;
const CONNECTIONS: &str = "50";

pub fn bench(report: &mut Report, runs: usize) {
    report.section("2. Intake");
    report.line(&format!(
        "oha, over {CONNECTIONS} connections: `GET /healthz` flat out, for the ceiling of HTTP on loopback with oha on the same cores; then {FLOOD} alerts to `POST /v1/alerts` flat out, one a request; then, with those still queued, {STEADY} a second for 10 s with `--latency-correction` (latency counted from when each request was due); then 1,000 requests of {BATCH} alerts each to `POST /v1/alerts/batch`. The webhook's pacing (`--rate 0.001`) keeps the alerts queued, so only intake is measured. Every answer must be 202, which comes once the alerts are flushed to disk."
    ));
    let mut figures: [Vec<f64>; 6] = Default::default();
    for _ in 0..runs {
        let work = Workdir::new();
        let urls = work.config("hookwarden.yaml", 1, false);
        let sink = Sink::start(&[hook_path(&urls[0])], false);
        let (daemon, base) = work.daemon(
            "hookwarden.yaml",
            &sink.origin(),
            &["--rate", "0.001", "--burst", "1", "--queue-limit", "1000000"],
        );
        let health = oha(&format!("{base}/healthz"), None, "200", &["-n", "50000"]);
        figures[0].push(rate(&health));
        let single = json!({"webhook": "hook-0", "text": text(0)});
        let url = format!("{base}/v1/alerts");
        let flood = oha(&url, Some(&single), "202", &["-n", &FLOOD.to_string()]);
        figures[1].push(rate(&flood));
        #[allow(clippy::cast_precision_loss)]
        figures[2].push(daemon.memory().0 as f64);
        let steady = oha(
            &url,
            Some(&single),
            "202",
            &["-z", "10s", "-q", &STEADY.to_string(), "--latency-correction"],
        );
        figures[3].push(steady["latencyPercentiles"]["p50"].as_f64().expect("p50") * 1000.0);
        figures[4].push(steady["latencyPercentiles"]["p99"].as_f64().expect("p99") * 1000.0);
        let batch = json!({"alerts": vec![single; BATCH]});
        let batched = oha(&format!("{url}/batch"), Some(&batch), "202", &["-n", "1000"]);
        #[allow(clippy::cast_precision_loss)]
        figures[5].push(rate(&batched) * BATCH as f64);
    }
    let [health, flood, rss, p50, p99, batched] = figures.map(|f| median(&f));
    report.table(&[
        "`GET /healthz` / s",
        "alerts / s, one a request",
        "p50 at 1,000/s",
        "p99 at 1,000/s",
        "RSS with 100,000 queued",
        &format!("alerts / s, {BATCH} a request"),
    ]);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    report.row(&[
        format!("{health:.0}"),
        format!("{flood:.0} ({:.0}% of `/healthz`)", flood / health * 100.0),
        format!("{p50:.2} ms"),
        format!("{p99:.2} ms"),
        mib(rss as u64),
        format!("{batched:.0}"),
    ]);
}

pub fn rate(result: &Value) -> f64 {
    result["summary"]["requestsPerSec"].as_f64().expect("a rate")
}

/// One oha run against `url`, posting `body` if given; every answer must be `status`.
pub fn oha(url: &str, body: Option<&Value>, status: &str, args: &[&str]) -> Value {
    let mut command = Command::new("oha");
    command.args(["--no-tui", "--output-format", "json", "-c", CONNECTIONS]);
    if let Some(body) = body {
        command
            .args(["-m", "POST", "-H", "content-type: application/json", "-d"])
            .arg(body.to_string());
    }
    let output = command
        .args(args)
        .arg(url)
        .output()
        .expect("oha runs (cargo install oha)");
    assert!(
        output.status.success(),
        "oha: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).expect("oha's JSON");
    let codes = result["statusCodeDistribution"]
        .as_object()
        .expect("status codes");
    assert!(
        codes.keys().all(|code| code == status),
        "answers other than {status}: {codes:?}"
    );
    result
}
