//! 10. The console page at 1,000 webhooks and 10,000 failed alerts: time to first byte
//!     and size of `GET /` (the first page of failed alerts) and of a later page, beside
//!     `GET /v1/webhooks`, the JSON the page replaces for a person.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::fake_slack::hook_path;
use crate::fixture::Workdir;
use crate::load::post_alerts;
use crate::measure::{median, wait_until};
use crate::report::Report;
use crate::sink::{Sink, text};

const WEBHOOKS: usize = 1_000;
const FAILED: usize = 10_000;

pub fn bench(report: &mut Report, runs: usize) {
    report.section(&format!(
        "10. The console page, {WEBHOOKS} webhooks and {FAILED} failed alerts"
    ));
    report.line(&format!(
        "The daemon with {WEBHOOKS} applied webhooks, all removed at the fake Slack (404 `no_service`), so that {FAILED} alerts posted to them fail; then each page is fetched 20 times in a run over a fresh connection (HTTP/1.1 on loopback, the sled store). Time to first byte is from the request written to the first byte of the answer; the size is the body's. The failed alerts are paged 50 at a time."
    ));
    let mut figures: [Vec<f64>; 6] = Default::default();
    for _ in 0..runs {
        let work = Workdir::new();
        let urls = work.config("hookwarden.yaml", WEBHOOKS, false);
        let paths: Vec<String> = urls.iter().map(|url| hook_path(url)).collect();
        let sink = Sink::removed(&paths);
        let (_daemon, base) = work.daemon("hookwarden.yaml", &sink.origin(), &["--rate", "0"]);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(post_alerts(&base, WEBHOOKS, 0..FAILED, 500, 2, text));
        wait_until(Duration::from_secs(300), "every alert failed", || {
            let (_, body) = get(&base, "/v1/alerts?status=failed&limit=100000");
            body.matches("\"status\":\"failed\"").count() >= FAILED
        });
        let (_, first) = get(&base, "/");
        let next = first
            .split("failed_after=")
            .nth(1)
            .and_then(|rest| rest.split('#').next())
            .expect("a link to the next page of failed alerts")
            .to_owned();
        for (i, path) in [
            "/".to_owned(),
            format!("/?failed_after={next}"),
            "/v1/webhooks".to_owned(),
        ]
        .iter()
        .enumerate()
        {
            let samples: Vec<(f64, usize)> = (0..20).map(|_| timed(&base, path)).collect();
            figures[2 * i].push(median(&samples.iter().map(|s| s.0).collect::<Vec<_>>()));
            #[allow(clippy::cast_precision_loss)]
            figures[2 * i + 1].push(samples[0].1 as f64);
        }
    }
    report.table(&["", "time to first byte", "size"]);
    for (i, name) in [
        "`GET /`, the first 50 failed alerts",
        "`GET /?failed_after=…`, the next 50",
        "`GET /v1/webhooks` (JSON)",
    ]
    .iter()
    .enumerate()
    {
        report.row(&[
            (*name).to_owned(),
            format!("{:.1} ms", median(&figures[2 * i])),
            format!("{:.0} KiB", median(&figures[2 * i + 1]) / 1024.0),
        ]);
    }
}

/// `GET path` over a new connection: the whole answer's body.
fn get(base: &str, path: &str) -> (Duration, String) {
    let (ttfb, body) = request(base, path);
    (ttfb, String::from_utf8_lossy(&body).into_owned())
}

/// Time to first byte in milliseconds, and the body's size.
fn timed(base: &str, path: &str) -> (f64, usize) {
    let (ttfb, body) = request(base, path);
    (ttfb.as_secs_f64() * 1000.0, body.len())
}

fn request(base: &str, path: &str) -> (Duration, Vec<u8>) {
    let host = base.strip_prefix("http://").expect("an http URL");
    let mut stream = std::net::TcpStream::connect(host).expect("the daemon listens");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("a request");
    let started = Instant::now();
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).expect("an answer");
    let ttfb = started.elapsed();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the answer");
    let mut answer = first.to_vec();
    answer.extend(rest);
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    (ttfb, answer[split + 4..].to_vec())
}
