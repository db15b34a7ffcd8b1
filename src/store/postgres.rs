//! The PostgreSQL backend, for several aspflow nodes sharing one database.
//!
//! Every write transaction first locks the single `log_head` row (`SELECT ... FOR UPDATE`, sent
//! with its `BEGIN`) and holds it until commit: global positions are therefore assigned in
//! commit order and without gaps. PostgreSQL makes a transaction visible before it releases its locks, so when the next
//! writer gets the row, the previous writer's events are already visible to every reader. A
//! BIGSERIAL would not give this: a sequence value taken by a transaction that commits later
//! than a higher one lets a reader following `global_position` skip the lower one for good.
//!
//! Payloads and hashes are `BYTEA` (exact bytes; JSONB would re-normalize the payload and break
//! verification); times are `TIMESTAMPTZ`, which keeps microseconds, the precision hashed.
//! Connections set `synchronous_commit = on`. Schema: `migrations/postgres`. The audit tools
//! connect with [`PgStore::connect_read_only`] (`default_transaction_read_only = on`, no
//! migrations).

use std::{str::FromStr, sync::Arc};

use chrono::{DateTime, Utc};
use sqlx::{
    PgPool, Postgres, Row, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions, PgRow},
};
use uuid::Uuid;

use super::{
    AppendError, AppendReceipt, CaseSummary, CheckpointQuery, DueCase, EventStore,
    OpenReadOnlyError, RecordedEvent, StoreError, StoredCheckpoint, StoredRequest, StreamId,
    SummaryFilter, SummaryUpdate, Write,
    append::{BatchReads, BatchRows, TxOps, append_batch_fast, append_in_tx},
    chain::Hash,
};
use crate::clock::Clock;

/// The embedded migrations for PostgreSQL.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The PostgreSQL event store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
}

