//! The outbox's storage: order, crash leftovers, keys and pruning.

use super::*;

fn sled_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(&dir.path().join("state"), "test").expect("opens");
    (dir, store)
}

/// Each test runs on every store: sled, and PostgreSQL when it is installed.
fn stores() -> Vec<(tempfile::TempDir, std::sync::Arc<crate::state::Store>)> {
    super::super::store_tests::stores()
}

fn alert(webhook: &str, text: &str) -> NewAlert {
    NewAlert {
        webhook: webhook.to_owned(),
        payload: serde_json::json!({"text": text}),
        ..NewAlert::default()
    }
}

#[test]
fn alerts_leave_each_queue_in_order() {
    for (_dir, store) in stores() {
        store
            .enqueue(vec![alert("ops", "1"), alert("gov", "a"), alert("ops", "2")], 0)
            .expect("queued");
        for text in ["1", "2"] {
            let mut next = store.next_queued("ops").expect("reads").expect("queued");
            assert_eq!(next.payload["text"], text);
            next.status = AlertStatus::Delivered;
            store.finish_alert(&next).expect("finishes");
        }
        assert_eq!(store.next_queued("ops").expect("reads"), None);
        assert_eq!(
            store.next_queued("gov").expect("reads").expect("queued").payload["text"],
            "a"
        );
    }
}

#[test]
fn a_finished_alert_left_in_its_queue_is_cleared_not_resent() {
    for (_dir, store) in stores() {
        let queued = store
            .enqueue(
                vec![
                    alert("ops", "delivered"),
                    alert("ops", "failed"),
                    alert("ops", "next"),
                ],
                0,
            )
            .expect("queued");
        let mut delivered = queued[0].record.clone();
        delivered.status = AlertStatus::Delivered;
        store.update_alert(&delivered).expect("written");
        let mut failed = queued[1].record.clone();
        failed.status = AlertStatus::Failed;
        store.update_alert(&failed).expect("written");

        assert_eq!(
            store.queued_counts().expect("counts")["ops"],
            1,
            "what the daemon counts at start"
        );
        let next = store.next_queued("ops").expect("reads").expect("queued");
        assert_eq!(next.payload["text"], "next");
        let dead: Vec<String> = store
            .failed_alerts(None, 10)
            .expect("lists")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(dead, [failed.id]);
    }
}

#[test]
fn prune_forgets_a_record_left_without_its_queue_entry() {
    let (_dir, store) = sled_store();
    let queued = store
        .enqueue(vec![alert("ops", "orphan"), alert("ops", "waiting")], 0)
        .expect("queued");
    let orphan = &queued[0].record;
    let seq = seq_of(&orphan.id).expect("an id");
    store.queue.remove(queue_key("ops", seq)).expect("removed");
    assert_eq!(store.prune(2 * DEDUP_WINDOW_MS).expect("prunes"), 1);
    assert_eq!(store.alert(&orphan.id).expect("reads"), None);
    assert!(store.alert(&queued[1].record.id).expect("reads").is_some());
}

#[test]
fn a_key_returns_the_earlier_alert_also_within_one_batch() {
    for (_dir, store) in stores() {
        let keyed = || NewAlert {
            key: Some("k".into()),
            ..alert("ops", "once")
        };
        let first = store.enqueue(vec![keyed(), keyed()], 0).expect("queued");
        assert!(!first[0].duplicate && first[1].duplicate);
        assert_eq!(first[1].record.id, first[0].record.id);
        let later = store.enqueue(vec![keyed()], 1000).expect("queued");
        assert!(later[0].duplicate);
        assert_eq!(store.queued_counts().expect("counts")["ops"], 1);
    }
}

#[test]
fn a_key_with_its_own_window_stops_deduplicating_after_it() {
    for (_dir, store) in stores() {
        let keyed = || NewAlert {
            key: Some("peer".into()),
            dedup_window_ms: Some(300_000),
            ..alert("ops", "once")
        };
        let first = store.enqueue(vec![keyed()], 0).expect("queued");
        let within = store.enqueue(vec![keyed()], 299_999).expect("queued");
        assert!(within[0].duplicate);
        assert_eq!(within[0].record.id, first[0].record.id);
        let after = store.enqueue(vec![keyed()], 300_000).expect("queued");
        assert!(!after[0].duplicate, "the window is over: a new alert");
    }
}

#[test]
fn a_dead_letter_is_stored_failed_and_never_queued() {
    for (_dir, store) in stores() {
        let dead = NewAlert {
            dead: Some("no_route".into()),
            ..alert("", "unrouted")
        };
        let stored = store
            .enqueue(vec![dead, alert("ops", "routed")], 0)
            .expect("stored");
        assert_eq!(stored[0].record.status, AlertStatus::Failed);
        assert_eq!(stored[0].record.last_error.as_deref(), Some("no_route"));
        let failed = store.failed_alerts(None, 10).expect("lists");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].payload["text"], "unrouted");
        assert!(store.next_queued("").expect("reads").is_none());
        assert_eq!(store.queued_counts().expect("counts").get("ops"), Some(&1));
    }
}

#[test]
fn concurrent_enqueues_are_all_stored_in_order_and_a_key_is_taken_once() {
    for (_dir, store) in stores() {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut ids = Vec::new();
                    for i in 0..25 {
                        let mut batch = vec![alert("ops", &format!("{t}-{i}"))];
                        if i % 5 == 0 {
                            batch.push(NewAlert {
                                key: Some("shared".into()),
                                ..alert("gov", "once")
                            });
                        }
                        let enqueued = store.enqueue(batch, 0).expect("queued");
                        assert_eq!(enqueued[0].record.payload["text"], format!("{t}-{i}"));
                        ids.push(enqueued[0].record.id.clone());
                    }
                    ids
                })
            })
            .collect();
        for thread in threads {
            let ids = thread.join().expect("no panic");
            let mut sorted = ids.clone();
            sorted.sort();
            assert_eq!(
                ids, sorted,
                "{store:?}: one caller's alerts are queued in its order"
            );
        }
        let counts = store.queued_counts().expect("counts");
        assert_eq!(counts["ops"], 200, "{store:?}");
        assert_eq!(counts["gov"], 1, "{store:?}: the key was taken once");
    }
}

#[test]
fn an_alert_the_store_refuses_fails_only_its_own_request() {
    for (_dir, store) in stores() {
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut alert = alert("ops", &format!("{t}"));
                    if t == 3 {
                        // PostgreSQL takes no NUL in text.
                        alert.key = Some("bad\0key".into());
                    }
                    (t, store.enqueue(vec![alert], 0))
                })
            })
            .collect();
        for thread in threads {
            let (t, enqueued) = thread.join().expect("no panic");
            if t != 3 {
                assert!(enqueued.is_ok(), "{store:?}: request {t}: {enqueued:?}");
            }
        }
    }
}
