//! One row per validation rule: the code, the position and the message it reports.

use std::sync::OnceLock;

use super::{Known, Report, open, parse};
use crate::secrets::{Keyring, Secret, encrypt};
use crate::state::Applied;

const URL: &str = "https://hooks.slack.com/services/T0FAKE000/B0FAKE000/FAKEfakeFAKEfake0001";

fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(|| {
        use secrecy::ExposeSecret;
        let key = age::x25519::Identity::generate().to_string();
        Keyring::from_text(key.expose_secret()).expect("a generated key parses")
    })
}

/// `{age: "…"}` on one line, so that rows can state positions simply.
fn sealed(plaintext: &str) -> String {
    let armored = encrypt(&Secret::new(plaintext), &keyring().recipients()).expect("encrypts");
    format!("{{age: \"{}\"}}", armored.replace('\n', "\\n"))
}

/// Replaces `SEALED(text)` markers with ciphertexts of `text`.
fn fill(template: &str) -> String {
    let mut text = template.to_owned();
    while let Some(start) = text.find("SEALED(") {
        let end = start + text[start..].find(')').expect("closed marker");
        let plaintext = text[start + 7..end].to_owned();
        text.replace_range(start..=end, &sealed(&plaintext));
    }
    text
}

/// (code, line, column, message) of each expected problem.
type Expected<'a> = Vec<(&'a str, usize, usize, &'a str)>;
/// (rule, file, expected problems)
type Row<'a> = (&'a str, &'a str, Expected<'a>);

/// (code, line, column, message) of every problem.
fn problems(report: &Report) -> Vec<(&'static str, usize, usize, String)> {
    report
        .problems
        .iter()
        .map(|p| (p.code, p.at.line, p.at.column, p.message.clone()))
        .collect()
}

