//! The raw baseline of `aspflow bench --baseline`: the rows one command writes (an event, its
//! request, the case's read-model row) written straight into scratch copies of the log's
//! tables in the same database (same columns, constraints and indexes, not the triggers,
//! which fire only on UPDATE and DELETE), by as many clients, through a group commit of the
//! engine's batch size, with the same durability, and the way the engine's own writer does it:
//! on SQLite one thread with a connection set up as the engine's writer, one prepared
//! single-row statement per row; on PostgreSQL one multi-row statement per table. No look-ups,
//! no hashing, no gRPC: what the database itself can do with those rows.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use sqlx::{Executor, QueryBuilder};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::store::{AnyStore, canonical_time};

/// What the baseline measured.
pub(super) struct Raw {
    pub rows_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_batch: f64,
}

/// One command's rows.
struct Rows {
    position: i64,
    case_id: Uuid,
    version: i64,
    request_id: String,
}

const TABLES: [&str; 3] = ["events", "requests", "case_summaries"];

/// A payload of the size of a consultation event's.
const PAYLOAD: &[u8] = br#"{"case_id":"00000000-0000-0000-0000-000000000000","act":{"occurred_at":"2018-01-03T17:20:00Z","legal_basis":null,"documents":[],"note":null,"confidential":false,"time_zone":null},"reference":"bench-consultation-0001","problems":["other"],"kind":"consultation_requested"}"#;

async fn create_tables(store: &AnyStore) -> anyhow::Result<()> {
    drop_tables(store).await?;
    match store {
        AnyStore::Sqlite(s) => {
            let mut conn = s.pool().acquire().await?;
            for table in TABLES {
                let ddl: Vec<(String,)> = sqlx::query_as(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = $1 AND type IN ('table', 'index') \
                     AND sql IS NOT NULL ORDER BY type DESC",
                )
                .bind(table)
                .fetch_all(&mut *conn)
                .await?;
                for (sql,) in ddl {
                    let sql = sql
                        .replacen(
                            &format!("TABLE {table}"),
                            &format!("TABLE bench_raw_{table}"),
                            1,
                        )
                        .replacen(
                            &format!("ON {table} "),
                            &format!("ON bench_raw_{table} "),
                            1,
                        )
                        .replacen("INDEX ", "INDEX bench_raw_", 1);
                    conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
                        .await?;
                }
            }
        }
        AnyStore::Postgres(s) => {
            for table in TABLES {
                let sql = format!("CREATE TABLE bench_raw_{table} (LIKE {table} INCLUDING ALL)");
                s.pool()
                    .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql)))
                    .await?;
            }
        }
    }
    Ok(())
}

async fn drop_tables(store: &AnyStore) -> anyhow::Result<()> {
    for table in TABLES {
        // Quietly: PostgreSQL notes a table that is not there.
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(match store {
            AnyStore::Sqlite(_) => format!("DROP TABLE IF EXISTS bench_raw_{table}"),
            AnyStore::Postgres(_) => format!(
                "SET client_min_messages TO warning; DROP TABLE IF EXISTS bench_raw_{table}"
            ),
        }));
        match store {
            AnyStore::Sqlite(s) => {
                s.pool().execute(sql).await?;
            }
            AnyStore::Postgres(s) => {
                s.pool().execute(sql).await?;
            }
        }
    }
    Ok(())
}

/// Writes out what the baseline left in the database's log (PostgreSQL `CHECKPOINT`, SQLite
/// a WAL checkpoint), so that the next round does not pay for flushing the baseline's rows
/// (~250,000 at 64 clients). Best effort (a role without the right to checkpoint only loses
/// the settling).
async fn settle(store: &AnyStore) {
    let _ = match store {
        AnyStore::Sqlite(s) => s
            .pool()
            .execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .map(|_| ()),
        AnyStore::Postgres(s) => s.pool().execute("CHECKPOINT").await.map(|_| ()),
    };
}

