//! Group commit for the PostgreSQL store's intake: the alerts of every request waiting
//! while a transaction commits go in the next one, with a handful of statements for the
//! whole group, so that intake is bounded by commits, not by alerts.

use std::collections::HashMap;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::mpsc;

use super::outbox::{AlertRecord, AlertStatus, DEDUP_WINDOW_MS, NewAlert};

/// The most alerts one transaction takes.
const MAX_GROUP: usize = 2000;

/// An alert stored, or the JSON record of the earlier alert its key repeats.
pub(super) type Found = Result<AlertRecord, String>;

/// One caller's alerts, waiting for the committer.
pub(super) struct Intake {
    pub(super) alerts: Vec<NewAlert>,
    pub(super) now_ms: u64,
    pub(super) answer: std::sync::mpsc::SyncSender<Result<Vec<Found>, String>>,
}

/// Commits what waits, a group at a time, until every sender is gone.
pub(super) async fn commit(pool: PgPool, mut queue: mpsc::UnboundedReceiver<Intake>) {
    while let Some(first) = queue.recv().await {
        let mut count = first.alerts.len();
        let mut group = vec![first];
        while count < MAX_GROUP {
            let Ok(next) = queue.try_recv() else { break };
            count += next.alerts.len();
            group.push(next);
        }
        match store(&pool, &group, count).await {
            Ok(found) => {
                for (intake, found) in group.iter().zip(found) {
                    let _ = intake.answer.send(Ok(found));
                }
            }
            // What one request holds must not fail the others: each alone, then.
            Err(error) if group.len() > 1 => {
                tracing::warn!(%error, "a group of alerts could not be stored; storing each request alone");
                for intake in group {
                    let alone = std::slice::from_ref(&intake);
                    let answer = match store(&pool, alone, intake.alerts.len()).await {
                        Ok(mut found) => Ok(found.pop().unwrap_or_default()),
                        Err(error) => Err(error.to_string()),
                    };
                    let _ = intake.answer.send(answer);
                }
            }
            Err(error) => {
                let _ = group[0].answer.send(Err(error.to_string()));
            }
        }
    }
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The rows of the alerts to insert, column by column.
#[derive(Default)]
struct Rows {
    seq: Vec<i64>,
    webhook: Vec<String>,
    status: Vec<&'static str>,
    created_at: Vec<i64>,
    queued: Vec<bool>,
    dead: Vec<bool>,
    record: Vec<String>,
}

/// Stores the group in one transaction: a key seen within its window, in the database
/// or earlier in the group, gives the earlier alert.
async fn store(pool: &PgPool, group: &[Intake], count: usize) -> Result<Vec<Vec<Found>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut seqs: Vec<i64> = sqlx::query_scalar("select nextval('alert_seq') from generate_series(1, $1)")
        .bind(i64::try_from(count).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
    seqs.sort_unstable();
    let mut seqs = seqs.into_iter();

    let mut seen = seen_keys(&mut tx, group).await?;

    let mut rows = Rows::default();
    let mut keyed: HashMap<(String, String), (i64, i64)> = HashMap::new();
    let mut answers = Vec::with_capacity(group.len());
    for intake in group {
        let now = intake.now_ms;
        let mut found = Vec::with_capacity(intake.alerts.len());
        for alert in &intake.alerts {
            let seq = seqs.next().expect("a sequence number for every alert");
            let window = alert.dedup_window_ms.unwrap_or(DEDUP_WINDOW_MS);
            let slot = alert.key.clone().map(|key| (alert.webhook.clone(), key));
            if let Some((at, record)) = slot.as_ref().and_then(|slot| seen.get(slot))
                && now.saturating_sub(u64::try_from(*at).unwrap_or(0)) < window
            {
                found.push(Err(record.clone()));
                continue;
            }
            let record = alert
                .clone()
                .into_record(u64::try_from(seq).unwrap_or_default(), now);
            let text = serde_json::to_string(&record).expect("a record serializes");
            let queued = record.status == AlertStatus::Queued;
            if let Some(slot) = slot {
                keyed.insert(slot.clone(), (seq, millis(now)));
                seen.insert(slot, (millis(now), text.clone()));
            }
            rows.seq.push(seq);
            rows.webhook.push(record.webhook.clone());
            rows.status.push(if queued { "queued" } else { "failed" });
            rows.created_at.push(millis(now));
            rows.queued.push(queued);
            rows.dead.push(!queued);
            rows.record.push(text);
            found.push(Ok(record));
        }
        answers.push(found);
    }
    insert(&mut tx, &rows, keyed).await?;
    tx.commit().await?;
    Ok(answers)
}

/// The keys of the group's alerts as the database knows them: when each was last seen
/// and that alert's record. Locked, in their order, until the commit: another daemon
/// may take the same key in meanwhile.
async fn seen_keys(
    tx: &mut Transaction<'_, Postgres>,
    group: &[Intake],
) -> Result<HashMap<(String, String), (i64, String)>, sqlx::Error> {
    let mut keys: Vec<(String, String)> = group
        .iter()
        .flat_map(|intake| &intake.alerts)
        .filter_map(|alert| Some((alert.webhook.clone(), alert.key.clone()?)))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    keys.sort();
    keys.dedup();
    let (webhooks, names): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
    sqlx::query(
        "select pg_advisory_xact_lock(hashtextextended(k, hashtextextended(w, 0)))
         from unnest($1::text[], $2::text[]) as t(w, k)",
    )
    .bind(&webhooks)
    .bind(&names)
    .execute(&mut **tx)
    .await?;
    let found = sqlx::query_as::<_, (String, String, i64, String)>(
        "select d.webhook, d.key, d.at_ms, a.record
         from unnest($1::text[], $2::text[]) as t(webhook, key)
         join dedup d on d.webhook = t.webhook and d.key = t.key
         join alerts a on a.seq = d.seq",
    )
    .bind(&webhooks)
    .bind(&names)
    .fetch_all(&mut **tx)
    .await?;
    Ok(found
        .into_iter()
        .map(|(w, k, at, record)| ((w, k), (at, record)))
        .collect())
}

/// The new alerts, and their keys as seen now.
async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    rows: &Rows,
    keyed: HashMap<(String, String), (i64, i64)>,
) -> Result<(), sqlx::Error> {
    if !rows.seq.is_empty() {
        sqlx::query(
            "insert into alerts (seq, webhook, status, created_at, queued, dead, record)
             select * from unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::bool[], $6::bool[], $7::text[])",
        )
        .bind(&rows.seq)
        .bind(&rows.webhook)
        .bind(&rows.status)
        .bind(&rows.created_at)
        .bind(&rows.queued)
        .bind(&rows.dead)
        .bind(&rows.record)
        .execute(&mut **tx)
        .await?;
    }
    if !keyed.is_empty() {
        let mut webhooks = Vec::with_capacity(keyed.len());
        let mut names = Vec::with_capacity(keyed.len());
        let mut seqs = Vec::with_capacity(keyed.len());
        let mut ats = Vec::with_capacity(keyed.len());
        for ((webhook, key), (seq, at)) in keyed {
            webhooks.push(webhook);
            names.push(key);
            seqs.push(seq);
            ats.push(at);
        }
        sqlx::query(
            "insert into dedup (webhook, key, seq, at_ms)
             select * from unnest($1::text[], $2::text[], $3::int8[], $4::int8[])
             on conflict (webhook, key) do update set seq = excluded.seq, at_ms = excluded.at_ms",
        )
        .bind(&webhooks)
        .bind(&names)
        .bind(&seqs)
        .bind(&ats)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
