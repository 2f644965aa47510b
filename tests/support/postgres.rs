//! A real, throwaway PostgreSQL for tests: one cluster per test process, started on first use and
//! shared by the tests in that process, each of which takes its own empty database.
//!
//! ```ignore
//! let Some(cluster) = postgres::cluster() else { return }; // skipped: not installed
//! let url = cluster.database(); // postgres://hookwarden@%2Ftmp%2F...:5432/test_123_0
//! ```
//!
//! The cluster lives in a fresh temporary directory (data, log and unix socket; no TCP), with
//! trust authentication and durability off for speed. A watchdog stops it and removes the
//! directory once the test process is gone, however it ended (statics are never dropped).
//! When the tests run as root, the server runs as the `postgres` system user.
//!
//! Only std: the library's unit tests include this file too
//! (`#[cfg(test)] #[path = "../../tests/support/postgres.rs"] mod postgres;`).

use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const SKIPPED: &str = "skipped: PostgreSQL is not installed (apt-get install postgresql, or run .ci/run)";
const SUPERUSER: &str = "hookwarden";
/// Only names the socket file (`.s.PGSQL.5432`): there is no TCP listener.
const PORT: u16 = 5432;
/// The system user the server runs as when the tests run as root.
const SERVER_USER: &str = "postgres";

/// The test process's PostgreSQL cluster, started on the first call; `None` (after saying so on
/// stderr) when PostgreSQL is not installed. Under CI (the `CI` environment variable set), a
/// missing PostgreSQL fails the test instead. A cluster that fails to start fails every test that
/// asks for it.
pub fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Result<Cluster, Unavailable>> = OnceLock::new();
    static SAID: OnceLock<()> = OnceLock::new();
    match CLUSTER.get_or_init(Cluster::start) {
        Ok(cluster) => Some(cluster),
        Err(Unavailable::NotInstalled) => {
            assert!(!in_ci(), "{SKIPPED}");
            // Past the test harness's capture, so that a skip is seen.
            SAID.get_or_init(|| drop(writeln!(std::io::stderr(), "{SKIPPED}")));
            None
        }
        Err(Unavailable::Failed(why)) => panic!("the PostgreSQL test cluster did not start: {why}"),
    }
}

/// A running cluster; see [`cluster`].
#[derive(Debug)]
pub struct Cluster {
    bin: Binaries,
    /// The temporary directory: `data/`, `log`, and the socket.
    dir: PathBuf,
    superuser: &'static str,
    next_database: AtomicU64,
}

#[derive(Debug)]
enum Unavailable {
    NotInstalled,
    Failed(String),
}

#[derive(Debug)]
struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

#[allow(dead_code)] // Each user of the harness needs only some of it.
impl Cluster {
    /// Creates a fresh, empty database and returns its URL, e.g.
    /// `postgres://hookwarden@%2Ftmp%2Fhookwarden-pg-123-456:5432/test_123_0`: the socket
    /// directory as the percent-encoded host, which libpq (psql), sqlx and tokio-postgres all read
    /// as a unix socket. (`postgres://user@/db?host=/dir` is not a URL to the `url` crate, so sqlx
    /// rejects it.)
    pub fn database(&self) -> String {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{}_{n}", std::process::id());
        self.psql(&self.url("postgres"), &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The directory of the cluster's unix socket (also its data, under `data/`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The superuser the URLs connect as (any password, or none, is accepted).
    pub fn superuser(&self) -> &str {
        self.superuser
    }

    /// Runs `sql` with psql at `url`, stopping at the first error, and returns what it printed:
    /// unaligned, tuples only (`select 1` gives `"1"`), trimmed. Panics when psql fails.
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let mut psql = command(&[], &self.bin.psql, &self.dir);
        psql.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ]);
        match run(&mut psql) {
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            Err(why) => panic!("{why}"),
        }
    }

    fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}@{}:{PORT}/{database}",
            self.superuser,
            percent_encode(&self.dir)
        )
    }

    fn start() -> Result<Self, Unavailable> {
        let began = Instant::now();
        let bin = Binaries::find().ok_or(Unavailable::NotInstalled)?;
        let root = effective_uid() == Some(0);
        // initdb and postgres refuse to run as root.
        let as_server = if root { server_user_prefix()? } else { Vec::new() };
        let dir = make_dir(root)?;
        watch(&dir, &bin.pg_ctl, &as_server)?;

        let data = dir.join("data");
        let mut initdb = command(&as_server, &bin.initdb, &dir);
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"]);
        initdb.args(["--locale=C", "--no-sync"]);
        run(&mut initdb).map_err(Unavailable::Failed)?;

        let socket_dir = dir
            .to_str()
            .ok_or_else(|| failed("the temporary directory is not UTF-8"))?;
        let settings = format!(
            "\n# The tests' settings\nlisten_addresses = ''\nunix_socket_directories = '{}'\n\
             port = {PORT}\nmax_connections = 200\nshared_buffers = 32MB\nfsync = off\n\
             synchronous_commit = off\nfull_page_writes = off\n",
            socket_dir.replace('\\', "\\\\").replace('\'', "''"),
        );
        OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut conf| conf.write_all(settings.as_bytes()))
            .map_err(|e| failed(format!("writing {}: {e}", data.join("postgresql.conf").display())))?;

        let log = dir.join("log");
        let mut pg_ctl = command(&as_server, &bin.pg_ctl, &dir);
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-s", "start"]);
        run(&mut pg_ctl).map_err(|why| {
            let log = fs::read_to_string(&log).unwrap_or_default();
            failed(format!("{why}\nserver log:\n{log}"))
        })?;
        eprintln!(
            "PostgreSQL test cluster in {} (up in {:.1?})",
            data.display(),
            began.elapsed()
        );
        Ok(Self {
            bin,
            dir,
            superuser: SUPERUSER,
            next_database: AtomicU64::new(0),
        })
    }
}