/// Writes one batch in one transaction on PostgreSQL: a multi-row statement per table.
async fn write_batch(store: &AnyStore, batch: &[Rows]) -> anyhow::Result<()> {
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let receipt = "x".repeat(260);
    match store {
        AnyStore::Sqlite(_) => anyhow::bail!("SQLite batches are written by sqlite_writer"),
        AnyStore::Postgres(s) => {
            let mut tx = s.pool().begin().await?;
            let mut q = QueryBuilder::new(
                "INSERT INTO bench_raw_events (global_position, case_id, version, event_type, \
                 schema_version, payload, occurred_at, recorded_at, actor, role, request_id, \
                 correlation_id, prev_hash, hash) ",
            );
            q.push_values(batch, |mut b, r| {
                b.push_bind(r.position)
                    .push_bind(r.case_id)
                    .push_bind(r.version)
                    .push_bind("formal.consultation_requested")
                    .push_bind(1_i32)
                    .push_bind(PAYLOAD.to_vec())
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind("bench")
                    .push_bind("court_liaison")
                    .push_bind(r.request_id.clone())
                    .push_bind(None::<Uuid>)
                    .push_bind(vec![0_u8; 32])
                    .push_bind(vec![1_u8; 32]);
            });
            q.build().execute(&mut *tx).await?;
            let mut q = QueryBuilder::new(
                "INSERT INTO bench_raw_requests (request_id, fingerprint, receipt, recorded_at) ",
            );
            q.push_values(batch, |mut b, r| {
                b.push_bind(r.request_id.clone())
                    .push_bind(vec![2_u8; 32])
                    .push_bind(receipt.clone())
                    .push_bind(now);
            });
            q.build().execute(&mut *tx).await?;
            let mut q = QueryBuilder::new(summary_insert());
            q.push_values(distinct_cases(batch), |mut b, r| {
                b.push_bind(r.case_id)
                    .push_bind(format!("NC-2018-{}", r.case_id.simple()))
                    .push_bind("formal")
                    .push_bind("AwaitingViews")
                    .push_bind(false)
                    .push_bind("JO")
                    .push_bind("Jordan")
                    .push_bind("asia_pacific")
                    .push_bind("Person")
                    .push_bind(Some("2018-01-26".to_owned()))
                    .push_bind(Some("2018-01-26".to_owned()))
                    .push_bind(r.version)
                    .push_bind(now)
                    .push_bind(None::<String>);
            });
            q.push(SUMMARY_ON_CONFLICT);
            q.build().execute(&mut *tx).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Writes one batch in one transaction on SQLite, as the engine's writer thread does: on a
/// connection set up as the engine's writer (`store::open_sqlite_writer`), one prepared
/// single-row statement per row.
fn write_batch_sqlite(conn: &mut rusqlite::Connection, batch: &[Rows]) -> rusqlite::Result<()> {
    let at = canonical_time(crate::clock::Clock::now(&crate::clock::SystemClock));
    let receipt = "x".repeat(260);
    crate::store::sqlite_transaction(conn, |conn| {
        let mut event = conn.prepare_cached(
            "INSERT INTO bench_raw_events (global_position, case_id, version, event_type, \
             schema_version, payload, occurred_at, recorded_at, actor, role, request_id, \
             correlation_id, prev_hash, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        let mut request = conn.prepare_cached(
            "INSERT INTO bench_raw_requests (request_id, fingerprint, receipt, recorded_at) \
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for r in batch {
            event.execute(rusqlite::params![
                r.position,
                r.case_id.to_string(),
                r.version,
                "formal.consultation_requested",
                1_i64,
                PAYLOAD,
                at,
                at,
                "bench",
                "court_liaison",
                r.request_id,
                None::<String>,
                [0_u8; 32].as_slice(),
                [1_u8; 32].as_slice(),
            ])?;
            request.execute(rusqlite::params![
                r.request_id,
                [2_u8; 32].as_slice(),
                receipt,
                at
            ])?;
        }
        let mut summary = conn.prepare_cached(&format!(
            "{}VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14){SUMMARY_ON_CONFLICT}",
            summary_insert()
        ))?;
        for r in distinct_cases(batch) {
            summary.execute(rusqlite::params![
                r.case_id.to_string(),
                format!("NC-2018-{}", r.case_id.simple()),
                "formal",
                "AwaitingViews",
                false,
                "JO",
                "Jordan",
                "asia_pacific",
                "Person",
                "2018-01-26",
                "2018-01-26",
                r.version,
                at,
                None::<String>,
            ])?;
        }
        Ok(())
    })
}

fn summary_insert() -> String {
    "INSERT INTO bench_raw_case_summaries (case_id, reference, procedure, state, closed, \
     requested_state, requested_state_name, region, person_sought, next_deadline, fires_after, \
     version, updated_at, duplicate_key) "
        .to_owned()
}

/// What a case's row changes by: its version and time. The baseline's other values never
/// change, and the engine sets an indexed column only when its value changed (on SQLite an
/// `UPDATE` rewrites the index entries of every column it sets, changed or not).
const SUMMARY_ON_CONFLICT: &str = " ON CONFLICT (case_id) DO UPDATE SET \
     version = excluded.version, updated_at = excluded.updated_at";

/// The last row of each case in the batch (one read-model row per case, as the engine writes).
fn distinct_cases(batch: &[Rows]) -> Vec<&Rows> {
    let mut last = std::collections::HashMap::new();
    for r in batch {
        last.insert(r.case_id, r);
    }
    last.into_values().collect()
}

type Job = (Rows, oneshot::Sender<()>);

/// `first` and the jobs already waiting, up to the engine's batch size, as the group
/// committer takes them: the batch's rows and whom to answer.
fn gather(first: Job, rx: &mut mpsc::Receiver<Job>) -> (Vec<Rows>, Vec<oneshot::Sender<()>>) {
    let mut jobs = vec![first];
    while jobs.len() < crate::engine::MAX_BATCH {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    jobs.into_iter().unzip()
}

/// Measures the baseline with `clients` writers for `seconds` after `warmup`.
pub(super) async fn run(
    store: &AnyStore,
    clients: usize,
    warmup: u64,
    seconds: u64,
) -> anyhow::Result<Raw> {
    create_tables(store).await?;
    let (tx, mut rx) = mpsc::channel::<Job>(4096);
    let writer_store = store.clone();
    let writer = if let AnyStore::Sqlite(s) = store {
        let mut conn = crate::store::open_sqlite_writer(s.path()).map_err(anyhow::Error::msg)?;
        let thread = std::thread::spawn(move || {
            let (mut batches, mut rows) = (0_u64, 0_u64);
            while let Some(first) = rx.blocking_recv() {
                let (batch, replies) = gather(first, &mut rx);
                write_batch_sqlite(&mut conn, &batch)?;
                batches += 1;
                rows += batch.len() as u64;
                for r in replies {
                    let _ = r.send(());
                }
            }
            anyhow::Ok((batches, rows))
        });
        tokio::task::spawn_blocking(move || {
            thread
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the baseline's writer panicked")))
        })
    } else {
        tokio::spawn(async move {
            let (mut batches, mut rows) = (0_u64, 0_u64);
            while let Some(first) = rx.recv().await {
                let (batch, replies) = gather(first, &mut rx);
                write_batch(&writer_store, &batch).await?;
                batches += 1;
                rows += batch.len() as u64;
                for r in replies {
                    let _ = r.send(());
                }
            }
            anyhow::Ok((batches, rows))
        })
    };
    let position = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(warmup);
    let until = measure_from + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let tx = tx.clone();
        let position = position.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
            let case_id = Uuid::now_v7();
            let mut version = 0;
            while Instant::now() < until {
                version += 1;
                let rows = Rows {
                    position: position.fetch_add(1, Ordering::Relaxed) + 1,
                    case_id,
                    version,
                    request_id: format!("raw-{i}-{version}-{}", Uuid::now_v7().simple()),
                };
                let started = Instant::now();
                let (done, wait) = oneshot::channel();
                tx.send((rows, done)).await?;
                wait.await?;
                if started >= measure_from {
                    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    hist.record(us.clamp(1, 120_000_000))?;
                }
            }
            anyhow::Ok(hist)
        }));
    }
    drop(tx);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    for t in tasks {
        hist.add(t.await??)?;
    }
    let (batches, rows) = writer.await??;
    drop_tables(store).await?;
    settle(store).await;
    Ok(Raw {
        rows_per_s: hist.len() as f64 / seconds as f64,
        p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
        mean_batch: rows as f64 / batches.max(1) as f64,
    })
}
