//! 5. Resident memory of an idle daemon, hookwarden's and Alertmanager's.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::alertmanager::{Alertmanager, Via};
use crate::fake_slack::hook_path;
use crate::fixture::{Workdir, binary};
use crate::measure::{median, mib};
use crate::report::Report;
use crate::sink::Sink;

/// How long each daemon idles before its RSS is read.
const SETTLE: Duration = Duration::from_secs(5);

pub fn bench(report: &mut Report, runs: usize) {
    report.section("7. Idle RSS");
    report.line(&format!(
        "Each daemon started with 3 webhooks (Alertmanager: 3 receivers), no alert, then left alone for {}s; `VmRSS` read from /proc.",
        SETTLE.as_secs()
    ));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let work = Workdir::new();
        let urls = work.config("hookwarden.yaml", 3, false);
        let paths: Vec<String> = urls.iter().map(|u| hook_path(u)).collect();
        let sink = Sink::start(&paths, false);
        let (daemon, _) = work.daemon("hookwarden.yaml", &sink.origin(), &[]);
        std::thread::sleep(SETTLE);
        ours.push(daemon.memory().0);
        drop(daemon);
        let receivers: Vec<String> = paths.iter().map(|p| format!("{}{p}", sink.origin())).collect();
        let manager = Alertmanager::start(&work, Via::Slack(&receivers), "5m");
        std::thread::sleep(SETTLE);
        theirs.push(manager.service.memory().0);
    }
    report.table(&["", "idle RSS"]);
    report.row(&["hookwarden".to_owned(), mib(median(&ours))]);
    report.row(&["Alertmanager 0.25".to_owned(), mib(median(&theirs))]);
    report.line(&startup_order(&binary()));
}

/// How many functions of `build/startup.order` the measured binary defines: after a
/// change of dependencies or versions renames them, `build/order` writes it again.
fn startup_order(binary: &Path) -> String {
    let order = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/build/startup.order"))
        .unwrap_or_default();
    let wanted: HashSet<&str> = order
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect();
    let defined = Command::new("nm")
        .args(["--defined-only", "--format=just-symbols"])
        .arg(binary)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let found: HashSet<&str> = defined.lines().filter(|name| wanted.contains(name)).collect();
    format!(
        "Start-up code linked side by side (`build/startup.order`, see build.rs): the binary measured still has {} of its {} functions by name.",
        found.len(),
        wanted.len()
    )
}