fn check_rows(rows: &[Row<'_>], stage: impl Fn(&str) -> Result<(), Report>) {
    for (rule, template, expected) in rows {
        let report = stage(&fill(template)).expect_err(rule);
        let got = problems(&report);
        let expected: Vec<_> = expected
            .iter()
            .map(|(c, l, col, m)| (*c, *l, *col, (*m).to_owned()))
            .collect();
        assert_eq!(got, expected, "rule: {rule}");
        for problem in &report.problems {
            assert!(
                problem.help.is_some(),
                "rule {rule}: every problem says how to fix it"
            );
        }
    }
}

#[test]
fn rules_checked_without_a_key() {
    let ok = "SEALED(https://hooks.slack.com/services/T0FAKE000/B0FAKE000/FAKEfakeFAKEfake0001)";
    let rows: Vec<(&str, String, Expected<'_>)> = vec![
        ("yaml syntax", "version: 1\nwebhooks: [\n".into(), vec![("yaml-syntax", 3, 1, "invalid YAML: while parsing a node, did not find expected node content")]),
        ("more than one document", "version: 1\n---\nversion: 1\n".into(), vec![("yaml-syntax", 3, 1, "the file holds more than one YAML document")]),
        ("empty file", "# nothing\n".into(), vec![("empty-file", 1, 1, "the file is empty")]),
        ("not a mapping", "- a\n".into(), vec![("invalid-type", 1, 1, "the file must be a mapping of keys to values")]),
        ("wrong type", "version: one\n".into(), vec![("invalid-type", 1, 10, "`version` must be an integer, not a string")]),
        ("a wrong type hides nothing else", "version: one\nrecipients: [age1nope]\nslack: {api_url: \"http://x\"}\n".into(), vec![
            ("invalid-type", 1, 10, "`version` must be an integer, not a string"),
            ("invalid-recipient", 2, 14, "`age1nope` is not an age recipient"),
            ("invalid-api-url", 3, 18, "`slack.api_url` must be an https URL"),
        ]),
        ("null required value", "version: 1\nwebhooks:\n  - name: Ops\n    url: ~\n".into(), vec![("invalid-type", 4, 10, "`webhooks[0].url` must be a mapping, not empty")]),
        ("empty list item", format!("version: 1\nwebhooks:\n  -\n  - name: Ops\n    url: {ok}\n"), vec![("invalid-type", 3, 4, "`webhooks[0]` must be a mapping, not empty")]),
        ("a list as a secret", "version: 1\nwebhooks:\n  - name: Ops\n    url: [x]\n".into(), vec![("invalid-type", 4, 10, "`webhooks[0].url` must be a mapping, not a list")]),
        ("a secret where an entry belongs", format!("version: 1\nwebhooks:\n  - {URL}\n"), vec![("invalid-type", 3, 5, "`webhooks[0]` must be a mapping, not a string")]),
        ("a secret as a key", format!("version: 1\nwebhooks:\n  - {{name: Ops, {URL}: 1, url: {ok}}}\n"), vec![("unknown-key", 3, 17, "unknown key (not repeated here: it may be part of a secret) in `webhooks[0]`")]),
        ("a piece of a token as a key", "version: 1\nb-0000-FAKEsecretFAKEoxb-0000: 1\nwebhooks: []\n".into(), vec![("unknown-key", 2, 1, "unknown key (not repeated here: it may be part of a secret) at the top level")]),
        ("a typo in another case", "version: 1\nWebhooks: []\n".into(), vec![("unknown-key", 2, 1, "unknown key `Webhooks` at the top level")]),
        ("a known key with a token after it", "version: 1\nslack:\n  bot_token xoxb-0000-FAKEsecret: 1\n".into(), vec![("unknown-key", 3, 3, "unknown key (not repeated here: it may be part of a secret) in `slack`")]),
        ("a key repeated, not plain", "version: 1\nB-0000-FAKEsecret: 1\nB-0000-FAKEsecret: 2\n".into(), vec![("yaml-syntax", 3, 1, "invalid YAML: duplicate entry with a key (not repeated here: it may be part of a secret)")]),
        ("a private key as a recipient", "version: 1\nrecipients: [AGE-SECRET-KEY-1FAKEFAKE]\n".into(), vec![("invalid-recipient", 2, 14, "a private key or secret (never list one as a recipient; list its public key, as `age-keygen -y` prints it) is not an age recipient")]),
        ("merge keys", "version: 1\n<<: {webhooks: []}\n".into(), vec![("unknown-key", 2, 1, "YAML merge keys (`<<`) are not supported at the top level")]),
        ("unknown key, top level", "version: 1\nwebhook: []\n".into(), vec![("unknown-key", 2, 1, "unknown key `webhook` at the top level")]),
        ("block scalars at the top", "|\n|\n|\n|\n-".into(), vec![("invalid-type", 2, 1, "the file must be a mapping of keys to values")]),
        ("unknown key holding a token", "version: 1\ns xoxb-0000-FAKEsecret: 1\n".into(), vec![("unknown-key", 2, 1, "unknown key (not repeated here: it may be part of a secret) at the top level")]),
        ("unknown key, webhook", format!("version: 1\nwebhooks:\n  - name: Ops\n    chanel: x\n    url: {ok}\n"), vec![("unknown-key", 4, 5, "unknown key `chanel` in `webhooks[0]`")]),
        ("unknown key, secret", "version: 1\nslack:\n  bot_token: {age: x, agee: y}\n".into(), vec![("malformed-ciphertext", 3, 15, "`slack.bot_token.age` is not a valid armored age ciphertext: it does not start with `-----BEGIN AGE ENCRYPTED FILE-----`"), ("unknown-key", 3, 23, "unknown key `agee` in `slack.bot_token`")]),
        ("missing version", "webhooks: []\n".into(), vec![("missing-key", 1, 1, "the file is missing the required key `version`")]),
        ("missing name", format!("version: 1\nwebhooks:\n  - url: {ok}\n"), vec![("missing-key", 3, 5, "`webhooks[0]` is missing the required key `name`")]),
        ("missing url", "version: 1\nwebhooks:\n  - name: Ops\n".into(), vec![("missing-key", 3, 5, "`webhooks[0]` is missing the required key `url`")]),
        ("webhooks not a list", "version: 1\nwebhooks: {name: Ops}\n".into(), vec![("invalid-type", 2, 11, "`webhooks` must be a list, not a mapping")]),
        ("empty name", format!("version: 1\nwebhooks:\n  - name: \"  \"\n    url: {ok}\n"), vec![("empty-name", 3, 11, "`webhooks[0].name` is empty")]),
        ("id charset", format!("version: 1\nwebhooks:\n  - id: Ops_Team\n    name: Ops\n    url: {ok}\n"), vec![("invalid-id", 3, 9, "`Ops_Team` is not a valid webhook id")]),
        ("id length", format!("version: 1\nwebhooks:\n  - id: {}\n    name: Ops\n    url: {ok}\n", "a".repeat(65)), vec![("invalid-id", 3, 9, &*Box::leak(format!("`{}` is not a valid webhook id", "a".repeat(65)).into_boxed_str()))]),
        ("id empty", format!("version: 1\nwebhooks:\n  - id: \"\"\n    name: Ops\n    url: {ok}\n"), vec![("invalid-id", 3, 9, "`` is not a valid webhook id")]),
        ("no id from name", format!("version: 1\nwebhooks:\n  - name: \"!!!\"\n    url: {ok}\n"), vec![("invalid-id", 3, 11, "no id can be derived from the name `!!!`")]),
        ("duplicate id", format!("version: 1\nwebhooks:\n  - id: ops\n    name: A\n    url: {ok}\n  - name: Ops\n    url: {ok}\n"), vec![("duplicate-id", 6, 11, "webhook id `ops` is used twice")]),
        ("duplicate id beside other problems", format!("version: 1\nwebhooks:\n  - id: ops\n    nmae: A\n    url: {ok}\n  - id: ops\n    name: B\n    url: {URL}\n"), vec![
            ("missing-key", 3, 5, "`webhooks[0]` is missing the required key `name`"),
            ("unknown-key", 4, 5, "unknown key `nmae` in `webhooks[0]`"),
            ("duplicate-id", 6, 9, "webhook id `ops` is used twice"),
            ("plaintext-secret", 8, 5, "`webhooks[1].url` is not encrypted: the webhook URL must be an age-encrypted secret"),
        ]),
        ("unsupported version", "version: 2\n".into(), vec![("unsupported-version", 1, 10, "version 2 is not supported; this hookwarden reads version 1")]),
        ("plaintext url", format!("version: 1\nwebhooks:\n  - name: Ops\n    url: {URL}\n"), vec![("plaintext-secret", 4, 5, "`webhooks[0].url` is not encrypted: the webhook URL must be an age-encrypted secret")]),
        ("plaintext token", "version: 1\nslack:\n  bot_token: xoxb-fake\n".into(), vec![("plaintext-secret", 3, 3, "`slack.bot_token` is not encrypted: the bot token must be an age-encrypted secret")]),
        ("malformed age block", "version: 1\nwebhooks:\n  - name: Ops\n    url:\n      age: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n        AAAA\n        -----END AGE ENCRYPTED FILE-----\n".into(), vec![("malformed-ciphertext", 5, 7, "`webhooks[0].url.age` is not a valid armored age ciphertext: its header is not valid: Header is invalid")]),
        ("malformed age block of an entry with another problem", "version: 1\nwebhooks:\n  - name: \"  \"\n    url: {age: x}\n".into(), vec![
            ("empty-name", 3, 11, "`webhooks[0].name` is empty"),
            ("malformed-ciphertext", 4, 11, "`webhooks[0].url.age` is not a valid armored age ciphertext: it does not start with `-----BEGIN AGE ENCRYPTED FILE-----`"),
        ]),
        ("one malformed block under two entries, by an alias", "version: 1\nwebhooks:\n  - {id: a, name: A, url: &u {age: x}}\n  - {id: b, name: \"B\\u0001\", url: *u}\n".into(), vec![
            ("malformed-ciphertext", 3, 31, "`webhooks[0].url.age` is not a valid armored age ciphertext: it does not start with `-----BEGIN AGE ENCRYPTED FILE-----`"),
            ("malformed-ciphertext", 3, 31, "`webhooks[1].url.age` is not a valid armored age ciphertext: it does not start with `-----BEGIN AGE ENCRYPTED FILE-----`"),
            ("control-character", 4, 19, "`webhooks[1].name` contains a control character"),
        ]),
        ("malformed token beside a bad api url", "version: 1\nslack:\n  api_url: http://slack.com/api\n  bot_token: {age: x}\n".into(), vec![
            ("invalid-api-url", 3, 12, "`slack.api_url` must be an https URL"),
            ("malformed-ciphertext", 4, 15, "`slack.bot_token.age` is not a valid armored age ciphertext: it does not start with `-----BEGIN AGE ENCRYPTED FILE-----`"),
        ]),
        ("invalid recipient", "version: 1\nrecipients: [age1nope]\n".into(), vec![("invalid-recipient", 2, 14, "`age1nope` is not an age recipient")]),
        ("api url not https", "version: 1\nslack:\n  api_url: http://slack.com/api\n".into(), vec![("invalid-api-url", 3, 12, "`slack.api_url` must be an https URL")]),
        ("sync interval", "version: 1\nslack:\n  directory_sync_interval: 5s\n".into(), vec![("invalid-interval", 3, 28, "`5s` is not a sync interval of at least one minute")]),
        ("empty mention", format!("version: 1\nwebhooks:\n  - name: Ops\n    url: {ok}\n    mentions: [\"@\"]\n"), vec![("empty-mention", 5, 16, "`webhooks[0].mentions[0]` is empty")]),
        ("control characters", format!("version: 1\nwebhooks:\n  - name: \"A\\e[31mRED\"\n    channel: \"#a\\nb\"\n    url: {ok}\n"), vec![
            ("control-character", 3, 11, "`webhooks[0].name` contains a control character"),
            ("control-character", 4, 14, "`webhooks[0].channel` contains a control character"),
        ]),
        ("empty channel", format!("version: 1\nwebhooks:\n  - name: Ops\n    channel: \"\"\n    url: {ok}\n"), vec![("empty-channel", 4, 14, "`webhooks[0].channel` is empty")]),
    ];
    let rows: Vec<_> = rows.iter().map(|(r, t, e)| (*r, t.as_str(), e.clone())).collect();
    check_rows(&rows, |text| parse("f.yaml", text).map(drop));
}

#[test]
fn duplicate_ids_point_at_both_entries() {
    let text = fill(
        "version: 1\nwebhooks:\n  - id: ops\n    name: A\n    url: SEALED(x)\n  - name: Ops\n    url: SEALED(y)\n",
    );
    let report = parse("f.yaml", &text).expect_err("duplicate");
    let related = report.problems[0].related.as_ref().expect("points at the first");
    assert_eq!((related.at.line, related.at.column), (3, 9));
}

#[test]
fn rules_checked_after_decryption() {
    let rows: Vec<Row<'_>> = vec![
        (
            "foreign host",
            "version: 1\nwebhooks:\n  - name: Ops\n    url: SEALED(https://example.com/services/T0FAKE000/B0FAKE000/FAKEfake)\n",
            vec![(
                "invalid-url",
                4,
                11,
                "`webhooks[0].url`: `example.com` is not a Slack webhook host",
            )],
        ),
        (
            "http scheme",
            "version: 1\nwebhooks:\n  - name: Ops\n    url: SEALED(http://hooks.slack.com/services/T0FAKE000/B0FAKE000/FAKEfake)\n",
            vec![(
                "invalid-url",
                4,
                11,
                "`webhooks[0].url`: the URL uses `http:`; Slack webhooks are `https:`",
            )],
        ),
        (
            "path shape",
            "version: 1\nwebhooks:\n  - name: Ops\n    url: SEALED(https://hooks.slack.com/services/B0FAKE000/FAKEfake)\n",
            vec![(
                "invalid-url",
                4,
                11,
                "`webhooks[0].url`: the URL's path is not of the form /services/T…/B…/…",
            )],
        ),
        (
            "token prefix",
            "version: 1\nslack:\n  bot_token: SEALED(xoxp-fake-user-token)\n",
            vec![(
                "invalid-token",
                3,
                15,
                "`slack.bot_token`: the token is a user token (`xoxp-`), not a bot token (`xoxb-`)",
            )],
        ),
    ];
    check_rows(&rows, |text| {
        let config = parse("f.yaml", text).expect("valid before decryption");
        open(&config, keyring(), &Known::default()).map(drop)
    });
}

