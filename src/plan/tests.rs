//! Table tests of `plan`, one row per kind of change, and properties over random states.

use proptest::prelude::*;

use super::{Action, Field, Plan, TokenChange, plan};
use crate::config::{BotToken, Desired, DesiredSecret, DesiredWebhook, Opened, WebhookUrl};
use crate::reconcile::{Seal, writes};
use crate::render::{self, Style};
use crate::routes::{RouteSpec, Routing, TemplateSpec};
use crate::secrets::{Secret, fingerprint};
use crate::state::{Applied, AppliedToken, AppliedWebhook, SealedSecret};

fn url(n: u32) -> String {
    format!("https://hooks.slack.com/services/T0FAKE000/B0FAKE{n:03}/FAKEsecretFAKEsecret{n:04}")
}

/// A desired webhook: (id, name, channel, url number, mentions).
fn desired(id: &str, name: &str, channel: Option<&str>, url_n: u32, mentions: &[&str]) -> DesiredWebhook {
    DesiredWebhook {
        id: id.to_owned(),
        name: name.to_owned(),
        channel: channel.map(str::to_owned),
        mentions: mentions.iter().map(|m| (*m).to_owned()).collect(),
        url: decrypted(
            WebhookUrl::parse(&Secret::new(url(url_n))).expect("valid fake URL"),
            WebhookUrl::secret,
        ),
        team: "T0FAKE000".to_owned(),
    }
}

/// `value` as decrypted from a file; the file's ciphertext stands in by its plaintext.
fn decrypted<T>(value: T, plaintext: fn(&T) -> &Secret) -> DesiredSecret<T> {
    let fingerprint = fingerprint(plaintext(&value));
    DesiredSecret {
        ciphertext_digest: format!("{fingerprint} in the file"),
        fingerprint,
        value: Opened::Decrypted(value),
    }
}

/// The applied record that applying `webhook` would leave.
fn applied(webhook: &DesiredWebhook) -> AppliedWebhook {
    AppliedWebhook {
        id: webhook.id.clone(),
        name: webhook.name.clone(),
        channel: webhook.channel.clone(),
        mentions: webhook.mentions.clone(),
        url: SealedSecret {
            armored: "(ciphertext)".into(),
            fingerprint: webhook.url.fingerprint.clone(),
            redacted: webhook.url.redacted(),
            ciphertext_digest: Some(webhook.url.ciphertext_digest.clone()),
        },
        team: webhook.team.clone(),
        created_at: 1,
        updated_at: 1,
        rotated_at: None,
    }
}

fn token(value: &str) -> DesiredSecret<BotToken> {
    decrypted(
        BotToken::parse(Secret::new(value)).expect("valid fake token"),
        BotToken::secret,
    )
}

fn applied_token(value: &str) -> AppliedToken {
    AppliedToken {
        secret: SealedSecret {
            armored: "(ciphertext)".into(),
            fingerprint: fingerprint(&Secret::new(value)),
            redacted: "xoxb-****".to_owned(),
            ciphertext_digest: None,
        },
        set_at: 1,
        rotated_at: None,
        facts: None,
    }
}

fn state(webhooks: &[DesiredWebhook]) -> Applied {
    Applied {
        serial: 3,
        webhooks: webhooks.iter().map(applied).collect(),
        token: None,
        routing: Routing::default(),
    }
}

fn actions(plan: &Plan) -> Vec<(&str, Action, Vec<Field>)> {
    plan.changes
        .iter()
        .map(|c| (c.id.as_str(), c.action, c.fields.clone()))
        .collect()
}

