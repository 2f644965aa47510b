//! plan, apply, status and history through the real binary, against a real sled state.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::{Run, TOKEN, Test, URL_GOV, URL_OPS, token_workspace};

const URL_OPS_2: &str = "https://hooks.slack.com/services/T0FAKE000/B0FAKE003/FAKEfakeFAKEfakeOPS3";

/// A test whose `hookwarden.yaml` holds `webhooks`, with its identity in the environment.
fn test_with(webhooks: &[(&str, &str, Option<&str>, &str)], token: Option<&str>) -> Test {
    let test = Test::new();
    let config = test.config_of(webhooks, token);
    test.file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .slack(token_workspace())
}

fn two_webhooks() -> Test {
    test_with(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        Some(TOKEN),
    )
}

#[test]
fn detailed_exit_codes_say_whether_there_are_changes() {
    let test = two_webhooks();
    test.exec(&["plan", "--detailed-exitcode"]).code(2).no_secrets();
    test.exec(&["apply", "--auto-approve"]).code(0).no_secrets();
    let unchanged = test.exec(&["plan", "--detailed-exitcode"]);
    unchanged.code(0);
    assert_eq!(
        unchanged.stdout,
        "No changes. The applied state (serial 1) matches the desired state.\n"
    );
    test.write("hookwarden.yaml", "version: 2\n");
    test.exec(&["plan", "--detailed-exitcode"]).code(1);
    test.exec(&["plan", "--bogus", "--detailed-exitcode"]).code(1);
}

#[test]
fn apply_is_idempotent_and_recorded() {
    let test = two_webhooks();
    let first = test.exec(&["apply", "--auto-approve"]);
    first.code(0).no_secrets();
    assert!(first.stdout.contains("\nApply complete: 2 created, 0 updated, 0 rotated, 0 deleted; bot token: set. State serial 1.\nSynced the Slack directory of Fake Co (T0FAKE000): 0 users, 0 user groups.\n"), "{}", first.stdout);
    let second = test.exec(&["apply", "--auto-approve"]);
    second.code(0);
    assert_eq!(
        second.stdout,
        "No changes. The applied state (serial 1) matches the desired state.\n"
    );
    let history = test.exec(&["history", "--format", "json"]);
    let entries: serde_json::Value = serde_json::from_str(&history.stdout).expect("JSON");
    assert_eq!(
        entries.as_array().map(Vec::len),
        Some(1),
        "an apply without changes is not recorded"
    );
    assert_eq!(
        entries[0]["summary"],
        "2 to create, 0 to update, 0 to rotate, 0 to delete; bot token: set"
    );
    assert!(entries[0]["actor"].as_str().is_some_and(|a| a.contains('@')));
    assert!(
        entries[0]["config_digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
}

#[test]
fn the_json_plan_has_the_documented_shape() {
    let test = two_webhooks();
    test.exec(&["apply", "--auto-approve"]).code(0);
    let config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops-2"), URL_OPS_2),
            ("new", "New", None, URL_GOV),
        ],
        Some(TOKEN),
    );
    test.write("hookwarden.yaml", &config);
    let run = test.exec(&["plan", "--format", "json"]);
    run.code(0).no_secrets();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["state_serial"], 1);
    assert_eq!(
        plan["summary"],
        serde_json::json!({"create": 1, "update": 0, "rotate": 1, "delete": 1})
    );
    let rotate = &plan["changes"][2];
    assert_eq!(rotate["kind"], "webhook");
    assert_eq!(rotate["action"], "rotate");
    assert_eq!(rotate["id"], "ops");
    assert_eq!(rotate["fields"], serde_json::json!(["url", "channel"]));
    assert_eq!(
        rotate["before"]["url"],
        "https://hooks.slack.com/services/T0FAKE000/B0FAKE001/****OPS1"
    );
    assert_eq!(
        rotate["after"]["url"],
        "https://hooks.slack.com/services/T0FAKE000/B0FAKE003/****OPS3"
    );
    assert_eq!(rotate["after"]["channel"], "#ops-2");
}

#[test]
fn re_encrypting_an_unchanged_url_is_no_change() {
    let test = two_webhooks();
    test.exec(&["apply", "--auto-approve"]).code(0);
    // Same plaintexts, fresh ciphertexts: age output is randomised.
    let config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        Some(TOKEN),
    );
    test.write("hookwarden.yaml", &config);
    test.exec(&["plan", "--detailed-exitcode"]).code(0);
}