#[test]
fn a_value_for_another_key_names_the_field_and_the_identity() {
    let stranger = Keyring::from_text(&{
        use secrecy::ExposeSecret;
        age::x25519::Identity::generate()
            .to_string()
            .expose_secret()
            .to_owned()
    })
    .expect("key");
    let text = fill(
        "version: 1\nwebhooks:\n  - name: Ops\n    url: SEALED(https://hooks.slack.com/services/T0FAKE000/B0FAKE000/FAKEfake)\n",
    );
    let config = parse("f.yaml", &text).expect("valid");
    let report = open(&config, &stranger, &Known::default()).expect_err("wrong key");
    let problem = &report.problems[0];
    assert_eq!(
        (problem.code, problem.at.line, problem.at.column),
        ("decrypt-failed", 4, 11)
    );
    assert_eq!(
        problem.message,
        "cannot decrypt `webhooks[0].url` with the identity given: it was not encrypted to this identity"
    );
    assert!(
        problem
            .help
            .as_deref()
            .is_some_and(|h| h.contains(&stranger.recipients().names()[0]))
    );
    assert!(!report.render().contains("BEGIN AGE"), "no ciphertext in reports");
}

#[test]
fn a_valid_file_opens() {
    let text = fill(
        "version: 1\nslack:\n  bot_token: SEALED(xoxb-fake-token)\nwebhooks:\n  - name: General Alerts\n    channel: \"#alerts\"\n    url: SEALED(https://hooks.slack.gov/services/T0FAKE000/B0FAKE000/FAKEfakeFAKEfakeWXYZ)\n    mentions: [\"@oncall\"]\n",
    );
    let config = parse("f.yaml", &text).expect("valid");
    let desired = open(&config, keyring(), &Known::default()).expect("opens");
    let webhook = &desired.webhooks[0];
    assert_eq!(webhook.id, "general-alerts");
    assert_eq!(
        webhook.url.redacted(),
        "https://hooks.slack.gov/services/T0FAKE000/B0FAKE000/****WXYZ"
    );
    assert_eq!(webhook.mentions, ["@oncall"]);
    assert!(desired.bot_token.is_some());
}

