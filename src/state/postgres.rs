//! The PostgreSQL store: what the sled store holds, in a database that several hosts and
//! CI can share (`--store postgres://…`).
//!
//! The schema is versioned: the migrations under `migrations/postgres` run at open (and
//! by `hookwarden store migrate`), and a database migrated by a newer hookwarden is
//! refused. An apply is one transaction under an advisory lock that compares and sets
//! the serial, so two appliers apply one change once and a stale plan is refused. Every
//! write is committed when the call returns.
//!
//! The [`Backend`](super::Backend) methods are synchronous, as sled's are; the queries
//! run on a small runtime of the store's own, and a call waits for its answer on a
//! channel, so it may be made from any thread, inside an async runtime or not.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::audit::{self, AuditEntry, Draft};
use super::outbox::{AlertRecord, AlertStatus, DEDUP_WINDOW_MS, Enqueued, Health, NewAlert};
use super::pg_intake;
use super::{Applied, AppliedWebhook, Digests, Leases, StateError, SyncedDirectory, TokenWrite, Writes};
use crate::routes::Routing;

/// The key of the advisory lock that serializes applies.
const APPLY_LOCK: i64 = 0x686f_6f6b_7761_7264; // "hookward"

/// The key of the advisory lock that serializes lease renewals, so that two daemons
/// never wait on each other's lease rows.
const LEASE_LOCK: i64 = 0x686f_6f6b_6c65_6173; // "hooklea" + "s"

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// An open PostgreSQL store.
pub struct PgStore {
    /// The URL without its password, for messages.
    shown: String,
    /// Where the daemon's admin socket goes.
    dir: PathBuf,
    pool: PgPool,
    /// Alerts for the group committer ([`pg_intake`]).
    intake: tokio::sync::mpsc::UnboundedSender<pg_intake::Intake>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("store", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // A runtime may not be dropped where blocking is not allowed (inside another).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `url` without its password, as messages show it.
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("****"));
            }
            // libpq and sqlx also take the password as a parameter.
            if parsed.query().is_some() {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(name, value)| {
                        let secret = matches!(name.as_ref(), "password" | "sslpassword");
                        (
                            name.into_owned(),
                            if secret {
                                "****".to_owned()
                            } else {
                                value.into_owned()
                            },
                        )
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => "(an unreadable URL)".to_owned(),
    }
}

