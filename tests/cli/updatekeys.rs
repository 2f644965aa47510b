//! `hookwarden updatekeys` and the warning `validate` gives before it: a key added to
//! `recipients:` can open every secret after one run, and the file keeps its layout.

use std::process::Command;

use secrecy::ExposeSecret as _;

use crate::harness::{TOKEN, Test, URL_GOV, URL_OPS, age_cli};

/// A second identity, as a deploy host would have; returns its recipient.
fn second_key(test: &Test, name: &str) -> String {
    let key = age::x25519::Identity::generate();
    test.write(name, &format!("{}\n", key.to_string().expose_secret()));
    key.to_public().to_string()
}

/// `plaintext` encrypted to the test's key, as the lines of an `age: |` block at `indent`.
fn block(test: &Test, plaintext: &str, indent: &str) -> String {
    let sealed = test.sealed(plaintext);
    let armored = sealed
        .trim_start_matches("{age: \"")
        .trim_end_matches("\"}")
        .replace("\\n", "\n");
    armored.lines().fold(String::new(), |mut text, line| {
        text.push_str(&format!("{indent}{line}\n"));
        text
    })
}

/// A file with comments, a one-line quoted token and two `age: |` blocks, all
/// encrypted to the test's key, and `recipients:` listing `extra` too.
fn file_with_extra_recipient(test: &Test, extra: &str) -> String {
    format!(
        "# Alerting for the platform team.\nversion: 1\nrecipients:\n  - {}  # alice\n  - {extra}  # deploy host\nslack:\n  bot_token: {}\nwebhooks:\n  # The on-call channel.\n  - id: ops\n    name: Ops\n    url:\n      age: |\n{}    channel: \"#ops\"\n  - name: Gov Incidents\n    url:\n      age: |\n{}",
        test.recipient(),
        test.sealed(TOKEN),
        block(test, URL_OPS, "        "),
        block(test, URL_GOV, "        "),
    )
}

/// The lines (1-based) on which the file's `age` keys are.
fn age_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains("age: |") || line.contains("{age: "))
        .map(|(i, _)| i + 1)
        .collect()
}

/// The file with every ciphertext cut out: what must not change.
fn layout(text: &str) -> String {
    let sealed =
        regex::Regex::new(r"(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----")
            .expect("a pattern");
    sealed.replace_all(text, "<sealed>").into_owned()
}

