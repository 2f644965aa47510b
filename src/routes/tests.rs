//! Notifications to messages: routing, the built-in layout, templates, Slack's limits.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::Value;

use super::layout::{MAX_BLOCKS, MAX_HEADER, MAX_SECTION, MAX_TEXT};
use super::{
    Alert, Notification, RouteSpec, Router, Routing, Target, TemplateSpec, Templates, messages, sample,
};
use crate::directory::{Directory, Group, Index, User};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn alert(name: &str, team: &str, status: &str, summary: &str) -> Alert {
    Alert {
        status: status.to_owned(),
        labels: labels(&[("alertname", name), ("team", team), ("severity", "critical")]),
        annotations: labels(&[("summary", summary)]),
        generator_url: "http://prometheus.example/graph?g0.expr=up".to_owned(),
        fingerprint: format!("{name}-{team}"),
        ..Alert::default()
    }
}

fn notification(alerts: Vec<Alert>) -> Notification {
    Notification {
        version: "4".to_owned(),
        group_key: "{}:{alertname=\"DiskFull\"}".to_owned(),
        status: "firing".to_owned(),
        receiver: "hookwarden".to_owned(),
        external_url: "http://alertmanager.example".to_owned(),
        common_labels: labels(&[("alertname", "DiskFull")]),
        alerts,
        ..Notification::default()
    }
}

fn directory() -> Index {
    Index::new(Directory {
        users: vec![User {
            id: "U0JANE".to_owned(),
            name: "jane".to_owned(),
            display_name: "Jane".to_owned(),
            real_name: "Jane Doe".to_owned(),
            email: Some("jane@example.com".to_owned()),
        }],
        groups: vec![Group {
            id: "S0FINOPS".to_owned(),
            handle: "finops-team".to_owned(),
            name: "FinOps".to_owned(),
            users: vec!["U0JANE".to_owned()],
        }],
    })
}

fn router() -> Router {
    Router::new(&Routing {
        routes: vec![
            RouteSpec {
                matchers: labels(&[("team", "finops")]),
                webhooks: vec!["finops".to_owned()],
                mentions: vec!["@finops-team".to_owned()],
                ..RouteSpec::default()
            },
            RouteSpec {
                match_re: labels(&[("severity", "critical|page")]),
                webhooks: vec!["ops".to_owned()],
                template: Some("short".to_owned()),
                ..RouteSpec::default()
            },
        ],
        templates: BTreeMap::from([(
            "short".to_owned(),
            TemplateSpec {
                text: "{{ status | upper }}: {{ commonLabels.alertname }} ({{ alerts | length }}) {{ alerts[0].annotations.summary }}".to_owned(),
                blocks: None,
            },
        )]),
    })
}

fn no_mentions(_: &str) -> Vec<String> {
    Vec::new()
}

#[test]
fn alerts_are_routed_by_labels_first_match_wins() {
    let router = router();
    let n = notification(vec![
        alert("DiskFull", "finops", "firing", "budget disk"),
        alert("DiskFull", "web", "firing", "web disk"),
        alert("DiskFull", "web", "resolved", "old"),
    ]);
    let built = messages(&n, Target::Routes(&router), &no_mentions, Some(&directory()));
    let webhooks: Vec<&str> = built.messages.iter().map(|m| m.webhook.as_str()).collect();
    assert_eq!(webhooks, ["finops", "ops"]);
    assert!(built.unrouted.is_empty());
    let ops = built.messages[1].payload["text"].as_str().unwrap_or_default();
    assert_eq!(ops, "FIRING: DiskFull (2) web disk");
}