impl PgStore {
    /// Connects to `url` (libpq form; the password from the URL, `PGPASSWORD`,
    /// `~/.pgpass` or the file `password_file`) and migrates the schema. `dir` is where
    /// the daemon's admin socket goes.
    pub fn open(url: &str, password_file: Option<&Path>, dir: &Path) -> Result<Self, StateError> {
        let shown = shown_url(url);
        let failed = |reason: String| StateError::Database {
            store: shown.clone(),
            reason,
        };
        let mut options: PgConnectOptions = url
            .parse()
            .map_err(|e: sqlx::Error| {
                failed(format!(
                    "not a PostgreSQL URL ({e}): write postgres://USER@HOST/DB, with a unix socket's directory as the host, percent-encoded (postgres://USER@%2Frun%2Fpostgresql/DB)"
                ))
            })?;
        if let Some(path) = password_file {
            let password = std::fs::read_to_string(path)
                .map_err(|e| failed(format!("cannot read the password file {}: {e}", path.display())))?;
            options = options.password(password.trim_end_matches(['\n', '\r']));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hookwarden-postgres")
            .enable_all()
            .build()
            .map_err(|e| failed(format!("cannot start its runtime: {e}")))?;
        // The pool's own tasks run on the store's runtime.
        let entered = runtime.enter();
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options);
        drop(entered);
        let (intake, queue) = tokio::sync::mpsc::unbounded_channel();
        runtime.spawn(pg_intake::commit(pool.clone(), queue));
        let store = PgStore {
            shown,
            dir: dir.to_owned(),
            pool,
            intake,
            runtime: Some(runtime),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Runs the migrations this hookwarden knows and the database lacks; refuses a
    /// database that a newer one migrated. Returns the schema version.
    pub fn migrate(&self) -> Result<i64, StateError> {
        let pool = self.pool.clone();
        let newest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or_default();
        let shown = self.shown.clone();
        self.wait(async move {
            match MIGRATOR.run(&pool).await {
                Ok(()) => Ok(Ok(newest)),
                Err(sqlx::migrate::MigrateError::VersionMissing(found)) => Ok(Err(StateError::NewerSchema {
                    dir: PathBuf::from(shown),
                    found: u32::try_from(found).unwrap_or(u32::MAX),
                })),
                Err(sqlx::migrate::MigrateError::Execute(error)) => Err(error),
                Err(other) => Err(sqlx::Error::Protocol(other.to_string())),
            }
        })?
    }

    /// Runs `work` on the store's runtime and waits for it.
    fn wait<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    ) -> Result<T, StateError> {
        let (send, answer) = std::sync::mpsc::sync_channel(1);
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .spawn(async move {
                let _ = send.send(work.await);
            });
        let result = blocking(|| answer.recv()).map_err(|_| StateError::ShuttingDown)?;
        result.map_err(|e| self.error(&e))
    }

    fn error(&self, error: &sqlx::Error) -> StateError {
        match error {
            sqlx::Error::Protocol(reason) => StateError::Database {
                store: self.shown.clone(),
                reason: reason.clone(),
            },
            other => StateError::Database {
                store: self.shown.clone(),
                reason: other.to_string(),
            },
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, text: &str, what: &str) -> Result<T, StateError> {
        serde_json::from_str(text).map_err(|e| StateError::Corrupt {
            dir: PathBuf::from(&self.shown),
            what: format!("{what} cannot be read: {e}"),
        })
    }

    fn meta(&self, key: &'static str) -> Result<Option<String>, StateError> {
        let pool = self.pool.clone();
        self.wait(async move {
            sqlx::query_scalar::<_, String>("select value from meta where key = $1")
                .bind(key)
                .fetch_optional(&pool)
                .await
        })
    }

    fn serial(&self) -> Result<u64, StateError> {
        Ok(self.meta("serial")?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}

/// Runs `wait`, which blocks on the database: on a worker of a multi-threaded runtime
/// (the daemon's), the worker's other tasks move to another thread meanwhile.
fn blocking<T>(wait: impl FnOnce() -> T) -> T {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(wait)
    } else {
        wait()
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("a record serializes")
}

fn status_text(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Queued => "queued",
        AlertStatus::Delivered => "delivered",
        AlertStatus::Failed => "failed",
    }
}

fn seq_of(id: &str) -> Option<i64> {
    u64::from_str_radix(id, 16)
        .ok()
        .and_then(|seq| i64::try_from(seq).ok())
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The serial, read under the lock that applies take: it cannot move until `tx` ends.
async fn locked_serial(tx: &mut Transaction<'_, Postgres>) -> Result<u64, sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(APPLY_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(
        sqlx::query_scalar::<_, String>("select value from meta where key = 'serial'")
            .fetch_optional(&mut **tx)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

async fn put_meta(tx: &mut Transaction<'_, Postgres>, key: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query("insert into meta (key, value) values ($1, $2) on conflict (key) do update set value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut **tx)
        .await
        .map(drop)
}

/// Writes an alert's record and where it stands.
async fn put_alert(
    tx: &mut Transaction<'_, Postgres>,
    seq: i64,
    record: &AlertRecord,
    queued: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into alerts (seq, webhook, status, created_at, queued, dead, record) values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (seq) do update set status = excluded.status, queued = excluded.queued, dead = excluded.dead, record = excluded.record",
    )
    .bind(seq)
    .bind(&record.webhook)
    .bind(status_text(record.status))
    .bind(millis(record.created_at))
    .bind(queued)
    .bind(record.status == AlertStatus::Failed && record.retried_as.is_none() && !queued)
    .bind(json(record))
    .execute(&mut **tx)
    .await
    .map(drop)
}

impl super::Backend for PgStore {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn shared(&self) -> bool {
        true
    }

    /// Both by the database's clock, in one transaction: the holder's leases renewed,
    /// then the wanted webhooks whose lease is missing or has expired taken.
    fn lease(&self, holder: &str, wanted: &[String], lease: Duration) -> Result<Leases, StateError> {
        let pool = self.pool.clone();
        let (holder, wanted, seconds) = (holder.to_owned(), wanted.to_vec(), lease.as_secs_f64());
        let (renewed, claimed) = self.wait(async move {
            let mut tx = pool.begin().await?;
            sqlx::query("select pg_advisory_xact_lock($1)")
                .bind(LEASE_LOCK)
                .execute(&mut *tx)
                .await?;
            let renewed = sqlx::query_scalar::<_, String>(
                "update delivery_leases set expires_at = now() + $2 * interval '1 second'
                 where holder = $1 returning webhook",
            )
            .bind(&holder)
            .bind(seconds)
            .fetch_all(&mut *tx)
            .await?;
            // xmax is set on a row that was updated rather than inserted: a lease another
            // daemon held.
            let claimed = sqlx::query_as::<_, (String, bool)>(
                "insert into delivery_leases (webhook, holder, expires_at)
                 select webhook, $1, now() + $3 * interval '1 second' from unnest($2::text[]) as webhook
                 on conflict (webhook) do update set holder = excluded.holder, expires_at = excluded.expires_at
                 where delivery_leases.expires_at <= now()
                 returning webhook, xmax <> 0",
            )
            .bind(&holder)
            .bind(&wanted)
            .bind(seconds)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((renewed, claimed))
        })?;
        let mut leases = Leases::default();
        leases.held.extend(renewed);
        for (webhook, taken) in claimed {
            if taken {
                leases.taken.insert(webhook.clone());
            }
            leases.held.insert(webhook);
        }
        Ok(leases)
    }

    fn release(&self, holder: &str) -> Result<(), StateError> {
        let pool = self.pool.clone();
        let holder = holder.to_owned();
        self.wait(async move {
            sqlx::query("update delivery_leases set expires_at = now() where holder = $1")
                .bind(holder)
                .execute(&pool)
                .await
                .map(drop)
        })
    }

    fn serial(&self) -> Result<u64, StateError> {
        PgStore::serial(self)
    }

    fn reachable(&self) -> Result<(), StateError> {
        let pool = self.pool.clone();
        self.wait(async move { sqlx::query("select 1").execute(&pool).await.map(drop) })
    }

    fn applied(&self) -> Result<Applied, StateError> {
        let pool = self.pool.clone();
        let (webhooks, meta) = self.wait(async move {
            let mut tx = pool.begin().await?;
            // One snapshot of both.
            sqlx::query("set transaction isolation level repeatable read")
                .execute(&mut *tx)
                .await?;
            let webhooks = sqlx::query_scalar::<_, String>("select record from webhooks order by id")
                .fetch_all(&mut *tx)
                .await?;
            let meta = sqlx::query_as::<_, (String, String)>(
                "select key, value from meta where key in ('serial', 'bot_token', 'routing')",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((webhooks, meta))
        })?;
        let get = |key: &str| meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let webhooks = webhooks
            .iter()
            .map(|text| self.decode::<AppliedWebhook>(text, "a webhook record"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Applied {
            serial: get("serial").and_then(|v| v.parse().ok()).unwrap_or(0),
            webhooks,
            token: get("bot_token")
                .map(|t| self.decode(t, "the bot token record"))
                .transpose()?,
            routing: get("routing")
                .map(|r| self.decode(r, "the routing record"))
                .transpose()?
                .unwrap_or_else(Routing::default),
        })
    }

    fn commit(&self, expected_serial: u64, writes: &Writes, draft: &Draft) -> Result<u64, StateError> {
        let pool = self.pool.clone();
        let puts: Vec<(String, String)> = writes.put.iter().map(|w| (w.id.clone(), json(w))).collect();
        let deletes = writes.delete.clone();
        let token = match &writes.token {
            TokenWrite::Put(token) => Some(Some(json(token))),
            TokenWrite::Delete => Some(None),
            TokenWrite::Keep => None,
        };
        let directory = writes.directory.as_ref().map(json);
        let routing = writes.routing.as_ref().map(json);
        let draft = draft.clone();
        let outcome = self.wait(async move {
            let mut tx = pool.begin().await?;
            let actual = locked_serial(&mut tx).await?;
            if actual != expected_serial {
                return Ok(Err(actual));
            }
            for id in &deletes {
                sqlx::query("delete from webhooks where id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            for (id, record) in &puts {
                sqlx::query(
                    "insert into webhooks (id, record) values ($1, $2) on conflict (id) do update set record = excluded.record",
                )
                .bind(id)
                .bind(record)
                .execute(&mut *tx)
                .await?;
            }
            match &token {
                Some(Some(token)) => put_meta(&mut tx, "bot_token", token).await?,
                Some(None) => {
                    // The directory was the token's: without it, it can no longer be synced.
                    sqlx::query("delete from meta where key in ('bot_token', 'directory')")
                        .execute(&mut *tx)
                        .await?;
                }
                None => {}
            }
            if let Some(directory) = &directory {
                put_meta(&mut tx, "directory", directory).await?;
            }
            if let Some(routing) = &routing {
                put_meta(&mut tx, "routing", routing).await?;
            }
            let prev_hash = sqlx::query_scalar::<_, String>("select value from meta where key = 'audit_head'")
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or_default();
            let serial = actual + 1;
            let entry = AuditEntry::new(draft, serial, prev_hash);
            sqlx::query("insert into audit (serial, entry) values ($1, $2)")
                .bind(i64::try_from(serial).unwrap_or(i64::MAX))
                .bind(json(&entry))
                .execute(&mut *tx)
                .await?;
            put_meta(&mut tx, "audit_head", &entry.hash).await?;
            put_meta(&mut tx, "serial", &serial.to_string()).await?;
            tx.commit().await?;
            Ok(Ok(serial))
        })?;
        outcome.map_err(|actual| StateError::Stale {
            expected: expected_serial,
            actual,
        })
    }

    fn record_digests(&self, digests: &Digests) -> Result<bool, StateError> {
        if digests.is_empty() {
            return Ok(false);
        }
        let pool = self.pool.clone();
        let digests = digests.clone();
        self.wait(async move {
            let mut tx = pool.begin().await?;
            if locked_serial(&mut tx).await? != digests.serial {
                return Ok(false);
            }
            let ids: Vec<&str> = digests.webhooks.iter().map(|(id, ..)| id.as_str()).collect();
            let stored: BTreeMap<String, String> =
                sqlx::query_as::<_, (String, String)>("select id, record from webhooks where id = any($1)")
                    .bind(&ids)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
            let (ids, records): (Vec<&str>, Vec<String>) = digests
                .webhooks
                .iter()
                .filter_map(|(id, fingerprint, digest)| {
                    let record = Digests::webhook_record(stored.get(id)?.as_bytes(), fingerprint, digest)?;
                    Some((id.as_str(), String::from_utf8(record).expect("JSON is UTF-8")))
                })
                .unzip();
            sqlx::query(
                "update webhooks set record = u.record from unnest($1::text[], $2::text[]) as u(id, record) where webhooks.id = u.id",
            )
            .bind(&ids)
            .bind(&records)
            .execute(&mut *tx)
            .await?;
            let token = sqlx::query_scalar::<_, String>("select value from meta where key = 'bot_token'")
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(record) = token.and_then(|t| digests.token_record(t.as_bytes())) {
                put_meta(&mut tx, "bot_token", &String::from_utf8(record).expect("JSON is UTF-8")).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    fn directory(&self) -> Result<Option<SyncedDirectory>, StateError> {
        self.meta("directory")?
            .map(|text| self.decode(&text, "the Slack directory"))
            .transpose()
    }

    fn replace_directory(&self, synced: &SyncedDirectory) -> Result<(), StateError> {
        let pool = self.pool.clone();
        let value = json(synced);
        self.wait(async move {
            let mut tx = pool.begin().await?;
            put_meta(&mut tx, "directory", &value).await?;
            tx.commit().await
        })
    }

    fn audit_head(&self) -> Result<audit::Head, StateError> {
        Ok(audit::Head {
            serial: self.serial()?,
            hash: self.meta("audit_head")?.unwrap_or_default(),
        })
    }

    fn history(&self) -> Result<Vec<AuditEntry>, StateError> {
        let pool = self.pool.clone();
        let entries = self.wait(async move {
            sqlx::query_scalar::<_, String>("select entry from audit order by serial")
                .fetch_all(&pool)
                .await
        })?;
        entries
            .iter()
            .map(|text| self.decode(text, "an audit entry"))
            .collect()
    }

    fn latest_history(&self, count: usize) -> Result<Vec<AuditEntry>, StateError> {
        let pool = self.pool.clone();
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let entries = self.wait(async move {
            sqlx::query_scalar::<_, String>("select entry from audit order by serial desc limit $1")
                .bind(count)
                .fetch_all(&pool)
                .await
        })?;
        entries
            .iter()
            .map(|text| self.decode(text, "an audit entry"))
            .collect()
    }

    /// With the alerts of other requests, in one transaction (group commit).
    fn enqueue(&self, alerts: Vec<NewAlert>, now_ms: u64) -> Result<Vec<Enqueued>, StateError> {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        self.intake
            .send(pg_intake::Intake {
                alerts,
                now_ms,
                answer,
            })
            .map_err(|_| StateError::ShuttingDown)?;
        let found = blocking(|| answered.recv())
            .map_err(|_| StateError::ShuttingDown)?
            .map_err(|reason| StateError::Database {
                store: self.shown.clone(),
                reason,
            })?;
        found
            .into_iter()
            .map(|outcome| match outcome {
                Ok(record) => Ok(Enqueued {
                    record,
                    duplicate: false,
                }),
                Err(text) => Ok(Enqueued {
                    record: self.decode(&text, "an alert")?,
                    duplicate: true,
                }),
            })
            .collect()
    }

    fn flush(&self) -> Result<(), StateError> {
        // Every write was committed when its call returned.
        Ok(())
    }

    fn next_queued(&self, webhook: &str) -> Result<Option<AlertRecord>, StateError> {
        Ok(self.queued_head(webhook, 1)?.pop())
    }

    fn queued_head(&self, webhook: &str, count: usize) -> Result<Vec<AlertRecord>, StateError> {
        let mut head = Vec::new();
        loop {
            let pool = self.pool.clone();
            let webhook = webhook.to_owned();
            let limit = i64::try_from(count.saturating_sub(head.len())).unwrap_or(i64::MAX);
            let offset = i64::try_from(head.len()).unwrap_or(i64::MAX);
            let rows = self.wait(async move {
                sqlx::query_as::<_, (i64, String)>(
                    "select seq, record from alerts where webhook = $1 and queued order by seq offset $2 limit $3",
                )
                .bind(webhook)
                .bind(offset)
                .bind(limit)
                .fetch_all(&pool)
                .await
            })?;
            let mut cleared = false;
            for (seq, text) in &rows {
                let record: AlertRecord = self.decode(text, "an alert")?;
                if record.status == AlertStatus::Queued {
                    head.push(record);
                } else {
                    // Finished, but left queued by a crash between the two writes: done,
                    // not to be sent again.
                    self.unqueue(*seq, &record)?;
                    cleared = true;
                }
            }
            if !cleared || head.len() >= count || rows.is_empty() {
                return Ok(head);
            }
        }
    }

    /// An alert's status and place in the queue change in one statement here, so the
    /// count needs no record read.
    fn queued_counts(&self) -> Result<BTreeMap<String, usize>, StateError> {
        let pool = self.pool.clone();
        let rows = self.wait(async move {
            sqlx::query_as::<_, (String, i64)>(
                "select webhook, count(*) from alerts where queued and status = 'queued' group by webhook",
            )
            .fetch_all(&pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(webhook, count)| (webhook, usize::try_from(count).unwrap_or(usize::MAX)))
            .collect())
    }

    fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StateError> {
        let Some(seq) = seq_of(id) else {
            return Ok(None);
        };
        let pool = self.pool.clone();
        let text = self.wait(async move {
            sqlx::query_scalar::<_, String>("select record from alerts where seq = $1")
                .bind(seq)
                .fetch_optional(&pool)
                .await
        })?;
        text.map(|t| self.decode(&t, "an alert")).transpose()
    }

    fn update_alert(&self, record: &AlertRecord) -> Result<(), StateError> {
        let seq = seq_of(&record.id).unwrap_or_default();
        let pool = self.pool.clone();
        let (status, text) = (status_text(record.status), json(record));
        self.wait(async move {
            sqlx::query("update alerts set status = $2, record = $3 where seq = $1")
                .bind(seq)
                .bind(status)
                .bind(text)
                .execute(&pool)
                .await
                .map(drop)
        })
    }

    fn finish_alert(&self, record: &AlertRecord) -> Result<(), StateError> {
        let seq = seq_of(&record.id).unwrap_or_default();
        let pool = self.pool.clone();
        let record = record.clone();
        self.wait(async move {
            let mut tx = pool.begin().await?;
            put_alert(&mut tx, seq, &record, false).await?;
            tx.commit().await
        })
    }

    fn retry_alert(&self, id: &str, now_ms: u64) -> Result<Option<AlertRecord>, StateError> {
        let Some(old) = seq_of(id) else {
            return Ok(None);
        };
        let pool = self.pool.clone();
        let found = self.wait(async move {
            let mut tx = pool.begin().await?;
            let Some(text) =
                sqlx::query_scalar::<_, String>("select record from alerts where seq = $1 for update")
                    .bind(old)
                    .fetch_optional(&mut *tx)
                    .await?
            else {
                return Ok(None);
            };
            let Ok(record) = serde_json::from_str::<AlertRecord>(&text) else {
                return Ok(Some(Err(text)));
            };
            if record.status != AlertStatus::Failed || record.retried_as.is_some() {
                return Ok(Some(Ok(record)));
            }
            let seq: i64 = sqlx::query_scalar("select nextval('alert_seq')")
                .fetch_one(&mut *tx)
                .await?;
            let retried = AlertRecord {
                id: format!("{seq:016x}"),
                status: AlertStatus::Queued,
                attempts: 0,
                last_error: None,
                created_at: now_ms,
                next_attempt_at: now_ms,
                digest: None,
                alone: false,
                retried_as: None,
                retry_of: Some(record.id.clone()),
                ..record.clone()
            };
            // The failed one is kept, as failed alerts are, saying where it went; it is
            // no longer a dead letter.
            let kept = AlertRecord {
                retried_as: Some(retried.id.clone()),
                ..record
            };
            put_alert(&mut tx, old, &kept, false).await?;
            put_alert(&mut tx, seq, &retried, true).await?;
            if let Some(key) = &retried.key {
                sqlx::query(
                    "insert into dedup (webhook, key, seq, at_ms) values ($1, $2, $3, $4)
                     on conflict (webhook, key) do update set seq = excluded.seq, at_ms = excluded.at_ms",
                )
                .bind(&retried.webhook)
                .bind(key)
                .bind(seq)
                .bind(millis(now_ms))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(Some(Ok(retried)))
        })?;
        match found {
            None => Ok(None),
            Some(Ok(record)) => Ok(Some(record)),
            Some(Err(text)) => self.decode(&text, "an alert").map(Some),
        }
    }

    fn failed_alerts(&self, after: Option<&str>, limit: usize) -> Result<Vec<AlertRecord>, StateError> {
        let pool = self.pool.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after.and_then(seq_of).unwrap_or(-1);
        let rows = self.wait(async move {
            sqlx::query_scalar::<_, String>(
                "select record from alerts where dead and seq > $1 order by seq limit $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(&pool)
            .await
        })?;
        rows.iter().map(|t| self.decode(t, "an alert")).collect()
    }

    fn failed_count(&self) -> Result<usize, StateError> {
        let pool = self.pool.clone();
        let count: i64 = self.wait(async move {
            sqlx::query_scalar("select count(*) from alerts where dead")
                .fetch_one(&pool)
                .await
        })?;
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    fn set_health(&self, webhook: &str, health: &Health) -> Result<(), StateError> {
        let pool = self.pool.clone();
        let (webhook, text) = (webhook.to_owned(), json(health));
        self.wait(async move {
            sqlx::query(
                "insert into health (webhook, record) values ($1, $2) on conflict (webhook) do update set record = excluded.record",
            )
            .bind(webhook)
            .bind(text)
            .execute(&pool)
            .await
            .map(drop)
        })
    }

    fn health(&self, webhook: &str) -> Result<Option<Health>, StateError> {
        let pool = self.pool.clone();
        let webhook = webhook.to_owned();
        let text = self.wait(async move {
            sqlx::query_scalar::<_, String>("select record from health where webhook = $1")
                .bind(webhook)
                .fetch_optional(&pool)
                .await
        })?;
        text.map(|t| self.decode(&t, "a webhook's health")).transpose()
    }

    fn healths(&self) -> Result<BTreeMap<String, Health>, StateError> {
        let pool = self.pool.clone();
        let rows = self.wait(async move {
            sqlx::query_as::<_, (String, String)>("select webhook, record from health")
                .fetch_all(&pool)
                .await
        })?;
        rows.into_iter()
            .map(|(webhook, text)| Ok((webhook, self.decode(&text, "a webhook's health")?)))
            .collect()
    }

    fn prune(&self, now_ms: u64) -> Result<usize, StateError> {
        let pool = self.pool.clone();
        let (day, week) = (
            millis(now_ms.saturating_sub(DEDUP_WINDOW_MS)),
            millis(now_ms.saturating_sub(7 * DEDUP_WINDOW_MS)),
        );
        let removed = self.wait(async move {
            let mut tx = pool.begin().await?;
            let removed = sqlx::query(
                "delete from alerts where not queued and (
                     (status in ('queued', 'delivered') and created_at < $1)
                     or (status = 'failed' and created_at < $2))",
            )
            .bind(day)
            .bind(week)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("delete from dedup where at_ms <= $1")
                .bind(day)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(removed)
        })?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}

impl PgStore {
    /// Writes `snapshot` into this store, which must be empty (nothing applied, no
    /// alert), in one transaction. Returns how many alerts were copied.
    pub fn restore(&self, snapshot: super::Snapshot) -> Result<usize, StateError> {
        let pool = self.pool.clone();
        let outcome = self.wait(async move {
            let mut tx = pool.begin().await?;
            sqlx::query("select pg_advisory_xact_lock($1)")
                .bind(APPLY_LOCK)
                .execute(&mut *tx)
                .await?;
            let used: bool = sqlx::query_scalar(
                "select exists (select 1 from meta where key = 'serial') or exists (select 1 from alerts)",
            )
            .fetch_one(&mut *tx)
            .await?;
            if used {
                return Ok(None);
            }
            put_meta(&mut tx, "serial", &snapshot.serial.to_string()).await?;
            put_meta(&mut tx, "audit_head", &snapshot.audit_head).await?;
            for (key, value) in [
                ("bot_token", &snapshot.token),
                ("directory", &snapshot.directory),
                ("routing", &snapshot.routing),
            ] {
                if let Some(value) = value {
                    put_meta(&mut tx, key, value).await?;
                }
            }
            for (id, record) in &snapshot.webhooks {
                sqlx::query("insert into webhooks (id, record) values ($1, $2)")
                    .bind(id)
                    .bind(record)
                    .execute(&mut *tx)
                    .await?;
            }
            for (serial, entry) in &snapshot.audit {
                sqlx::query("insert into audit (serial, entry) values ($1, $2)")
                    .bind(i64::try_from(*serial).unwrap_or(i64::MAX))
                    .bind(entry)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut last = 0;
            for (seq, queued, record) in &snapshot.alerts {
                let seq = i64::try_from(*seq).unwrap_or(i64::MAX);
                last = last.max(seq);
                put_alert(&mut tx, seq, record, *queued).await?;
            }
            // New alerts continue after the copied ones, so that ids keep their order.
            if last > 0 {
                sqlx::query("select setval('alert_seq', $1)")
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
            }
            for (webhook, key, seq, at) in &snapshot.dedup {
                sqlx::query("insert into dedup (webhook, key, seq, at_ms) values ($1, $2, $3, $4)")
                    .bind(webhook)
                    .bind(key)
                    .bind(i64::try_from(*seq).unwrap_or(i64::MAX))
                    .bind(millis(*at))
                    .execute(&mut *tx)
                    .await?;
            }
            for (webhook, health) in &snapshot.health {
                sqlx::query("insert into health (webhook, record) values ($1, $2)")
                    .bind(webhook)
                    .bind(health)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(Some(snapshot.alerts.len()))
        })?;
        outcome.ok_or_else(|| StateError::Database {
            store: self.shown.clone(),
            reason: "it is not empty: copy into a new database".to_owned(),
        })
    }

    /// A finished alert taken off its queue (a failed one becomes a dead letter).
    fn unqueue(&self, seq: i64, record: &AlertRecord) -> Result<(), StateError> {
        let pool = self.pool.clone();
        let record = record.clone();
        self.wait(async move {
            let mut tx = pool.begin().await?;
            put_alert(&mut tx, seq, &record, false).await?;
            tx.commit().await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::shown_url;

    #[test]
    fn a_password_is_never_shown_in_the_url() {
        assert_eq!(
            shown_url("postgres://hookwarden:not-a-real-password@db/hookwarden"),
            "postgres://hookwarden:****@db/hookwarden"
        );
        let shown =
            shown_url("postgres://hookwarden@db/hookwarden?sslmode=require&password=not-a-real-password");
        assert!(
            !shown.contains("not-a-real-password") && shown.contains("sslmode=require"),
            "{shown}"
        );
        assert_eq!(shown_url("not a URL"), "(an unreadable URL)");
    }
}