#[test]
fn one_change_per_webhook() {
    let ops = desired("ops", "Ops", Some("#ops"), 1, &["@oncall"]);
    let cases: Vec<(&str, Vec<DesiredWebhook>, Vec<(&str, Action, Vec<Field>)>)> = vec![
        ("unchanged", vec![ops.clone()], vec![]),
        (
            "created",
            vec![ops.clone(), desired("new", "New", None, 2, &[])],
            vec![("new", Action::Create, vec![Field::Url, Field::Name])],
        ),
        (
            "renamed",
            vec![desired("ops", "Operations", Some("#ops"), 1, &["@oncall"])],
            vec![("ops", Action::Update, vec![Field::Name])],
        ),
        (
            "channel changed",
            vec![desired("ops", "Ops", Some("#ops-2"), 1, &["@oncall"])],
            vec![("ops", Action::Update, vec![Field::Channel])],
        ),
        (
            "channel removed",
            vec![desired("ops", "Ops", None, 1, &["@oncall"])],
            vec![("ops", Action::Update, vec![Field::Channel])],
        ),
        (
            "mentions changed",
            vec![desired("ops", "Ops", Some("#ops"), 1, &["@oncall", "here"])],
            vec![("ops", Action::Update, vec![Field::Mentions])],
        ),
        (
            "url rotated",
            vec![desired("ops", "Ops", Some("#ops"), 9, &["@oncall"])],
            vec![("ops", Action::Rotate, vec![Field::Url])],
        ),
        (
            "rotated and moved",
            vec![desired("ops", "Ops", Some("#ops-2"), 9, &["@oncall"])],
            vec![("ops", Action::Rotate, vec![Field::Url, Field::Channel])],
        ),
        ("deleted", vec![], vec![("ops", Action::Delete, vec![])]),
        (
            "replaced by a new id",
            vec![desired("ops-2", "Ops", Some("#ops"), 1, &["@oncall"])],
            vec![
                ("ops", Action::Delete, vec![]),
                (
                    "ops-2",
                    Action::Create,
                    vec![Field::Url, Field::Name, Field::Channel, Field::Mentions],
                ),
            ],
        ),
    ];
    for (case, webhooks, expected) in cases {
        let plan = plan(
            &Desired {
                webhooks,
                bot_token: None,
                routing: Routing::default(),
            },
            &state(std::slice::from_ref(&ops)),
        );
        assert_eq!(actions(&plan), expected, "{case}");
        assert_eq!(plan.state_serial, 3, "{case}");
    }
}

#[test]
fn a_rotation_shows_both_redacted_urls() {
    let before = desired("ops", "Ops", None, 1, &[]);
    let plan = plan(
        &Desired {
            webhooks: vec![desired("ops", "Ops", None, 2, &[])],
            bot_token: None,
            routing: Routing::default(),
        },
        &state(&[before]),
    );
    let change = &plan.changes[0];
    assert_eq!(
        change.before.as_ref().map(|v| v.url.as_str()),
        Some("https://hooks.slack.com/services/T0FAKE000/B0FAKE001/****0001")
    );
    assert_eq!(
        change.after.as_ref().map(|v| v.url.as_str()),
        Some("https://hooks.slack.com/services/T0FAKE000/B0FAKE002/****0002")
    );
}

#[test]
fn token_changes() {
    let cases: Vec<(&str, Option<&str>, Option<&str>, Option<TokenChange>)> = vec![
        ("none", None, None, None),
        ("set", Some("xoxb-fake-1"), None, Some(TokenChange::Set)),
        ("unchanged", Some("xoxb-fake-1"), Some("xoxb-fake-1"), None),
        (
            "rotated",
            Some("xoxb-fake-2"),
            Some("xoxb-fake-1"),
            Some(TokenChange::Rotate),
        ),
        ("removed", None, Some("xoxb-fake-1"), Some(TokenChange::Remove)),
    ];
    for (case, wanted, current, expected) in cases {
        let desired = Desired {
            webhooks: vec![],
            bot_token: wanted.map(token),
            routing: Routing::default(),
        };
        let applied = Applied {
            serial: 1,
            webhooks: vec![],
            token: current.map(applied_token),
            routing: Routing::default(),
        };
        assert_eq!(plan(&desired, &applied).token, expected, "{case}");
    }
}

#[test]
fn mass_deletion() {
    let four: Vec<DesiredWebhook> = (1..=4)
        .map(|n| desired(&format!("w{n}"), "W", None, n, &[]))
        .collect();
    let cases: Vec<(&str, usize, usize, bool)> = vec![
        ("nothing deleted", 4, 4, false),
        ("half deleted", 4, 2, false),
        ("more than half deleted", 4, 1, true),
        ("all deleted", 4, 0, true),
        ("the only one deleted", 1, 0, true),
        ("nothing applied", 0, 0, false),
    ];
    for (case, applied_n, kept, expected) in cases {
        let plan = plan(
            &Desired {
                webhooks: four[..kept].to_vec(),
                bot_token: None,
                routing: Routing::default(),
            },
            &state(&four[..applied_n]),
        );
        assert_eq!(plan.is_mass_deletion(), expected, "{case}");
    }
}

