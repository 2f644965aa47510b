//! The store's own tests, run on every backend so that they cannot drift: sled always,
//! PostgreSQL when it is installed (a throwaway cluster; under `CI` it must be).

use std::sync::Arc;

use super::*;
use crate::state::audit::{AuditChange, Head};

#[path = "../../tests/support/postgres.rs"]
#[allow(dead_code, clippy::all, clippy::pedantic)]
mod postgres;

/// A sled store in a temporary directory, and a PostgreSQL store in a fresh database.
pub(super) fn stores() -> Vec<(tempfile::TempDir, Arc<Store>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = Store::open(&dir.path().join("state"), "test").expect("sled opens");
    let mut stores = vec![(dir, sled)];
    if let Some(cluster) = postgres::cluster() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = PgStore::open(&cluster.database(), None, dir.path()).expect("postgres opens");
        stores.push((dir, Arc::new(store)));
    }
    stores
}

fn draft(summary: &str) -> Draft {
    Draft {
        time: 1_700_000_000,
        actor: "alice@ci".to_owned(),
        config_digest: "sha256:00".to_owned(),
        summary: "1 to create".to_owned(),
        changes: vec![AuditChange {
            id: summary.to_owned(),
            action: "create".to_owned(),
        }],
    }
}

#[test]
fn an_apply_compares_and_sets_the_serial_and_chains_the_audit_log() {
    for (_dir, store) in stores() {
        assert_eq!(store.applied().expect("reads").serial, 0);
        let serial = store
            .commit(0, &Writes::default(), &draft("ops"))
            .expect("commits");
        assert_eq!(serial, 1);
        let stale = store.commit(0, &Writes::default(), &draft("gov"));
        assert!(
            matches!(
                stale,
                Err(StateError::Stale {
                    expected: 0,
                    actual: 1
                })
            ),
            "{store:?}: {stale:?}"
        );
        store
            .commit(1, &Writes::default(), &draft("gov"))
            .expect("commits");
        let history = store.history().expect("reads");
        assert_eq!(history.len(), 2);
        let head: Head = store.audit_head().expect("reads");
        assert_eq!(head.serial, 2);
        audit::verify(&history, &head).expect("an intact chain");
        let latest = store.latest_history(1).expect("reads");
        assert_eq!(latest.len(), 1);
        assert_eq!(
            (latest[0].serial, &latest[0].changes[0].id),
            (2, &"gov".to_owned())
        );
        assert_eq!(store.latest_history(10).expect("reads").len(), 2);
    }
}

#[test]
fn health_is_kept_per_webhook() {
    for (_dir, store) in stores() {
        assert_eq!(store.health("ops").expect("reads"), None);
        let health = Health {
            state: HealthState::Revoked,
            last_error: Some("invalid_token".to_owned()),
            updated_at: 5,
            last_delivered_at: Some(4),
        };
        store.set_health("ops", &health).expect("writes");
        assert_eq!(store.health("ops").expect("reads"), Some(health.clone()));
        assert_eq!(
            store.healths().expect("reads"),
            std::collections::BTreeMap::from([("ops".to_owned(), health.clone())])
        );
        assert_eq!(store.health("gov").expect("reads"), None);
    }
}

#[test]
fn a_retried_dead_letter_is_kept_and_names_its_new_alert() {
    for (_dir, store) in stores() {
        let dead = NewAlert {
            webhook: "ops".to_owned(),
            payload: serde_json::json!({"text": "x"}),
            dead: Some("no_route".to_owned()),
            ..NewAlert::default()
        };
        let id = store.enqueue(vec![dead], 0).expect("stored")[0].record.id.clone();
        let retried = store.retry_alert(&id, 10).expect("retries").expect("known");
        assert_eq!(retried.retry_of.as_deref(), Some(id.as_str()));
        assert_eq!(retried.status, AlertStatus::Queued);
        let kept = store.alert(&id).expect("reads").expect("kept");
        assert_eq!(kept.retried_as.as_deref(), Some(retried.id.as_str()));
        assert!(
            store.failed_alerts(None, 10).expect("lists").is_empty(),
            "no longer a dead letter"
        );
        let again = store.retry_alert(&id, 20).expect("answers").expect("known");
        assert_eq!(again.id, id, "a second retry answers the alert as it is");
        assert_eq!(store.queued_counts().expect("counts")["ops"], 1);
    }
}

#[test]
fn a_webhook_is_leased_to_one_holder_until_its_lease_expires_or_is_released() {
    let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    let set = |list: &[&str]| {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<std::collections::BTreeSet<_>>()
    };
    for (_dir, store) in stores() {
        let long = std::time::Duration::from_secs(60);
        let a = store.lease("a", &names(&["ops", "gov"]), long).expect("leases");
        assert_eq!(a.held, set(&["ops", "gov"]), "{store:?}");
        assert!(a.taken.is_empty(), "{store:?}");
        if !store.shared() {
            // A store of one process's own: every webhook is its.
            continue;
        }
        // Held: another holder gets neither, and the holder's renewal keeps both.
        let b = store
            .lease("b", &names(&["ops", "gov", "dev"]), long)
            .expect("leases");
        assert_eq!(b.held, set(&["dev"]));
        assert_eq!(
            store.lease("a", &[], long).expect("renews").held,
            set(&["ops", "gov"])
        );

        // Expired: taken over, and said so.
        let short = std::time::Duration::from_millis(200);
        store.lease("a", &[], short).expect("renews");
        std::thread::sleep(std::time::Duration::from_millis(400));
        let b = store.lease("b", &names(&["ops"]), long).expect("leases");
        assert_eq!(b.held, set(&["ops", "dev"]));
        assert_eq!(b.taken, set(&["ops"]));
        assert_eq!(store.lease("a", &[], long).expect("renews").held, set(&["gov"]));

        // Released: taken at once.
        store.release("b").expect("releases");
        let a = store.lease("a", &names(&["ops", "dev"]), long).expect("leases");
        assert_eq!(a.held, set(&["ops", "gov", "dev"]));
        assert_eq!(a.taken, set(&["ops", "dev"]));
    }
}

