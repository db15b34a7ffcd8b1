//! Reads of events on SQLite, and the write path's point look-ups, through rusqlite, on a
//! blocking thread.
//!
//! sqlx's SQLite driver steps every statement on a worker thread and hands each row across to
//! the async side on its own: about 10 µs a row on the project machine (92,000 rows/s for
//! `SELECT * FROM events`), which made replay, verification, exports and the log tail slow.
//! Here a whole answer is read on one blocking thread and crosses once. Both drivers link the
//! one bundled SQLite (`libsqlite3-sys` 0.37, which `cargo tree -d` shows once); appends run
//! through rusqlite too, on the writer's thread (`sqlite_writer.rs`). The connections are
//! read-only and see what is committed, as another pool connection would (WAL).

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use rusqlite::{Connection, OpenFlags, Row, types::Value};
use uuid::Uuid;

use super::{
    RecordedEvent, StoreError,
    chain::{EventRow, Hash, StoredRow},
    parse_canonical_time,
};

/// Connections kept open between reads (one more read at a time opens one, and parses the
/// schema, for itself).
const KEEP: usize = 8;

/// How much of the database file a connection maps into memory where it maps it (`PRAGMA
/// mmap_size`; the bundled SQLite caps it 64 KiB short of 2 GiB, and reads past that as
/// before): a scan's connection while it reads a range of the log, and the writer
/// (`sqlite_writer.rs`). SQLite then reads the pages of the file where they lie in the OS page
/// cache, instead of copying each into its own buffer with `pread`: a whole-log scan read ~40%
/// faster and replay and verification ran ~15-20% faster on the project machine
/// (docs/benchmarks.md). A scan's connection unmaps before it is kept idle, so the server's
/// resident memory does not grow with the pages of the log it has read.
pub const MMAP_BYTES: i64 = 1 << 31;

/// Read-only rusqlite connections to one database file.
pub(super) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("SQLite read: {e}"))
}

impl Reader {
    pub(super) fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Reader {
            path,
            idle: Mutex::default(),
        })
    }

    pub(super) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Closes the connections kept between reads (a read in progress keeps its own).
    pub(super) fn close_idle(&self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The events `sql` (which selects [`event_columns!`]) returns with `params`; `expected`
    /// rows are made room for at once (a page of the log is not copied as it grows).
    pub(super) async fn events(
        self: &Arc<Self>,
        sql: &'static str,
        params: Vec<Value>,
        expected: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.rows_now(sql, &params, expected.min(10_000), event))
            .await
            .map_err(failed)?
    }

    /// The first row `sql` returns for `param`, mapped by `map`, or `None`: the point look-ups
    /// of the write path (a recorded request, a case by reference or duplicate key), read as
    /// the events are, without sqlx's worker thread.
    pub(super) async fn one_row<R: Send + 'static>(
        self: &Arc<Self>,
        sql: &'static str,
        param: String,
        map: fn(&Row<'_>) -> rusqlite::Result<R>,
    ) -> Result<Option<R>, StoreError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            me.with_connection(|conn| {
                let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
                let mut rows = stmt.query([&param]).map_err(failed)?;
                match rows.next().map_err(failed)? {
                    Some(row) => map(row).map(Some).map_err(failed),
                    None => Ok(None),
                }
            })
        })
        .await
        .map_err(failed)?
    }

    /// Every row `sql` returns with `params`, mapped by `map`: the read model's lists, read
    /// on one blocking thread that hands the whole answer back once (sqlx's driver hands each
    /// row across threads).
    pub(super) async fn rows<R: Send + 'static>(
        self: &Arc<Self>,
        sql: String,
        params: Vec<Value>,
        map: fn(&Row<'_>) -> Result<R, StoreError>,
    ) -> Result<Vec<R>, StoreError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.rows_now(&sql, &params, 0, map))
            .await
            .map_err(failed)?
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        // A `LIMIT ?` (and, with the bundled STAT4, an indexed comparison) would otherwise make
        // SQLite compile the cached statement again whenever a value is bound: the plan is not
        // chosen from the values here, so it is fixed once.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        Ok(conn)
    }

    /// Every row `sql` returns with `params`, mapped by `map`, on this thread; `expected` rows
    /// are made room for at once.
    fn rows_now<R>(
        &self,
        sql: &str,
        params: &[Value],
        expected: usize,
        map: fn(&Row<'_>) -> Result<R, StoreError>,
    ) -> Result<Vec<R>, StoreError> {
        self.with_connection(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(params.iter()))
                .map_err(failed)?;
            let mut out = Vec::with_capacity(expected);
            while let Some(row) = rows.next().map_err(failed)? {
                out.push(map(row)?);
            }
            Ok(out)
        })
    }

    /// `f` on a connection kept between reads (or a new one), which is kept again after.
    fn with_connection<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open().map_err(failed)?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        result
    }
}