#[test]
fn a_new_recipient_gets_every_secret_and_the_layout_is_kept() {
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    let before = file_with_extra_recipient(&test, &host);
    test.write("hookwarden.yaml", &before);

    // The deploy host cannot open anything yet, and validate says why, at each secret.
    let run = test.exec(&["validate", "--identity", "host.txt"]);
    run.code(1).no_secrets();
    assert!(run.stderr.contains("error[decrypt-failed]"), "{}", run.stderr);
    let run = test.exec(&["validate", "--identity", "identity.txt"]);
    run.code(0).no_secrets();
    let lines = age_lines(&before);
    assert_eq!(lines[..2], [7, 13]);
    for &line in &lines {
        assert!(
            run.stderr.contains(&format!("hookwarden.yaml:{line}:"))
                && run.stderr.contains("warning[recipients-differ]: "),
            "line {line}:\n{}",
            run.stderr
        );
    }
    assert_eq!(
        run.stderr.matches("warning[recipients-differ]").count(),
        3,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("it is encrypted to 1 recipient, and `recipients:` lists 2"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hookwarden updatekeys"), "{}", run.stderr);
    let json = test.exec(&["validate", "--identity", "identity.txt", "--format", "json"]);
    let outcome: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(outcome["warnings"].as_array().map(Vec::len), Some(3), "{outcome}");
    assert_eq!(outcome["warnings"][0]["code"], "recipients-differ");

    // Off a terminal it asks for --yes, and leaves the file as it was.
    let run = test.exec(&["updatekeys", "--identity", "identity.txt"]);
    run.code(1).no_secrets();
    assert!(
        run.stdout
            .contains("3 secrets in hookwarden.yaml need re-encrypting to the keys under `recipients:` (2)"),
        "{}",
        run.stdout
    );
    let fields = ["slack.bot_token", "webhooks[0].url", "webhooks[1].url"];
    for (field, line) in fields.iter().zip(&lines) {
        let field = format!("{field} (line {line})");
        assert!(run.stdout.contains(&field), "{field}:\n{}", run.stdout);
    }
    assert!(run.stderr.contains("pass --yes"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file"),
        before
    );

    let run = test.exec(&["updatekeys", "--identity", "identity.txt", "--yes"]);
    run.code(0).no_secrets();
    assert!(
        run.stdout.contains("Updated 3 secrets in hookwarden.yaml"),
        "{}",
        run.stdout
    );
    let after = std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file");
    assert_ne!(after, before);
    assert_eq!(layout(&after), layout(&before), "only the ciphertexts change");
}

#[test]
fn after_an_update_every_key_opens_it_and_a_removed_key_no_longer_does() {
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    test.write("hookwarden.yaml", &file_with_extra_recipient(&test, &host));
    test.exec(&["updatekeys", "--identity", "identity.txt", "--yes"])
        .code(0);
    let after = std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file");

    // Now the host opens every secret, with no warning, and so does the first key.
    for identity in ["host.txt", "identity.txt"] {
        let run = test.exec(&["validate", "--identity", identity]);
        run.code(0).no_secrets();
        assert!(
            run.stdout.contains("Every secret was decrypted"),
            "{}",
            run.stdout
        );
        assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    }
    if age_cli().is_some() {
        let start = after.find("-----BEGIN").expect("a block");
        let end = after[start..]
            .find("-----END AGE ENCRYPTED FILE-----")
            .expect("its end")
            + start
            + 32;
        let armored = after[start..end].replace("\\n", "\n");
        let output = Command::new("age")
            .args(["-d", "-i"])
            .arg(test.path("host.txt"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), armored.as_bytes())?;
                child.wait_with_output()
            })
            .expect("age runs");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            TOKEN,
            "the age CLI opens it with the host's key"
        );
    }

    // A second run has nothing to do and writes nothing.
    let run = test.exec(&["updatekeys", "--identity", "identity.txt", "--yes"]);
    run.code(0);
    assert!(run.stdout.starts_with("Nothing to update"), "{}", run.stdout);
    assert!(
        run.stdout.contains("updatekeys --all"),
        "a replaced key needs --all: {}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file"),
        after
    );

    // Removing the first key: the host re-encrypts to itself alone.
    let without_alice = after.replace(&format!("  - {}  # alice\n", test.recipient()), "");
    test.write("hookwarden.yaml", &without_alice);
    let run = test.exec(&[
        "updatekeys",
        "--identity",
        "host.txt",
        "--yes",
        "--format",
        "json",
    ]);
    run.code(0).no_secrets();
    let outcome: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(outcome["written"], true);
    assert_eq!(outcome["recipients"], 1);
    assert_eq!(outcome["changes"].as_array().map(Vec::len), Some(3));
    let run = test.exec(&["validate", "--identity", "identity.txt"]);
    run.code(1);
    assert!(run.stderr.contains("error[decrypt-failed]"), "{}", run.stderr);
}

