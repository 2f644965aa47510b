//! Who is acting, as the audit log and the state's lock file name them.

/// `user@host` of this process: `$USER` or `$LOGNAME`, else the name of its uid in
/// /etc/passwd (as under systemd or in a container, where neither is set), else the
/// uid itself.
pub fn local() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(uid_name);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map_or_else(|| "localhost".to_owned(), |h| h.trim().to_owned());
    format!("{user}@{host}")
}

fn uid_name() -> String {
    let uid = rustix::process::getuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    name_of(&passwd, uid).map_or_else(|| format!("uid {uid}"), str::to_owned)
}

/// The user name of `uid` in a passwd file's text.
fn name_of(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse() == Ok(uid)).then_some(name)
    })
}

/// The id of the group `name` (a name in /etc/group, or a number), for `--admin-group`.
pub fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    id_of(&groups, name).ok_or_else(|| {
        format!("there is no group `{name}` in /etc/group (create it with `groupadd --system {name}`)")
    })
}

/// The id of `name` in a group (or passwd) file's text.
fn id_of(file: &str, name: &str) -> Option<u32> {
    file.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
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

#[cfg(test)]
mod tests {
    use super::{id_of, name_of};

    #[test]
    fn a_uid_is_named_from_passwd() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nhookwarden:x:990:990::/var/lib/hookwarden:/usr/sbin/nologin\n";
        assert_eq!(name_of(passwd, 990), Some("hookwarden"));
        assert_eq!(name_of(passwd, 0), Some("root"));
        assert_eq!(name_of(passwd, 1234), None);
    }

    #[test]
    fn a_group_is_found_by_name() {
        let group = "root:x:0:\nhookwarden-admin:x:995:runner,alice\n";
        assert_eq!(id_of(group, "hookwarden-admin"), Some(995));
        assert_eq!(id_of(group, "hookwarden"), None);
    }
}
