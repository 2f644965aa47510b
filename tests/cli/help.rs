use crate::harness::Test;

#[test]
fn top_level_help() {
    let run = Test::new().args(&["--help"]).run();
    run.code(0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn encrypt_help() {
    let run = Test::new().args(&["encrypt", "--help"]).run();
    run.code(0);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn usage_errors_exit_1_because_2_means_changes() {
    let run = Test::new().args(&["validate", "--bogus"]).run();
    run.code(1);
    assert!(
        run.stderr.contains("unexpected argument '--bogus'"),
        "{}",
        run.stderr
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let bash = Test::new().args(&["completions", "bash"]).run();
    bash.code(0);
    assert!(bash.stdout.contains("complete -F _hookwarden"), "{}", bash.stdout);
    assert!(bash.stdout.contains("--identity"));
    let man = Test::new().args(&["man"]).run();
    man.code(0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH hookwarden"),
        "{}",
        &man.stdout[..200]
    );
    assert!(man.stdout.contains("HOOKWARDEN_CONFIG"));
    for section in [".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH EXAMPLES"] {
        assert!(man.stdout.contains(section), "{section}");
    }
    let test = Test::new();
    test.exec(&["man", "--out-dir", "man"]).code(0);
    let nested = std::fs::read_to_string(test.path("man/hookwarden-directory-sync.1"))
        .expect("a page for a nested command");
    assert!(
        nested.contains(".SH \"EXIT STATUS\"") && nested.contains(".SH ENVIRONMENT"),
        "{nested}"
    );
    assert!(test.path("man/hookwarden-routes-test.1").exists());
    let send = test.exec(&["send", "-h"]);
    let (own, global) = send
        .stdout
        .split_once("Global options:")
        .expect("a heading for global options");
    assert!(
        own.contains("--webhook") && !own.contains("--identity"),
        "{}",
        send.stdout
    );
    assert!(global.contains("--log-format"), "{}", send.stdout);
}

#[test]
fn each_command_lists_only_the_global_options_it_uses_and_accepts_them_all() {
    let test = Test::new();
    let global = |args: &[&str]| {
        let run = test.exec(args);
        run.code(0);
        run.stdout
            .split_once("Global options:")
            .map(|(_, global)| global.to_owned())
            .unwrap_or_default()
    };
    let send = global(&["send", "-h"]);
    for ignored in ["--state", "--identity", "--remote", "--config"] {
        assert!(!send.contains(ignored), "send lists {ignored}:\n{send}");
    }
    assert!(send.contains("--format"), "send prints JSON with it:\n{send}");
    let list = global(&["directory", "list", "-h"]);
    assert!(list.contains("--state") && !list.contains("--identity"), "{list}");
    let status = global(&["status", "-h"]);
    assert!(
        status.contains("--state") && status.contains("--remote"),
        "{status}"
    );
    assert!(
        !status.contains("--identity") && !status.contains("--config"),
        "{status}"
    );
    // Nested commands inherit what their command leaves out.
    let sync = global(&["directory", "sync", "-h"]);
    assert!(
        sync.contains("--identity") && !sync.contains("--config"),
        "{sync}"
    );
    let plan = global(&["plan", "-h"]);
    for used in ["--config", "--state", "--identity", "--remote", "--format"] {
        assert!(plan.contains(used), "plan leaves out {used}:\n{plan}");
    }
    // Left out of help, still accepted where a script puts them.
    let run = test.exec(&["status", "--identity", "identity.txt", "-c", "other.yaml"]);
    run.code(0);
    let run = test.exec(&["schema", "--state", "elsewhere", "--format", "json"]);
    run.code(0);
}

#[test]
fn the_committed_schema_is_what_the_binary_prints() {
    let run = Test::new().args(&["schema"]).run();
    run.code(0);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/hookwarden.schema.json"
    ))
    .expect("schema/hookwarden.schema.json is committed");
    assert!(
        run.stdout == committed,
        "schema/hookwarden.schema.json is out of date: run `cargo run -- schema > schema/hookwarden.schema.json`"
    );
}
