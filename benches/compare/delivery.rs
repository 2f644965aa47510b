//! 3. Delivery of N alerts with pacing off, 4. 20 alerts to one webhook behind Slack's
//!    limit, hookwarden and Alertmanager against the same fake Slack, and 5. the same 20
//!    alerts from Alertmanager, to Slack directly and through hookwarden's receiver.

use std::time::{Duration, Instant};

use crate::alertmanager::{Alertmanager, Via};
use crate::fake_slack::hook_path;
use crate::fixture::{Workdir, webhook_url};
use crate::load::post_alerts;
use crate::measure::{median, mib, seconds};
use crate::report::Report;
use crate::sink::{Seen, Sink, text};

/// Both systems take alerts in requests of this many, as Prometheus sends them.
const BATCH: usize = 500;

/// What one system is asked to do in one run.
#[derive(Clone, Copy)]
struct Setup {
    webhooks: usize,
    count: usize,
    /// The fake Slack enforces Slack's limit per webhook.
    limit: bool,
    /// How long to wait for the last message.
    wait: Duration,
}

/// What one system did with the alerts of one run.
struct Outcome {
    /// From the first alert posted to the last one accepted.
    accepted: Duration,
    /// From the first alert posted to the last message delivered.
    elapsed: Duration,
    seen: Seen,
    peak_kib: u64,
}