impl Binaries {
    /// The highest version under `/usr/lib/postgresql/*/bin/` (Debian's layout), else the PATH's.
    fn find() -> Option<Self> {
        let versions = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten();
        let newest = versions
            .filter_map(|entry| {
                let name = entry.file_name();
                let version = name
                    .to_str()?
                    .split('.')
                    .map(str::parse)
                    .collect::<Result<Vec<u32>, _>>();
                Some((version.ok()?, entry.path().join("bin")))
            })
            .filter_map(|(version, bin)| Some((version, Self::in_dirs(&[bin])?)))
            .max_by(|a, b| a.0.cmp(&b.0));
        newest.map(|(_, found)| found).or_else(|| {
            let path = std::env::var_os("PATH")?;
            Self::in_dirs(&std::env::split_paths(&path).collect::<Vec<_>>())
        })
    }

    fn in_dirs(dirs: &[PathBuf]) -> Option<Self> {
        let find = |name: &str| {
            dirs.iter()
                .map(|dir| dir.join(name))
                .find(|file| is_executable(file))
        };
        // pg_ctl runs the postgres next to it.
        find("postgres")?;
        Some(Self {
            initdb: find("initdb")?,
            pg_ctl: find("pg_ctl")?,
            psql: find("psql")?,
        })
    }
}

/// A command for `program`, run as the server user through `prefix` (see [`server_user_prefix`])
/// or, with an empty prefix, as this process's user; in `dir`, with no stdin and no `PG*`
/// environment variables (`PGPORT`, `PGHOST`, … would redirect the tools).
fn command(prefix: &[OsString], program: &Path, dir: &Path) -> Command {
    let mut command = match prefix.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    };
    for (name, _) in std::env::vars_os() {
        if name.as_bytes().starts_with(b"PG") {
            command.env_remove(name);
        }
    }
    command.current_dir(dir).stdin(Stdio::null());
    command
}