#[test]
fn a_saved_plan_is_applied_exactly_and_holds_no_plaintext() {
    let test = two_webhooks();
    test.exec(&["plan", "--out", "plan.json"]).code(0).no_secrets();
    let saved = std::fs::read_to_string(test.path("plan.json")).expect("plan file");
    for secret in [URL_OPS, URL_GOV, TOKEN, "FAKEfakeFAKEfake"] {
        assert!(!saved.contains(secret), "the plan file holds a plaintext secret");
    }
    let mode = std::fs::metadata(test.path("plan.json"))
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The file may change after the plan was made: the saved plan is what gets applied.
    test.write("hookwarden.yaml", "version: 1\n");
    let run = test.exec(&["apply", "plan.json"]);
    run.code(0).no_secrets();
    let status = test.exec(&["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
    assert_eq!(status["webhooks"].as_array().map(Vec::len), Some(2));
    assert_eq!(status["bot_token"]["set"], true);
}

#[test]
fn a_stale_plan_is_refused() {
    let test = two_webhooks();
    test.exec(&["plan", "--out", "plan.json"]).code(0);
    test.exec(&["apply", "--auto-approve"]).code(0);
    let run = test.exec(&["apply", "plan.json"]);
    run.code(1);
    assert_eq!(
        run.stderr,
        "error: the state changed since the plan was made (serial 0, now 1)\n  help: the plan was made against another state: run `hookwarden plan --out FILE` again, review it, and apply the new file\n"
    );
}

#[test]
fn apply_needs_approval_off_a_terminal() {
    let test = two_webhooks();
    let run = test.exec(&["apply"]);
    run.code(1);
    assert!(
        run.stdout.contains("2 to create"),
        "the plan is shown first: {}",
        run.stdout
    );
    assert!(
        run.stderr
            .starts_with("error: refusing to apply without confirmation: standard input is not a terminal\n"),
        "{}",
        run.stderr
    );
    assert!(
        test.exec(&["status"]).stdout.contains("Nothing applied yet"),
        "nothing was applied"
    );
}

#[test]
fn on_a_terminal_apply_asks_and_takes_only_yes() {
    let test = two_webhooks();
    let Some(shown) = test.on_terminal(&["apply"], b"y\n") else {
        return;
    };
    assert!(
        shown.contains("Apply these changes? Only 'yes' is accepted:"),
        "{shown}"
    );
    assert!(shown.contains("apply cancelled"), "{shown}");
    assert!(test.exec(&["status"]).stdout.contains("Nothing applied yet"));
    let shown = test.on_terminal(&["apply"], b"yes\n").expect("script is there");
    assert!(shown.contains("Apply complete: 2 created"), "{shown}");
    test.exec(&["plan", "--detailed-exitcode"]).code(0);
}

#[test]
fn mass_deletion_needs_saying_so() {
    let test = test_with(
        &[
            ("a", "A", None, URL_OPS),
            ("b", "B", None, URL_GOV),
            ("c", "C", None, URL_OPS_2),
        ],
        None,
    );
    test.exec(&["apply", "--auto-approve"]).code(0);
    let config = test.config_of(&[("a", "A", None, URL_OPS)], None);
    test.write("hookwarden.yaml", &config);
    let plan = test.exec(&["plan"]);
    assert!(
        plan.stdout.contains("Warning: this plan deletes 2 of 3 webhooks"),
        "{}",
        plan.stdout
    );
    let refused = test.exec(&["apply", "--auto-approve"]);
    refused.code(1);
    assert!(
        refused
            .stderr
            .starts_with("error: the plan deletes 2 of 3 webhooks\n"),
        "{}",
        refused.stderr
    );
    test.exec(&["apply", "--auto-approve", "--allow-mass-delete"])
        .code(0);
}

#[test]
fn status_shows_redacted_urls_and_times() {
    let test = two_webhooks();
    test.exec(&["apply", "--auto-approve"]).code(0);
    let config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS_2),
            ("gov", "Gov", None, URL_GOV),
        ],
        None,
    );
    test.write("hookwarden.yaml", &config);
    test.exec(&["apply", "--auto-approve"]).code(0);
    let text = test.exec(&["status"]);
    text.code(0).no_secrets();
    assert!(
        text.stdout.starts_with("ID   NAME  CHANNEL  URL"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("https://hooks.slack.com/services/T0FAKE000/B0FAKE003/****OPS3")
    );
    assert!(
        text.stdout.contains("Bot token: not set"),
        "the token was removed: {}",
        text.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&test.exec(&["status", "--format", "json"]).stdout).expect("JSON");
    let ops = &json["webhooks"][1];
    assert_eq!(ops["id"], "ops");
    assert!(
        ops["rotated_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{ops}"
    );
    assert!(json["webhooks"][0]["rotated_at"].is_null());
    assert_eq!(json["state_serial"], 2);
}

/// Every file under `dir`, as bytes.
fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(std::fs::read(&path).expect("readable file"));
        }
    }
    found
}

