//! Token checks, directory sync, mentions and webhook verification, through the real
//! binary against the fake Slack.

use serde_json::Value;

use crate::fake_slack::{FakeSlack, Hook, Script, TokenScript, group, hook_path as path, member};
use crate::harness::{TOKEN, Test, URL_GOV, URL_OPS};

const SCOPES: [&str; 3] = ["users:read", "users:read.email", "usergroups:read"];

fn token(scopes: &[&str]) -> TokenScript {
    TokenScript {
        team_id: "T0FAKE000".into(),
        team: "Fake Co".into(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        error: None,
    }
}

/// A workspace of five people (one deleted) over three pages of uneven length, and two
/// user groups (one disabled).
fn workspace() -> Script {
    let mut deleted = member("U0GONE", "gone", "Gone", "gone@example.com");
    deleted["deleted"] = true.into();
    Script {
        tokens: [(TOKEN.to_owned(), token(&SCOPES))].into(),
        user_pages: vec![
            vec![
                member("U0JANE", "jane.doe", "Jane", "jane.doe@example.com"),
                member("U0JOHN", "john", "Johnny", "john@example.com"),
                deleted,
            ],
            vec![member("U0SAM1", "sam", "Sam", "sam@example.com")],
            vec![
                member("U0SAM2", "samantha", "Sam", "samantha@example.com"),
                member("U0OPS", "oncall", "On Call", "oncall@example.com"),
            ],
        ],
        groups: vec![
            group("S0FIN", "finops-team", &["U0JANE"], false),
            group("S0OLD", "old-team", &[], true),
        ],
        hooks: [path(URL_OPS), path(URL_GOV)]
            .into_iter()
            .map(|p| (p, Hook::Live))
            .collect(),
        ..Script::default()
    }
}

fn test_against(
    slack: &FakeSlack,
    webhooks: &[(&str, &str, Option<&str>, &str)],
    token: Option<&str>,
) -> Test {
    let test = Test::new();
    let config = test.config_of(webhooks, token);
    test.file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .env("HOOKWARDEN_SLACK_API_URL", &slack.api_url())
        .env("HOOKWARDEN_SLACK_WEBHOOK_ORIGIN", &slack.origin())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

/// Every file under the state directory, concatenated.
fn state_bytes(test: &Test) -> Vec<u8> {
    fn walk(dir: &std::path::Path, into: &mut Vec<u8>) {
        for entry in std::fs::read_dir(dir).expect("readable").flatten() {
            if entry.path().is_dir() {
                walk(&entry.path(), into);
            } else {
                into.extend(std::fs::read(entry.path()).expect("readable"));
            }
        }
    }
    let mut bytes = Vec::new();
    walk(&test.path(".hookwarden"), &mut bytes);
    bytes
}

#[test]
fn applying_a_token_checks_it_and_syncs_the_directory() {
    let slack = FakeSlack::start(workspace());
    let test = test_against(&slack, &[("ops", "Ops", Some("#ops"), URL_OPS)], Some(TOKEN));
    let run = test.exec(&["apply", "--auto-approve"]);
    run.code(0).no_secrets();
    assert!(
        run.stdout
            .ends_with("Synced the Slack directory of Fake Co (T0FAKE000): 5 users, 1 user groups.\n"),
        "{}",
        run.stdout
    );
    assert_eq!(slack.calls("auth.test").len(), 1);
    let pages: Vec<String> = slack.calls("users.list").iter().map(|c| c.body.clone()).collect();
    assert_eq!(
        pages,
        ["limit=200", "limit=200&cursor=page-1", "limit=200&cursor=page-2"]
    );
    assert!(
        slack
            .calls("users.list")
            .iter()
            .all(|c| c.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}")))
    );

    let status = json(&test.exec(&["status", "--format", "json"]).stdout);
    assert_eq!(status["bot_token"]["team_id"], "T0FAKE000");
    assert_eq!(status["bot_token"]["team"], "Fake Co");
    assert_eq!(status["bot_token"]["scopes_ok"], true);
    assert_eq!(status["directory"]["users"], 5);
    assert_eq!(status["directory"]["groups"], 1);

    let list = test.exec(&["directory", "list", "--format", "json"]);
    list.code(0).no_secrets();
    let list = json(&list.stdout);
    assert_eq!(
        list["users"][0],
        serde_json::json!({"id": "U0JANE", "name": "jane.doe", "display_name": "Jane", "real_name": "Jane Real", "email": "jane.doe@example.com"})
    );
    assert!(
        list["users"]
            .as_array()
            .expect("users")
            .iter()
            .all(|u| u["id"] != "U0GONE"),
        "deleted users are left out"
    );
    assert_eq!(
        list["groups"],
        serde_json::json!([{"id": "S0FIN", "handle": "finops-team", "name": "FINOPS-TEAM", "users": ["U0JANE"]}])
    );

    let stored = state_bytes(&test);
    assert!(
        !stored.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the token is in the state directory"
    );
}

#[test]
fn mentions_resolve_or_say_why_not() {
    let mut script = workspace();
    script.groups.push(group("S0ONC", "oncall", &["U0OPS"], false));
    let slack = FakeSlack::start(script);
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    test.exec(&["apply", "--auto-approve"]).code(0);
    let ok = test.exec(&[
        "directory",
        "resolve",
        "@jane.doe",
        "Johnny",
        "john@example.com",
        "@FinOps-Team",
        "here",
    ]);
    ok.code(0);
    assert_eq!(
        ok.stdout,
        "@jane.doe         <@U0JANE>\nJohnny            <@U0JOHN>\njohn@example.com  <@U0JOHN>\n@FinOps-Team      <!subteam^S0FIN>\nhere              <!here>\n"
    );
    let bad = test.exec(&["directory", "resolve", "@janedoe", "Sam", "@nobody", "@old-team"]);
    bad.code(1);
    assert_eq!(
        bad.stdout,
        "@janedoe   error: `@janedoe` matches no user or group in the Slack directory; did you mean `@jane.doe` or `@jane`?\n\
         Sam        <@U0SAM1>\n\
         @nobody    error: `@nobody` matches no user or group in the Slack directory\n\
         @old-team  error: `@old-team` matches no user or group in the Slack directory\n"
    );
    let ambiguous = test.exec(&["directory", "resolve", "@OnCall"]);
    ambiguous.code(1);
    assert_eq!(
        ambiguous.stdout,
        "@OnCall  error: `@OnCall` is ambiguous: it matches user @oncall (On Call Real, U0OPS), group @oncall (ONCALL, S0ONC)\n"
    );
}

#[test]
fn plan_fails_on_a_mention_that_resolves_to_no_one() {
    let slack = FakeSlack::start(workspace());
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    test.exec(&["apply", "--auto-approve"]).code(0);
    let config = format!(
        "{}    mentions: [\"@jane.doe\", \"@finops-tem\"]\n",
        test.config_of(&[("ops", "Ops", None, URL_OPS)], Some(TOKEN))
    );
    test.write("hookwarden.yaml", &config);
    let run = test.exec(&["plan"]);
    run.code(1).no_secrets();
    assert!(
        run.stderr.starts_with("hookwarden.yaml:9:29: error[unknown-mention]: `@finops-tem` matches no user or group in the Slack directory; did you mean `@finops-team`?\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn plan_warns_about_a_webhook_of_another_workspace() {
    let slack = FakeSlack::start(workspace());
    let other = "https://hooks.slack.com/services/T0OTHER00/B0FAKE009/FAKEfakeFAKEfakeOTH9";
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    test.exec(&["apply", "--auto-approve"]).code(0);
    let config = test.config_of(
        &[("ops", "Ops", None, URL_OPS), ("other", "Other", None, other)],
        Some(TOKEN),
    );
    test.write("hookwarden.yaml", &config);
    let run = test.exec(&["plan"]);
    run.code(0);
    assert!(
        run.stdout.contains(
            "Warning: webhook `other` belongs to Slack team T0OTHER00, the bot token to T0FAKE000 (Fake Co)"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn rate_limits_are_waited_out() {
    let mut script = workspace();
    script.rate_limits.insert("users.list".into(), 1);
    script.rate_limits.insert("auth.test".into(), 1);
    let slack = FakeSlack::start(script);
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    test.exec(&["apply", "--auto-approve"]).code(0);
    assert_eq!(slack.calls("auth.test").len(), 2, "one 429, then the answer");
    assert_eq!(slack.calls("users.list").len(), 4, "one 429, then three pages");
}

#[test]
fn a_token_without_a_scope_is_refused_before_anything_is_written() {
    let mut script = workspace();
    script
        .tokens
        .insert(TOKEN.to_owned(), token(&["users:read", "chat:write"]));
    let slack = FakeSlack::start(script);
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    let run = test.exec(&["apply", "--auto-approve"]);
    run.code(1).no_secrets();
    assert!(
        run.stderr.starts_with("error: the bot token lacks the scopes users:read.email, usergroups:read; it has users:read, chat:write\n  help: add the missing scopes under OAuth & Permissions"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("reinstall the app"), "{}", run.stderr);
    assert_eq!(
        test.exec(&["status"]).stdout,
        "Nothing applied yet (state serial 0).\n"
    );
}

#[test]
fn an_invalid_or_revoked_token_is_refused_plainly() {
    for (error, explained) in [
        ("invalid_auth", "the token is not valid"),
        ("token_revoked", "the token was revoked or expired"),
        ("account_inactive", "deactivated"),
    ] {
        let mut script = workspace();
        script.tokens.get_mut(TOKEN).expect("token").error = Some(error.into());
        let slack = FakeSlack::start(script);
        let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
        let run = test.exec(&["apply", "--auto-approve"]);
        run.code(1).no_secrets();
        assert!(
            run.stderr
                .starts_with(&format!("error: Slack refused auth.test: {error} (")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(explained), "{}", run.stderr);
        assert_eq!(
            test.exec(&["status"]).stdout,
            "Nothing applied yet (state serial 0).\n"
        );
    }
}

#[test]
fn a_sync_that_fails_half_way_keeps_the_previous_directory() {
    let slack = FakeSlack::start(workspace());
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    test.exec(&["apply", "--auto-approve"]).code(0);
    slack.edit(|script| {
        script.user_pages[0].push(member("U0NEW", "newbie", "Newbie", "newbie@example.com"));
        script.failing_page = Some((2, "invalid_cursor"));
    });
    let run = test.exec(&["directory", "sync"]);
    run.code(1);
    assert!(
        run.stderr
            .starts_with("error: Slack refused users.list: invalid_cursor\n"),
        "{}",
        run.stderr
    );
    let list = json(&test.exec(&["directory", "list", "--format", "json"]).stdout);
    assert_eq!(
        list["users"].as_array().map(Vec::len),
        Some(5),
        "the previous directory is kept"
    );
    slack.edit(|script| script.failing_page = None);
    let run = test.exec(&["directory", "sync"]);
    run.code(0);
    assert_eq!(
        run.stdout,
        "Synced the Slack directory of Fake Co (T0FAKE000): 6 users, 1 user groups.\n"
    );
}

#[test]
fn removing_the_token_removes_the_directory() {
    let slack = FakeSlack::start(workspace());
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    test.exec(&["apply", "--auto-approve"]).code(0);
    let config = test.config_of(&[("ops", "Ops", None, URL_OPS)], None);
    test.write("hookwarden.yaml", &config);
    let run = test.exec(&["apply", "--auto-approve"]);
    run.code(0);
    assert!(run.stdout.contains("- bot token  remove"), "{}", run.stdout);
    let list = test.exec(&["directory", "list"]);
    list.code(1);
    assert!(
        list.stderr
            .starts_with("error: the Slack directory was never synced\n"),
        "{}",
        list.stderr
    );
}

#[test]
fn verify_refuses_dead_and_revoked_webhooks_before_writing() {
    let mut script = workspace();
    let dead = "https://hooks.slack.com/services/T0FAKE000/B0FAKE008/FAKEfakeFAKEfakeDED8";
    let revoked = "https://hooks.slack.com/services/T0FAKE000/B0FAKE007/FAKEfakeFAKEfakeREV7";
    script.hooks.insert(path(dead), Hook::Dead(404, "no_service"));
    script
        .hooks
        .insert(path(revoked), Hook::Dead(403, "invalid_token"));
    let slack = FakeSlack::start(script);
    let test = test_against(
        &slack,
        &[
            ("ops", "Ops", None, URL_OPS),
            ("dead", "Dead", None, dead),
            ("revoked", "Revoked", None, revoked),
        ],
        None,
    );
    let run = test.exec(&["apply", "--auto-approve", "--verify"]);
    run.code(1).no_secrets();
    assert!(
        run.stderr.starts_with("verified dead: gone: Slack answered no_service\nverified ops: live: Slack knows the webhook\nverified revoked: gone: Slack answered invalid_token\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("\nerror: Slack says these webhooks are dead: dead, revoked\n"),
        "{}",
        run.stderr
    );
    assert_eq!(
        test.exec(&["status"]).stdout,
        "Nothing applied yet (state serial 0).\n"
    );
    let probe = &slack.calls(&path(URL_OPS))[0];
    assert_eq!(
        probe.body, r#"{"text":""}"#,
        "the probe is an empty message, which Slack never posts"
    );

    let config = test.config_of(
        &[("ops", "Ops", None, URL_OPS), ("gov", "Gov", None, URL_GOV)],
        None,
    );
    test.write("hookwarden.yaml", &config);
    test.exec(&["apply", "--auto-approve", "--verify"])
        .code(0)
        .no_secrets();
}

#[test]
fn verify_waits_out_a_rate_limited_webhook() {
    let mut script = workspace();
    script.rate_limits.insert(path(URL_OPS), 1);
    let slack = FakeSlack::start(script);
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], None);
    let run = test.exec(&["apply", "--auto-approve", "--verify"]);
    run.code(0).no_secrets();
    assert!(
        run.stdout
            .contains("verified ops: live: Slack knows the webhook\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        slack.calls(&path(URL_OPS)).len(),
        2,
        "one 429 with Retry-After, then the probe"
    );
}

#[test]
fn odd_retry_afters_neither_spin_nor_hang() {
    let mut script = workspace();
    script.rate_limits.insert("users.list".into(), 1);
    script.retry_after = Some("0");
    let slack = FakeSlack::start(script);
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    let started = std::time::Instant::now();
    test.exec(&["apply", "--auto-approve"]).code(0);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "a Retry-After of 0 is taken as 1 second"
    );
    assert_eq!(slack.calls("users.list").len(), 4, "one 429, then three pages");

    let mut script = workspace();
    script.rate_limits.insert("users.list".into(), 1);
    script.retry_after = Some("18446744073709551615");
    let slack = FakeSlack::start(script);
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    let run = test.exec(&["apply", "--auto-approve"]);
    run.code(1);
    assert!(
        run.stderr
            .starts_with("error: Slack is rate-limiting users.list for longer than hookwarden waits"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_cursor_that_never_ends_is_an_error_not_a_hang() {
    let mut script = workspace();
    script.endless_cursor = true;
    let slack = FakeSlack::start(script);
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    let run = test.exec(&["apply", "--auto-approve"]);
    run.code(1);
    assert!(
        run.stderr.starts_with(
            "error: Slack's answer to users.list could not be read: the pagination does not end"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(
        test.exec(&["status"]).stdout,
        "Nothing applied yet (state serial 0).\n",
        "nothing was written"
    );
}

#[test]
fn a_user_listed_twice_is_one_user() {
    let mut script = workspace();
    let jane = script.user_pages[0][0].clone();
    script.user_pages[2].push(jane);
    let slack = FakeSlack::start(script);
    let test = test_against(&slack, &[("ops", "Ops", None, URL_OPS)], Some(TOKEN));
    test.exec(&["apply", "--auto-approve"]).code(0);
    let run = test.exec(&["directory", "resolve", "@jane.doe"]);
    run.code(0);
}

#[test]
fn a_new_tokens_directory_checks_the_mentions_before_anything_is_written() {
    let slack = FakeSlack::start(workspace());
    let test = Test::new();
    let config = format!(
        "{}    mentions: [\"@nosuch\"]\n",
        test.config_of(&[("ops", "Ops", None, URL_OPS)], Some(TOKEN))
    );
    let test = test
        .file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
        .env("HOOKWARDEN_SLACK_API_URL", &slack.api_url())
        .env("HOOKWARDEN_SLACK_WEBHOOK_ORIGIN", &slack.origin());
    let run = test.exec(&["apply", "--auto-approve"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("error[unknown-mention]: `@nosuch` matches no user or group"),
        "{}",
        run.stderr
    );
    assert_eq!(
        test.exec(&["status"]).stdout,
        "Nothing applied yet (state serial 0).\n"
    );
}