#[test]
fn parallel_decryption_keeps_the_order() {
    let items: Vec<u32> = (0..1000).collect();
    let doubled = super::parallel_map(&items, |n| n * 2);
    assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
    assert_eq!(super::parallel_map(&[7u32], |n| n + 1), [8]);
    assert!(super::parallel_map(&[] as &[u32], |n| *n).is_empty());
}

#[test]
fn a_large_file_opens_with_every_problem_in_file_order() {
    let mut text = "version: 1\nwebhooks:\n".to_owned();
    for i in 0..200 {
        let url = if i % 50 == 7 {
            "http://hooks.slack.com/services/T0FAKE000/B0FAKE000/FAKEfakeFAKEfake0001".to_owned()
        } else {
            format!("https://hooks.slack.com/services/T0FAKE000/B{i:08}/FAKEfakeFAKEfake{i:04}")
        };
        text.push_str(&format!(
            "  - id: hook-{i}\n    name: Hook {i}\n    url: SEALED({url})\n"
        ));
    }
    let config = parse("f.yaml", &fill(&text)).expect("valid before decryption");
    let report = open(&config, keyring(), &Known::default()).expect_err("four http URLs");
    let lines: Vec<usize> = report.problems.iter().map(|p| p.at.line).collect();
    assert_eq!(lines, [26, 176, 326, 476], "each url line, in order");
}

/// A file with two webhooks (`ops`, `finops-budgets`) and then `rest`, for routing rows.
fn routed(rest: &str) -> String {
    let ok = "SEALED(https://hooks.slack.com/services/T0FAKE000/B0FAKE000/FAKEfakeFAKEfake0001)";
    format!(
        "version: 1\nwebhooks:\n  - {{id: ops, name: Ops, url: {ok}}}\n  - {{id: finops-budgets, name: Budgets, url: {ok}}}\n{rest}"
    )
}

#[test]
fn route_rules() {
    let rows: Vec<(&str, String, Expected<'_>)> = vec![
        (
            "unknown webhook",
            routed("routes:\n  - webhooks: [finops-budget]\n"),
            vec![(
                "unknown-webhook",
                6,
                16,
                "`routes[0].webhooks[0]`: no webhook has the id `finops-budget`",
            )],
        ),
        (
            "no webhooks",
            routed("routes:\n  - match: {team: a}\n"),
            vec![(
                "missing-key",
                6,
                5,
                "`routes[0]` is missing the required key `webhooks`",
            )],
        ),
        (
            "empty webhooks",
            routed("routes:\n  - webhooks: []\n"),
            vec![("empty-webhooks", 6, 15, "`routes[0].webhooks` is empty")],
        ),
        (
            "webhook twice",
            routed("routes:\n  - webhooks: [ops, ops]\n"),
            vec![(
                "duplicate-webhook",
                6,
                21,
                "`routes[0].webhooks[1]`: the webhook `ops` is listed twice",
            )],
        ),
        (
            "bad regex",
            routed("routes:\n  - match_re: {severity: \"crit(\"}\n    webhooks: [ops]\n"),
            vec![(
                "invalid-regex",
                6,
                26,
                "`routes[0].match_re.severity` is not a valid regular expression: unclosed group",
            )],
        ),
        (
            "label name",
            routed("routes:\n  - match: {1team: a}\n    webhooks: [ops]\n"),
            vec![(
                "invalid-label-name",
                6,
                13,
                "`1team` in `routes[0].match` is not a label name",
            )],
        ),
        (
            "empty receiver",
            routed("routes:\n  - receiver: \"\"\n    webhooks: [ops]\n"),
            vec![("empty-receiver", 6, 15, "`routes[0].receiver` is empty")],
        ),
        (
            "label value type",
            routed("routes:\n  - match: {code: 500}\n    webhooks: [ops]\n"),
            vec![(
                "invalid-type",
                6,
                19,
                "`routes[0].match.code` must be a string, not an integer",
            )],
        ),
        (
            "unknown route key",
            routed("routes:\n  - webhooks: [ops]\n    continu: true\n"),
            vec![("unknown-key", 7, 5, "unknown key `continu` in `routes[0]`")],
        ),
        (
            "unknown template",
            routed("routes:\n  - webhooks: [ops]\n    template: budgte\ntemplates:\n  budget: {text: x}\n"),
            vec![(
                "unknown-template",
                7,
                15,
                "`routes[0].template`: no template has the id `budgte`",
            )],
        ),
        (
            "route mention",
            routed("routes:\n  - webhooks: [ops]\n    mentions: [\"@\"]\n"),
            vec![("empty-mention", 7, 16, "`routes[0].mentions[0]` is empty")],
        ),
    ];
    let rows: Vec<_> = rows.iter().map(|(r, t, e)| (*r, t.as_str(), e.clone())).collect();
    check_rows(&rows, |text| parse("f.yaml", text).map(drop));
}

#[test]
fn template_rules() {
    let rows: Vec<(&str, String, Expected<'_>)> = vec![
        (
            "template without text",
            routed("templates:\n  budget: {blocks: \"[]\"}\n"),
            vec![(
                "missing-key",
                6,
                11,
                "`templates.budget` is missing the required key `text`",
            )],
        ),
        (
            "unknown template key",
            routed("templates:\n  budget: {text: x, txet: y}\n"),
            vec![("unknown-key", 6, 21, "unknown key `txet` in `templates.budget`")],
        ),
        (
            "template id",
            routed("templates:\n  \"a b\": {text: x}\n"),
            vec![("invalid-template-id", 6, 3, "`a b` is not a valid template id")],
        ),
        (
            "empty template",
            routed("templates:\n  budget: {text: \" \"}\n"),
            vec![("empty-template", 6, 18, "`templates.budget.text` is empty")],
        ),
        (
            "template syntax, one line",
            routed("templates:\n  budget: {text: \"{{ status \"}\n"),
            vec![(
                "template-syntax",
                6,
                18,
                "`templates.budget.text` is not valid MiniJinja: syntax error: unexpected end of input, expected end of variable block",
            )],
        ),
        (
            "template syntax, block scalar",
            routed(
                "templates:\n  budget:\n    text: |\n      {{ status }}\n      {% for a in alerts %}\n      {{ a.labels.alertname }}\n",
            ),
            vec![(
                "template-syntax",
                10,
                7,
                "`templates.budget.text` is not valid MiniJinja: syntax error: unexpected end of input, expected end of block",
            )],
        ),
        (
            "template fails on the sample",
            routed(
                "templates:\n  budget:\n    text: |\n      ok\n      {{ alerts[0].labels.team.missing.deeper }}\n",
            ),
            vec![(
                "template-render",
                9,
                7,
                "`templates.budget.text` fails on the sample notification: undefined value",
            )],
        ),
        (
            "blocks not an array",
            routed("templates:\n  budget: {text: x, blocks: \"{}\"}\n"),
            vec![(
                "template-render",
                6,
                29,
                "`templates.budget.blocks` fails on the sample notification: `blocks` must render to a JSON array of Block Kit blocks (objects)",
            )],
        ),
    ];
    let rows: Vec<_> = rows.iter().map(|(r, t, e)| (*r, t.as_str(), e.clone())).collect();
    check_rows(&rows, |text| parse("f.yaml", text).map(drop));
}