/// Runs `command` to completion; its output, or why it failed.
fn run(command: &mut Command) -> Result<Output, String> {
    let shown = format!("{command:?}");
    match command.output() {
        Ok(out) if out.status.success() => Ok(out),
        Ok(out) => Err(format!(
            "{shown}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!("{shown}: {e}")),
    }
}

fn failed(why: impl Into<String>) -> Unavailable {
    Unavailable::Failed(why.into())
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|ci| !ci.is_empty() && ci != "0" && ci != "false")
}

fn is_executable(file: &Path) -> bool {
    fs::metadata(file).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// From `/proc/self/status` (std has no `geteuid`), else `id -u`.
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let from_proc = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:")?.split_whitespace().nth(1));
    if let Some(uid) = from_proc {
        uid.parse().ok()
    } else {
        let out = Command::new("id").arg("-u").stdin(Stdio::null()).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }
}

/// What runs a command as the `postgres` user, for root: runuser, else setpriv.
fn server_user_prefix() -> Result<Vec<OsString>, Unavailable> {
    let sbin = [
        PathBuf::from("/usr/sbin"),
        PathBuf::from("/sbin"),
        PathBuf::from("/usr/bin"),
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).chain(sbin).collect();
    let find = |name: &str| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|file| is_executable(file))
    };
    let prefix: Vec<OsString> = if let Some(runuser) = find("runuser") {
        vec![runuser.into(), "-u".into(), SERVER_USER.into(), "--".into()]
    } else if let Some(setpriv) = find("setpriv") {
        let (uid, gid) = (format!("--reuid={SERVER_USER}"), format!("--regid={SERVER_USER}"));
        vec![setpriv.into(), uid.into(), gid.into(), "--init-groups".into()]
    } else {
        return Err(failed(
            "running as root, and neither runuser nor setpriv is there to drop to postgres",
        ));
    };
    let known = Command::new("id")
        .arg("-u")
        .arg(SERVER_USER)
        .stdin(Stdio::null())
        .output();
    if known.is_ok_and(|out| out.status.success()) {
        Ok(prefix)
    } else {
        Err(failed(format!(
            "running as root, and there is no `{SERVER_USER}` user to run PostgreSQL as (Debian's \
             postgresql package creates it)"
        )))
    }
}

/// A fresh directory, `hookwarden-pg-PID-N` under the temporary directory (`/tmp` when that one is
/// too long for a socket path or, for root, not reachable by the server user), owned by the user
/// the server runs as.
fn make_dir(root: bool) -> Result<PathBuf, Unavailable> {
    let tmp = std::env::temp_dir();
    // A socket's path has at most 107 bytes: TMP/hookwarden-pg-PID-N/.s.PGSQL.5432.
    let fits = tmp.as_os_str().len() <= 50;
    let reachable = !root
        || tmp
            .ancestors()
            .all(|dir| fs::metadata(dir).is_ok_and(|meta| meta.permissions().mode() & 0o001 != 0));
    let base = if fits && reachable && tmp.is_absolute() {
        tmp
    } else {
        PathBuf::from("/tmp")
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let mut n = nanos;
    let dir = loop {
        let dir = base.join(format!("hookwarden-pg-{}-{n}", std::process::id()));
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n = n.wrapping_add(1),
            Err(e) => return Err(failed(format!("creating {}: {e}", dir.display()))),
        }
    };
    if root {
        let mut chown = Command::new("chown");
        chown
            .arg(format!("{SERVER_USER}:"))
            .arg(&dir)
            .stdin(Stdio::null());
        if let Err(why) = run(&mut chown) {
            drop(fs::remove_dir(&dir));
            return Err(failed(why));
        }
    }
    Ok(dir)
}

/// Starts the watchdog: a shell, in its own process group (a ^C to the tests does not reach it),
/// that waits for this process to be gone (or a zombie), then stops the server (immediate mode)
/// and removes `dir`. Started before initdb, so that even a half-made cluster is cleaned up.
fn watch(dir: &Path, pg_ctl: &Path, as_server: &[OsString]) -> Result<(), Unavailable> {
    const SCRIPT: &str = r#"pid=$1 pg_ctl=$2 dir=$3
shift 3
alive() {
  kill -0 "$pid" 2>/dev/null || return 1
  read -r stat < "/proc/$pid/stat" 2>/dev/null || return 0
  state=${stat##*) }
  [ "${state%% *}" != Z ]
}
(
  while alive; do sleep 0.5; done
  if [ -e "$dir/data/postmaster.pid" ]; then "$@" "$pg_ctl" -D "$dir/data" -m immediate -s stop; fi
  rm -rf "$dir"
) </dev/null >/dev/null 2>&1 &
"#;
    let mut sh = Command::new("/bin/sh");
    sh.args(["-c", SCRIPT, "hookwarden-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(pg_ctl)
        .arg(dir)
        .args(as_server)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    // The shell returns at once, leaving the watchdog in the background.
    match sh.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(failed(format!("the watchdog shell: {status}"))),
        Err(e) => Err(failed(format!("starting the watchdog shell: {e}"))),
    }
}

/// Percent-encodes all but the URL-unreserved bytes (so `/` too: the path is a URL's host).
fn percent_encode(path: &Path) -> String {
    let mut encoded = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}
