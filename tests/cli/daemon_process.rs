//! Starting `hookwarden daemon` on a loopback port the kernel picks, and learning which
//! port from the first line the daemon prints. The integration tests (`harness::Daemon`)
//! and the benchmarks (`benches/compare/fixture.rs`) both include this file, so it uses
//! the standard library only.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A daemon that has said where it listens.
pub struct Listening {
    pub child: Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
}

/// Spawns `command`, a `hookwarden daemon` with whatever arguments the caller chose, on
/// `--listen 127.0.0.1:0` with its stderr in `log`, and waits until it says where it
/// listens. Port 0 lets runs in parallel never collide.
pub fn start(mut command: Command, log: &Path) -> Listening {
    let mut child = command
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("a log file"))
        .spawn()
        .expect("the daemon starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the daemon says where it listens");
    let url = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    if !url.starts_with("http://127.0.0.1:") {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the daemon did not start: {line:?}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    Listening { child, url }
}