#[test]
fn valid_routing_is_kept_as_written() {
    let text = fill(&routed(
        "routes:\n  - match: {team: finops}\n    match_re: {severity: \"critical|page\"}\n    receiver: finops\n    webhooks: [finops-budgets]\n    mentions: [\"@finops-team\"]\n    template: budget\n    continue: true\n  - webhooks: [ops]\ntemplates:\n  budget:\n    text: \"{{ status | upper }}: {{ commonLabels.alertname }} ({{ alerts | length }})\"\n    blocks: |\n      [{\"type\": \"section\", \"text\": {\"type\": \"mrkdwn\", \"text\": {{ commonAnnotations.summary | tojson }}}}]\n",
    ));
    let config = parse("f.yaml", &text).expect("valid");
    let routes = &config.routing.routes;
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0].matchers["team"], "finops");
    assert_eq!(routes[0].match_re["severity"], "critical|page");
    assert_eq!(routes[0].receiver.as_deref(), Some("finops"));
    assert_eq!(routes[0].webhooks, ["finops-budgets"]);
    assert_eq!(routes[0].template.as_deref(), Some("budget"));
    assert!(routes[0].continue_matching);
    assert_eq!(routes[1].webhooks, ["ops"]);
    assert!(config.routing.templates["budget"].blocks.is_some());
    assert_eq!(config.route_mentions[0].text, "@finops-team");
    let desired = open(&config, keyring(), &Known::default()).expect("opens");
    assert_eq!(desired.routing, config.routing);
}

#[test]
fn an_age_block_pasted_at_the_level_of_its_key_says_to_indent_it() {
    let text = "version: 1\nwebhooks:\n  - name: Ops\n    url:\n    age: |\n      -----BEGIN AGE ENCRYPTED FILE-----\n      YWdl\n      -----END AGE ENCRYPTED FILE-----\n";
    let report = parse("f.yaml", text).expect_err("invalid");
    let helps: Vec<(&str, String)> = report
        .problems
        .iter()
        .map(|p| (p.code, p.help.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        helps,
        [
            (
                "invalid-type",
                "indent the `age: |` block under `url:`, two spaces further than `url:` itself".to_owned()
            ),
            (
                "unknown-key",
                "an `age:` block belongs under `url:`: indent it two spaces further than `url:`".to_owned()
            ),
        ]
    );
}

/// A file of `count` webhooks and a bot token, each secret an `age: |` block as
/// `hookwarden encrypt --yaml` prints it.
fn blocks_file(count: usize) -> String {
    let block = |plaintext: &str, indent: &str| -> String {
        let armored = encrypt(&Secret::new(plaintext), &keyring().recipients()).expect("encrypts");
        armored.lines().flat_map(|l| [indent, l, "\n"]).collect()
    };
    let mut text = format!(
        "version: 1\nslack:\n  bot_token:\n    age: |\n{}webhooks:\n",
        block("xoxb-fake-token", "      ")
    );
    for i in 0..count {
        let url = format!("https://hooks.slack.com/services/T0FAKE000/B0FAKE{i:03}/FAKEfakeFAKEfake{i:04}");
        text += &format!(
            "  - id: hook-{i}\n    name: Hook {i}\n    url:\n      age: |\n{}",
            block(&url, "        ")
        );
    }
    text
}

/// The applied state an apply of `desired` leaves, secrets sealed to the test key.
fn applied_from(desired: &super::Desired) -> Applied {
    let none = Applied::default();
    let plan = crate::plan::plan(desired, &none);
    let seal = |secret: &Secret| encrypt(secret, &keyring().recipients());
    let writes = crate::reconcile::writes(&plan, desired, &none, None, 1, &seal).expect("writes");
    none.with(&writes)
}

fn stranger() -> Keyring {
    use secrecy::ExposeSecret;
    Keyring::from_text(age::x25519::Identity::generate().to_string().expose_secret()).expect("key")
}

fn all_applied(desired: &super::Desired) -> bool {
    let applied = |value: &super::Opened<_>| matches!(value, super::Opened::Applied(_));
    desired
        .webhooks
        .iter()
        .all(|w| matches!(w.url.value, super::Opened::Applied(_)))
        && desired.bot_token.as_ref().is_some_and(|t| applied(&t.value))
}

#[test]
fn applied_ciphertexts_are_known_without_decrypting_them() {
    // Small and large files: the large one is decrypted while it is checked.
    for count in [2, 120] {
        let text = blocks_file(count);
        let (_, desired) = super::parse_open("f.yaml", &text, keyring(), &Applied::default()).expect("opens");
        let applied = applied_from(&desired);
        // A key that opens nothing: whatever it had to decrypt would fail.
        let (_, again) =
            super::parse_open("f.yaml", &text, &stranger(), &applied).expect("nothing decrypted");
        assert!(all_applied(&again), "{count}: every secret known");
        assert!(
            crate::plan::plan(&again, &applied).is_empty(),
            "{count}: no change"
        );
        // Without the applied state, or to `validate`, each is decrypted.
        let report =
            super::parse_open("f.yaml", &text, &stranger(), &Applied::default()).expect_err("decrypts");
        assert_eq!(report.problems.len(), count + 1);
    }
}

#[test]
fn a_ciphertext_changed_in_any_byte_is_decrypted_and_checked_again() {
    let text = blocks_file(2);
    let (_, desired) = super::parse_open("f.yaml", &text, keyring(), &Applied::default()).expect("opens");
    let applied = applied_from(&desired);
    // Every byte of the first webhook's block, up to the line after its END.
    let start = text.find("  - id: hook-0").expect("the first webhook");
    let start = start + text[start..].find("-----BEGIN").expect("its block");
    let end = start
        + text[start..]
            .find("-----END AGE ENCRYPTED FILE-----")
            .expect("its end")
        + 32;
    let url_line = text[..start].lines().count();
    let mut checked = 0;
    for i in start..end {
        let byte = text.as_bytes()[i];
        if byte.is_ascii_whitespace() {
            continue;
        }
        let mut changed = text.clone().into_bytes();
        changed[i] = if byte == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).expect("ASCII");
        // The key that opens nothing fails on it: it was decrypted, and only it.
        let report = super::parse_open("f.yaml", &changed, &stranger(), &applied).expect_err("decrypted");
        let at: Vec<_> = report.problems.iter().map(|p| (p.code, p.at.line)).collect();
        assert!(
            matches!(at[..], [("decrypt-failed" | "malformed-ciphertext", line)] if line + 1 == url_line),
            "byte {i}: {at:?}"
        );
        // The key that sealed it finds it damaged (a changed stanza no longer opens), or,
        // where the change leaves the bytes age reads as they were, opens and checks it.
        match super::parse_open("f.yaml", &changed, keyring(), &applied) {
            Err(report) => assert!(
                ["malformed-ciphertext", "decrypt-failed"].contains(&report.problems[0].code),
                "byte {i}: {report:?}"
            ),
            Ok((_, opened)) => assert!(
                matches!(opened.webhooks[0].url.value, super::Opened::Decrypted(_)),
                "byte {i}"
            ),
        }
        checked += 1;
    }
    assert!(checked > 200, "{checked} bytes");
}

