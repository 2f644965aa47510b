use std::process::Command;

use crate::harness::{Test, URL_OPS, age_cli, fixture};

/// Runs the age CLI with `args`, feeding it `input`; returns what it printed.
fn age(args: &[&std::ffi::OsStr], input: &str) -> String {
    let mut child = Command::new("age")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("age runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes()).expect("write");
    let output = child.wait_with_output().expect("age exits");
    assert!(
        output.status.success(),
        "age {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn age_decrypt(identity: &std::path::Path, armored: &str) -> String {
    age(&["-d".as_ref(), "-i".as_ref(), identity.as_os_str()], armored)
}

fn age_encrypt(args: &[&str], plaintext: &str) -> String {
    let args: Vec<&std::ffi::OsStr> = ["-e", "-a"].iter().chain(args).map(AsRef::as_ref).collect();
    age(&args, plaintext)
}

fn yaml_with_url(armored: &str) -> String {
    format!(
        "version: 1\nwebhooks:\n  - name: Ops\n    url: {{age: \"{}\"}}\n",
        armored.replace('\n', "\\n")
    )
}

#[test]
fn hookwarden_output_decrypts_with_the_age_cli() {
    let Some(_) = age_cli() else { return };
    let test = Test::new();
    let recipient = test.recipient();
    let run = test
        .args(&["encrypt", "-r", &recipient])
        .stdin(&format!("{URL_OPS}\n"))
        .run();
    run.code(0).no_secrets();
    assert!(
        run.stdout.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        age_decrypt(&run.path("identity.txt"), &run.stdout),
        URL_OPS,
        "the trailing newline is dropped"
    );
}

#[test]
fn age_cli_output_is_accepted() {
    let Some(_) = age_cli() else { return };
    let test = Test::new();
    let armored = age_encrypt(&["-r", &test.recipient()], URL_OPS);
    let run = test
        .file("hookwarden.yaml", &yaml_with_url(&armored))
        .args(&["validate", "--identity", "identity.txt"])
        .run();
    run.code(0).no_secrets();
    assert!(
        run.stdout.contains("Every secret was decrypted"),
        "{}",
        run.stdout
    );
}

#[test]
fn ssh_keys_work_both_ways() {
    for key in ["test-ssh-ed25519", "test-ssh-rsa"] {
        let public = std::fs::read_to_string(fixture(&format!("{key}.pub"))).expect("public key");
        let private = fixture(key);
        let run = Test::new()
            .args(&["encrypt", "-r", public.trim()])
            .stdin(URL_OPS)
            .run();
        run.code(0).no_secrets();
        let config = yaml_with_url(&run.stdout);
        let validated = Test::new()
            .file("hookwarden.yaml", &config)
            .args(&["validate", "--identity", private.to_str().expect("utf-8 path")])
            .run();
        validated.code(0).no_secrets();
        if age_cli().is_some() {
            assert_eq!(age_decrypt(&private, &run.stdout), URL_OPS, "{key}");
            let armored = age_encrypt(
                &["-R", fixture(&format!("{key}.pub")).to_str().expect("path")],
                URL_OPS,
            );
            let run = Test::new()
                .file("hookwarden.yaml", &yaml_with_url(&armored))
                .args(&["validate", "--identity", private.to_str().expect("utf-8 path")])
                .run();
            run.code(0).no_secrets();
        }
    }
}

#[test]
fn a_passphrase_protected_ssh_key_is_refused_clearly() {
    let test = Test::new();
    let config = test.config();
    let key = fixture("test-ssh-ed25519-passphrase");
    let run = test
        .file("hookwarden.yaml", &config)
        .args(&["validate", "--identity", key.to_str().expect("path")])
        .run();
    run.code(1);
    assert!(
        run.stderr.contains("passphrase-protected SSH key"),
        "{}",
        run.stderr
    );
}

#[test]
fn recipients_default_to_the_config_file_even_when_it_has_problems() {
    let test = Test::new();
    let recipient = test.recipient();
    let file =
        format!("version: 1\nrecipients: [{recipient}]\nwebhooks:\n  - name: Ops\n    url: {URL_OPS}\n");
    let run = test
        .file("hookwarden.yaml", &file)
        .args(&["encrypt", "--yaml"])
        .stdin(URL_OPS)
        .run();
    run.code(0).no_secrets();
    assert!(
        run.stdout
            .starts_with("age: |\n  -----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{}",
        run.stdout
    );
    let indented = run.stdout.replace('\n', "\n      ");
    let fixed = format!(
        "version: 1\nrecipients: [{recipient}]\nwebhooks:\n  - name: Ops\n    url:\n      {indented}"
    );
    let test = Test::new();
    let key = std::fs::read_to_string(run.path("identity.txt")).expect("key");
    let validated = test
        .file("hookwarden.yaml", &fixed)
        .file("id.txt", &key)
        .args(&["validate", "--identity", "id.txt"])
        .run();
    validated.code(0);
}

#[test]
fn recipients_files_are_read() {
    let test = Test::new();
    let recipient = test.recipient();
    let run = test
        .file("recipients.txt", &format!("# team keys\n{recipient}\n\n"))
        .args(&["encrypt", "-R", "recipients.txt"])
        .stdin("xoxb-fake")
        .run();
    run.code(0);
    assert!(run.stdout.contains("BEGIN AGE ENCRYPTED FILE"));
}

#[test]
fn empty_input_and_missing_recipients_are_refused() {
    let test = Test::new();
    let recipient = test.recipient();
    let empty = test.args(&["encrypt", "-r", &recipient]).stdin("\n").run();
    empty.code(1);
    assert!(
        empty
            .stderr
            .starts_with("error: nothing to encrypt: standard input was empty\n"),
        "{}",
        empty.stderr
    );
    assert_eq!(empty.stdout, "");

    let nobody = Test::new().args(&["encrypt"]).stdin("xoxb-fake").run();
    nobody.code(1);
    assert!(
        nobody
            .stderr
            .starts_with("error: no recipients to encrypt to\n  help: pass -r age1…"),
        "{}",
        nobody.stderr
    );

    let bad = Test::new()
        .args(&["encrypt", "-r", "age1nope"])
        .stdin("xoxb-fake")
        .run();
    bad.code(1);
    assert!(
        bad.stderr.contains("`age1nope` is not an age recipient"),
        "{}",
        bad.stderr
    );
}

#[test]
fn the_newline_echo_leaves_is_not_part_of_the_secret() {
    let Some(_) = age_cli() else { return };
    let test = Test::new();
    let token = age_encrypt(
        &["-r", &test.recipient()],
        &format!("{}\n", crate::harness::TOKEN),
    );
    let url = age_encrypt(&["-r", &test.recipient()], &format!("{URL_OPS}\n"));
    let config = format!(
        "version: 1\nslack:\n  bot_token: {{age: \"{}\"}}\nwebhooks:\n  - name: Ops\n    url: {{age: \"{}\"}}\n",
        token.replace('\n', "\\n"),
        url.replace('\n', "\\n")
    );
    let run = test
        .file("hookwarden.yaml", &config)
        .args(&["validate", "--identity", "identity.txt"])
        .run();
    run.code(0).no_secrets();
}

#[test]
fn on_a_terminal_the_secret_is_read_without_echo() {
    let test = Test::new();
    let recipient = test.recipient();
    let typed = b"https://hooks.slack.com/services/T0FAKE000/B0FAKE001/FAKEechoFAKEecho\n";
    let Some(shown) = test.on_terminal(&["encrypt", "-r", &recipient], typed) else {
        return;
    };
    assert!(shown.contains("-----BEGIN AGE ENCRYPTED FILE-----"), "{shown}");
    assert!(
        !shown.contains("FAKEechoFAKEecho"),
        "the secret was echoed: {shown}"
    );
}