fn webhook(id: &str, fingerprint: &str) -> AppliedWebhook {
    AppliedWebhook {
        id: id.to_owned(),
        name: id.to_owned(),
        channel: None,
        mentions: Vec::new(),
        url: SealedSecret {
            armored: "(ciphertext)".into(),
            fingerprint: fingerprint.to_owned(),
            redacted: "https://hooks.slack.com/services/T0FAKE/B0FAKE/****FAKE".to_owned(),
            ciphertext_digest: None,
        },
        team: "T0FAKE".to_owned(),
        created_at: 1,
        updated_at: 1,
        rotated_at: None,
    }
}

#[test]
fn ciphertext_digests_are_recorded_only_against_the_serial_and_plaintext_compared() {
    for (_dir, store) in stores() {
        let writes = Writes {
            put: vec![webhook("ops", "sha256:ops"), webhook("gov", "sha256:gov")],
            token: TokenWrite::Put(Box::new(AppliedToken {
                secret: SealedSecret {
                    armored: "(ciphertext)".into(),
                    fingerprint: "sha256:token".to_owned(),
                    redacted: "xoxb-****".to_owned(),
                    ciphertext_digest: None,
                },
                set_at: 1,
                rotated_at: None,
                facts: None,
            })),
            ..Writes::default()
        };
        let serial = store.commit(0, &writes, &draft("ops")).expect("commits");
        let digests = |serial| Digests {
            serial,
            webhooks: vec![
                (
                    "ops".to_owned(),
                    "sha256:ops".to_owned(),
                    "sha256:file-ops".to_owned(),
                ),
                // Compared with another plaintext than the applied one: not recorded.
                (
                    "gov".to_owned(),
                    "sha256:other".to_owned(),
                    "sha256:file-gov".to_owned(),
                ),
                (
                    "gone".to_owned(),
                    "sha256:gone".to_owned(),
                    "sha256:file-gone".to_owned(),
                ),
            ],
            token: Some(("sha256:token".to_owned(), "sha256:file-token".to_owned())),
        };
        assert!(
            !store.record_digests(&digests(serial + 1)).expect("writes"),
            "{store:?}"
        );
        let before = store.applied().expect("reads");
        assert!(before.webhooks.iter().all(|w| w.url.ciphertext_digest.is_none()));

        assert!(
            store.record_digests(&digests(serial)).expect("writes"),
            "{store:?}"
        );
        let after = store.applied().expect("reads");
        assert_eq!(after.serial, serial, "the serial stays");
        assert_eq!(store.history().expect("reads").len(), 1, "no audit entry");
        let recorded: Vec<_> = after
            .webhooks
            .iter()
            .map(|w| (w.id.as_str(), w.url.ciphertext_digest.as_deref()))
            .collect();
        assert_eq!(
            recorded,
            [("gov", None), ("ops", Some("sha256:file-ops"))],
            "{store:?}"
        );
        let token = after.token.expect("a token").secret.ciphertext_digest;
        assert_eq!(token.as_deref(), Some("sha256:file-token"));
    }
}

#[test]
fn a_record_written_before_digests_were_kept_reads_without_one() {
    let record = r#"{"id":"ops","name":"Ops","channel":null,"mentions":[],"url":{"armored":"(ciphertext)","fingerprint":"sha256:ops","redacted":"https://hooks.slack.com/services/T0FAKE/B0FAKE/****FAKE"},"team":"T0FAKE","created_at":1,"updated_at":1,"rotated_at":null}"#;
    let webhook: AppliedWebhook = serde_json::from_str(record).expect("an old record reads");
    assert_eq!(webhook.url.ciphertext_digest, None);
    assert_eq!(
        serde_json::to_string(&webhook).expect("writes"),
        record,
        "and is written back as it was"
    );
}

#[test]
fn a_ciphertext_with_escapes_reads_back_as_written() {
    let armored = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCg==\n\"fake\" \u{e9}\n-----END AGE ENCRYPTED FILE-----\n";
    let mut written = webhook("ops", "sha256:ops");
    written.url.armored = armored.into();
    let record = serde_json::to_vec(&written).expect("writes");
    assert!(
        String::from_utf8_lossy(&record).contains("\\n"),
        "its line breaks escaped"
    );
    let from_slice: AppliedWebhook = serde_json::from_slice(&record).expect("reads");
    let from_str: AppliedWebhook =
        serde_json::from_str(std::str::from_utf8(&record).expect("UTF-8")).expect("reads");
    assert_eq!(&*from_slice.url.armored, armored);
    assert_eq!(from_str, written);
    let unescaped: AppliedWebhook =
        serde_json::from_str(&serde_json::to_string(&webhook("gov", "sha256:gov")).expect("writes"))
            .expect("reads");
    assert_eq!(&*unescaped.url.armored, "(ciphertext)");
}