impl Reader {
    /// `f` of every row `sql` returns for positions `from..=to` (its `?1` and `?2`), in
    /// order, on a kept connection, with the file mapped while it reads ([`MMAP_BYTES`]).
    fn each_row(
        &self,
        sql: &'static str,
        (from, to): (u64, u64),
        f: &mut dyn FnMut(&Row<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.with_connection(|conn| {
            conn.pragma_update(None, "mmap_size", MMAP_BYTES)
                .map_err(failed)?;
            let read = (|| {
                let mut stmt = conn.prepare_cached(sql).map_err(failed)?;
                let bound = |p: u64| i64::try_from(p).unwrap_or(i64::MAX);
                let mut rows = stmt.query([bound(from), bound(to)]).map_err(failed)?;
                while let Some(row) = rows.next().map_err(failed)? {
                    f(row)?;
                }
                Ok(())
            })();
            // Unmapped before the connection is kept: an idle connection holds no pages.
            let unmapped = conn.pragma_update(None, "mmap_size", 0).map_err(failed);
            read.and(unmapped)
        })
    }
}

impl super::scan::RangeReader for Reader {
    fn scan_range(
        &self,
        from: u64,
        to: u64,
        f: &mut dyn FnMut(&StoredRow<'_>),
    ) -> Result<(), StoreError> {
        let sql = concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE global_position BETWEEN ?1 AND ?2 ORDER BY global_position"
        );
        self.each_row(sql, (from, to), &mut |row| {
            f(&stored_row(row)?);
            Ok(())
        })
    }

    fn scan_events(
        &self,
        from: u64,
        to: u64,
        f: &mut dyn FnMut(&EventRow<'_>),
    ) -> Result<(), StoreError> {
        // The first six columns of `event_columns!`, then recorded_at.
        let sql = "SELECT global_position, case_id, version, event_type, schema_version, \
                   payload, recorded_at FROM events WHERE global_position BETWEEN ?1 AND ?2 \
                   ORDER BY global_position";
        self.each_row(sql, (from, to), &mut |row| {
            f(&event_row(row, 6)?);
            Ok(())
        })
    }

    fn head(&self) -> Result<u64, StoreError> {
        self.with_connection(|conn| {
            let last: i64 = conn
                .query_row(
                    "SELECT COALESCE(MAX(global_position), 0) FROM events",
                    [],
                    |r| r.get(0),
                )
                .map_err(failed)?;
            u64::try_from(last).map_err(|_| StoreError::Corrupt(format!("global_position {last}")))
        })
    }
}

fn u64_at(row: &Row<'_>, i: usize) -> Result<u64, StoreError> {
    let v: i64 = row.get(i).map_err(failed)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {i}: {v}")))
}

fn uuid_at(text: &str, what: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("{what} {text:?}: {e}")))
}

fn hash_at(row: &Row<'_>, i: usize) -> Result<Hash, StoreError> {
    let bytes = row.get_ref(i).map_err(failed)?.as_blob().map_err(failed)?;
    Hash::from_slice(bytes).map_err(|m| StoreError::Corrupt(format!("hash column {i}: {m}")))
}

