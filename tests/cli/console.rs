//! The console page in a real browser: Debian's headless Chromium loads `GET /` from a
//! running daemon, reads what it shows, and clicks its Retry button.

use std::time::Duration;

use serde_json::json;

use crate::fake_slack::{Hook, hook_path};
use crate::harness::browser::Browser;
use crate::harness::{Daemon, Test, URL_GOV, URL_OPS, applied_with, eventually, live_hooks};

/// `ops` live and `gov` revoked at Slack, applied; a daemon; one alert failed on `gov`.
fn with_a_revoked_webhook(env: &[(&str, &str)]) -> (Test, Daemon, String) {
    let mut script = live_hooks(&[URL_OPS, URL_GOV]);
    script
        .hooks
        .insert(hook_path(URL_GOV), Hook::Dead(404, "no_service"));
    let mut test = applied_with(
        &[
            ("ops", "Ops alerts", Some("#ops"), URL_OPS),
            ("gov", "Gov alerts", None, URL_GOV),
        ],
        script,
    );
    for (name, value) in env {
        test = test.env(name, value);
    }
    let daemon = Daemon::start(&test, &["--periodic", "1h"]);
    let token = env
        .iter()
        .find(|(name, _)| *name == "HOOKWARDEN_API_TOKEN_FILE")
        .map(|_| "not-a-real-api-token");
    let answer = daemon.request(
        "POST",
        "/v1/alerts",
        Some((
            "application/json",
            json!({"webhook": "gov", "text": "disk full on db-1 (> 95% & rising)"})
                .to_string()
                .into_bytes(),
        )),
        token,
    );
    assert_eq!(answer.status, 202, "{:?}", answer.json);
    let id = answer.json["id"].as_str().expect("an id").to_owned();
    eventually(
        "the alert to the revoked webhook failed",
        Duration::from_secs(10),
        || {
            daemon
                .request("GET", &format!("/v1/alerts/{id}"), None, token)
                .json["status"]
                == "failed"
        },
    );
    (test, daemon, id)
}

/// What must never be on the page: the webhook URLs' secret parts, age material, the
/// API token. (A bot token shows as `xoxb-****`.)
fn assert_no_secret(dom: &str) {
    for secret in [URL_OPS, URL_GOV]
        .iter()
        .map(|url| url.rsplit('/').next().expect("a last segment"))
        .chain(["AGE-SECRET-KEY", "BEGIN AGE ENCRYPTED", "not-a-real-api-token"])
    {
        assert!(!dom.contains(secret), "the page holds {secret:?}");
    }
}

