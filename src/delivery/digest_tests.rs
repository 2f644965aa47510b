use proptest::prelude::*;
use serde_json::{Value, json};

use super::{MAX_BLOCKS, MAX_SECTION, MAX_TEXT, fits, message};

fn text(t: &str) -> Value {
    json!({"text": t})
}

fn sections(message: &Value) -> Vec<String> {
    message["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Packs `payloads` as a worker does: digest after digest, in order.
fn pack(payloads: &[Value], max: usize) -> Vec<(usize, Value)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < payloads.len() {
        let refs: Vec<&Value> = payloads[at..].iter().collect();
        let n = fits(&refs, max);
        out.push((n, message(&refs[..n])));
        at += n;
    }
    out
}

#[test]
fn consecutive_alerts_share_a_message_in_order_up_to_max() {
    let payloads: Vec<Value> = (0..30).map(|i| text(&format!("disk {i} full"))).collect();
    let packed = pack(&payloads, 25);
    assert_eq!(packed.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [25, 5]);
    let first = &packed[0].1;
    assert_eq!(first["text"], "25 alerts");
    let shown = sections(first);
    assert_eq!(shown.len(), 25);
    assert_eq!(shown[0], "disk 0 full");
    assert_eq!(shown[24], "disk 24 full");
}

#[test]
fn mentions_are_gathered_once_at_the_top() {
    let payloads = [
        text("<@U0JANE> <!subteam^S0FIN> spend is up"),
        text("<@U0JANE> again"),
        text("<!here> and <@U0NOT> inside stays"),
    ];
    let refs: Vec<&Value> = payloads.iter().collect();
    let digest = message(&refs);
    assert_eq!(
        sections(&digest),
        [
            "<@U0JANE> <!subteam^S0FIN> <!here>",
            "spend is up",
            "again",
            "and <@U0NOT> inside stays",
        ]
    );
    assert_eq!(digest["text"], "<@U0JANE> <!subteam^S0FIN> <!here> 3 alerts");
}

#[test]
fn blocks_are_kept_and_a_layout_mention_line_moves_to_the_top() {
    let layout = json!({"text": "[FIRING:1] Disk <@U0JANE>", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "[FIRING:1] Disk"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "<@U0JANE>"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Firing: Disk* full"}},
    ]});
    let refs = [&layout, &text("plain one")];
    let digest = message(&refs);
    let blocks = digest["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 4, "{digest:#}");
    assert_eq!(blocks[0]["text"]["text"], "<@U0JANE>");
    assert_eq!(blocks[1]["type"], "header");
    assert_eq!(blocks[2]["text"]["text"], "*Firing: Disk* full");
    assert_eq!(blocks[3]["text"]["text"], "plain one");
}

#[test]
fn a_block_alerts_mentions_in_its_text_are_kept() {
    let blocks = json!({"text": "<!subteam^S0ONC> Disk full", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Disk* full"}},
    ]});
    let only_mentions = json!({"text": "<@U0JANE> Body in the text", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "<@U0JANE>"}},
    ]});
    let refs = [&blocks, &only_mentions];
    let digest = message(&refs);
    assert_eq!(digest["text"], "<!subteam^S0ONC> <@U0JANE> 2 alerts");
    assert_eq!(
        sections(&digest),
        ["<!subteam^S0ONC> <@U0JANE>", "*Disk* full", "Body in the text"]
    );
}

#[test]
fn an_alert_too_large_to_share_goes_alone_as_it_is() {
    let large = text(&"x".repeat(30_000));
    let huge = text(&"y".repeat(39_995));
    let payloads = [text("small"), large, huge.clone(), text("after")];
    let packed = pack(&payloads, 25);
    assert_eq!(packed.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 1, 1]);
    assert_eq!(
        sections(&packed[0].1).concat().len(),
        30_005,
        "small and the large one share"
    );
    assert_eq!(packed[1].1, huge, "alone: the payload unchanged");
    let unshareable = json!({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y".repeat(3001)}}]});
    let payloads = [text("a"), unshareable.clone(), text("b")];
    let packed = pack(&payloads, 25);
    assert_eq!(packed.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 1, 1]);
    assert_eq!(packed[1].1, unshareable);
}

#[test]
fn a_long_text_is_cut_at_line_ends_within_the_section_limit() {
    let long: String = (0..400).fold(String::new(), |mut long, i| {
        long.push_str(&format!("line {i:04} of text\n"));
        long
    });
    let refs = [&text(&long), &text("next")];
    let digest = message(&refs);
    let shown = sections(&digest);
    assert!(shown.iter().all(|s| s.chars().count() <= MAX_SECTION));
    assert!(shown[..shown.len() - 1].iter().all(|s| s.ends_with('\n')));
    assert_eq!(shown[..shown.len() - 1].concat(), long, "whole, in order");
}

/// The text each alert shows alone, without its leading mentions.
fn body(payload: &Value) -> String {
    let text = payload["text"].as_str().unwrap_or_default();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start_matches(' ');
        match super::mention_at(trimmed) {
            Some(len) => rest = &trimmed[len..],
            None => break,
        }
    }
    if rest.len() == text.len() {
        text.to_owned()
    } else {
        rest.trim_start_matches(' ').to_owned()
    }
}

fn chars(value: &Value) -> usize {
    super::block_chars(&value["blocks"]) + value["text"].as_str().map_or(0, |t| t.chars().count())
}

fn arb_payload() -> impl Strategy<Value = Value> {
    let mention = prop_oneof![
        Just("<@U0JANE>".to_owned()),
        Just("<!subteam^S0FIN>".to_owned()),
        Just("<!here>".to_owned()),
    ];
    let line = "[a-z ]{0,40}".prop_map(|s| s);
    (
        proptest::collection::vec(mention, 0..3),
        proptest::collection::vec(line, 1..8),
        0usize..3,
        prop_oneof![Just(0usize), Just(2_000), Just(9_000), Just(39_000)],
    )
        .prop_map(|(mentions, lines, _, filler)| {
            let mut body = lines.join("\n");
            body.push_str(&"z".repeat(filler));
            if body.trim().is_empty() {
                body.push('.');
            }
            let text = if mentions.is_empty() {
                body
            } else {
                format!("{} {body}", mentions.join(" "))
            };
            json!({"text": text})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_queue_packs_in_order_whole_and_within_limits(
        payloads in proptest::collection::vec(arb_payload(), 1..60),
        max in 1usize..30,
    ) {
        let packed = pack(&payloads, max);
        let mut at = 0;
        for (n, digest) in &packed {
            prop_assert!(*n >= 1 && *n <= max);
            let carried = &payloads[at..at + n];
            if *n == 1 {
                prop_assert_eq!(digest, &carried[0]);
            } else {
                let blocks = digest["blocks"].as_array().expect("blocks");
                prop_assert!(blocks.len() <= MAX_BLOCKS);
                prop_assert!(chars(digest) <= MAX_TEXT, "{} chars", chars(digest));
                for section in sections(digest) {
                    prop_assert!(section.chars().count() <= MAX_SECTION);
                }
                let shown = sections(digest).concat();
                let mut from = 0;
                for payload in carried {
                    let whole = body(payload);
                    let whole = whole.trim_end();
                    let found = shown[from..].find(whole);
                    prop_assert!(found.is_some(), "an alert's text is missing or out of order");
                    from += found.unwrap_or_default() + whole.len();
                }
            }
            at += n;
        }
        prop_assert_eq!(at, payloads.len());
    }
}