#[test]
fn a_re_encrypted_value_is_decrypted_and_compared_by_its_plaintext() {
    let text = blocks_file(2);
    let (_, desired) = super::parse_open("f.yaml", &text, keyring(), &Applied::default()).expect("opens");
    let applied = applied_from(&desired);
    // The same plaintexts, encrypted anew: nothing changes, but each is decrypted.
    let again = blocks_file(2);
    let (_, opened) = super::parse_open("f.yaml", &again, keyring(), &applied).expect("opens");
    assert!(
        opened
            .webhooks
            .iter()
            .all(|w| matches!(w.url.value, super::Opened::Decrypted(_)))
    );
    let plan = crate::plan::plan(&opened, &applied);
    assert!(plan.is_empty(), "{plan:?}");
    let digests = crate::reconcile::unrecorded_digests(&opened, &applied, &plan, applied.serial);
    assert_eq!(digests.webhooks.len(), 2, "to be recorded");
    assert!(digests.token.is_some());
}

#[test]
fn a_state_without_digests_plans_as_before() {
    let text = blocks_file(2);
    let (_, desired) = super::parse_open("f.yaml", &text, keyring(), &Applied::default()).expect("opens");
    let mut applied = applied_from(&desired);
    for webhook in &mut applied.webhooks {
        webhook.url.ciphertext_digest = None;
    }
    applied.token.as_mut().expect("a token").secret.ciphertext_digest = None;
    let report = super::parse_open("f.yaml", &text, &stranger(), &applied).expect_err("decrypts");
    assert_eq!(report.problems.len(), 3, "every value decrypted");
    let (_, opened) = super::parse_open("f.yaml", &text, keyring(), &applied).expect("opens");
    let plan = crate::plan::plan(&opened, &applied);
    assert!(plan.is_empty(), "{plan:?}");
    let digests = crate::reconcile::unrecorded_digests(&opened, &applied, &plan, applied.serial);
    assert_eq!(digests.webhooks.len(), 2);
}

#[test]
fn the_file_and_the_state_are_read_side_by_side_the_file_s_problems_first() {
    // Small files are read on one thread, large ones (here 100 webhooks) on two.
    for count in [2, 100] {
        let text = blocks_file(count);
        let (_, desired) = super::parse_open("f.yaml", &text, keyring(), &Applied::default()).expect("opens");
        let applied = applied_from(&desired);

        let (got, _, opened) =
            super::parse_open_against("f.yaml", text.clone(), &stranger(), super::Memo::default, || {
                Ok::<_, &str>(applied.clone())
            })
            .expect("nothing decrypted");
        assert_eq!(got, applied, "{count} webhooks: the state read is given back");
        assert!(
            opened
                .webhooks
                .iter()
                .all(|w| matches!(w.url.value, super::Opened::Applied(_)))
        );

        let down = || Err::<Applied, _>("the database is away");
        match super::parse_open_against("f.yaml", text.clone(), keyring(), super::Memo::default, down) {
            Err(super::Refused::State(error)) => assert_eq!(error, "the database is away"),
            other => panic!("{count} webhooks: {other:?}"),
        }
        // Nothing is decrypted without the state: a key that opens nothing gets as far.
        match super::parse_open_against("f.yaml", text.clone(), &stranger(), super::Memo::default, down) {
            Err(super::Refused::State(error)) => assert_eq!(error, "the database is away"),
            other => panic!("{count} webhooks: {other:?}"),
        }
        let broken = text.replacen("name: Hook 1\n", "name: [Hook 1\n", 1);
        match super::parse_open_against("f.yaml", broken.clone(), keyring(), super::Memo::default, down) {
            Err(super::Refused::File(report)) => assert_eq!(report.problems[0].code, "yaml-syntax"),
            other => panic!("{count} webhooks: {other:?}"),
        }
        let new_state = || Ok::<_, &str>(Applied::default());
        match super::parse_open_against(
            "f.yaml",
            broken.clone(),
            keyring(),
            super::Memo::default,
            new_state,
        ) {
            Err(super::Refused::File(report)) => assert_eq!(report.problems[0].code, "yaml-syntax"),
            other => panic!("{count} webhooks: {other:?}"),
        }
        let invalid = text.replacen("name: Hook 1\n", "name: ''\n", 1);
        match super::parse_open_against("f.yaml", invalid.clone(), keyring(), super::Memo::default, down) {
            Err(super::Refused::File(report)) => assert!(!report.problems.is_empty()),
            other => panic!("{count} webhooks: {other:?}"),
        }
    }
}

