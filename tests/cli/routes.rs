//! `routes test` and `render`: the file's routes and templates tried offline, with the
//! applied directory for mentions, locally and through the daemon that holds the state.

use serde_json::{Value, json};

use crate::fake_slack::hook_path as path;
use crate::harness::{Daemon, TOKEN, Test, URL_GOV, URL_OPS, finops_workspace};

const ROUTES: &str = concat!(
    "routes:\n",
    "  - match: {team: finops}\n",
    "    webhooks: [gov]\n",
    "    mentions: [\"@finops-team\"]\n",
    "    template: budget\n",
    "    continue: true\n",
    "  - match_re: {severity: \"critical|page\"}\n",
    "    webhooks: [ops]\n",
    "  - receiver: grafana\n",
    "    webhooks: [ops]\n",
    "templates:\n",
    "  budget:\n",
    "    text: \"{{ status | upper }}: {{ commonLabels.alertname }} ({{ alerts | length }})\"\n",
);

/// `ops` and `gov` with the routes above; not applied.
fn routed() -> Test {
    let test = Test::new();
    let mut config = test.config_of(
        &[
            ("ops", "Ops", Some("#ops"), URL_OPS),
            ("gov", "Gov", None, URL_GOV),
        ],
        Some(TOKEN),
    );
    config.push_str(ROUTES);
    test.file("hookwarden.yaml", &config)
        .env("HOOKWARDEN_IDENTITY", "identity.txt")
}

/// [`routed`], applied against a workspace with Jane and the finops team, so that the
/// directory is synced.
fn applied() -> Test {
    let test = routed().slack(finops_workspace());
    test.exec(&["apply", "--auto-approve"]).code(0);
    test
}

