//! Who is acting, as the audit log and the state's lock file name them.

/// `user@host` of this process.
pub fn local() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .unwrap_or_else(|| "unknown".to_owned());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map_or_else(|| "localhost".to_owned(), |h| h.trim().to_owned());
    format!("{user}@{host}")
}

/// `user@host (daemon)`: the daemon applying the file on its own.
pub fn daemon() -> String {
    format!("{} (daemon)", local())
}

/// A caller of the daemon's admin socket or remote admin route, as it names itself
/// (`None`: it did not), with how it came: the socket's mode or the admin token is what
/// vouches for it.
pub fn forwarded(named: Option<&str>, via: &str) -> String {
    format!("{} ({via})", named.unwrap_or("unknown"))
}