impl PgStore {
    /// Connects with a pool of `max_connections` and applies the migrations.
    ///
    /// # Errors
    /// [`StoreError`] if the database is unreachable or cannot be migrated.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let targets = super::pg_hosts::parse(url)?;
        let prepare = |o: PgConnectOptions| {
            o.options([("synchronous_commit", "on")])
                .application_name("aspflow")
        };
        let hosts: Vec<PgConnectOptions> = targets.hosts.into_iter().map(prepare).collect();
        let first = if targets.read_write {
            super::pg_hosts::find_primary(&hosts).await.ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "no primary among {}",
                    hosts
                        .iter()
                        .map(super::pg_hosts::name)
                        .collect::<Vec<_>>()
                        .join(",")
                ))
            })?
        } else {
            hosts[0].clone()
        };
        let pool = super::pg_hosts::pool_options(max_connections, targets.read_write)
            .connect_with(first)
            .await?;
        if hosts.len() > 1 {
            tokio::spawn(super::pg_hosts::watch(pool.clone(), hosts));
        }
        Self::from_pool(pool, clock).await
    }

    /// Uses an existing pool and applies the migrations.
    ///
    /// # Errors
    /// [`StoreError`] if the migrations fail.
    pub async fn from_pool(pool: PgPool, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool, clock })
    }

    /// Connects for reading only: every transaction is read-only
    /// (`default_transaction_read_only = on`, so a write fails in the database) and no migration
    /// runs. Checks that the aspflow schema is there.
    ///
    /// # Errors
    /// [`OpenReadOnlyError::NoSchema`] if there is no `events` table on the search path,
    /// [`OpenReadOnlyError::OutdatedSchema`] if the database needs `aspflow migrate`,
    /// [`OpenReadOnlyError::Store`] if it is unreachable.
    pub async fn connect_read_only(
        url: &str,
        max_connections: u32,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenReadOnlyError> {
        let options = PgConnectOptions::from_str(url)?
            .options([("default_transaction_read_only", "on")])
            .application_name("aspflow-audit");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await?;
        let (events, migrations): (bool, bool) = sqlx::query_as(
            "SELECT to_regclass('events') IS NOT NULL, to_regclass('_sqlx_migrations') IS NOT NULL",
        )
        .fetch_one(&pool)
        .await?;
        if !events {
            pool.close().await;
            return Err(OpenReadOnlyError::NoSchema);
        }
        let applied: i64 = if migrations {
            sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
            )
            .fetch_one(&pool)
            .await?
        } else {
            0
        };
        if let Err(e) = super::check_schema_version(applied, &MIGRATOR) {
            pool.close().await;
            return Err(e);
        }
        Ok(PgStore { pool, clock })
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool (for the read model and for tests that must reach below the API).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

struct PgTx(Transaction<'static, Postgres>);

fn u64_col(row: &PgRow, name: &str) -> Result<u64, StoreError> {
    let v: i64 = row.try_get(name)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{name} is negative: {v}")))
}

fn hash_col(row: &PgRow, name: &str) -> Result<Hash, StoreError> {
    let bytes: Vec<u8> = row.try_get(name)?;
    Hash::from_slice(&bytes).map_err(|m| StoreError::Corrupt(format!("{name}: {m}")))
}

fn event_from_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let schema: i32 = row.try_get("schema_version")?;
    Ok(RecordedEvent {
        global_position: u64_col(row, "global_position")?,
        stream: StreamId(row.try_get::<Uuid, _>("case_id")?),
        version: u64_col(row, "version")?,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(schema)
            .map_err(|_| StoreError::Corrupt(format!("schema_version {schema}")))?,
        payload: row.try_get("payload")?,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        actor: row.try_get("actor")?,
        role: row.try_get("role")?,
        request_id: row.try_get("request_id")?,
        correlation_id: row.try_get("correlation_id")?,
        prev_hash: hash_col(row, "prev_hash")?,
        hash: hash_col(row, "hash")?,
    })
}

const UPSERT_SUMMARY: &str = concat!(
    summary_insert!(),
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ",
    summary_on_conflict!()
);

/// The list query as a sqlx query builder.
struct ListQuery(sqlx::QueryBuilder<Postgres>);

impl super::QuerySink for ListQuery {
    const SQLITE: bool = false;

    fn sql(&mut self, text: &str) {
        self.0.push(text);
    }

    fn text(&mut self, value: String) {
        self.0.push_bind(value);
    }

    fn flag(&mut self, value: bool) {
        self.0.push_bind(value);
    }

    fn case_id(&mut self, id: StreamId) {
        self.0.push_bind(id.0);
    }
}

fn summary_from_row(row: &PgRow) -> Result<CaseSummary, StoreError> {
    Ok(CaseSummary {
        row: SummaryUpdate {
            stream: StreamId(row.try_get::<Uuid, _>("case_id")?),
            reference: row.try_get("reference")?,
            procedure: row.try_get("procedure")?,
            state: row.try_get("state")?,
            closed: row.try_get::<bool, _>("closed")?,
            requested_state: row.try_get("requested_state")?,
            requested_state_name: row.try_get("requested_state_name")?,
            region: row.try_get("region")?,
            person_sought: row.try_get("person_sought")?,
            next_deadline: row.try_get("next_deadline")?,
            fires_after: row.try_get("fires_after")?,
            duplicate_key: row.try_get("duplicate_key")?,
        },
        version: u64_col(row, "version")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A row of the batch read: (0 the last position, 1 a stored request, 2 a stream head; request
/// id or case id; last position or version; fingerprint or hash; receipt).
type BatchReadRow = (
    i16,
    Option<String>,
    Option<i64>,
    Option<Vec<u8>>,
    Option<String>,
);

impl TxOps for PgTx {
    async fn batch_reads(
        &mut self,
        request_ids: &[&str],
        streams: &[StreamId],
    ) -> Result<BatchReads, sqlx::Error> {
        // One statement, after the one that took the lock (so its snapshot holds every write
        // that committed before): the last position, the stored requests, the stream heads,
        // told apart by the first column. A stream head is one probe of the (case_id, version)
        // index from its end per case, whatever its length, and a plan that stays an index
        // probe when PostgreSQL caches it for a table that was empty (DISTINCT ON read every
        // event of every case in the batch, and its cached plan turned into a scan of the
        // whole table).
        let ids: Vec<Uuid> = streams.iter().map(|s| s.0).collect();
        let rows: Vec<BatchReadRow> = sqlx::query_as(
            "SELECT 0::int2, NULL::text, last_position, NULL::bytea, NULL::text \
             FROM log_head WHERE id = 1 \
             UNION ALL \
             SELECT 1::int2, request_id, NULL::int8, fingerprint, receipt \
             FROM requests WHERE request_id = ANY($1) \
             UNION ALL \
             SELECT 2::int2, s.id::text, e.version, e.hash, NULL::text \
             FROM unnest($2::uuid[]) AS s(id) CROSS JOIN LATERAL \
             (SELECT version, hash FROM events WHERE case_id = s.id \
             ORDER BY version DESC LIMIT 1) AS e",
        )
        .bind(request_ids)
        .bind(ids)
        .fetch_all(&mut *self.0)
        .await?;
        let missing =
            |what: &str| sqlx::Error::Protocol(format!("batch read: a row without {what}"));
        let mut last_position = None;
        let mut read = BatchReads {
            last_position: 0,
            requests: Vec::new(),
            heads: Vec::new(),
        };
        for (kind, key, number, bytes, text) in rows {
            match kind {
                0 => {
                    last_position =
                        Some(number.ok_or_else(|| missing("last_position"))?.max(0) as u64)
                }
                1 => read.requests.push((
                    key.ok_or_else(|| missing("request_id"))?,
                    bytes.ok_or_else(|| missing("fingerprint"))?,
                    text.ok_or_else(|| missing("receipt"))?,
                )),
                _ => {
                    let id = key.ok_or_else(|| missing("case_id"))?;
                    let id = Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                    read.heads.push((
                        StreamId(id),
                        number.ok_or_else(|| missing("version"))?.max(0) as u64,
                        bytes.ok_or_else(|| missing("hash"))?,
                    ));
                }
            }
        }
        // No `log_head` row is a broken schema, not an empty log (which has the row, at 0).
        read.last_position = last_position.ok_or(sqlx::Error::RowNotFound)?;
        Ok(read)
    }

    async fn batch_writes(&mut self, rows: &BatchRows<'_>) -> Result<(), sqlx::Error> {
        // One statement for the whole batch (data-modifying CTEs), a column of values per
        // array; the read-model rows' and requests' inserts cannot see the events' rows, and
        // need not.
        let events = &rows.events;
        let summaries = &rows.summaries;
        let col = |f: &dyn Fn(&RecordedEvent) -> i64| events.iter().map(f).collect::<Vec<_>>();
        let text = |f: &dyn Fn(&RecordedEvent) -> &str| {
            events.iter().map(|e| f(e).to_owned()).collect::<Vec<_>>()
        };
        let bytes = |f: &dyn Fn(&RecordedEvent) -> &[u8]| {
            events.iter().map(|e| f(e).to_vec()).collect::<Vec<_>>()
        };
        let row_text = |f: &dyn Fn(&SummaryUpdate) -> &str| {
            summaries
                .iter()
                .map(|(r, _)| f(r).to_owned())
                .collect::<Vec<_>>()
        };
        let row_optional = |f: &dyn Fn(&SummaryUpdate) -> &Option<String>| {
            summaries
                .iter()
                .map(|(r, _)| f(r).clone())
                .collect::<Vec<_>>()
        };
        sqlx::query(concat!(
            "WITH new_events AS (INSERT INTO events (",
            event_columns!(),
            ") SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::text[], \
             $5::int[], $6::bytea[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[], \
             $11::text[], $12::uuid[], $13::bytea[], $14::bytea[])), \
             new_summaries AS (",
            summary_insert!(),
            "SELECT * FROM unnest($15::uuid[], $16::text[], $17::text[], $18::text[], \
             $19::bool[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], \
             $25::text[], $26::bigint[], $27::timestamptz[], $28::text[]) ",
            summary_on_conflict!(),
            "), new_requests AS (INSERT INTO requests (request_id, fingerprint, receipt, \
             recorded_at) SELECT *, $32 FROM unnest($29::text[], $30::bytea[], $31::text[])) \
             UPDATE log_head SET last_position = $33 WHERE id = 1"
        ))
        .bind(col(&|e| i64_of(e.global_position)))
        .bind(events.iter().map(|e| e.stream.0).collect::<Vec<_>>())
        .bind(col(&|e| i64_of(e.version)))
        .bind(text(&|e| &e.event_type))
        .bind(
            events
                .iter()
                .map(|e| i32::try_from(e.schema_version).unwrap_or(i32::MAX))
                .collect::<Vec<_>>(),
        )
        .bind(bytes(&|e| &e.payload))
        .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
        .bind(text(&|e| &e.actor))
        .bind(text(&|e| &e.role))
        .bind(text(&|e| &e.request_id))
        .bind(events.iter().map(|e| e.correlation_id).collect::<Vec<_>>())
        .bind(bytes(&|e| &e.prev_hash.0))
        .bind(bytes(&|e| &e.hash.0))
        .bind(summaries.iter().map(|(r, _)| r.stream.0).collect::<Vec<_>>())
        .bind(row_text(&|r| &r.reference))
        .bind(row_text(&|r| &r.procedure))
        .bind(row_text(&|r| &r.state))
        .bind(summaries.iter().map(|(r, _)| r.closed).collect::<Vec<_>>())
        .bind(row_text(&|r| &r.requested_state))
        .bind(row_text(&|r| &r.requested_state_name))
        .bind(row_text(&|r| &r.region))
        .bind(row_text(&|r| &r.person_sought))
        .bind(row_optional(&|r| &r.next_deadline))
        .bind(row_optional(&|r| &r.fires_after))
        .bind(summaries.iter().map(|(_, v)| i64_of(*v)).collect::<Vec<_>>())
        .bind(vec![rows.recorded_at; summaries.len()])
        .bind(row_optional(&|r| &r.duplicate_key))
        .bind(
            rows.requests
                .iter()
                .map(|(id, _, _)| (*id).to_owned())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.requests
                .iter()
                .map(|(_, fp, _)| fp.0.to_vec())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.requests
                .iter()
                .map(|(_, _, r)| r.clone())
                .collect::<Vec<_>>(),
        )
        .bind(rows.recorded_at)
        .bind(i64_of(rows.position))
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn last_position(&mut self) -> Result<u64, sqlx::Error> {
        // The slow way's read of the head. The lock was taken with the transaction's `BEGIN`
        // (`BEGIN_LOCKED`); `FOR UPDATE` again keeps this read locked on its own.
        let v: i64 =
            sqlx::query_scalar("SELECT last_position FROM log_head WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *self.0)
                .await?;
        Ok(v.max(0) as u64)
    }

    async fn set_last_position(&mut self, position: u64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE log_head SET last_position = $1 WHERE id = 1")
            .bind(i64_of(position))
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn savepoint(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&mut *self.0).await?;
        Ok(())
    }

    async fn find_request(
        &mut self,
        request_id: &str,
    ) -> Result<Option<(Vec<u8>, String)>, sqlx::Error> {
        sqlx::query_as("SELECT fingerprint, receipt FROM requests WHERE request_id = $1")
            .bind(request_id)
            .fetch_optional(&mut *self.0)
            .await
    }

    async fn stream_head(
        &mut self,
        stream: StreamId,
    ) -> Result<Option<(u64, Vec<u8>)>, sqlx::Error> {
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, hash FROM events WHERE case_id = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(stream.0)
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(row.map(|(v, h)| (v.max(0) as u64, h)))
    }

    async fn insert_event(&mut self, e: &RecordedEvent) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO events (global_position, case_id, version, event_type, schema_version, \
             payload, occurred_at, recorded_at, actor, role, request_id, correlation_id, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(i64_of(e.global_position))
        .bind(e.stream.0)
        .bind(i64_of(e.version))
        .bind(&e.event_type)
        .bind(i32::try_from(e.schema_version).unwrap_or(i32::MAX))
        .bind(&e.payload)
        .bind(e.occurred_at)
        .bind(e.recorded_at)
        .bind(&e.actor)
        .bind(&e.role)
        .bind(&e.request_id)
        .bind(e.correlation_id)
        .bind(e.prev_hash.0.as_slice())
        .bind(e.hash.0.as_slice())
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn reference_holder(
        &mut self,
        reference: &str,
        stream: StreamId,
    ) -> Result<Option<StreamId>, sqlx::Error> {
        let holder: Option<Uuid> = sqlx::query_scalar(
            "SELECT case_id FROM case_summaries WHERE reference = $1 AND case_id <> $2",
        )
        .bind(reference)
        .bind(stream.0)
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(holder.map(StreamId))
    }

    async fn next_reference_number(&mut self, prefix: &str) -> Result<u64, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO reference_counters (prefix, last_number) VALUES ($1, 1) \
             ON CONFLICT (prefix) DO UPDATE SET last_number = reference_counters.last_number + 1 \
             RETURNING last_number",
        )
        .bind(prefix)
        .fetch_one(&mut *self.0)
        .await?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn key_holder(
        &mut self,
        key: &str,
        stream: StreamId,
    ) -> Result<Option<StreamId>, sqlx::Error> {
        let holder: Option<Uuid> = sqlx::query_scalar(
            "SELECT case_id FROM case_summaries WHERE duplicate_key = $1 AND case_id <> $2",
        )
        .bind(key)
        .bind(stream.0)
        .fetch_optional(&mut *self.0)
        .await?;
        Ok(holder.map(StreamId))
    }

    async fn upsert_summary(
        &mut self,
        row: &SummaryUpdate,
        version: u64,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let stream = row.stream;
        sqlx::query(UPSERT_SUMMARY)
            .bind(stream.0)
            .bind(&row.reference)
            .bind(&row.procedure)
            .bind(&row.state)
            .bind(row.closed)
            .bind(&row.requested_state)
            .bind(&row.requested_state_name)
            .bind(&row.region)
            .bind(&row.person_sought)
            .bind(&row.next_deadline)
            .bind(&row.fires_after)
            .bind(i64_of(version))
            .bind(recorded_at)
            .bind(&row.duplicate_key)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn insert_request(
        &mut self,
        request_id: &str,
        fingerprint: &Hash,
        receipt_json: &str,
        recorded_at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO requests (request_id, fingerprint, receipt, recorded_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(request_id)
        .bind(fingerprint.0.as_slice())
        .bind(receipt_json)
        .bind(recorded_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }
}

/// Opens a write transaction and takes the log's lock, in one round trip (two statements of
/// one simple query). The lock's statement comes before every read of the transaction, and in
/// READ COMMITTED (named, whatever the database's default) each statement sees what committed
/// before it began: the reads that follow see every write of the previous holder.
const BEGIN_LOCKED: &str = "BEGIN ISOLATION LEVEL READ COMMITTED; \
                            SELECT 1 FROM log_head WHERE id = 1 FOR UPDATE";

impl EventStore for PgStore {
    async fn append_batch(
        &self,
        writes: Vec<Write>,
    ) -> Result<Vec<Result<AppendReceipt, AppendError>>, StoreError> {
        let mut tx = PgTx(self.pool.begin_with(BEGIN_LOCKED).await?);
        let results = match append_batch_fast(&mut tx, &writes, self.clock.as_ref()).await? {
            Some(results) => results,
            None => {
                tx.0.rollback().await?;
                tx = PgTx(self.pool.begin_with(BEGIN_LOCKED).await?);
                append_in_tx(&mut tx, &writes, self.clock.as_ref()).await?
            }
        };
        tx.0.commit().await?;
        Ok(results)
    }

    async fn read_stream(
        &self,
        stream: StreamId,
        from_version: u64,
        limit: Option<u32>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE case_id = $1 AND version >= $2 ORDER BY version LIMIT $3"
        ))
        .bind(stream.0)
        .bind(i64_of(from_version))
        .bind(limit.map_or(i64::MAX, i64::from))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE global_position >= $1 ORDER BY global_position LIMIT $2"
        ))
        .bind(i64_of(from_position))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn stream_version(&self, stream: StreamId) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM events WHERE case_id = $1")
                .bind(stream.0)
                .fetch_one(&self.pool)
                .await?;
        Ok(v.map(|v| v.max(0) as u64))
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(global_position) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    async fn lookup_request(&self, request_id: &str) -> Result<Option<StoredRequest>, StoreError> {
        let row: Option<(Vec<u8>, String)> =
            sqlx::query_as("SELECT fingerprint, receipt FROM requests WHERE request_id = $1")
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(fp, json)| super::stored_request(request_id, &fp, &json))
            .transpose()
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn list_summaries(&self, f: &SummaryFilter) -> Result<Vec<CaseSummary>, StoreError> {
        let mut q = ListQuery(sqlx::QueryBuilder::new(""));
        super::list_query(f, &mut q);
        let rows = q.0.build().fetch_all(&self.pool).await?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn summaries_of_procedure(
        &self,
        procedure: &str,
        limit: u32,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM case_summaries WHERE procedure = $1 ORDER BY case_id LIMIT $2",
        )
        .bind(procedure)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn find_by_reference(&self, reference: &str) -> Result<Option<StreamId>, StoreError> {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT case_id FROM case_summaries WHERE reference = $1")
                .bind(reference)
                .fetch_optional(&self.pool)
                .await?;
        Ok(id.map(StreamId))
    }

    async fn find_by_duplicate_key(&self, key: &str) -> Result<Option<StreamId>, StoreError> {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT case_id FROM case_summaries WHERE duplicate_key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(id.map(StreamId))
    }

    async fn store_checkpoint(&self, c: &StoredCheckpoint) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO checkpoints (period, public_key, head_position, created_at, checkpoint_json) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (period) DO NOTHING",
        )
        .bind(&c.period)
        .bind(&c.public_key)
        .bind(i64_of(c.head_position))
        .bind(&c.created_at)
        .bind(&c.checkpoint_json)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn stored_checkpoints(
        &self,
        q: &CheckpointQuery,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows: Vec<(i64, String, String, i64, String, String)> = sqlx::query_as(
            "SELECT id, period, public_key, head_position, created_at, checkpoint_json \
             FROM checkpoints \
             WHERE ($1 IS NULL OR public_key = $1) AND ($2 IS NULL OR period = $2) \
               AND ($3 IS NULL OR id < $3) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(q.public_key.as_deref())
        .bind(q.period.as_deref())
        .bind(q.before_id.map(i64_of))
        .bind(i64::from(q.limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, period, public_key, head, created_at, checkpoint_json)| StoredCheckpoint {
                    id: id.max(0).unsigned_abs(),
                    period,
                    public_key,
                    head_position: head.max(0).unsigned_abs(),
                    created_at,
                    checkpoint_json,
                },
            )
            .collect())
    }

    async fn due_deadlines(
        &self,
        today: &str,
        after: Option<&DueCase>,
        limit: u32,
    ) -> Result<Vec<DueCase>, StoreError> {
        let rows = sqlx::query(
            "SELECT case_id, fires_after, version FROM case_summaries \
             WHERE fires_after IS NOT NULL AND fires_after < $1 \
             AND ($2::text IS NULL OR (fires_after, case_id) > ($2::text, $3::uuid)) \
             ORDER BY fires_after, case_id LIMIT $4",
        )
        .bind(today)
        .bind(after.map(|a| a.fires_after.clone()))
        .bind(after.map(|a| a.stream.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueCase {
                    stream: StreamId(r.try_get::<Uuid, _>("case_id")?),
                    fires_after: r.try_get("fires_after")?,
                    version: u64_col(r, "version")?,
                })
            })
            .collect()
    }

    async fn replace_summaries(&self, rows: Vec<CaseSummary>) -> Result<(), StoreError> {
        let mut tx = PgTx(self.pool.begin().await?);
        sqlx::query("DELETE FROM case_summaries")
            .execute(&mut *tx.0)
            .await?;
        for r in &rows {
            tx.upsert_summary(&r.row, r.version, r.updated_at).await?;
        }
        tx.0.commit().await?;
        Ok(())
    }
}