#[test]
fn the_page_shows_every_webhook_with_its_redacted_url_and_health_and_no_secret() {
    let Some(browser) = Browser::start() else { return };
    let (test, daemon, id) = with_a_revoked_webhook(&[]);
    daemon.post(&json!({"webhook": "ops", "text": "all good"}));
    let webhooks = daemon.get("/v1/webhooks").json;
    browser.open(&format!("{}/", daemon.url));
    let dom = browser.dom();
    for webhook in webhooks["webhooks"].as_array().expect("webhooks") {
        let row = format!("id=\"webhook-{}\"", webhook["id"].as_str().expect("an id"));
        assert!(dom.contains(&row), "{row} on the page");
        let name = webhook["name"].as_str().expect("a name");
        let url = webhook["url"].as_str().expect("a redacted URL");
        assert!(
            dom.contains(name) && dom.contains(url),
            "{name} and {url} on the page"
        );
    }
    assert!(
        dom.contains(r#"id="webhook-gov" data-health="revoked""#),
        "the revoked webhook is marked: {dom}"
    );
    let text = browser.text();
    assert!(text.contains("no_service"), "its last error is shown: {text}");
    assert!(
        text.contains(&id) && text.contains("disk full on db-1 (> 95% & rising)"),
        "the failed alert is listed: {text}"
    );
    assert!(
        text.contains("Latest applies") && text.contains("2 to create"),
        "{text}"
    );
    assert_no_secret(&dom);
    let shot = test.path("console.png");
    browser.screenshot(&shot);
    assert!(std::fs::metadata(&shot).expect("a screenshot").len() > 10_000);
}

#[test]
fn a_failed_alert_retried_from_the_page_is_delivered() {
    let Some(browser) = Browser::start() else { return };
    let (test, daemon, id) = with_a_revoked_webhook(&[]);
    // The webhook is fixed at Slack; the operator retries from the page.
    test.slack_fake().edit(|s| {
        s.hooks.insert(hook_path(URL_GOV), Hook::Live);
    });
    browser.open(&format!("{}/", daemon.url));
    browser.click(&format!("#alert-{id} button"));
    let text = browser.text();
    assert!(text.contains("Retried: the alert is queued again as"), "{text}");
    let old = daemon.get(&format!("/v1/alerts/{id}")).json;
    let new = old["retried_as"].as_str().expect("retried").to_owned();
    daemon.wait_for(&new, "delivered", Duration::from_secs(10));
    let delivered = test.slack_fake().delivered(&hook_path(URL_GOV));
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    // Back on the page, the failed list is empty.
    browser.open(&format!("{}/", daemon.url));
    assert!(browser.text().contains("No failed alerts."));
}

#[test]
fn a_cross_origin_post_to_retry_is_refused() {
    let Some(browser) = Browser::start() else { return };
    let (_test, daemon, id) = with_a_revoked_webhook(&[]);
    // Another site's page, with a form that posts to the daemon's Retry.
    let form = format!(
        r#"<form method="post" action="{}/console/alerts/{id}/retry"><button id="go">go</button></form>"#,
        daemon.url
    );
    browser.open(&format!(
        "data:text/html,{}",
        form.replace('#', "%23").replace('"', "%22")
    ));
    browser.click("#go");
    let text = browser.text();
    assert!(text.contains("cross_origin"), "refused: {text}");
    let alert = daemon.get(&format!("/v1/alerts/{id}")).json;
    assert_eq!(alert["status"], "failed");
    assert!(alert["retried_as"].is_null(), "not retried: {alert}");
    // Neither a request without the browser's headers.
    let bare = daemon.request("POST", &format!("/console/alerts/{id}/retry"), None, None);
    assert_eq!(bare.status, 403);
}

#[test]
fn with_an_api_token_the_page_asks_for_it() {
    let Some(browser) = Browser::start() else { return };
    let test = Test::new();
    test.write("api-token", "not-a-real-api-token\n");
    let path = test.path("api-token").display().to_string();
    let (_test, daemon, _id) = with_a_revoked_webhook(&[("HOOKWARDEN_API_TOKEN_FILE", &path)]);
    let refused = daemon.get("/");
    assert_eq!(refused.status, 401);
    assert!(
        refused
            .headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Basic ")),
        "{:?}",
        refused.headers
    );
    browser.open(&format!("{}/", daemon.url));
    assert!(
        !browser.text().contains("Ops alerts"),
        "nothing shown without the token"
    );
    let signed_in = daemon
        .url
        .replacen("http://", "http://operator:not-a-real-api-token@", 1);
    browser.open(&format!("{signed_in}/"));
    let dom = browser.dom();
    assert!(dom.contains("Ops alerts") && dom.contains("Gov alerts"), "{dom}");
    assert_no_secret(&dom);
}

/// The bundled example applied with its demo-only identity, one webhook answering and
/// the others unknown to Slack: the page as the README shows it
/// (`HOOKWARDEN_SCREENSHOT_DIR=docs cargo test --test cli the_bundled_example` writes
/// docs/console.png).
#[test]
fn the_bundled_example_on_the_page() {
    let Some(browser) = Browser::start() else { return };
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!("{root}/examples/hookwarden.yaml");
    let identity = format!("{root}/examples/demo-identity.txt");
    let urls = example_urls(&config, &identity);
    let token = "xoxb-0000000000-0000000000000-DEMOnotAREALtoken0000";
    let mut script = crate::harness::token_workspace();
    let workspace = script
        .tokens
        .remove(crate::harness::TOKEN)
        .expect("the workspace");
    script.tokens.insert(token.to_owned(), workspace);
    script.user_pages = vec![vec![crate::fake_slack::member(
        "U0JANE",
        "jane.doe",
        "Jane",
        "jane.doe@example.com",
    )]];
    script.groups = vec![
        crate::fake_slack::group("S0FIN", "finops-team", &["U0JANE"], false),
        crate::fake_slack::group("S0ONC", "oncall", &["U0JANE"], false),
    ];
    // The last webhook of the file (gov-incidents) was removed at Slack.
    for url in &urls {
        script.hooks.insert(hook_path(url), Hook::Live);
    }
    let gone = urls.last().expect("a webhook");
    script
        .hooks
        .insert(hook_path(gone), Hook::Dead(404, "no_service"));
    let test = Test::new()
        .env("HOOKWARDEN_IDENTITY", &identity)
        .env("HOOKWARDEN_CONFIG", &config)
        .slack(script);
    test.exec(&["apply", "--auto-approve"]).code(0);
    let daemon = Daemon::start(&test, &["--periodic", "1h", "--apply", "off"]);
    let webhooks = daemon.get("/v1/webhooks").json;
    let ids: Vec<String> = webhooks["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .map(|w| w["id"].as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{webhooks}");
    let delivered = daemon.post(&json!({"webhook": "general-alerts", "text": "Nightly backup finished"}));
    daemon.wait_for(
        delivered.json["id"].as_str().expect("an id"),
        "delivered",
        Duration::from_secs(10),
    );
    let failed = daemon.post(&json!({"webhook": "gov-incidents", "text": "GovCloud: API error rate 12%"}));
    daemon.wait_for(
        failed.json["id"].as_str().expect("an id"),
        "failed",
        Duration::from_secs(10),
    );

    browser.open(&format!("{}/", daemon.url));
    let text = browser.text();
    assert!(
        text.contains("Webhooks (3)") && text.contains("Routes ("),
        "{text}"
    );
    assert!(
        text.contains("users:read") && text.contains("Fake Co"),
        "the token's workspace and scopes: {text}"
    );
    let dom = browser.dom();
    assert_no_secret(&dom);
    for secret in urls
        .iter()
        .filter_map(|url| url.rsplit('/').next())
        .chain([token])
    {
        assert!(!dom.contains(secret), "the page holds a secret of the example");
    }
    let shot = test.path("console.png");
    browser.screenshot(&shot);
    if let Some(dir) = std::env::var_os("HOOKWARDEN_SCREENSHOT_DIR") {
        std::fs::copy(&shot, std::path::Path::new(&dir).join("console.png")).expect("copy the screenshot");
    }
}

/// The webhook URLs of the bundled example, decrypted with its demo identity.
fn example_urls(config: &str, identity: &str) -> Vec<String> {
    let keyring = hookwarden::secrets::Keyring::from_text(
        &std::fs::read_to_string(identity).expect("the demo identity"),
    )
    .expect("a keyring");
    let text = std::fs::read_to_string(config).expect("the example");
    text.split("-----BEGIN AGE ENCRYPTED FILE-----")
        .skip(1)
        .filter_map(|rest| rest.split_once("-----END AGE ENCRYPTED FILE-----"))
        .map(|(body, _)| {
            let lines: Vec<&str> = body.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let armored = format!(
                "-----BEGIN AGE ENCRYPTED FILE-----\n{}\n-----END AGE ENCRYPTED FILE-----\n",
                lines.join("\n")
            );
            hookwarden::secrets::decrypt(&armored, &keyring)
                .expect("the demo identity opens it")
                .expose()
                .to_owned()
        })
        .filter(|plain| plain.starts_with("https://"))
        .collect()
}

#[test]
fn a_broken_desired_state_file_is_shown_as_needing_attention() {
    let Some(browser) = Browser::start() else { return };
    let (test, daemon, _id) = with_a_revoked_webhook(&[]);
    browser.open(&format!("{}/", daemon.url));
    assert!(
        browser
            .text()
            .contains("The desired-state file is valid and applied")
    );
    test.write("hookwarden.yaml", "version: 1\nwebhooks:\n  - name: [\n");
    eventually("the daemon sees the broken file", Duration::from_secs(10), || {
        daemon.get("/healthz").json["status"] == "degraded"
    });
    browser.open(&format!("{}/", daemon.url));
    let text = browser.text();
    assert!(
        text.contains("Needs attention") && text.contains("hookwarden.yaml:4:1: error[yaml-syntax]"),
        "the problem, with its position: {text}"
    );
    // The last good state is still shown.
    assert!(
        text.contains("Ops alerts") && text.contains("Gov alerts"),
        "{text}"
    );
}