#[test]
fn a_secret_the_identity_cannot_open_stops_the_whole_rewrite() {
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    let before = file_with_extra_recipient(&test, &host);
    test.write("hookwarden.yaml", &before);
    let run = test.exec(&["updatekeys", "--identity", "host.txt", "--yes"]);
    run.code(1).no_secrets();
    assert!(
        run.stderr.contains("hookwarden.yaml:13:7: error[decrypt-failed]"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file"),
        before
    );
    let run = test.exec(&["updatekeys", "--yes"]);
    run.code(1);
    assert!(run.stderr.contains("needs the age identity"), "{}", run.stderr);
}

#[test]
fn a_secret_shared_by_an_alias_is_rewritten_once_for_both() {
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    let file = format!(
        "version: 1\nrecipients: [{}, {host}]\nwebhooks:\n  - name: Ops\n    url: &shared\n      age: |\n{}  - name: Ops copy\n    url: *shared\n",
        test.recipient(),
        block(&test, URL_OPS, "        "),
    );
    test.write("hookwarden.yaml", &file);
    let run = test.exec(&["updatekeys", "--identity", "identity.txt", "--yes"]);
    run.code(0).no_secrets();
    let after = std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file");
    assert_eq!(layout(&after), layout(&file));
    assert!(after.contains("url: *shared"), "{after}");
    let run = test.exec(&["validate", "--identity", "host.txt"]);
    run.code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn a_secret_in_a_form_it_cannot_rewrite_is_refused_with_how_to_fix_it() {
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    // A double-quoted string over several lines, continued with `\`.
    let sealed = test.sealed(URL_OPS);
    let armored = sealed.trim_start_matches("{age: \"").trim_end_matches("\"}");
    let folded = armored.replacen("\\n", "\\n\\\n        ", 1);
    let file = format!(
        "version: 1\nrecipients: [{}, {host}]\nwebhooks:\n  - name: Ops\n    url:\n      age:\n        \"{folded}\"\n",
        test.recipient(),
    );
    test.write("hookwarden.yaml", &file);
    test.exec(&["validate", "--identity", "identity.txt"]).code(0);
    let run = test.exec(&["updatekeys", "--identity", "identity.txt", "--yes"]);
    run.code(1).no_secrets();
    assert!(
        run.stderr
            .contains("hookwarden.yaml:6:7: error[unsupported-secret-form]"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hookwarden encrypt --yaml"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file"),
        file
    );
}

#[test]
fn on_a_terminal_it_asks_first() {
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    let before = file_with_extra_recipient(&test, &host);
    test.write("hookwarden.yaml", &before);
    let args = ["updatekeys", "--identity", "identity.txt"];
    let Some(shown) = test.on_terminal(&args, b"n\n") else {
        return;
    };
    assert!(
        shown.contains("Re-encrypt them and rewrite the file? [y/N]"),
        "{shown}"
    );
    assert!(shown.contains("updatekeys cancelled"), "{shown}");
    assert_eq!(
        std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file"),
        before
    );
    let shown = test.on_terminal(&args, b"y\n").expect("script is there");
    assert!(shown.contains("Updated 3 secrets"), "{shown}");
    test.exec(&["validate", "--identity", "host.txt"]).code(0);
}

#[test]
fn secrets_on_one_line_and_anchored_scalars_are_each_rewritten() {
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    let file = format!(
        "version: 1\nrecipients: [{}, {host}]\nwebhooks: [{{name: A, url: {}}}, {{name: B, url: {}}}]\n",
        test.recipient(),
        test.sealed(URL_OPS),
        test.sealed(URL_GOV),
    );
    test.write("hookwarden.yaml", &file);
    test.exec(&["updatekeys", "--identity", "identity.txt", "--yes"])
        .code(0)
        .no_secrets();
    let after = std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file");
    assert_eq!(layout(&after), layout(&file));
    test.exec(&["validate", "--identity", "host.txt"]).code(0);

    let anchored = format!(
        "version: 1\nrecipients: [{}, {host}]\nwebhooks:\n  - name: A\n    url:\n      age: &shared |\n{}  - name: B\n    url:\n      age: *shared\n",
        test.recipient(),
        block(&test, URL_OPS, "        "),
    );
    test.write("hookwarden.yaml", &anchored);
    let run = test.exec(&["updatekeys", "--identity", "identity.txt", "--yes"]);
    run.code(0).no_secrets();
    let after = std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file");
    assert_eq!(layout(&after), layout(&anchored));
    assert!(after.contains("age: *shared"), "{after}");
    test.exec(&["validate", "--identity", "host.txt"]).code(0);
}

#[test]
fn the_rewrite_keeps_the_owner_group_and_mode() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: giving a file to another owner needs root");
        return;
    }
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    test.write("hookwarden.yaml", &file_with_extra_recipient(&test, &host));
    let path = test.path("hookwarden.yaml");
    rustix::fs::chown(
        &path,
        Some(rustix::fs::Uid::from_raw(65534)),
        Some(rustix::fs::Gid::from_raw(65534)),
    )
    .expect("chown");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    test.exec(&["updatekeys", "--identity", "identity.txt", "--yes"])
        .code(0);
    let meta = std::fs::metadata(&path).expect("the file");
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (65534, 65534, 0o640)
    );
}

#[test]
fn an_edit_made_while_it_asks_is_not_lost() {
    use std::io::{Read as _, Write as _};
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "script (util-linux) is required in CI"
        );
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let test = Test::new();
    let host = second_key(&test, "host.txt");
    test.write("hookwarden.yaml", &file_with_extra_recipient(&test, &host));
    let binary = assert_cmd::cargo::cargo_bin!("hookwarden");
    let line = format!("{} updatekeys --identity identity.txt", binary.display());
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(test.path(""))
        .env("HOME", test.path(""))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut shown = Vec::new();
    let mut byte = [0; 1];
    while !String::from_utf8_lossy(&shown).contains("[y/N]") {
        assert_eq!(stdout.read(&mut byte).expect("reads"), 1, "ended before asking");
        shown.push(byte[0]);
    }
    // Someone edits the file while the question waits.
    let edited = std::fs::read_to_string(test.path("hookwarden.yaml"))
        .expect("file")
        .replace("name: Ops", "name: Operations");
    test.write("hookwarden.yaml", &edited);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"y\n").expect("type");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("reads");
    child.wait().expect("ends");
    assert!(
        rest.contains("changed while updatekeys ran; nothing was written"),
        "{rest}"
    );
    assert_eq!(
        std::fs::read_to_string(test.path("hookwarden.yaml")).expect("file"),
        edited
    );
}