#[test]
fn the_state_directory_holds_no_plaintext_secret() {
    let test = two_webhooks();
    test.exec(&["apply", "--auto-approve"]).code(0);
    let state = files(&test.path(".hookwarden"));
    assert!(!state.is_empty());
    let stored: Vec<u8> = state.concat();
    for secret in [URL_OPS, URL_GOV, TOKEN, "FAKEfakeFAKEfake", "not-a-real-token"] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the state directory"
        );
    }
    assert!(
        stored.windows(14).any(|w| w == b"BEGIN AGE ENCR"),
        "secrets are stored encrypted"
    );
}

#[test]
fn history_verify_finds_an_altered_entry() {
    let test = two_webhooks();
    test.exec(&["apply", "--auto-approve"]).code(0);
    let config = test.config_of(&[("ops", "Ops", Some("#ops"), URL_OPS)], Some(TOKEN));
    test.write("hookwarden.yaml", &config);
    test.exec(&["apply", "--auto-approve"]).code(0);
    test.exec(&["history", "--verify"]).code(0);
    {
        let db = sled::open(test.path(".hookwarden/db")).expect("state opens");
        let audit = db.open_tree("audit").expect("audit tree");
        let key = 1u64.to_be_bytes();
        let mut entry: serde_json::Value =
            serde_json::from_slice(&audit.get(key).expect("read").expect("entry 1")).expect("JSON");
        entry["actor"] = "mallory@elsewhere".into();
        audit
            .insert(key, serde_json::to_vec(&entry).expect("JSON"))
            .expect("write");
        db.flush().expect("flush");
    }
    let run = test.exec(&["history", "--verify"]);
    run.code(1);
    assert_eq!(
        run.stderr,
        "error: the audit log was altered: entry #1 does not match its hash (it was edited)\n"
    );
}