#[test]
fn continue_reaches_the_next_route_and_no_match_is_unrouted() {
    let mut routing = Routing::default();
    routing.routes.push(RouteSpec {
        matchers: labels(&[("team", "finops")]),
        webhooks: vec!["finops".to_owned()],
        continue_matching: true,
        ..RouteSpec::default()
    });
    routing.routes.push(RouteSpec {
        matchers: labels(&[("team", "finops")]),
        receiver: Some("hookwarden".to_owned()),
        webhooks: vec!["audit".to_owned()],
        ..RouteSpec::default()
    });
    let router = Router::new(&routing);
    let n = notification(vec![
        alert("A", "finops", "firing", "x"),
        alert("B", "web", "firing", "y"),
    ]);
    let built = messages(&n, Target::Routes(&router), &no_mentions, None);
    let webhooks: Vec<&str> = built.messages.iter().map(|m| m.webhook.as_str()).collect();
    assert_eq!(webhooks, ["finops", "audit"]);
    assert_eq!(built.unrouted.len(), 1);
    assert!(built.unrouted[0].to_string().contains("Firing: B"));
}

#[test]
fn mentions_come_from_the_route_the_webhook_and_the_mention_label() {
    let router = router();
    let mut first = alert("DiskFull", "finops", "firing", "budget");
    first
        .labels
        .insert("mention".to_owned(), "jane, @nobody".to_owned());
    let n = notification(vec![first]);
    let webhook = |id: &str| {
        if id == "finops" {
            vec!["here".to_owned()]
        } else {
            Vec::new()
        }
    };
    let built = messages(&n, Target::Routes(&router), &webhook, Some(&directory()));
    let payload = &built.messages[0].payload;
    let shown = payload["blocks"][1]["text"]["text"].as_str().unwrap_or_default();
    assert_eq!(shown, "<!subteam^S0FINOPS> <!here> <@U0JANE> @nobody");
    assert_eq!(built.unresolved, ["@nobody"]);
}

#[test]
fn alert_content_cannot_ping_or_forge_links() {
    let n = notification(vec![alert(
        "X<!channel>",
        "web",
        "firing",
        "<!here> & <http://evil|click>",
    )]);
    let built = messages(&n, Target::Webhook("ops"), &no_mentions, None);
    let text = built.messages[0].payload.to_string();
    assert!(!text.contains("<!channel>") && !text.contains("<!here>") && !text.contains("<http://evil"));
    assert!(text.contains("&lt;!here&gt; &amp; &lt;http://evil|click&gt;"));
}

#[test]
fn templates_escape_values_unless_safe_and_blocks_use_tojson() {
    let mut specs = BTreeMap::new();
    specs.insert(
        "t".to_owned(),
        TemplateSpec {
            text: "{{ alerts[0].annotations.summary }} | {{ alerts[0].annotations.summary | safe }}".to_owned(),
            blocks: Some(r#"[{"type": "section", "text": {"type": "mrkdwn", "text": {{ alerts[0].annotations.summary | tojson }}}}]"#.to_owned()),
        },
    );
    let templates = Templates::new(&specs);
    let n = notification(vec![alert("A", "web", "firing", "<!channel>")]);
    let rendered = templates.render("t", &n).expect("renders");
    assert_eq!(rendered.text, "&lt;!channel&gt; | <!channel>");
    let blocks = rendered.blocks.expect("blocks");
    assert_eq!(blocks[0]["text"]["text"], "&lt;!channel&gt;");
}

#[test]
fn template_problems_name_the_field_and_line() {
    let broken = TemplateSpec {
        text: "line one\n{{ status | nosuchfilter }}".to_owned(),
        blocks: None,
    };
    let problems = Templates::check("t", &broken);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].field, problems[0].line), ("text", Some(2)));
    let syntax = TemplateSpec {
        text: "{{ status ".to_owned(),
        blocks: None,
    };
    assert!(Templates::check("t", &syntax)[0].syntax);
    let not_json = TemplateSpec {
        text: "x".to_owned(),
        blocks: Some("not json".to_owned()),
    };
    assert_eq!(Templates::check("t", &not_json)[0].field, "blocks");
    let endless = TemplateSpec {
        text: "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}".to_owned(),
        blocks: None,
    };
    assert!(
        !Templates::check("t", &endless).is_empty(),
        "fuel bounds a render"
    );
}

