//! 3. Delivery of N alerts with pacing off, and 4. 20 alerts to one webhook behind
//!    Slack's limit, hookwarden and Alertmanager against the same fake Slack.

use std::time::{Duration, Instant};

use crate::alertmanager::Alertmanager;
use crate::fixture::{Workdir, hook_path, webhook_url};
use crate::load::post_alerts;
use crate::measure::{median, mib, seconds};
use crate::report::Report;
use crate::sink::{Seen, Sink};

/// What one system did with the alerts of one run.
struct Outcome {
    /// From the first alert posted to the last one accepted.
    accepted: Duration,
    /// From the first alert posted to the last message delivered.
    elapsed: Duration,
    seen: Seen,
    peak_kib: u64,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// hookwarden with one webhook, `args` for the daemon, `count` alerts posted.
fn hookwarden(count: usize, limit: bool, args: &[&str], wait: Duration) -> Outcome {
    let work = Workdir::new();
    let urls = work.config("hookwarden.yaml", 1, false);
    let path = hook_path(&urls[0]);
    let sink = Sink::start(std::slice::from_ref(&path), limit);
    let (daemon, base) = work.daemon("hookwarden.yaml", &sink.origin(), args);
    let started = Instant::now();
    runtime().block_on(post_alerts(&base, "hook-0", 0..count, 32));
    let accepted = started.elapsed();
    let seen = sink.wait_for(&path, count, wait);
    Outcome {
        accepted,
        elapsed: seen.last.map_or(wait, |last| last - started),
        peak_kib: daemon.memory().1,
        seen,
    }
}

/// Alertmanager, the same alerts, each resolving after `ends_in` if given.
fn alertmanager(
    count: usize,
    limit: bool,
    group_interval: &str,
    ends_in: Option<Duration>,
    wait: Duration,
) -> Outcome {
    let work = Workdir::new();
    let url = webhook_url(0);
    let path = hook_path(&url);
    let sink = Sink::start(std::slice::from_ref(&path), limit);
    let manager = Alertmanager::start(&work, &format!("{}{path}", sink.origin()), group_interval);
    let started = Instant::now();
    runtime().block_on(manager.submit(&reqwest::Client::new(), 0..count, ends_in));
    let accepted = started.elapsed();
    let seen = sink.wait_for(&path, count, wait);
    Outcome {
        accepted,
        elapsed: seen.last.map_or(wait, |last| last - started),
        peak_kib: manager.service.memory().1,
        seen,
    }
}

pub fn throughput(report: &mut Report, count: usize, runs: usize) {
    report.section(&format!("3. Delivering {count} alerts, pacing off"));
    report.line(&format!(
        "One webhook on the fake Slack, no limit there. Clock from the first alert posted to the {count}th message answered 200; hookwarden runs with `--rate 0`, Alertmanager with each alert its own group and `group_wait: 0s`. Peak RSS is the daemon's `VmHWM`."
    ));
    let wait = Duration::from_secs(300);
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ours.push(hookwarden(count, false, &["--rate", "0"], wait));
        theirs.push(alertmanager(count, false, "5m", None, wait));
    }
    report.table(&[
        "",
        "all accepted after",
        "time to last message",
        "messages / s",
        "delivered",
        "peak RSS",
    ]);
    let mut rates = Vec::new();
    for (name, outcomes) in [("hookwarden", &ours), ("Alertmanager 0.25", &theirs)] {
        let elapsed = median(&outcomes.iter().map(|o| o.elapsed).collect::<Vec<_>>());
        #[allow(clippy::cast_precision_loss)]
        let rate = median(
            &outcomes
                .iter()
                .map(|o| o.seen.distinct.len() as f64 / o.elapsed.as_secs_f64())
                .collect::<Vec<_>>(),
        );
        rates.push(rate);
        report.row(&[
            name.to_owned(),
            seconds(median(&outcomes.iter().map(|o| o.accepted).collect::<Vec<_>>())),
            seconds(elapsed),
            format!("{rate:.0}"),
            format!(
                "{}",
                median(&outcomes.iter().map(|o| o.seen.distinct.len()).collect::<Vec<_>>())
            ),
            mib(median(&outcomes.iter().map(|o| o.peak_kib).collect::<Vec<_>>())),
        ]);
    }
    report.line(&format!(
        "hookwarden / Alertmanager, messages per second: {:.1}×",
        rates[0] / rates[1]
    ));
}

pub fn rate_limited(report: &mut Report, runs: usize) {
    const COUNT: usize = 20;
    report.section("4. 20 alerts to one webhook behind Slack's limit");
    report.line(
        "The fake Slack enforces 1 message a second per webhook with a burst of 3 and answers 429 with `Retry-After: 1` beyond it. hookwarden runs with its defaults (`--rate 1 --burst 3`). Alertmanager retries a failed group only at its next `group_interval`, here 10s (its default is 5m); in the second Alertmanager row each alert resolves 5 s after it fires, as a short spike does. Each run waits at most 90 s.",
    );
    let wait = Duration::from_secs(90);
    let mut rows: Vec<(&str, Vec<Outcome>)> = vec![
        ("hookwarden", Vec::new()),
        ("Alertmanager 0.25, alerts firing", Vec::new()),
        ("Alertmanager 0.25, alerts resolving after 5 s", Vec::new()),
    ];
    for _ in 0..runs {
        rows[0].1.push(hookwarden(COUNT, true, &[], wait));
        rows[1].1.push(alertmanager(COUNT, true, "10s", None, wait));
        rows[2].1.push(alertmanager(
            COUNT,
            true,
            "10s",
            Some(Duration::from_secs(5)),
            wait,
        ));
    }
    report.table(&["", "429 answers", "time to last delivery", "delivered", "lost"]);
    for (name, outcomes) in &rows {
        let delivered = median(&outcomes.iter().map(|o| o.seen.distinct.len()).collect::<Vec<_>>());
        report.row(&[
            (*name).to_owned(),
            median(&outcomes.iter().map(|o| o.seen.rate_limited).collect::<Vec<_>>()).to_string(),
            seconds(median(&outcomes.iter().map(|o| o.elapsed).collect::<Vec<_>>())),
            delivered.to_string(),
            (COUNT - delivered).to_string(),
        ]);
    }
}