/// Encryption stand-in for properties: plans never look at ciphertexts.
const FAKE_SEAL: &Seal<'static> = &|_| Ok("(ciphertext)".to_owned());

fn arb_webhook() -> impl Strategy<Value = DesiredWebhook> {
    (
        0..6u32,
        0..3usize,
        proptest::option::of(0..3usize),
        0..4u32,
        proptest::collection::vec(0..3usize, 0..3),
    )
        .prop_map(|(id, name, channel, url_n, mentions)| {
            let names = ["Ops", "FinOps", "Gov"];
            let channels = ["#a", "#b", "#c"];
            let handles = ["@oncall", "@finops", "here"];
            let mentions: Vec<&str> = mentions.into_iter().map(|m| handles[m]).collect();
            desired(
                &format!("hook-{id}"),
                names[name],
                channel.map(|c| channels[c]),
                url_n,
                &mentions,
            )
        })
}

/// One of four routings: none, one route, two routes, two routes and a template.
fn routing(n: usize) -> Routing {
    let route = |team: &str, hook: &str| RouteSpec {
        matchers: [("team".to_owned(), team.to_owned())].into(),
        webhooks: vec![hook.to_owned()],
        ..RouteSpec::default()
    };
    let mut routing = Routing::default();
    if n >= 1 {
        routing.routes.push(route("finops", "hook-1"));
    }
    if n >= 2 {
        routing.routes.push(route("ops", "hook-2"));
    }
    if n >= 3 {
        routing.templates.insert(
            "budget".to_owned(),
            TemplateSpec {
                text: "{{ status }}".to_owned(),
                blocks: None,
            },
        );
        routing.routes[0].template = Some("budget".to_owned());
    }
    routing
}

fn arb_state() -> impl Strategy<Value = (Vec<DesiredWebhook>, Option<&'static str>)> {
    let tokens = proptest::option::of(prop_oneof![Just("xoxb-fake-1"), Just("xoxb-fake-2")]);
    (proptest::collection::vec(arb_webhook(), 0..8), tokens).prop_map(|(mut webhooks, token)| {
        webhooks.sort_by(|a, b| a.id.cmp(&b.id));
        webhooks.dedup_by(|a, b| a.id == b.id);
        (webhooks, token)
    })
}

proptest! {
    #[test]
    fn applying_a_plan_leaves_nothing_to_do((wanted, wanted_token) in arb_state(), (current, current_token) in arb_state(), wanted_routing in 0..4usize, current_routing in 0..4usize) {
        let desired = Desired { webhooks: wanted, bot_token: wanted_token.map(token), routing: routing(wanted_routing) };
        let applied = Applied { serial: 5, webhooks: current.iter().map(applied).collect(), token: current_token.map(applied_token), routing: routing(current_routing) };
        let first = plan(&desired, &applied);
        let writes = writes(&first, &desired, &applied, None, 100, FAKE_SEAL).expect("writes");
        let after = applied.with(&writes);
        let second = plan(&desired, &after);
        prop_assert!(second.is_empty(), "left to do: {:?}", second);
        prop_assert_eq!(after.serial, 6);
    }

    #[test]
    fn no_rendering_contains_a_secret((wanted, wanted_token) in arb_state(), (current, current_token) in arb_state(), wanted_routing in 0..4usize, current_routing in 0..4usize) {
        let desired = Desired { webhooks: wanted, bot_token: wanted_token.map(token), routing: routing(wanted_routing) };
        let applied = Applied { serial: 5, webhooks: current.iter().map(applied).collect(), token: current_token.map(applied_token), routing: routing(current_routing) };
        let plan = plan(&desired, &applied);
        for shown in [render::text(&plan, Style { color: true }), render::json(&plan), render::markdown(&plan)] {
            prop_assert!(!shown.contains("FAKEsecret"), "a URL's secret segment was shown:\n{}", shown);
            prop_assert!(!shown.contains("xoxb-fake"), "the token was shown:\n{}", shown);
        }
    }
}

