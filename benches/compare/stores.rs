//! 9. The two stores side by side: intake and delivery with the sled state and with
//!    PostgreSQL (a throwaway cluster on a unix socket, as the tests start it).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake_slack::hook_path;
use crate::fixture::{Workdir, webhook_url};
use crate::intake::{oha, rate};
use crate::load::post_alerts;
use crate::measure::{median, seconds};
use crate::postgres;
use crate::report::Report;
use crate::sink::{Sink, text};

/// Alerts posted flat out, one a request.
const FLOOD: usize = 20_000;
/// Alerts delivered with pacing off, to [`WEBHOOKS`] webhooks.
const DELIVERED: usize = 5_000;
const WEBHOOKS: usize = 10;

/// What one store did in one run.
#[derive(Default)]
struct Figures {
    flood: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    batched: Vec<f64>,
    delivered: Vec<Duration>,
}

pub fn bench(report: &mut Report, runs: usize) {
    report.section("9. sled and PostgreSQL, side by side");
    let Some(cluster) = postgres::cluster() else {
        report.line("PostgreSQL is not installed (Debian's `postgresql`): skipped.");
        return;
    };
    report.line(&format!(
        "The same daemon on each store, alternately in each run: oha over 50 connections posts {FLOOD} alerts flat out, one a request, then 1,000 a second for 10 s (`--latency-correction`), then 200 requests of 100 alerts; every answer must be 202, which comes once the alerts are durable (sled: flushed; PostgreSQL: committed). Then a fresh daemon delivers {DELIVERED} alerts to {WEBHOOKS} webhooks with pacing off (`--rate 0`), taken in requests of 500; the clock runs from the first request to the last message answered. PostgreSQL {}: a cluster of its own in a temporary directory, on a unix socket, on the same two cores, `fsync` on.",
        cluster.psql(&cluster.database(), "show server_version")
    ));
    let mut figures: [Figures; 2] = Default::default();
    for _ in 0..runs {
        for (store, figures) in figures.iter_mut().enumerate() {
            let work = || {
                if store == 0 {
                    Workdir::new()
                } else {
                    Workdir::on_store(&cluster.database())
                }
            };
            intake(&work(), figures);
            figures.delivered.push(delivery(&work()));
        }
    }
    report.table(&[
        "store",
        "alerts / s, one a request",
        "p50 at 1,000/s",
        "p99 at 1,000/s",
        "alerts / s, 100 a request",
        &format!("{DELIVERED} alerts delivered after"),
        "messages / s",
    ]);
    for (name, figures) in ["sled", "PostgreSQL"].iter().zip(&figures) {
        let delivered = median(&figures.delivered);
        #[allow(clippy::cast_precision_loss)]
        report.row(&[
            (*name).to_owned(),
            format!("{:.0}", median(&figures.flood)),
            format!("{:.2} ms", median(&figures.p50)),
            format!("{:.2} ms", median(&figures.p99)),
            format!("{:.0}", median(&figures.batched)),
            seconds(delivered),
            format!("{:.0}", DELIVERED as f64 / delivered.as_secs_f64()),
        ]);
    }
}

fn intake(work: &Workdir, figures: &mut Figures) {
    let urls = work.config("hookwarden.yaml", 1, false);
    let sink = Sink::start(&[hook_path(&urls[0])], false);
    let (_daemon, base) = work.daemon(
        "hookwarden.yaml",
        &sink.origin(),
        &["--rate", "0.001", "--burst", "1", "--queue-limit", "1000000"],
    );
    let single = json!({"webhook": "hook-0", "text": text(0)});
    let url = format!("{base}/v1/alerts");
    figures.flood.push(rate(&oha(
        &url,
        Some(&single),
        "202",
        &["-n", &FLOOD.to_string()],
    )));
    let steady = oha(
        &url,
        Some(&single),
        "202",
        &["-z", "10s", "-q", "1000", "--latency-correction"],
    );
    figures
        .p50
        .push(steady["latencyPercentiles"]["p50"].as_f64().expect("p50") * 1000.0);
    figures
        .p99
        .push(steady["latencyPercentiles"]["p99"].as_f64().expect("p99") * 1000.0);
    let batch = json!({"alerts": vec![single; 100]});
    let batched = oha(&format!("{url}/batch"), Some(&batch), "202", &["-n", "200"]);
    figures.batched.push(rate(&batched) * 100.0);
}

fn delivery(work: &Workdir) -> Duration {
    work.config("hookwarden.yaml", WEBHOOKS, false);
    let paths: Vec<String> = (0..WEBHOOKS).map(|i| hook_path(&webhook_url(i))).collect();
    let sink = Sink::start(&paths, false);
    let (_daemon, base) = work.daemon("hookwarden.yaml", &sink.origin(), &["--rate", "0"]);
    let started = Instant::now();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(post_alerts(&base, WEBHOOKS, 0..DELIVERED, 500, 2, text));
    let seen = sink.wait_for(DELIVERED, Duration::from_secs(300));
    assert_eq!(seen.distinct.len(), DELIVERED, "every alert delivered");
    seen.last.expect("a last message") - started
}