/// A large file with what an entry may hold besides its URL: channels, mentions, a
/// comment, a derived id, and routes that name the webhooks.
fn memo_file() -> String {
    let mut text = blocks_file(60);
    text = text.replacen(
        "  - id: hook-7\n    name: Hook 7\n",
        "  - name: Hook Seven\n    channel: \"#seven\"\n",
        1,
    );
    text = text.replacen(
        "  - id: hook-9\n",
        "  - id: hook-9\n    mentions: [\"@oncall\", \"@finops-team\"]\n    # the team's own\n",
        1,
    );
    text + "routes:\n  - match: {team: finops}\n    webhooks: [hook-3, hook-seven]\n"
}

/// What `text` opens to, against `applied`, with `memo` and without: the same, and how
/// many webhooks the memo gave.
fn same_with_memo(text: &str, memo: &std::path::Path, applied: &Applied) -> usize {
    let open = |memo: &dyn Fn() -> super::Memo| {
        super::parse_open_against("f.yaml", text.to_owned(), keyring(), memo, || {
            Ok::<_, &str>(applied)
        })
        .map(|(_, mut config, desired)| {
            let remembered = std::mem::take(&mut config.remembered);
            (format!("{config:?}\n{desired:?}"), remembered)
        })
        .map_err(|refused| format!("{refused:?}"))
    };
    let with = open(&|| super::Memo::read(memo));
    let without = open(&super::Memo::default);
    assert_eq!(
        with.as_ref().map(|(read, _)| read),
        without.as_ref().map(|(read, _)| read),
        "with the memo and without, for:\n{text}"
    );
    with.map_or(0, |(_, remembered)| remembered)
}

/// The memo of `text`'s entries, written in a new folder.
fn memo_of(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a folder");
    let config = parse("f.yaml", text).expect("valid");
    super::Memo::write(dir.path(), &config).expect("written");
    assert_eq!(
        super::Memo::read(dir.path()).len(),
        60,
        "every entry is remembered"
    );
    dir
}

#[test]
fn a_file_read_with_the_memo_of_another_opens_as_it_reads_whole() {
    let base = memo_file();
    let memo = memo_of(&base);
    let (_, desired) = super::parse_open("f.yaml", &base, keyring(), &Applied::default()).expect("opens");
    let applied = applied_from(&desired);
    let entry = |i: usize| {
        let start = base.find(&format!("  - id: hook-{i}\n")).expect("an entry");
        let end = start + 2 + base[start + 2..].find("  - ").expect("the next");
        base[start..end].to_owned()
    };
    let reencrypted = entry(20).replace(
        &entry(20)[entry(20).find("        -----BEGIN").expect("a block")..],
        &encrypt(
            &Secret::new("https://hooks.slack.com/services/T0FAKE000/B0FAKE999/FAKEfakeFAKEfake9999"),
            &keyring().recipients(),
        )
        .expect("encrypts")
        .lines()
        .flat_map(|l| ["        ", l, "\n"])
        .collect::<String>(),
    );
    // (the edited file, whether the memo still gives entries)
    let cases: Vec<(String, bool)> = vec![
        (base.clone(), true),
        (base.replacen("name: Hook 4\n", "name: Hook Four\n", 1), true),
        (base.replacen(&entry(20), &reencrypted, 1), true),
        (base.replacen(&entry(30), "", 1), true),
        (
            base.replacen(
                "webhooks:\n",
                &format!("webhooks:\n{}", entry(5).replace("hook-5", "hook-new")),
                1,
            ),
            true,
        ),
        (
            base.replacen(&entry(11), "", 1)
                .replacen(&entry(12), &(entry(12) + &entry(11)), 1),
            true,
        ),
        (
            base.replacen(&entry(40), &format!("\n# retired soon\n{}\n", entry(40)), 1),
            true,
        ),
        (
            base.replacen("version: 1\n", "version: 1\nrecipients: []\n", 1),
            true,
        ),
        (
            base.replacen("[hook-3, hook-seven]", "[hook-3, hook-59]", 1),
            true,
        ),
        // A block that keeps its trailing lines, before remembered entries.
        (
            base.replacen(&entry(10), &entry(10).replace("age: |", "age: |+"), 1),
            true,
        ),
        (
            base.replacen(&entry(10), &(entry(10).replace("age: |", "age: |+") + "\n\n"), 1),
            true,
        ),
        // Problems: the file as it is says what they are.
        (base.replacen("id: hook-21\n", "id: hook-22\n", 1), false),
        (
            base.replacen("[hook-3, hook-seven]", "[hook-3, hook-gone]", 1),
            false,
        ),
        (base.replacen("version: 1\n", "version: 2\n", 1), false),
        // An entry written twice: one text, one key, one id twice.
        (base.replacen(&entry(20), &(entry(20) + &entry(20)), 1), false),
        (
            base.replacen("    name: Hook 2\n", "    name: \"Hook 2\n", 1),
            false,
        ),
        (base.replacen("routes:\n", "webhooks: []\nroutes:\n", 1), false),
        // Forms the scan does not read: the file is read as it is.
        (base.replace('\n', "\r\n"), false),
        (
            base.replacen("  - id: hook-8\n", "  - id: hook-8\n\t\n", 1),
            false,
        ),
        (
            base.replacen("  - id: hook-8\n", "  - &eight\n    id: hook-8\n", 1),
            true,
        ),
        (base.replacen("webhooks:\n", "webhooks:\n# the list\n", 1), true),
        (base.replacen("webhooks:\n", "webhooks: # the list\n", 1), false),
        (base.replace("\n  ", "\n   "), false),
    ];
    for (i, (text, remembered)) in cases.iter().enumerate() {
        let given = same_with_memo(text, memo.path(), &applied);
        assert_eq!(given > 0, *remembered, "case {i}: {given} webhooks from the memo");
    }
    // A `webhooks:` line in a template's text, followed by entries the memo knows: not
    // the list, which follows.
    let quoted: String = (0..6).map(entry).collect();
    let in_text = base.replacen(
        "webhooks:\n",
        &format!("templates:\n  t:\n    text: \"start\nwebhooks:\n{quoted}end\"\nwebhooks:\n"),
        1,
    );
    same_with_memo(&in_text, memo.path(), &applied);
    let only_text = in_text[..in_text.rfind("webhooks:\n").expect("the list")].to_owned() + "webhooks: []\n";
    same_with_memo(&only_text, memo.path(), &applied);
    // Nothing is left of a file that moved every entry elsewhere.
    let moved = base.replace("\n  - ", "\n    - ");
    same_with_memo(&moved, memo.path(), &applied);
}

