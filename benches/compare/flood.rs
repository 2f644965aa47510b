//! 6. A flood: 1,000 distinct alerts for one webhook behind Slack's limit, hookwarden
//!    with digests, hookwarden one message per alert, and Alertmanager with its default
//!    grouping, side by side.

use std::time::{Duration, Instant};

use crate::alertmanager::Alertmanager;
use crate::fake_slack::hook_path;
use crate::fixture::{Workdir, webhook_url};
use crate::load::post_alerts;
use crate::measure::{median, seconds};
use crate::report::Report;
use crate::sink::{Seen, Sink, long_text};

const ALERTS: usize = 1000;
/// How long each system gets to show them.
const WAIT: Duration = Duration::from_secs(120);

struct Outcome {
    seen: Seen,
    /// From the first alert sent to the moment every alert was visible, if it came.
    all_visible: Option<Duration>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn limited_sink() -> (Sink, String) {
    let path = hook_path(&webhook_url(0));
    (Sink::start(std::slice::from_ref(&path), true), path)
}

fn outcome(sink: &Sink, started: Instant) -> Outcome {
    let seen = sink.wait_until(|seen| seen.visible.len() >= ALERTS, WAIT);
    let all_visible = (seen.visible.len() >= ALERTS)
        .then(|| seen.last_new.map(|at| at - started))
        .flatten();
    Outcome { seen, all_visible }
}

/// hookwarden with `args`, the alerts posted in requests of 500.
fn hookwarden(args: &[&str]) -> Outcome {
    let work = Workdir::new();
    work.config("hookwarden.yaml", 1, false);
    let (sink, _) = limited_sink();
    let (_daemon, base) = work.daemon("hookwarden.yaml", &sink.origin(), args);
    let started = Instant::now();
    runtime().block_on(post_alerts(&base, 1, 0..ALERTS, 500, 1, long_text));
    outcome(&sink, started)
}

/// Alertmanager 0.25 with its default grouping and a Slack template that lists every
/// alert's summary.
fn alertmanager() -> Outcome {
    let work = Workdir::new();
    let (sink, path) = limited_sink();
    let manager = Alertmanager::start_default_grouping(&work, &format!("{}{path}", sink.origin()));
    let started = Instant::now();
    runtime().block_on(manager.submit(1, 0..ALERTS, None, long_text));
    outcome(&sink, started)
}

pub fn bench(report: &mut Report, runs: usize) {
    report.section(&format!(
        "6. A flood: {ALERTS} alerts for one webhook behind Slack's limit"
    ));
    report.line(&format!(
        "{ALERTS} distinct alerts of about 90 characters each, sent at once (hookwarden: `POST /v1/alerts/batch`, 500 a request; Alertmanager: `POST /api/v2/alerts`). The fake Slack allows 1 message a second with a burst of 3 and answers 429 with `Retry-After: 1` beyond it. hookwarden runs with its defaults (digests of up to 25 alerts) and with `--digest off`; Alertmanager 0.25 with its default grouping (one group, `group_wait: 30s`, `group_interval: 5m`) and a Slack text listing every alert's summary. Visible: an alert whose text a reader sees, within Slack's 40,000 characters of text (3,000 a section). Each system gets {} s; the three run side by side, each with its own fake Slack. Not visible at the end: for Alertmanager, truncated away for good (the group is not sent again until its `repeat_interval`, 4h); for `--digest off`, still queued, at one a second.",
        WAIT.as_secs()
    ));
    let names = [
        "hookwarden, digests (default)",
        "hookwarden, `--digest off`",
        "Alertmanager 0.25, default grouping",
    ];
    let mut rows: [Vec<Outcome>; 3] = Default::default();
    for _ in 0..runs {
        let [digests, single, manager] = std::thread::scope(|scope| {
            let digests = scope.spawn(|| hookwarden(&[]));
            let single = scope.spawn(|| hookwarden(&["--digest", "off"]));
            let manager = scope.spawn(alertmanager);
            [digests, single, manager].map(|run| run.join().expect("a run"))
        });
        rows[0].push(digests);
        rows[1].push(single);
        rows[2].push(manager);
    }
    report.table(&[
        "",
        "every alert visible after",
        "visible",
        "messages",
        "429 answers",
        "not visible at the end",
    ]);
    for (name, outcomes) in names.iter().zip(&rows) {
        let visible = median(&outcomes.iter().map(|o| o.seen.visible.len()).collect::<Vec<_>>());
        let times: Vec<Duration> = outcomes.iter().filter_map(|o| o.all_visible).collect();
        let when = if times.len() == outcomes.len() {
            seconds(median(&times))
        } else {
            format!("not within {} s", WAIT.as_secs())
        };
        report.row(&[
            (*name).to_owned(),
            when,
            visible.to_string(),
            median(&outcomes.iter().map(|o| o.seen.delivered).collect::<Vec<_>>()).to_string(),
            median(&outcomes.iter().map(|o| o.seen.rate_limited).collect::<Vec<_>>()).to_string(),
            (ALERTS - visible).to_string(),
        ]);
    }
}
