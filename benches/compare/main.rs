//! hookwarden side by side with what people use today: the age CLI and Prometheus
//! Alertmanager, each measured in the same run against the same fake Slack.
//!
//! `bench/run` installs what this needs and runs it; see BENCHMARKS.md.
//!
//! ```text
//! cargo bench --bench compare -- [--runs N] [--quick] [SCENARIO...]
//! ```
//!
//! Scenarios: plan, intake, delivery, rate-limit, receivers, flood, idle, sync, stores,
//! console, start (default: all).

mod alertmanager;
mod console;
mod delivery;
mod fixture;
mod flood;
mod idle;
mod intake;
mod load;
mod measure;
mod plan;
mod report;
mod sink;
mod stores;
mod sync;

// Shared with the integration tests, so that both drive the daemon and the fake Slack
// the same way.
#[path = "../../tests/cli/daemon_process.rs"]
mod daemon_process;
#[path = "../../tests/cli/fake_slack.rs"]
#[allow(dead_code)]
mod fake_slack;
#[path = "../../tests/support/postgres.rs"]
#[allow(dead_code, clippy::unused_self)]
mod postgres;

use report::Report;

struct Options {
    runs: usize,
    quick: bool,
    scenarios: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        runs: 5,
        quick: false,
        scenarios: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--quick" => options.quick = true,
            "--runs" => {
                options.runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--runs takes a number");
            }
            scenario => options.scenarios.push(scenario.to_owned()),
        }
    }
    options
}

fn main() {
    let options = options();
    let wanted = |name: &str| options.scenarios.is_empty() || options.scenarios.iter().any(|s| s == name);
    let mut report = Report::default();
    report.section("Machine");
    report.line(&machine());
    if wanted("plan") {
        let sizes: &[usize] = if options.quick {
            &[10, 1_000]
        } else {
            &[10, 100, 1_000, 10_000]
        };
        plan::bench(&mut report, sizes, options.runs);
    }
    if wanted("intake") {
        intake::bench(&mut report, options.runs);
    }
    if wanted("delivery") {
        delivery::throughput(&mut report, if options.quick { 500 } else { 5_000 }, options.runs);
    }
    if wanted("rate-limit") {
        delivery::rate_limited(&mut report, options.runs);
    }
    if wanted("receivers") {
        delivery::through_hookwarden(&mut report, options.runs);
    }
    if wanted("flood") {
        flood::bench(&mut report, options.runs);
    }
    if wanted("idle") {
        idle::bench(&mut report, options.runs);
    }
    if wanted("sync") {
        sync::bench(
            &mut report,
            if options.quick { 10_000 } else { 100_000 },
            options.runs,
        );
    }
    if wanted("stores") {
        stores::bench(&mut report, options.runs);
    }
    if wanted("console") {
        console::bench(&mut report, options.runs);
    }
    if wanted("start") {
        plan::cold_start(&mut report, options.runs);
    }
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compare.md");
    std::fs::write(&out, report.text()).expect("write the report");
    eprintln!("\nwritten to {}", out.display());
}

/// The machine and the versions measured.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |m| m.trim_start_matches([' ', '\t', ':']));
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map_or(String::from("?"), |m| {
            let kib: u64 = m.trim().trim_end_matches(" kB").parse().unwrap_or(0);
            format!("{} GiB", kib / 1024 / 1024)
        });
    let version = |program: &str, arg: &str| {
        std::process::Command::new(program)
            .arg(arg)
            .output()
            .ok()
            .map_or_else(
                || "not installed".to_owned(),
                |o| {
                    let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
                    String::from_utf8_lossy(&text)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_owned()
                },
            )
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    format!(
        "{cores} cores ({cpu}), {memory} RAM, Linux {}; hookwarden {} (release profile); age {}; {}; {}",
        version("uname", "-r"),
        env!("CARGO_PKG_VERSION"),
        version("age", "--version"),
        version("prometheus-alertmanager", "--version"),
        version("oha", "--version"),
    )
}