fn notification(alerts: &[(&str, &[(&str, &str)])]) -> Value {
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|(name, labels)| {
            let mut all = json!({"alertname": name});
            for (k, v) in *labels {
                all[*k] = json!(v);
            }
            json!({"status": "firing", "labels": all, "annotations": {"summary": format!("{name} <now>")},
                   "startsAt": "2026-12-03T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                   "generatorURL": "http://prometheus.example/graph", "fingerprint": format!("fp-{name}")})
        })
        .collect();
    json!({"version": "4", "status": "firing", "receiver": "hookwarden",
           "groupLabels": {"alertname": "CostSpike"}, "commonLabels": {"alertname": "CostSpike"},
           "externalURL": "http://alertmanager.example:9093", "alerts": alerts})
}

#[test]
fn routes_test_names_the_routes_and_webhooks_an_alert_reaches() {
    let test = routed();
    let both = test.exec(&["routes", "test", "team=finops", "severity=\"page\""]);
    both.code(0);
    assert_eq!(
        both.stdout,
        "An alert with severity=\"page\", team=\"finops\" reaches:\n\
         \x20 routes[0]  team=\"finops\" -> gov (mentions @finops-team; template budget; continue)\n\
         \x20 routes[1]  severity=~\"critical|page\" -> ops\n\
         Webhooks: gov, ops\n\
         Note: without --receiver NAME, no route with `receiver:` matches (routes[2]).\n"
    );
    let none = test.exec(&["routes", "test", "severity=info"]);
    none.code(0);
    assert!(
        none.stdout
            .starts_with("An alert with severity=\"info\" reaches none of the 3 routes: the daemon keeps it as a dead letter (no_route)"),
        "{}",
        none.stdout
    );
    let json = test.exec(&[
        "routes",
        "test",
        "--receiver",
        "grafana",
        "severity=info",
        "--format",
        "json",
    ]);
    json.code(0);
    let json: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(json["webhooks"], json!(["ops"]));
    assert_eq!(json["routes"][0]["route"], "routes[2]");
    assert_eq!(json["routes"][0]["description"], "receiver=\"grafana\" -> ops");
}

#[test]
fn routes_test_expect_fails_when_the_webhooks_differ() {
    let test = routed();
    test.exec(&[
        "routes",
        "test",
        "--expect",
        "ops,gov",
        "team=finops",
        "severity=page",
    ])
    .code(0);
    let wrong = test.exec(&["routes", "test", "--expect", "ops", "team=finops"]);
    wrong.code(1);
    assert!(
        wrong.stdout.ends_with("Not as expected: --expect names ops.\n"),
        "{}",
        wrong.stdout
    );
    let unrouted = test.exec(&["routes", "test", "--expect", "", "severity=info"]);
    unrouted.code(0);
    let bad = test.exec(&["routes", "test", "9lives=x"]);
    bad.code(1);
    assert!(
        bad.stderr.contains("`9lives` is not a label name"),
        "{}",
        bad.stderr
    );
}

#[test]
fn render_prints_what_a_notification_becomes_with_mentions_resolved() {
    let test = applied();
    let body = notification(&[
        ("CostSpike", &[("team", "finops"), ("mention", "@jane.doe")]),
        ("CostSpike", &[("severity", "critical")]),
        ("CostSpike", &[("severity", "info")]),
    ]);
    test.write("notification.json", &body.to_string());
    let run = test.exec(&[
        "render",
        "--alertmanager",
        "notification.json",
        "--format",
        "json",
    ]);
    run.code(0);
    let rendered: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let messages = rendered["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 2, "{rendered:#}");
    assert_eq!(messages[0]["webhook"], "gov");
    assert_eq!(
        messages[0]["payload"]["text"], "<!subteam^S0FIN> <@U0JANE> FIRING: CostSpike (1)",
        "the route's template, its mention and the alert's, resolved"
    );
    assert_eq!(messages[1]["webhook"], "ops");
    assert_eq!(messages[1]["payload"]["text"], "[FIRING:1] CostSpike");
    assert!(
        messages[1]["payload"]["blocks"]
            .to_string()
            .contains("CostSpike &lt;now&gt;"),
        "the built-in layout, escaped: {}",
        messages[1]["payload"]
    );
    assert_eq!(rendered["dead_letters"][0]["reason"], "no_route");
    assert_eq!(rendered["directory_synced"], true);
    assert_eq!(
        test.slack_fake().delivered(&path(URL_OPS)).len(),
        0,
        "render sends nothing"
    );

    let text = test.exec(&[
        "render",
        "--alertmanager",
        "notification.json",
        "--webhook",
        "gov",
    ]);
    text.code(0);
    assert!(
        text.stdout
            .starts_with("Message 1 of 1 to gov:\n{\n  \"text\": \"[FIRING:3] CostSpike <@U0JANE>\""),
        "the whole notification to one webhook, in the built-in layout: {}",
        text.stdout
    );
}

#[test]
fn render_runs_in_the_daemon_that_holds_the_state() {
    let test = applied();
    let _daemon = Daemon::start(&test, &[]);
    test.write(
        "alert.json",
        &json!({"webhook": "ops", "text": "Budget <80%>", "mentions": ["@finops-team"]}).to_string(),
    );
    let run = test.exec(&["render", "--alert", "alert.json"]);
    run.code(0);
    assert_eq!(
        run.stdout,
        "Message 1 of 1 to ops:\n{\n  \"text\": \"<!subteam^S0FIN> Budget &lt;80%&gt;\"\n}\n"
    );
    let grafana = notification(&[("HighMemory", &[("zone", "us-1")])]);
    let mut grafana = grafana;
    grafana["receiver"] = json!("grafana");
    test.write("grafana.json", &grafana.to_string());
    let run = test.exec(&["render", "--grafana=grafana.json"]);
    run.code(0);
    assert!(
        run.stdout.starts_with("Message 1 of 1 to ops:\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn render_says_what_is_wrong_with_its_input() {
    let test = routed();
    test.write("broken.json", "{\n  \"alerts\": [\n    {\"labels\": 3}\n  ]\n}\n");
    let broken = test.exec(&["render", "--alertmanager", "broken.json"]);
    broken.code(1);
    assert_eq!(
        broken.stderr,
        "error: broken.json:3:16: invalid type: integer `3`, expected a map\n  \
         help: the file must hold an Alertmanager or Grafana webhook body (JSON)\n"
    );
    test.write("n.json", &notification(&[("A", &[])]).to_string());
    let unknown = test.exec(&["render", "--alertmanager", "n.json", "--webhook", "opss"]);
    unknown.code(1);
    assert_eq!(
        unknown.stderr,
        "error: no webhook `opss` in the file\n  help: the webhooks in the file are `ops`, `gov`\n"
    );
    test.write("empty.json", r#"{"webhook": "ops", "text": " "}"#);
    let refused = test.exec(&["render", "--alert", "empty.json"]);
    refused.code(1);
    assert!(
        refused
            .stderr
            .starts_with("error: the daemon would refuse this alert (empty_alert)"),
        "{}",
        refused.stderr
    );
    let missing = test.exec(&["render"]);
    missing.code(1);
    assert!(missing.stderr.contains("--alertmanager"), "{}", missing.stderr);
    assert!(
        !test.path(".hookwarden").exists(),
        "render reads the state and never creates one"
    );
}

#[test]
fn the_bundled_example_routes_and_renders() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = format!("{root}/examples/hookwarden.yaml");
    let body = format!("{root}/examples/alertmanager-notification.json");
    let test = Test::new();
    let routes = test.exec(&[
        "routes",
        "test",
        "-c",
        &config,
        "team=finops",
        "severity=critical",
    ]);
    routes.code(0);
    assert!(
        routes.stdout.contains("Webhooks: finops-budgets\n"),
        "{}",
        routes.stdout
    );
    let render = test.exec(&["render", "-c", &config, "--alertmanager", &body]);
    render.code(0);
    assert!(
        render.stdout.contains("Message 1 of 2 to finops-budgets:")
            && render.stdout.contains("Message 2 of 2 to general-alerts:"),
        "{}",
        render.stdout
    );
}