#[test]
fn a_memo_of_another_build_or_damaged_is_not_used() {
    let base = memo_file();
    let memo = memo_of(&base);
    let path = memo.path().join(super::memo::FILE);
    let written = std::fs::read_to_string(&path).expect("the memo");
    let applied = Applied::default();
    assert_eq!(same_with_memo(&base, memo.path(), &applied), 60);
    let other = written.replacen("\"rules\":\"", "\"rules\":\"0.0.0+", 1);
    std::fs::write(&path, other).expect("written");
    assert_eq!(same_with_memo(&base, memo.path(), &applied), 0, "another build's");
    std::fs::write(&path, &written[..written.len() / 2]).expect("written");
    assert_eq!(
        same_with_memo(&base, memo.path(), &applied),
        0,
        "a memo cut short"
    );
    // Places and digests no memo of this build holds.
    for damaged in [
        written.replacen("\"at\":[0,5]", "\"at\":[18446744073709551615,5]", 1),
        written.replacen("\"at\":[0,5]", "\"at\":[40,5]", 1),
        written.replacen("\"sha256:", "\"sha256:zz", 1),
        // Keys: one with a digit too many, one with a digit in upper case.
        written.replacen("\"key\":\"", "\"key\":\"0", 1),
        key_digit_upper(&written),
    ] {
        assert_ne!(damaged, written);
        std::fs::write(&path, damaged).expect("written");
        assert_eq!(same_with_memo(&base, memo.path(), &applied), 0, "a damaged memo");
    }
    // An entry remembered wrongly is caught where it can be: the file's own problems.
    std::fs::write(&path, written.replace("\"id\":\"hook-2\"", "\"id\":\"hook-1\"")).expect("written");
    let text = base.clone();
    let memo_read = || super::Memo::read(memo.path());
    match super::parse_open_against("f.yaml", text, keyring(), memo_read, || {
        Ok::<_, &str>(Applied::default())
    }) {
        Ok((_, config, _)) => assert_eq!(
            config.remembered, 0,
            "a duplicate id sends the file to be read whole"
        ),
        Err(refused) => panic!("{refused:?}"),
    }
}

/// `memo` with the first letter of its first key in upper case.
fn key_digit_upper(memo: &str) -> String {
    let start = memo.find("\"key\":\"").expect("a key") + "\"key\":\"".len();
    let key = &memo[start..start + 64];
    let at = start
        + key
            .find(|c: char| c.is_ascii_lowercase())
            .expect("a letter digit");
    let mut out = memo.to_owned();
    out.replace_range(at..=at, &memo[at..=at].to_ascii_uppercase());
    out
}

#[test]
fn the_file_s_limits_count_the_entries_the_memo_gives() {
    // Each entry alone within the limit on nodes, the two together over it.
    let list = |id: &str| {
        let items = vec!["a"; 1_100_000].join(",");
        format!("  - id: {id}\n    mentions: [{items}]\n")
    };
    let base = memo_file();
    let one = base.replacen("  - id: hook-5\n", &list("hook-5"), 1);
    let dir = tempfile::tempdir().expect("a folder");
    super::Memo::write(dir.path(), &parse("f.yaml", &one).expect("valid")).expect("written");
    let two = one.replacen("  - id: hook-6\n", &list("hook-6"), 1);
    assert!(parse("f.yaml", &two).is_err(), "over the limit");
    assert_eq!(same_with_memo(&two, dir.path(), &Applied::default()), 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever a few edits make of a large file, it opens with the memo of the file
    /// before them as it opens without: the same config, or the same problems.
    #[test]
    fn an_edited_file_opens_the_same_with_the_memo_or_without(
        edits in proptest::collection::vec(
            (proptest::prelude::any::<proptest::sample::Index>(), 0..16usize, proptest::bool::ANY),
            1..5,
        )
    ) {
        static BASE: OnceLock<(String, tempfile::TempDir, Applied)> = OnceLock::new();
        let (base, memo, applied) = BASE.get_or_init(|| {
            let base = memo_file();
            let memo = memo_of(&base);
            let (_, desired) = super::parse_open("f.yaml", &base, keyring(), &Applied::default()).expect("opens");
            let applied = applied_from(&desired);
            (base, memo, applied)
        });
        let mut text = base.clone().into_bytes();
        // Edits land outside the ciphertexts, whose every byte counts already.
        let mut outside = Vec::new();
        let mut inside = false;
        let mut offset = 0;
        for line in base.split_inclusive('\n') {
            inside |= line.contains("-----BEGIN");
            if !inside {
                outside.extend(offset..offset + line.len());
            }
            inside &= !line.contains("-----END");
            offset += line.len();
        }
        for (at, what, insert) in edits.into_iter().rev() {
            let at = outside[at.index(outside.len())].min(text.len());
            let piece: &[u8] = [
                &b" "[..], b"\n", b"- ", b"\"", b"'", b"#", b"&a ", b"*a", b"!", b"{", b"[", b":", b"|", b"\t", b"\r", b"x",
            ][what];
            if insert {
                text.splice(at..at, piece.iter().copied());
            } else {
                let end = (at + piece.len()).min(text.len());
                text.splice(at..end, piece.iter().copied());
            }
        }
        let text = String::from_utf8(text).expect("ASCII");
        same_with_memo(&text, memo.path(), applied);
    }
}
