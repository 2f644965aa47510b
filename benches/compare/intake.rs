//! 2. Intake: `POST /v1/alerts` from oha on loopback, each alert durably queued before
//!    its 202.

use std::process::Command;

use serde_json::{Value, json};

use crate::fixture::{Workdir, hook_path};
use crate::measure::{median, mib};
use crate::report::Report;
use crate::sink::{Sink, text};

/// Alerts posted flat out, and then held in the queue.
const FLOOD: usize = 100_000;
/// The steady rate at which latency is measured.
const STEADY: u32 = 1_000;
const CONNECTIONS: &str = "50";

pub fn bench(report: &mut Report, runs: usize) {
    report.section("2. Intake");
    report.line(&format!(
        "oha posts {FLOOD} alerts over {CONNECTIONS} connections as fast as the daemon takes them; then, with those still queued, {STEADY} a second for 10 s with `--latency-correction` (latency counted from when each request was due). The webhook's pacing (`--rate 0.001`) keeps the alerts queued, so only intake is measured. Every answer must be 202, which comes once the alert is flushed to disk."
    ));
    let (mut rates, mut p50s, mut p99s, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let work = Workdir::new();
        let urls = work.config("hookwarden.yaml", 1, false);
        let sink = Sink::start(&[hook_path(&urls[0])], false);
        let (daemon, base) = work.daemon(
            "hookwarden.yaml",
            &sink.origin(),
            &["--rate", "0.001", "--burst", "1", "--queue-limit", "1000000"],
        );
        let url = format!("{base}/v1/alerts");
        let flood = oha(&url, &["-n", &FLOOD.to_string()]);
        rates.push(flood["summary"]["requestsPerSec"].as_f64().expect("a rate"));
        rss.push(daemon.memory().0);
        let steady = oha(
            &url,
            &["-z", "10s", "-q", &STEADY.to_string(), "--latency-correction"],
        );
        p50s.push(steady["latencyPercentiles"]["p50"].as_f64().expect("p50") * 1000.0);
        p99s.push(steady["latencyPercentiles"]["p99"].as_f64().expect("p99") * 1000.0);
    }
    report.table(&[
        "accepted alerts / s",
        "p50 at 1,000/s",
        "p99 at 1,000/s",
        "RSS with 100,000 queued",
    ]);
    report.row(&[
        format!("{:.0}", median(&rates)),
        format!("{:.2} ms", median(&p50s)),
        format!("{:.2} ms", median(&p99s)),
        mib(median(&rss)),
    ]);
}

/// One oha run against `url`; every answer must be 202.
fn oha(url: &str, args: &[&str]) -> Value {
    let body = json!({"webhook": "hook-0", "text": text(0)}).to_string();
    let output = Command::new("oha")
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "-c",
            CONNECTIONS,
            "-m",
            "POST",
        ])
        .args(["-H", "content-type: application/json", "-d", &body])
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
        codes.keys().all(|code| code == "202"),
        "answers other than 202: {codes:?}"
    );
    result
}
