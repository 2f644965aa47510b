//! Running things and reading what they cost: wall time, peak and current RSS, medians.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One run of a whole process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub wall: Duration,
    /// The largest resident set of the process or any of its children, in KiB.
    pub peak_kib: u64,
}

/// Runs `command` to completion under GNU time, which reports the peak RSS of the
/// process tree; the wall time is measured here, to the microsecond.
pub fn run(command: &Command, scratch: &Path) -> Sample {
    let report = scratch.join("time.out");
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["--format", "%M", "--output"])
        .arg(&report)
        .arg(command.get_program())
        .args(command.get_args())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let started = Instant::now();
    let output = timed.output().expect("GNU time runs (apt-get install time)");
    let wall = started.elapsed();
    assert!(
        output.status.success(),
        "{:?} failed: {}",
        command,
        String::from_utf8_lossy(&output.stderr)
    );
    let peak_kib = std::fs::read_to_string(&report)
        .expect("GNU time wrote its report")
        .trim()
        .parse()
        .expect("a size in KiB");
    Sample { wall, peak_kib }
}

/// The median of at least one value.
pub fn median<T: Copy + PartialOrd>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    sorted[sorted.len() / 2]
}

/// The median wall time and peak RSS of `samples`, each taken on its own.
pub fn medians(samples: &[Sample]) -> Sample {
    Sample {
        wall: median(&samples.iter().map(|s| s.wall).collect::<Vec<_>>()),
        peak_kib: median(&samples.iter().map(|s| s.peak_kib).collect::<Vec<_>>()),
    }
}

/// `VmRSS` and `VmHWM` (peak) of a running process, in KiB.
pub fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process runs");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
            .expect("a memory field")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub fn mib(kib: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mib = kib as f64 / 1024.0;
    format!("{mib:.1} MiB")
}

pub fn seconds(duration: Duration) -> String {
    let s = duration.as_secs_f64();
    if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// A long-running process, stopped with SIGTERM (then SIGKILL) when dropped. Its log
/// stays in the scratch directory (kept with `BENCH_KEEP`).
pub struct Service {
    pub child: Child,
}

impl Service {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> (u64, u64) {
        memory(self.pid())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `ready` until it holds, for at most `limit`.
pub fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a plain `GET url` (http://host:port/path) answers 200.
pub fn http_ok(url: &str) -> bool {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let mut answer = String::new();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.split(' ').nth(1) == Some("200")
}
