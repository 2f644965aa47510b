//! The CLI beside the daemon: through its admin socket while it holds the state, and
//! through `--remote` from a CI runner without the age key; same output, same exit codes.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::harness::{Daemon, Run, Test, URL_GOV, URL_OPS, applied_with, live_hooks};

fn applied() -> Test {
    applied_with(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        live_hooks(&[URL_OPS, URL_GOV]),
    )
}

/// A changed copy of the desired state, as `other.yaml`.
fn changed(test: &Test) {
    let config = test.config_of(
        &[
            ("ops", "Operations", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        None,
    );
    test.write("other.yaml", &config);
}

fn same(local: &Run, through: &Run, what: &str) {
    assert_eq!(
        (through.code, &through.stdout, &through.stderr),
        (local.code, &local.stdout, &local.stderr),
        "{what}"
    );
}

#[test]
fn commands_go_through_the_admin_socket_with_the_same_output() {
    let test = applied();
    changed(&test);
    let commands: [&[&str]; 5] = [
        &["status"],
        &["plan", "--detailed-exitcode"],
        &["-c", "other.yaml", "plan", "--detailed-exitcode"],
        &["-c", "other.yaml", "plan", "--format", "json"],
        &["-c", "other.yaml", "apply"],
    ];
    let local: Vec<Run> = commands.iter().map(|args| test.exec(args)).collect();
    // --apply off: the daemon's own passes must not re-apply hookwarden.yaml meanwhile.
    let daemon = Daemon::start(&test, &["--periodic", "1h", "--apply", "off"]);
    for (args, local) in commands.iter().zip(&local) {
        let through = test.exec(args);
        same(local, &through, &args.join(" "));
    }
    assert_eq!(local[2].code, 2, "changes");

    let applied = test.exec(&["-c", "other.yaml", "apply", "--auto-approve"]);
    applied.code(0);
    assert!(
        applied.stdout.contains("Apply complete: 0 created, 1 updated"),
        "{}",
        applied.stdout
    );
    let history = test.exec(&["history", "--format", "json"]);
    let entries: serde_json::Value = serde_json::from_str(&history.stdout).expect("JSON");
    assert!(
        entries[1]["actor"]
            .as_str()
            .is_some_and(|a| a.ends_with("(via the admin socket)")),
        "{}",
        entries[1]
    );
    assert_eq!(
        daemon.get("/v1/webhooks").json["webhooks"][1]["name"],
        "Operations",
        "the daemon serves what was applied"
    );
}

#[test]
fn a_saved_plan_comes_back_to_the_caller_and_applies_through_the_daemon() {
    let test = applied();
    changed(&test);
    let _daemon = Daemon::start(&test, &["--periodic", "1h", "--apply", "off"]);
    test.exec(&["-c", "other.yaml", "plan", "--out", "plan.json"])
        .code(0);
    let mode = std::fs::metadata(test.path("plan.json"))
        .expect("written here")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let run = test.exec(&["apply", "plan.json"]);
    run.code(0);
    assert!(run.stdout.contains("Apply complete"), "{}", run.stdout);
    let stale = test.exec(&["apply", "plan.json"]);
    stale.code(1);
    assert!(
        stale
            .stderr
            .starts_with("error: the state changed since the plan was made"),
        "{}",
        stale.stderr
    );
}

/// A CI runner: no age identity, an admin token.
fn runner(test: &Test, daemon: &Daemon, token: Option<&str>, args: &[&str]) -> Run {
    let mut command = test.command(&[&["--remote", &daemon.url], args].concat());
    command.env_remove("HOOKWARDEN_IDENTITY");
    match token {
        Some(token) => {
            test.write("runner-token", token);
            command.env("HOOKWARDEN_ADMIN_TOKEN_FILE", test.path("runner-token"));
        }
        None => {
            command.env_remove("HOOKWARDEN_ADMIN_TOKEN_FILE");
        }
    }
    let output = command.output().expect("runs");
    Run::from_output(output, test)
}

#[test]
fn remote_admin_needs_no_age_key_but_its_token() {
    let test = applied();
    changed(&test);
    let local = test.exec(&["-c", "other.yaml", "plan", "--detailed-exitcode"]);
    test.write("admin-token", "fake-admin-token-0123456789\n");
    let test = test.env("HOOKWARDEN_ADMIN_TOKEN_FILE", "admin-token");
    let daemon = Daemon::start(&test, &["--periodic", "1h", "--apply", "off"]);
    let remote = runner(
        &test,
        &daemon,
        Some("fake-admin-token-0123456789"),
        &["-c", "other.yaml", "plan", "--detailed-exitcode"],
    );
    same(&local, &remote, "remote plan");
    let wrong = runner(&test, &daemon, Some("wrong"), &["status"]);
    wrong.code(1);
    assert_eq!(
        wrong.stderr,
        "error: the endpoint answered 401: missing or wrong admin token\n  help: set HOOKWARDEN_ADMIN_TOKEN_FILE to a file that holds the daemon's admin token\n"
    );
    let missing = runner(&test, &daemon, None, &["status"]);
    missing.code(1);
    let applied = runner(
        &test,
        &daemon,
        Some("fake-admin-token-0123456789"),
        &["-c", "other.yaml", "apply", "--auto-approve"],
    );
    applied.code(0);
    assert!(applied.stdout.contains("Apply complete"), "{}", applied.stdout);
}

#[test]
fn remote_admin_is_off_without_an_admin_token() {
    let test = applied();
    let daemon = Daemon::start(&test, &["--periodic", "1h"]);
    let run = runner(&test, &daemon, Some("anything"), &["status"]);
    run.code(1);
    assert!(
        run.stderr
            .starts_with("error: the endpoint answered 404: remote admin is off"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_daemon_that_does_not_answer_is_a_clear_timeout() {
    let test = applied();
    // Something holds the state and listens on the admin socket, but never answers.
    let _held = hookwarden::state::Store::open(&test.path(".hookwarden"), "a stuck daemon").expect("opens");
    let socket = std::os::unix::net::UnixListener::bind(test.path(".hookwarden/admin.sock")).expect("bind");
    let _accepting = std::thread::spawn(move || {
        let _connections: Vec<_> = socket.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(30));
    });
    let test = test.env("HOOKWARDEN_ADMIN_TIMEOUT", "1s");
    let run = test.exec(&["status"]);
    run.code(1);
    assert!(
        run.stderr
            .starts_with("error: cannot reach the hookwarden endpoint at unix:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("no answer within 1s"), "{}", run.stderr);
}

#[test]
fn the_daemon_reads_no_file_the_caller_did_not_send() {
    let test = applied();
    let _daemon = Daemon::start(&test, &["--periodic", "1h", "--apply", "off"]);
    std::fs::create_dir(test.path("elsewhere")).expect("mkdir");
    // Locally this file does not exist; the daemon's working folder has one by that name.
    let run = test
        .command(&["plan"])
        .current_dir(test.path("elsewhere"))
        .env("HOOKWARDEN_STATE_DIR", test.path(".hookwarden"))
        .output()
        .expect("runs");
    let run = Run::from_output(run, &test);
    run.code(1);
    assert!(
        run.stderr
            .starts_with("error: cannot read the config file hookwarden.yaml\n"),
        "{}",
        run.stderr
    );
}

/// The CLI run in `elsewhere/`, which holds no state, with `env`.
fn elsewhere(test: &Test, args: &[&str], env: &[(&str, &std::path::Path)]) -> Run {
    std::fs::create_dir_all(test.path("elsewhere")).expect("mkdir");
    let mut command = test.command(args);
    command.current_dir(test.path("elsewhere"));
    for (name, value) in env {
        command.env(name, value);
    }
    Run::from_output(command.output().expect("runs"), test)
}

#[test]
fn beside_a_systemd_daemon_the_cli_finds_its_runtime_socket() {
    let test = applied();
    std::fs::create_dir(test.path("run")).expect("mkdir");
    let run_dir = test.path("run").display().to_string();
    let test = test.env("RUNTIME_DIRECTORY", &run_dir);
    let _daemon = Daemon::start(&test, &["--periodic", "1h"]);
    let socket = test.path("run/admin.sock");
    let mode = std::fs::metadata(&socket)
        .expect("the runtime socket")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the daemon's user alone without --admin-group"
    );

    // No state here and none named: the daemon on the runtime socket answers.
    let run = elsewhere(&test, &["status"], &[("HOOKWARDEN_ADMIN_SOCKET", &socket)]);
    run.code(0).no_secrets();
    assert!(
        run.stdout.contains("ops") && run.stdout.contains("Gov"),
        "{}",
        run.stdout
    );
    let run = elsewhere(
        &test,
        &["-c", "../hookwarden.yaml", "plan", "--detailed-exitcode"],
        &[("HOOKWARDEN_ADMIN_SOCKET", &socket)],
    );
    run.code(0);
    let history = elsewhere(&test, &["history"], &[("HOOKWARDEN_ADMIN_SOCKET", &socket)]);
    assert!(history.stdout.contains("#1"), "{}", history.stdout);

    // Without a daemon there, it says where it looked instead of "nothing applied".
    let nowhere = test.path("run/none.sock");
    let run = elsewhere(&test, &["status"], &[("HOOKWARDEN_ADMIN_SOCKET", &nowhere)]);
    run.code(0);
    assert_eq!(
        run.stdout,
        format!(
            "Nothing applied yet: there is no state in .hookwarden (name one with --state or HOOKWARDEN_STATE_DIR), and no daemon's admin socket at {} (HOOKWARDEN_ADMIN_SOCKET).\n",
            nowhere.display()
        )
    );
    let run = elsewhere(&test, &["history"], &[("HOOKWARDEN_ADMIN_SOCKET", &nowhere)]);
    assert!(
        run.stdout
            .starts_with("No applies yet: there is no state in .hookwarden"),
        "{}",
        run.stdout
    );
    let run = elsewhere(
        &test,
        &["directory", "list"],
        &[("HOOKWARDEN_ADMIN_SOCKET", &nowhere)],
    );
    run.code(1);
    assert!(
        run.stderr.contains("no daemon's admin socket at"),
        "{}",
        run.stderr
    );
    // A named state is that state, whatever runs on this host.
    let named = elsewhere(
        &test,
        &["status", "--state", "empty"],
        &[("HOOKWARDEN_ADMIN_SOCKET", &socket)],
    );
    assert_eq!(named.stdout, "Nothing applied yet: there is no state in empty.\n");
}

#[test]
fn the_admin_group_gets_the_sockets() {
    let test = applied();
    std::fs::create_dir(test.path("run")).expect("mkdir");
    let run_dir = test.path("run").display().to_string();
    let test = test.env("RUNTIME_DIRECTORY", &run_dir);
    let unknown = test.exec(&["daemon", "--admin-group", "no-such-group-hookwarden"]);
    unknown.code(1);
    assert!(
        unknown
            .stderr
            .contains("there is no group `no-such-group-hookwarden` in /etc/group"),
        "{}",
        unknown.stderr
    );
    // The process's own group: a member may always give a file to it.
    let gid = rustix::process::getgid().as_raw().to_string();
    let _daemon = Daemon::start(&test, &["--periodic", "1h", "--admin-group", &gid]);
    for socket in ["run/admin.sock", ".hookwarden/admin.sock"] {
        let metadata = std::fs::metadata(test.path(socket)).expect("the socket");
        assert_eq!(metadata.permissions().mode() & 0o777, 0o660, "{socket}");
        assert_eq!(
            std::os::unix::fs::MetadataExt::gid(&metadata).to_string(),
            gid,
            "{socket}"
        );
    }
}

#[test]
fn a_socket_left_by_a_stopped_daemon_says_so() {
    let test = applied();
    // A socket file with no daemon behind it.
    let socket = test.path("run/admin.sock");
    std::fs::create_dir_all(test.path("run")).expect("mkdir");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    drop(listener);
    let run = elsewhere(&test, &["status"], &[("HOOKWARDEN_ADMIN_SOCKET", &socket)]);
    run.code(1);
    assert!(run.stderr.contains("no daemon listens on it"), "{}", run.stderr);
}

#[test]
fn a_second_daemon_does_not_take_a_live_daemon_s_runtime_socket() {
    let test = applied();
    std::fs::create_dir(test.path("run")).expect("mkdir");
    let run_dir = test.path("run").display().to_string();
    let test = test.env("RUNTIME_DIRECTORY", &run_dir);
    let _first = Daemon::start(&test, &["--periodic", "1h"]);
    let second = test.exec(&[
        "daemon",
        "--state",
        "second",
        "--listen",
        "127.0.0.1:0",
        "--periodic",
        "1h",
    ]);
    second.code(1);
    assert!(
        second.stderr.contains("another hookwarden daemon listens on it"),
        "{}",
        second.stderr
    );
    let socket = test.path("run/admin.sock");
    let run = elsewhere(&test, &["status"], &[("HOOKWARDEN_ADMIN_SOCKET", &socket)]);
    run.code(0);
    assert!(
        run.stdout.contains("ops"),
        "the first daemon still answers: {}",
        run.stdout
    );
}