/// One row of [`event_columns!`], in that order.
fn event(row: &Row<'_>) -> Result<RecordedEvent, StoreError> {
    let r = stored_row(row)?;
    let e = &r.event;
    Ok(RecordedEvent {
        global_position: e.global_position,
        stream: e.stream()?,
        version: e.version,
        event_type: e.event_type.to_owned(),
        schema_version: e.schema_version,
        payload: e.payload.to_vec(),
        occurred_at: parse_canonical_time(r.occurred_at)?,
        recorded_at: e.recorded_at()?,
        actor: r.actor.to_owned(),
        role: r.role.to_owned(),
        request_id: r.request_id.to_owned(),
        correlation_id: match r.correlation_id {
            Some(c) => Some(uuid_at(c, "correlation_id")?),
            None => None,
        },
        prev_hash: r.prev_hash,
        hash: r.hash,
    })
}

fn text_at<'a>(row: &'a Row<'_>, i: usize) -> Result<&'a str, StoreError> {
    row.get_ref(i).map_err(failed)?.as_str().map_err(failed)
}

/// A row whose first six columns are those of [`event_columns!`], and `recorded_at` at
/// `recorded_at`: the columns of an [`EventRow`], borrowed as stored.
fn event_row<'a>(row: &'a Row<'_>, recorded_at: usize) -> Result<EventRow<'a>, StoreError> {
    let schema: i64 = row.get(4).map_err(failed)?;
    Ok(EventRow {
        global_position: u64_at(row, 0)?,
        case_id: text_at(row, 1)?,
        version: u64_at(row, 2)?,
        event_type: text_at(row, 3)?,
        schema_version: u32::try_from(schema)
            .map_err(|_| StoreError::Corrupt(format!("schema_version {schema}")))?,
        payload: row.get_ref(5).map_err(failed)?.as_blob().map_err(failed)?,
        recorded_at: text_at(row, recorded_at)?,
    })
}

/// One row of [`event_columns!`], its columns borrowed as stored.
fn stored_row<'a>(row: &'a Row<'_>) -> Result<StoredRow<'a>, StoreError> {
    let text = |i: usize| text_at(row, i);
    Ok(StoredRow {
        event: event_row(row, 7)?,
        occurred_at: text(6)?,
        actor: text(8)?,
        role: text(9)?,
        request_id: text(10)?,
        correlation_id: row
            .get_ref(11)
            .map_err(failed)?
            .as_str_or_null()
            .map_err(failed)?,
        prev_hash: hash_at(row, 12)?,
        hash: hash_at(row, 13)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan maps the file while it reads, and the connection it keeps afterwards maps
    /// nothing: an idle connection must not hold the pages of the log it has read.
    #[test]
    fn a_scan_reads_every_row_and_keeps_its_connection_unmapped() {
        let dir = std::env::temp_dir().join(format!("aspflow-reader-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (p INTEGER PRIMARY KEY, v BLOB);",
        )
        .unwrap();
        for p in 1..=2_000_i64 {
            conn.execute("INSERT INTO t VALUES (?1, zeroblob(500))", [p])
                .unwrap();
        }
        let reader = Reader::new(path);
        let mut seen = Vec::new();
        reader
            .each_row(
                "SELECT p FROM t WHERE p BETWEEN ?1 AND ?2 ORDER BY p",
                (10, 1_500),
                &mut |row| {
                    seen.push(row.get::<_, i64>(0).map_err(failed)?);
                    Ok(())
                },
            )
            .unwrap();
        assert_eq!(seen, (10..=1_500).collect::<Vec<_>>());
        let mapped: i64 = reader
            .with_connection(|c| {
                c.query_row("PRAGMA mmap_size", [], |r| r.get(0))
                    .map_err(failed)
            })
            .unwrap();
        assert_eq!(mapped, 0, "the kept connection still maps the file");
        assert_eq!(reader.idle.lock().unwrap().len(), 1, "one connection kept");
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
