use crate::harness::{Test, URL_OPS};

#[test]
fn a_valid_file_with_an_identity_is_decrypted_and_checked() {
    let test = Test::new();
    let config = test.config();
    let run = test
        .file("hookwarden.yaml", &config)
        .args(&["validate", "--identity", "identity.txt"])
        .run();
    run.code(0).no_secrets();
    assert_eq!(
        run.stdout,
        "hookwarden.yaml is valid: 2 webhooks, a bot token.\nEvery secret was decrypted with the identity identity.txt (--identity) and checked.\n"
    );
}

#[test]
fn without_an_identity_it_says_the_values_were_not_checked() {
    let test = Test::new();
    let config = test.config();
    let run = test.file("hookwarden.yaml", &config).args(&["validate"]).run();
    run.code(0).no_secrets();
    assert!(
        run.stdout.contains("Secrets were not decrypted"),
        "{}",
        run.stdout
    );
}

#[test]
fn identities_are_found_in_the_documented_order() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("HOOKWARDEN_AGE_KEY", "KEY"),
                ("HOOKWARDEN_IDENTITY", "/nonexistent"),
            ],
            "from HOOKWARDEN_AGE_KEY",
        ),
        (
            &[
                ("HOOKWARDEN_IDENTITY", "identity.txt"),
                ("CREDENTIALS_DIRECTORY", "creds"),
            ],
            "HOOKWARDEN_IDENTITY=identity.txt",
        ),
        (&[("CREDENTIALS_DIRECTORY", "creds")], "creds/age-identity"),
        (&[], "~/.config/hookwarden/identity.txt"),
    ];
    for (env, expected) in cases {
        let test = Test::new();
        let (config, key) = (test.config(), test.key.clone());
        let mut test = test
            .file("hookwarden.yaml", &config)
            .file("creds/age-identity", &key)
            .file(".config/hookwarden/identity.txt", &key)
            .args(&["validate"]);
        for (name, value) in *env {
            test = test.env(name, &value.replace("KEY", &key));
        }
        let run = test.run();
        run.code(0).no_secrets();
        assert!(
            run.stdout.contains(&format!("identity {expected}")),
            "{expected}: {}",
            run.stdout
        );
    }
}

#[test]
fn global_options_go_before_or_after_the_command() {
    let test = Test::new();
    let config = test.config();
    let test = test.file("conf/desired.yaml", &config);
    let before = Test::new()
        .file("conf/desired.yaml", &config)
        .args(&["-c", "conf/desired.yaml", "validate"])
        .run();
    let after = test.args(&["validate", "--config", "conf/desired.yaml"]).run();
    before.code(0);
    after.code(0);
    assert_eq!(before.stdout, after.stdout);
    let from_env = Test::new()
        .file("x.yaml", &config)
        .env("HOOKWARDEN_CONFIG", "x.yaml")
        .args(&["validate"])
        .run();
    from_env.code(0);
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let test = Test::new();
    let sealed = test.sealed(URL_OPS);
    let file = format!(
        "version: 1\nslack:\n  bot_token: xoxb-0000-FAKE-not-a-real-token\nwebhooks:\n  - id: ops\n    nmae: Ops\n    url: {sealed}\n  - id: Bad_Id\n    name: \"\"\n    url: {URL_OPS}\n  - id: ops\n    name: Ops again\n    channel: \"#ops\"\n    url: {sealed}\n    mentions: [\"@\"]\n"
    );
    let run = test.file("hookwarden.yaml", &file).args(&["validate"]).run();
    run.code(1).no_secrets();
    assert_eq!(run.stdout, "");
    insta::assert_snapshot!(run.stderr);
}

#[test]
fn problems_as_json() {
    let run = Test::new()
        .file("hookwarden.yaml", "version: 3\nwebhook: []\n")
        .args(&["validate", "--format", "json"])
        .run();
    run.code(1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(json["valid"], false);
    let problems = json["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0]["code"], "unsupported-version");
    assert_eq!(
        (problems[0]["line"].as_u64(), problems[0]["column"].as_u64()),
        (Some(1), Some(10))
    );
    assert_eq!(problems[1]["help"], "did you mean `webhooks`?");
}

#[test]
fn a_secret_for_another_key_fails_and_names_the_identity() {
    let stranger = Test::new();
    let config = stranger.config();
    let run = Test::new()
        .file("hookwarden.yaml", &config)
        .args(&["validate", "--identity", "identity.txt"])
        .run();
    run.code(1).no_secrets();
    assert!(
        run.stderr.contains("hookwarden.yaml:9:11: error[decrypt-failed]: cannot decrypt `webhooks[0].url` with the identity identity.txt (--identity): it was not encrypted to this identity"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("BEGIN AGE"), "no ciphertext in errors");
}

#[test]
fn a_plaintext_url_is_refused_without_being_printed() {
    let file = format!("version: 1\nwebhooks:\n  - name: Ops\n    url: {URL_OPS}\n");
    let run = Test::new()
        .file("hookwarden.yaml", &file)
        .args(&["validate"])
        .run();
    run.code(1).no_secrets();
    assert!(
        run.stderr
            .contains("hookwarden.yaml:4:5: error[plaintext-secret]"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hookwarden encrypt"),
        "says how to encrypt it: {}",
        run.stderr
    );
}

#[test]
fn a_missing_file_says_how_to_name_one() {
    let run = Test::new().args(&["validate"]).run();
    run.code(1);
    assert_eq!(
        run.stderr,
        "error: cannot read the config file hookwarden.yaml\n  caused by: No such file or directory (os error 2)\n  help: pass the file with -c FILE or set HOOKWARDEN_CONFIG\n"
    );
}

#[test]
fn an_unusable_identity_is_a_clear_error() {
    let test = Test::new();
    let config = test.config();
    let run = test
        .file("hookwarden.yaml", &config)
        .file("bad.txt", "AGE-SECRET-KEY-1NOPE\n")
        .args(&["validate", "--identity", "bad.txt"])
        .run();
    run.code(1);
    assert_eq!(
        run.stderr,
        "error: the age identity bad.txt (--identity) is not usable: line 1 is not an age secret key (`AGE-SECRET-KEY-1…`)\n"
    );
}

#[test]
fn the_bundled_example_validates_with_the_demo_identity() {
    let root = env!("CARGO_MANIFEST_DIR");
    let run = Test::new()
        .args(&[
            "validate",
            "-c",
            &format!("{root}/examples/hookwarden.yaml"),
            "--identity",
            &format!("{root}/examples/demo-identity.txt"),
        ])
        .run();
    run.code(0);
    assert!(
        run.stdout.contains("is valid: 3 webhooks, a bot token."),
        "{}",
        run.stdout
    );
}