/// Every kind of change at once, for the rendering snapshots.
fn every_kind_of_change() -> Plan {
    let current = [
        desired("deleted", "Old Alerts", Some("#old"), 1, &[]),
        desired("finops", "FinOps", Some("#finops"), 2, &["@finops-old"]),
        desired("ops", "Ops", Some("#ops"), 3, &["@oncall"]),
    ];
    let wanted = vec![
        desired("created", "New Alerts", Some("#new"), 4, &["here"]),
        desired(
            "finops",
            "FinOps Budgets",
            Some("#finops"),
            2,
            &["@finops-team", "@finops-old"],
        ),
        desired("ops", "Ops", Some("#ops-2"), 5, &["@oncall"]),
    ];
    let mut applied = state(&current);
    applied.token = Some(applied_token("xoxb-fake-1"));
    plan(
        &Desired {
            webhooks: wanted,
            bot_token: Some(token("xoxb-fake-2")),
            routing: Routing::default(),
        },
        &applied,
    )
}

#[test]
fn text_rendering() {
    insta::assert_snapshot!(render::text(&every_kind_of_change(), Style { color: false }));
}

#[test]
fn markdown_rendering() {
    insta::assert_snapshot!(render::markdown(&every_kind_of_change()));
}

#[test]
fn json_rendering() {
    insta::assert_snapshot!(render::json(&every_kind_of_change()));
}

#[test]
fn no_changes_renders_as_such() {
    let plan = plan(
        &Desired {
            webhooks: vec![],
            bot_token: None,
            routing: Routing::default(),
        },
        &Applied::default(),
    );
    assert_eq!(
        render::text(&plan, Style { color: false }),
        "No changes. The applied state (serial 0) matches the desired state.\n"
    );
}

/// Routes updated (one route more, one changed) and templates created, updated, deleted.
fn routing_changes() -> Plan {
    let mut before = routing(3);
    before.templates.insert(
        "old".to_owned(),
        TemplateSpec {
            text: "x".to_owned(),
            blocks: None,
        },
    );
    let mut after = routing(3);
    after.routes[1].continue_matching = true;
    after.routes.push(RouteSpec {
        webhooks: vec!["hook-3".to_owned()],
        ..RouteSpec::default()
    });
    after.templates.get_mut("budget").expect("budget").text = "{{ receiver }}".to_owned();
    after.templates.insert(
        "new".to_owned(),
        TemplateSpec {
            text: "y".to_owned(),
            blocks: None,
        },
    );
    let desired = Desired {
        webhooks: vec![],
        bot_token: None,
        routing: after,
    };
    let applied = Applied {
        routing: before,
        ..Applied::default()
    };
    plan(&desired, &applied)
}

#[test]
fn routing_changes_are_planned_and_shown() {
    let plan = routing_changes();
    assert_eq!(plan.routes.as_ref().map(|r| r.action), Some(Action::Update));
    let templates: Vec<(&str, Action)> = plan.templates.iter().map(|t| (t.id.as_str(), t.action)).collect();
    assert_eq!(
        templates,
        [
            ("budget", Action::Update),
            ("new", Action::Create),
            ("old", Action::Delete)
        ]
    );
    insta::assert_snapshot!(render::text(&plan, Style { color: false }));
    insta::assert_snapshot!(render::json(&plan));
    insta::assert_snapshot!(render::markdown(&plan));
}

#[test]
fn a_saved_plan_from_before_routes_reads_as_no_routing_change() {
    let mut value = serde_json::to_value(plan(
        &Desired {
            webhooks: vec![],
            bot_token: None,
            routing: Routing::default(),
        },
        &Applied::default(),
    ))
    .expect("serializes");
    let object = value.as_object_mut().expect("an object");
    assert!(!object.contains_key("routes") && !object.contains_key("templates"));
    let read: Plan = serde_json::from_value(value).expect("reads");
    assert!(!read.changes_routing());
}