#[test]
fn a_state_in_use_names_its_holder() {
    let test = two_webhooks();
    let _held = hookwarden::state::Store::open(
        &test.path(".hookwarden"),
        "pid 4242, ci@runner, hookwarden daemon",
    )
    .expect("opens");
    let run = test.exec(&["plan"]);
    run.code(1);
    assert!(
        run.stderr.starts_with("error: the state in .hookwarden is in use by another process (pid 4242, ci@runner, hookwarden daemon)\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_state_from_a_newer_hookwarden_is_refused() {
    let test = two_webhooks();
    test.exec(&["apply", "--auto-approve"]).code(0);
    {
        let db = sled::open(test.path(".hookwarden/db")).expect("state opens");
        db.open_tree("meta")
            .expect("meta")
            .insert("schema_version", &99u64.to_be_bytes())
            .expect("write");
        db.flush().expect("flush");
    }
    let run = test.exec(&["status"]);
    run.code(1);
    assert_eq!(
        run.stderr,
        "error: the state in .hookwarden was written by a newer hookwarden (state schema 99; this one reads 1): upgrade hookwarden\n"
    );
}

#[test]
fn plan_needs_an_identity() {
    let test = Test::new();
    let config = test.config();
    let run = test.file("hookwarden.yaml", &config).args(&["plan"]).run();
    run.code(1);
    assert!(
        run.stderr.starts_with("error: `plan` needs the age identity"),
        "{}",
        run.stderr
    );
}

#[test]
fn markdown_plans_are_for_pull_requests() {
    let test = two_webhooks();
    let run = test.exec(&["plan", "--format", "markdown"]);
    run.code(0).no_secrets();
    assert!(
        run.stdout.starts_with(
            "#### hookwarden plan: 2 to create, 0 to update, 0 to rotate, 0 to delete; bot token: set\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("```diff\n"));
}

#[test]
fn the_readme_plans_the_bundled_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!("{root}/examples/hookwarden.yaml");
    let identity = format!("{root}/examples/demo-identity.txt");
    let run = Test::new()
        .args(&["plan", "-c", &config, "--identity", &identity])
        .run();
    run.code(0);
    assert!(
        run.stdout
            .ends_with("Plan: 3 to create, 0 to update, 0 to rotate, 0 to delete; bot token: set; routes: create; templates: 1 to create.\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.path(".hookwarden").is_dir(),
        "the state goes to .hookwarden/ by default"
    );
}

/// Rewrites the audit tree of the state in `test` with `edit`.
fn edit_audit(test: &Test, edit: impl FnOnce(&sled::Tree)) {
    let db = sled::open(test.path(".hookwarden/db")).expect("state opens");
    edit(&db.open_tree("audit").expect("audit tree"));
    db.flush().expect("flush");
}

#[test]
fn history_verify_finds_a_removed_newest_entry() {
    let test = two_webhooks();
    test.exec(&["apply", "--auto-approve"]).code(0);
    let config = test.config_of(&[("ops", "Ops", Some("#ops"), URL_OPS)], Some(TOKEN));
    test.write("hookwarden.yaml", &config);
    test.exec(&["apply", "--auto-approve"]).code(0);
    let intact = test.exec(&["history", "--verify"]);
    intact.code(0);
    assert!(
        intact.stdout.contains("ending at the state's serial 2"),
        "{}",
        intact.stdout
    );
    edit_audit(&test, |audit| {
        audit.remove(2u64.to_be_bytes()).expect("remove");
    });
    let run = test.exec(&["history", "--verify"]);
    run.code(1);
    assert_eq!(
        run.stderr,
        "error: the audit log was altered: entry #2 is missing (the state is at a later serial than the log)\n"
    );
}

/// The saved plan in `test`, as JSON to edit.
fn saved_plan(test: &Test) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(test.path("plan.json")).expect("plan file")).expect("JSON")
}

#[test]
fn an_edited_plan_file_is_refused() {
    let test = two_webhooks();
    test.exec(&["plan", "--out", "plan.json"]).code(0);
    let mut plan = saved_plan(&test);
    let config = plan["config"]
        .as_str()
        .expect("the file is embedded")
        .replace("name: Ops", "name: Evil");
    plan["config"] = config.clone().into();
    test.write("plan.json", &plan.to_string());
    let run = test.exec(&["apply", "plan.json"]);
    run.code(1);
    assert_eq!(
        run.stderr,
        "error: plan.json is not a hookwarden plan file: its desired state does not match its digest (the file was edited)\n"
    );

    // Even with the digest made to match, the embedded file is checked like any other.
    plan["config"] = config.replace("id: gov", "id: ops").into();
    plan["config_digest"] = hookwarden::config::digest(plan["config"].as_str().expect("text")).into();
    test.write("plan.json", &plan.to_string());
    let run = test.exec(&["apply", "plan.json"]);
    run.code(1);
    assert!(
        run.stderr.contains("hookwarden.yaml (saved in plan.json):"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("error[duplicate-id]"), "{}", run.stderr);
}

#[test]
fn json_apply_never_asks() {
    let test = two_webhooks();
    let refused = test.exec(&["apply", "--format", "json"]);
    refused.code(1);
    assert!(
        refused
            .stderr
            .starts_with("error: refusing to apply without confirmation: --format json cannot ask\n"),
        "{}",
        refused.stderr
    );
    let run = test.exec(&["apply", "--format", "json", "--auto-approve"]);
    run.code(0);
    let outcome: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(outcome["applied"], true);
    assert_eq!(outcome["state_serial"], 1);
    assert_eq!(
        outcome["plan"]["changes"][2],
        serde_json::json!({"kind": "bot_token", "action": "set"})
    );
}

#[test]
fn reading_commands_leave_no_state_behind() {
    let test = two_webhooks();
    let status = test.exec(&["status"]);
    status.code(0);
    assert!(
        status
            .stdout
            .starts_with("Nothing applied yet: there is no state in .hookwarden (name one with --state"),
        "{}",
        status.stdout
    );
    test.exec(&["history"]).code(0);
    assert!(
        !test.path(".hookwarden").exists(),
        "status and history created a state"
    );
    test.write("not-a-dir", "");
    let run = test.exec(&["--state", "not-a-dir", "plan"]);
    run.code(1);
    assert_eq!(
        run.stderr,
        "error: the state directory not-a-dir is a file, not a directory\n"
    );
}

/// A file large enough that its secrets are decrypted while it is being checked: one
/// value for another key is still named at its line, and once it is fixed every
/// webhook is planned.
#[test]
fn a_large_file_is_planned_whole_and_its_undecryptable_value_named() {
    use hookwarden::secrets::{Recipients, Secret, encrypt};
    let test = Test::new().env("HOOKWARDEN_IDENTITY", "identity.txt");
    let ours = Recipients::parse(&[test.recipient()]).expect("a recipient");
    let stranger = age::x25519::Identity::generate().to_public().to_string();
    let theirs = Recipients::parse(&[stranger]).expect("a recipient");
    let file = |foreign: Option<usize>| {
        let mut yaml = String::from("version: 1\nwebhooks:\n");
        for i in 0..100 {
            let url =
                format!("https://hooks.slack.com/services/T0FAKE000/B0FAKE{i:03}/FAKEfakeFAKEfake{i:04}");
            let to = if foreign == Some(i) { &theirs } else { &ours };
            let sealed = encrypt(&Secret::new(url), to).expect("encrypts");
            yaml += &format!("  - id: hook-{i}\n    name: Hook {i}\n    url:\n      age: |\n");
            for line in sealed.lines() {
                yaml += &format!("        {line}\n");
            }
        }
        assert!(yaml.len() > 64 * 1024, "large enough: {} bytes", yaml.len());
        yaml
    };
    let broken = file(Some(41));
    let line = broken
        .lines()
        .position(|l| l == "  - id: hook-41")
        .expect("the entry")
        + 4;
    test.write("hookwarden.yaml", &broken);
    let run = test.exec(&["plan"]);
    run.code(1);
    assert!(
        run.stderr.contains(&format!(
            "hookwarden.yaml:{line}:7: error[decrypt-failed]: cannot decrypt `webhooks[41].url`"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("cannot decrypt").count(), 1, "{}", run.stderr);

    test.write("hookwarden.yaml", &file(None));
    let run = test.exec(&["plan"]);
    run.code(0);
    assert!(run.stdout.contains("Plan: 100 to create"), "{}", run.stdout);
}

/// Once a large file is applied, a plan reads again only the entries that changed, and
/// says what each change is, at its line, as a plan of the whole file would.
#[test]
fn a_large_file_applied_is_read_again_only_where_it_changed() {
    use hookwarden::secrets::{Recipients, Secret, encrypt};
    use std::os::unix::fs::PermissionsExt;
    let test = Test::new()
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .env("RUST_LOG", "hookwarden=debug");
    let ours = Recipients::parse(&[test.recipient()]).expect("a recipient");
    let stranger = age::x25519::Identity::generate().to_public().to_string();
    let theirs = Recipients::parse(&[stranger]).expect("a recipient");
    let entry = |i: usize, to: &Recipients| {
        let url = format!("https://hooks.slack.com/services/T0FAKE000/B0FAKE{i:03}/FAKEfakeFAKEfake{i:04}");
        let sealed = encrypt(&Secret::new(url), to).expect("encrypts");
        let mut yaml = format!("  - id: hook-{i}\n    name: Hook {i}\n    url:\n      age: |\n");
        for line in sealed.lines() {
            yaml += &format!("        {line}\n");
        }
        yaml
    };
    let entries: Vec<String> = (0..100).map(|i| entry(i, &ours)).collect();
    let file = |entries: &[String]| format!("version: 1\nwebhooks:\n{}", entries.concat());
    test.write("hookwarden.yaml", &file(&entries));
    test.exec(&["apply", "--auto-approve"]).code(0);
    let memo = test.path(".hookwarden/checked-entries.json");
    let written = std::fs::read_to_string(&memo).expect("the memo is written");
    assert_eq!(
        std::fs::metadata(&memo).expect("memo").permissions().mode() & 0o777,
        0o600
    );
    assert!(
        written.contains("\"hook-41\"") && !written.contains("hooks.slack.com"),
        "{written}"
    );
    let memo_used = |run: &Run, count: usize, of: usize| {
        assert!(
            run.stderr.contains(&format!("remembered={count} webhooks={of}")),
            "{count} entries from the memo: {}",
            run.stderr
        );
    };

    // One name changed: an update, the 99 others from the memo.
    let mut edited = entries.clone();
    edited[50] = edited[50].replace("name: Hook 50", "name: Hook Fifty");
    test.write("hookwarden.yaml", &file(&edited));
    let run = test.exec(&["plan"]);
    run.code(0);
    memo_used(&run, 99, 100);
    assert!(
        run.stdout
            .contains("Plan: 0 to create, 1 to update, 0 to rotate, 0 to delete."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("name     = \"Hook 50\" -> \"Hook Fifty\""),
        "{}",
        run.stdout
    );

    // A value another key opened, in an entry moved down by a new one: named at its line.
    let mut edited = entries.clone();
    edited[41] = entry(41, &theirs);
    edited.insert(0, entry(100, &ours));
    test.write("hookwarden.yaml", &file(&edited));
    let line = file(&edited)
        .lines()
        .position(|l| l == "  - id: hook-41")
        .expect("the entry")
        + 4;
    let run = test.exec(&["plan"]);
    run.code(1);
    memo_used(&run, 99, 101);
    assert!(
        run.stderr.contains(&format!(
            "hookwarden.yaml:{line}:7: error[decrypt-failed]: cannot decrypt `webhooks[42].url`"
        )),
        "{}",
        run.stderr
    );

    // A duplicate id among remembered entries: the file is read whole, both places named.
    let mut edited = entries.clone();
    edited[61] = edited[61].replace("id: hook-61", "id: hook-60");
    test.write("hookwarden.yaml", &file(&edited));
    let run = test.exec(&["plan"]);
    run.code(1);
    assert!(!run.stderr.contains("remembered="), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error[duplicate-id]: webhook id `hook-60` is used twice"),
        "{}",
        run.stderr
    );

    // A damaged memo only costs time.
    std::fs::write(&memo, "{\"rules\":").expect("written");
    test.write("hookwarden.yaml", &file(&entries));
    let run = test.exec(&["plan"]);
    run.code(0);
    assert!(!run.stderr.contains("remembered="), "{}", run.stderr);
    assert!(run.stdout.contains("No changes."), "{}", run.stdout);
}

/// Every file and folder under `dir`, with its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        found.push((entry.path(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            found.extend(modes(&entry.path()));
        }
    }
    found
}

#[test]
fn the_state_files_are_private_to_their_owner() {
    let test = two_webhooks();
    test.exec(&["apply", "--auto-approve"]).code(0);
    let state = test.path(".hookwarden");
    // A file an earlier version left readable is made private at the next open.
    let db = state.join("db").join("conf");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    test.exec(&["status"]).code(0);
    let found = modes(&state);
    assert!(found.len() > 3, "{found:?}");
    for (path, mode) in found {
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }
}

#[test]
fn without_user_or_logname_the_history_names_the_uid_s_user() {
    let test = two_webhooks();
    let mut apply = test.command(&["apply", "--auto-approve"]);
    apply.env_remove("USER").env_remove("LOGNAME");
    let run = Run::from_output(apply.output().expect("runs"), &test);
    run.code(0);
    let history = test.exec(&["history", "--format", "json"]);
    let entries: serde_json::Value = serde_json::from_str(&history.stdout).expect("JSON");
    let actor = entries[0]["actor"].as_str().expect("an actor").to_owned();
    let uid = std::process::Command::new("id")
        .args(["-un"])
        .output()
        .expect("id");
    let name = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
    assert!(actor.starts_with(&format!("{name}@")), "{actor}");
    assert!(!actor.starts_with("unknown@"), "{actor}");
}

/// Writes `stranger.txt`, an age identity that opens none of the test's secrets.
fn a_stranger_key(test: &Test) {
    use secrecy::ExposeSecret;
    let key = age::x25519::Identity::generate().to_string();
    test.write("stranger.txt", &format!("{}\n", key.expose_secret()));
}

/// Replaces, in `hookwarden.yaml`, the ciphertext of the secret on the line that starts
/// with `key` after `after` with a fresh ciphertext of `plaintext`; the rest stays
/// byte for byte.
fn reseal(test: &Test, after: &str, key: &str, plaintext: &str) {
    let text = std::fs::read_to_string(test.path("hookwarden.yaml")).expect("the file");
    let from = text.find(after).expect("the entry");
    let start = from + text[from..].find(key).expect("the key");
    let end = start + text[start..].find('\n').expect("the line's end");
    let line = format!("{key} {}", test.sealed(plaintext));
    test.write(
        "hookwarden.yaml",
        &format!("{}{line}{}", &text[..start], &text[end..]),
    );
}

/// Which secrets a run failed to decrypt, by field.
fn undecrypted(run: &Run) -> Vec<String> {
    run.stderr
        .lines()
        .filter_map(|l| l.split("cannot decrypt `").nth(1))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_plan_decrypts_only_the_values_that_changed() {
    let test = two_webhooks();
    a_stranger_key(&test);
    test.exec(&["apply", "--auto-approve"]).code(0);
    // Nothing changed, so nothing is decrypted: a key that opens nothing plans as well.
    let stranger = ["--identity", "stranger.txt", "plan", "--detailed-exitcode"];
    test.exec(&stranger).code(0);

    // One URL changed: it alone is decrypted, and the plan rotates it.
    reseal(&test, "id: ops", "    url:", URL_OPS_2);
    let refused = test.exec(&stranger);
    refused.code(1);
    assert_eq!(undecrypted(&refused), ["webhooks[0].url"], "{}", refused.stderr);
    let plan = test.exec(&["plan", "--format", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&plan.code(0).stdout).expect("JSON");
    assert_eq!(plan["changes"].as_array().map(Vec::len), Some(1), "{plan}");
    assert_eq!(plan["changes"][0]["action"], "rotate");
    test.exec(&["apply", "--auto-approve"]).code(0);
    test.exec(&stranger).code(0);

    // Re-encrypted, unchanged: decrypted and compared, no change; once an apply has
    // seen it, it is known again.
    reseal(&test, "id: gov", "    url:", URL_GOV);
    reseal(&test, "slack:", "  bot_token:", TOKEN);
    let refused = test.exec(&stranger);
    refused.code(1);
    assert_eq!(
        undecrypted(&refused),
        ["slack.bot_token", "webhooks[1].url"],
        "{}",
        refused.stderr
    );
    test.exec(&["plan", "--detailed-exitcode"]).code(0);
    test.exec(&stranger).code(1);
    test.exec(&["apply", "--auto-approve"]).code(0);
    test.exec(&stranger).code(0);
}

#[test]
fn a_state_written_before_ciphertext_digests_plans_as_before_and_learns_them() {
    let test = two_webhooks();
    a_stranger_key(&test);
    test.exec(&["apply", "--auto-approve"]).code(0);
    // The records as a state written before the digests holds them.
    {
        let db = sled::open(test.path(".hookwarden/db")).expect("state opens");
        let forget = |tree: &sled::Tree, key: &[u8], secret: &str| {
            let mut record: serde_json::Value =
                serde_json::from_slice(&tree.get(key).expect("reads").expect("a record")).expect("JSON");
            let removed = record[secret]
                .as_object_mut()
                .and_then(|s| s.remove("ciphertext_digest"));
            assert!(removed.is_some(), "the apply recorded a digest: {record}");
            tree.insert(key, serde_json::to_vec(&record).expect("JSON"))
                .expect("writes");
        };
        let webhooks = db.open_tree("webhooks").expect("tree");
        for key in ["ops", "gov"] {
            forget(&webhooks, key.as_bytes(), "url");
        }
        forget(&db.open_tree("meta").expect("tree"), b"bot_token", "secret");
        db.flush().expect("flush");
    }
    let stranger = ["--identity", "stranger.txt", "plan", "--detailed-exitcode"];
    let refused = test.exec(&stranger);
    refused.code(1);
    assert_eq!(
        undecrypted(&refused),
        ["slack.bot_token", "webhooks[0].url", "webhooks[1].url"],
        "every value is decrypted: {}",
        refused.stderr
    );
    test.exec(&["plan", "--detailed-exitcode"]).code(0).no_secrets();
    // An apply with nothing to change records them, and changes nothing else.
    let serial = |test: &Test| {
        let status = test.exec(&["status", "--format", "json"]);
        serde_json::from_str::<serde_json::Value>(&status.stdout).expect("JSON")["state_serial"]
            .as_u64()
            .expect("a serial")
    };
    let before = serial(&test);
    test.exec(&["apply", "--auto-approve"]).code(0);
    assert_eq!(serial(&test), before);
    test.exec(&stranger).code(0);
}
