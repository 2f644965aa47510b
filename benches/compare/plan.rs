//! 1. `hookwarden plan` over N encrypted webhooks, against decrypting the same values
//!    one by one with the age CLI in a shell loop: the first plan (every webhook a
//!    create), a plan in which one webhook's URL changed, and one in which nothing did.
//!
//! 11. Cold start: `hookwarden daemon` to READY with 1,000 applied webhooks, and
//!     `validate` and `plan` of the bundled example, against `age -d` of one value.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fixture::{Workdir, webhook_url};
use crate::measure::{Sample, median, medians, mib, run, seconds};
use crate::report::Report;

pub fn bench(report: &mut Report, sizes: &[usize], runs: usize) {
    report.section("1. `plan` against an age CLI loop");
    report.line(
        "Whole-process wall time, medians; peak RSS of the first plan. *First plan*: against an empty state, every webhook a create, every value decrypted. *One change*: against the state that plan applied, the file with one webhook's URL encrypted anew to another URL. *No change*: the applied file. The age loop decrypts every value of the file with `age -d`, one process per value.",
    );
    report.table(&[
        "webhooks",
        "first plan",
        "peak RSS",
        "one change",
        "no change",
        "age loop",
        "age loop / first plan",
        "age loop / one change",
    ]);
    for &size in sizes {
        let work = Workdir::new();
        let urls = work.config("hookwarden.yaml", size, false);
        let values = work.path("values");
        std::fs::create_dir(&values).expect("a folder");
        for (i, url) in urls.iter().enumerate() {
            std::fs::write(values.join(format!("{i:06}.age")), work.seal(url)).expect("a value");
        }
        let first = work.hookwarden(&["plan", "-c", "hookwarden.yaml", "--state", "empty"], None);
        let applied = work.hookwarden(&["apply", "-c", "hookwarden.yaml", "--auto-approve"], None);
        run(&applied, work.dir.path());
        // The empty state exists before the first plan is timed.
        run(&first, work.dir.path());
        one_change(&work, size / 2);
        let changed = work.hookwarden(&["plan", "-c", "one-change.yaml"], None);
        let unchanged = work.hookwarden(&["plan", "-c", "hookwarden.yaml"], None);
        let mut age_loop = Command::new("sh");
        age_loop
            .args([
                "-c",
                "for f in values/*.age; do age -d -i identity.txt \"$f\" || exit 1; done",
            ])
            .current_dir(work.dir.path());
        let [first, changed, unchanged, theirs] =
            interleaved([&first, &changed, &unchanged, &age_loop], runs, work.dir.path());
        let times = |ours: Sample| format!("{:.0}×", theirs.wall.as_secs_f64() / ours.wall.as_secs_f64());
        report.row(&[
            size.to_string(),
            seconds(first.wall),
            mib(first.peak_kib),
            seconds(changed.wall),
            seconds(unchanged.wall),
            seconds(theirs.wall),
            times(first),
            times(changed),
        ]);
    }
}

/// `one-change.yaml`: `hookwarden.yaml` with the URL of webhook `index` encrypted anew
/// to another URL; every other byte as it was.
fn one_change(work: &Workdir, index: usize) {
    let text = std::fs::read_to_string(work.path("hookwarden.yaml")).expect("the file");
    let entry = text
        .find(&format!("  - id: hook-{index}\n"))
        .expect("the webhook");
    let start = entry + text[entry..].find("        -----BEGIN").expect("its block");
    let end_line = "-----END AGE ENCRYPTED FILE-----\n";
    let end = start + text[start..].find(end_line).expect("its end") + end_line.len();
    let block: String = work
        .seal(&webhook_url(index + 1_000_000))
        .lines()
        .flat_map(|l| ["        ", l, "\n"])
        .collect();
    let changed = format!("{}{block}{}", &text[..start], &text[end..]);
    std::fs::write(work.path("one-change.yaml"), changed).expect("write the file");
}

pub fn cold_start(report: &mut Report, runs: usize) {
    report.section("11. Cold start");
    report.line("Medians of whole-process wall time. The daemon is timed from its start to the `READY=1` it sends systemd, on a state with 1,000 applied webhooks (the file unchanged since); the bundled example is `examples/hookwarden.yaml` with its demo identity.");
    report.table(&["", "wall time"]);

    let work = Workdir::new();
    work.config("hookwarden.yaml", 1_000, false);
    run(
        &work.hookwarden(&["apply", "-c", "hookwarden.yaml", "--auto-approve"], None),
        work.dir.path(),
    );
    let ready: Vec<Duration> = (0..runs).map(|_| until_ready(&work)).collect();
    report.row(&[
        "`hookwarden daemon` to READY, 1,000 webhooks".to_owned(),
        seconds(median(&ready)),
    ]);

    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let identity = example.join("demo-identity.txt");
    let hookwarden = |args: &[&str]| {
        let mut command = work.hookwarden(args, None);
        command
            .current_dir(&example)
            .env("HOOKWARDEN_IDENTITY", &identity)
            .env("HOOKWARDEN_STATE_DIR", work.path("example-state"));
        command
    };
    let validate = hookwarden(&["validate", "-c", "hookwarden.yaml"]);
    let plan = hookwarden(&["plan", "-c", "hookwarden.yaml"]);
    std::fs::write(work.path("one.age"), work.seal(&webhook_url(0))).expect("a value");
    let mut age = Command::new("age");
    age.args(["-d", "-i", "identity.txt", "one.age"])
        .current_dir(work.dir.path());
    let [validate, plan, age] = interleaved([&validate, &plan, &age], runs, work.dir.path());
    for (name, sample) in [
        ("`hookwarden validate`, bundled example", validate),
        ("`hookwarden plan`, bundled example", plan),
        ("`age -d` of one value", age),
    ] {
        report.row(&[name.to_owned(), seconds(sample.wall)]);
    }
}

/// The medians of `runs` runs of each of `commands`, taken in turns, so that drift on a
/// shared machine touches all alike.
fn interleaved<const N: usize>(commands: [&Command; N], runs: usize, scratch: &Path) -> [Sample; N] {
    let mut samples: [Vec<Sample>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..runs {
        for (samples, command) in samples.iter_mut().zip(commands) {
            samples.push(run(command, scratch));
        }
    }
    samples.map(|s| medians(&s))
}

/// From spawning `hookwarden daemon` to its `READY=1` on a notify socket of our own.
fn until_ready(work: &Workdir) -> Duration {
    let socket = work.path("notify.sock");
    let _ = std::fs::remove_file(&socket);
    let notify = UnixDatagram::bind(&socket).expect("a notify socket");
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a timeout");
    let mut daemon = work.hookwarden(
        &["daemon", "-c", "hookwarden.yaml", "--listen", "127.0.0.1:0"],
        None,
    );
    daemon
        .env("NOTIFY_SOCKET", &socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = daemon.spawn().expect("the daemon starts");
    let mut message = [0u8; 4096];
    let elapsed = loop {
        let len = notify.recv(&mut message).expect("the daemon notifies systemd");
        if String::from_utf8_lossy(&message[..len])
            .lines()
            .any(|l| l == "READY=1")
        {
            break started.elapsed();
        }
    };
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    elapsed
}