#[test]
fn the_built_in_layout_of_a_firing_group() {
    let built = messages(&sample(), Target::Webhook("ops"), &no_mentions, None);
    insta::assert_yaml_snapshot!("built_in_layout", built.messages[0].payload);
}

#[test]
fn a_custom_template() {
    let router = router();
    let n = notification(vec![alert("DiskFull", "web", "firing", "web disk")]);
    let built = messages(&n, Target::Routes(&router), &no_mentions, None);
    insta::assert_yaml_snapshot!("custom_template", built.messages[0].payload);
}

#[test]
fn a_large_group_is_split_in_order() {
    let alerts: Vec<Alert> = (0..60)
        .map(|i| {
            alert(
                "DiskFull",
                "web",
                "firing",
                &format!("disk {i:02} {}", "x".repeat(900)),
            )
        })
        .collect();
    let built = messages(&notification(alerts), Target::Webhook("ops"), &no_mentions, None);
    let headers: Vec<&str> = built
        .messages
        .iter()
        .map(|m| {
            m.payload["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        headers,
        ["[FIRING:60] DiskFull (1/2)", "[FIRING:60] DiskFull (2/2)"]
    );
    insta::assert_yaml_snapshot!("split_group_headers", headers);
}

/// Every message within Slack's limits.
fn within_limits(payload: &Value) -> Result<(), String> {
    let text = payload["text"].as_str().unwrap_or_default();
    if text.chars().count() > MAX_TEXT {
        return Err("text over the limit".to_owned());
    }
    let blocks = payload["blocks"].as_array().cloned().unwrap_or_default();
    if blocks.len() > MAX_BLOCKS {
        return Err(format!("{} blocks", blocks.len()));
    }
    let mut total = 0;
    for block in &blocks {
        let text = block["text"]["text"].as_str().unwrap_or_default().chars().count();
        total += text;
        let max = if block["type"] == "header" {
            MAX_HEADER
        } else {
            MAX_SECTION
        };
        if text > max {
            return Err(format!("a {} of {text} characters", block["type"]));
        }
    }
    if total > MAX_TEXT {
        return Err(format!("{total} characters of blocks"));
    }
    Ok(())
}

fn arb_alert() -> impl Strategy<Value = Alert> {
    (
        "[a-z]{1,12}",
        prop_oneof!["firing", "resolved"],
        "[ -~]{0,200}",
        0usize..8000,
        prop::collection::btree_map("[a-z]{1,10}", "[ -~]{0,40}", 0..6),
    )
        .prop_map(|(name, status, summary, pad, extra)| {
            let mut labels = extra;
            labels.insert("alertname".to_owned(), name);
            Alert {
                status,
                labels,
                annotations: BTreeMap::from([
                    ("summary".to_owned(), summary),
                    ("description".to_owned(), "d&<>".repeat(pad / 4)),
                ]),
                ..Alert::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_notification_renders_within_limits_with_every_alert_once(
        alerts in prop::collection::vec(arb_alert(), 0..120)
    ) {
        // Each alert carries a marker that nothing else can contain.
        let alerts: Vec<Alert> = alerts.into_iter().enumerate().map(|(i, mut a)| {
            a.fingerprint = format!("{i}");
            a.annotations.insert("summary".to_owned(), format!("MARK{i:04}MARK"));
            a
        }).collect();
        let count = alerts.len();
        let built = messages(&notification(alerts), Target::Webhook("ops"), &no_mentions, None);
        prop_assert_eq!(built.messages.is_empty(), count == 0);
        let mut seen = vec![0usize; count];
        for message in &built.messages {
            prop_assert_eq!(message.webhook.as_str(), "ops");
            if let Err(why) = within_limits(&message.payload) {
                return Err(TestCaseError::fail(why));
            }
            let text = message.payload.to_string();
            for (i, n) in seen.iter_mut().enumerate() {
                *n += text.matches(&format!("MARK{i:04}MARK")).count();
            }
        }
        prop_assert!(seen.iter().all(|&n| n == 1), "{:?}", seen);
    }
}