impl Outcome {
    fn new(started: Instant, accepted: Duration, seen: Seen, peak_kib: u64, wait: Duration) -> Self {
        Outcome {
            accepted,
            elapsed: seen.last.map_or(wait, |last| last - started),
            seen,
            peak_kib,
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn sink(setup: Setup) -> (Sink, Vec<String>) {
    let paths: Vec<String> = (0..setup.webhooks).map(|i| hook_path(&webhook_url(i))).collect();
    (Sink::start(&paths, setup.limit), paths)
}

/// hookwarden, with `args` for the daemon.
fn hookwarden(setup: Setup, args: &[&str]) -> Outcome {
    let work = Workdir::new();
    work.config("hookwarden.yaml", setup.webhooks, false);
    let (sink, _) = sink(setup);
    let (daemon, base) = work.daemon("hookwarden.yaml", &sink.origin(), args);
    let started = Instant::now();
    runtime().block_on(post_alerts(&base, setup.webhooks, 0..setup.count, BATCH, 2, text));
    let accepted = started.elapsed();
    let seen = sink.wait_for(setup.count, setup.wait);
    Outcome::new(started, accepted, seen, daemon.memory().1, setup.wait)
}

/// Alertmanager, each alert resolving after `ends_in` if given.
fn alertmanager(setup: Setup, group_interval: &str, ends_in: Option<Duration>) -> Outcome {
    let work = Workdir::new();
    let (sink, paths) = sink(setup);
    let urls: Vec<String> = paths.iter().map(|p| format!("{}{p}", sink.origin())).collect();
    let manager = Alertmanager::start(&work, Via::Slack(&urls), group_interval);
    let started = Instant::now();
    runtime().block_on(manager.submit(setup.webhooks, 0..setup.count, ends_in, text));
    let accepted = started.elapsed();
    let seen = sink.wait_for(setup.count, setup.wait);
    Outcome::new(started, accepted, seen, manager.service.memory().1, setup.wait)
}

fn median_of<T: Copy + PartialOrd>(outcomes: &[Outcome], f: impl Fn(&Outcome) -> T) -> T {
    median(&outcomes.iter().map(f).collect::<Vec<_>>())
}

pub fn throughput(report: &mut Report, count: usize, runs: usize) {
    report.section(&format!("3. Delivering {count} alerts, pacing off"));
    report.line(&format!(
        "The fake Slack without limits. Both take the alerts in requests of {BATCH} (hookwarden: `POST /v1/alerts/batch`; Alertmanager: `POST /api/v2/alerts`), alert n going to webhook n mod W. The clock runs from the first request to the {count}th message answered 200. hookwarden runs with `--rate 0` (one request at a time per webhook, in order); Alertmanager with each alert its own group, `group_wait: 0s`. Peak RSS is the daemon's `VmHWM`."
    ));
    report.table(&[
        "webhooks",
        "",
        "all accepted after",
        "time to last message",
        "messages / s",
        "delivered",
        "peak RSS",
        "rate vs Alertmanager",
    ]);
    for webhooks in [1, 10] {
        let setup = Setup {
            webhooks,
            count,
            limit: false,
            wait: Duration::from_secs(300),
        };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            ours.push(hookwarden(setup, &["--rate", "0"]));
            theirs.push(alertmanager(setup, "5m", None));
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = |o: &Outcome| o.seen.distinct.len() as f64 / o.elapsed.as_secs_f64();
        let (our_rate, their_rate) = (median_of(&ours, rate), median_of(&theirs, rate));
        for (name, outcomes, rate, ratio) in [
            (
                "hookwarden",
                &ours,
                our_rate,
                format!("{:.1}×", our_rate / their_rate),
            ),
            ("Alertmanager 0.25", &theirs, their_rate, String::new()),
        ] {
            report.row(&[
                webhooks.to_string(),
                name.to_owned(),
                seconds(median_of(outcomes, |o| o.accepted)),
                seconds(median_of(outcomes, |o| o.elapsed)),
                format!("{rate:.0}"),
                median_of(outcomes, |o| o.seen.distinct.len()).to_string(),
                mib(median_of(outcomes, |o| o.peak_kib)),
                ratio,
            ]);
        }
    }
}

pub fn rate_limited(report: &mut Report, runs: usize) {
    report.section("4. 20 alerts to one webhook behind Slack's limit");
    report.line(
        "The fake Slack enforces 1 message a second per webhook with a burst of 3 and answers 429 with `Retry-After: 1` beyond it. hookwarden runs with its defaults (`--rate 1 --burst 3`). Alertmanager retries a failed group only at its next `group_interval`, here 10s (its default is 5m); in the last row each alert resolves 5 s after it fires, as a short spike does. The three run side by side, each with its own fake Slack; each waits at most 90 s for its last message.",
    );
    let setup = Setup {
        webhooks: 1,
        count: 20,
        limit: true,
        wait: Duration::from_secs(90),
    };
    let names = [
        "hookwarden",
        "Alertmanager 0.25, alerts firing",
        "Alertmanager 0.25, alerts resolving after 5 s",
    ];
    let mut rows: [Vec<Outcome>; 3] = Default::default();
    for _ in 0..runs {
        let [ours, firing, resolving] = std::thread::scope(|scope| {
            let ours = scope.spawn(|| hookwarden(setup, &[]));
            let firing = scope.spawn(|| alertmanager(setup, "10s", None));
            let resolving = scope.spawn(|| alertmanager(setup, "10s", Some(Duration::from_secs(5))));
            [ours, firing, resolving].map(|run| run.join().expect("a run"))
        });
        rows[0].push(ours);
        rows[1].push(firing);
        rows[2].push(resolving);
    }
    report.table(&["", "429 answers", "time to last delivery", "delivered", "lost"]);
    for (name, outcomes) in names.iter().zip(&rows) {
        let delivered = median_of(outcomes, |o| o.seen.distinct.len());
        report.row(&[
            (*name).to_owned(),
            median_of(outcomes, |o| o.seen.rate_limited).to_string(),
            seconds(median_of(outcomes, |o| o.elapsed)),
            delivered.to_string(),
            (setup.count - delivered).to_string(),
        ]);
    }
}

/// Alertmanager sending to hookwarden's receiver (`webhook_configs`, `send_resolved:
/// true`), which delivers to Slack; each alert resolving after `ends_in`. Waits for
/// every alert's resolution.
fn relayed(setup: Setup, ends_in: Duration) -> Outcome {
    let work = Workdir::new();
    work.config("hookwarden.yaml", setup.webhooks, false);
    let (sink, _) = sink(setup);
    let (daemon, base) = work.daemon("hookwarden.yaml", &sink.origin(), &[]);
    let via = Via::Hookwarden {
        base: &base,
        webhooks: setup.webhooks,
    };
    let manager = Alertmanager::start(&work, via, "10s");
    let started = Instant::now();
    runtime().block_on(manager.submit(setup.webhooks, 0..setup.count, Some(ends_in), text));
    let accepted = started.elapsed();
    let seen = sink.wait_until(|seen| seen.resolved.len() >= setup.count, setup.wait);
    Outcome::new(started, accepted, seen, daemon.memory().1, setup.wait)
}

pub fn through_hookwarden(report: &mut Report, runs: usize) {
    report.section("5. The same 20 alerts from Alertmanager: to Slack directly, and through hookwarden");
    report.line(
        "As in 4, 20 alerts that each resolve 5 s after they fire, for one webhook behind the same fake Slack limit (1 a second, burst 3, 429 with `Retry-After: 1` beyond it), `group_interval: 10s`. Directly: Alertmanager's `slack_configs` with its defaults (`send_resolved: false`). Through hookwarden: Alertmanager's `webhook_configs` to `POST /v1/alertmanager/hook-0` with its defaults (`send_resolved: true`), hookwarden with its defaults (`--rate 1 --burst 3`). Both run side by side in each run, each with its own fake Slack. Shown firing: alerts whose firing message Slack accepted; lost: alerts never shown firing. The clock runs from the push to Alertmanager to the last message Slack accepted.",
    );
    let direct_setup = Setup {
        webhooks: 1,
        count: 20,
        limit: true,
        wait: Duration::from_secs(45),
    };
    let relayed_setup = Setup {
        wait: Duration::from_secs(120),
        ..direct_setup
    };
    let ends_in = Duration::from_secs(5);
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| alertmanager(direct_setup, "10s", Some(ends_in)));
            let b = scope.spawn(|| relayed(relayed_setup, ends_in));
            (a.join().expect("a run"), b.join().expect("a run"))
        });
        direct.push(a);
        through.push(b);
    }
    report.table(&[
        "",
        "429 answers",
        "time to last message",
        "messages",
        "shown firing",
        "resolutions shown",
        "lost",
    ]);
    for (name, outcomes) in [
        ("Alertmanager 0.25 -> Slack", &direct),
        ("Alertmanager 0.25 -> hookwarden -> Slack", &through),
    ] {
        let firing = median_of(outcomes, |o| o.seen.firing.len());
        report.row(&[
            name.to_owned(),
            median_of(outcomes, |o| o.seen.rate_limited).to_string(),
            seconds(median_of(outcomes, |o| o.elapsed)),
            median_of(outcomes, |o| o.seen.delivered).to_string(),
            firing.to_string(),
            median_of(outcomes, |o| o.seen.resolved.len()).to_string(),
            (direct_setup.count - firing).to_string(),
        ]);
    }
}
