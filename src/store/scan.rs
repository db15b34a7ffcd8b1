//! Reading the whole log on every core: what replay and verification run.
//!
//! A scan reads the columns its map needs ([`Columns`]): every one to verify the chain
//! ([`AllColumns`]), half of them to decode and replay the events ([`EventColumns`]).
//!
//! A backend that can read a range of the log on a plain thread (SQLite: a read-only
//! connection of its own per thread, [`RangeReader`]) has the log cut into chunks of up to
//! [`CHUNK`] positions (at least four a core). One worker thread a core reads a chunk and maps
//! every event as it is read (decoding, hashing: whatever is per event and pure), its columns
//! borrowed from the row as stored, then hands the mapped chunk back; the caller folds the
//! chunks in log order. Reading and mapping thus share the cores instead of one reader feeding
//! the others. A backend without a range reader (PostgreSQL: its driver is async) is read a
//! page at a time while the previous page is mapped on every core, off the async threads
//! ([`super::par_map`]); the fold is the same.

use std::{
    collections::BTreeMap,
    ops::ControlFlow,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use super::{
    EventStore, RecordedEvent, StoreError,
    chain::{EventRow, StoredRow},
};

/// Positions a worker reads at a time, at most.
pub const CHUNK: u64 = 4_096;

/// Positions a worker reads at a time, at least (a short log is cut into a few chunks a core,
/// down to this).
const MIN_CHUNK: u64 = 64;

/// How many chunks past the last one folded the workers may run ahead (what a scan holds in
/// memory at most, whatever the size of the log).
const AHEAD: u64 = 8;

/// Reads a range of the log on the calling thread: a plain thread (a worker of
/// [`scan_log_parallel`]), never an async task.
pub trait RangeReader: Send + Sync {
    /// Hands every event at positions `from..=to` to `f`, in order, its columns borrowed
    /// from the row as stored: a row costs no allocation and no copy.
    ///
    /// # Errors
    /// [`StoreError`] on database failure or a corrupt row.
    fn scan_range(
        &self,
        from: u64,
        to: u64,
        f: &mut dyn FnMut(&StoredRow<'_>),
    ) -> Result<(), StoreError>;

    /// As [`Self::scan_range`], reading only the columns of an [`EventRow`].
    ///
    /// # Errors
    /// [`StoreError`] on database failure or a corrupt row.
    fn scan_events(
        &self,
        from: u64,
        to: u64,
        f: &mut dyn FnMut(&EventRow<'_>),
    ) -> Result<(), StoreError>;

    /// The log's last position (0 when it is empty).
    ///
    /// # Errors
    /// [`StoreError`] on database failure.
    fn head(&self) -> Result<u64, StoreError>;
}

/// What a scan reads of each row, and hands to its map as [`Columns::Row`].
pub trait Columns: Copy + Send + Sync + 'static {
    /// A row as the map sees it, its columns borrowed.
    type Row<'a>;

    /// Reads positions `from..=to` through `reader`, handing each row to `f` in order.
    ///
    /// # Errors
    /// As [`RangeReader::scan_range`].
    fn read(
        self,
        reader: &dyn RangeReader,
        from: u64,
        to: u64,
        f: &mut dyn for<'r> FnMut(&Self::Row<'r>),
    ) -> Result<(), StoreError>;

    /// `f` of the row of an event read as a whole (a page of the log).
    fn of<R>(self, e: &RecordedEvent, f: impl for<'r> FnOnce(&Self::Row<'r>) -> R) -> R;
}

/// Every column of a row ([`StoredRow`]): what verifying the chain reads.
#[derive(Debug, Clone, Copy)]
pub struct AllColumns;

impl Columns for AllColumns {
    type Row<'a> = StoredRow<'a>;

    fn read(
        self,
        reader: &dyn RangeReader,
        from: u64,
        to: u64,
        f: &mut dyn for<'r> FnMut(&StoredRow<'r>),
    ) -> Result<(), StoreError> {
        reader.scan_range(from, to, f)
    }

    fn of<R>(self, e: &RecordedEvent, f: impl for<'r> FnOnce(&StoredRow<'r>) -> R) -> R {
        e.with_stored_row(f)
    }
}

/// The columns decoding an event needs ([`EventRow`]): what replay reads.
#[derive(Debug, Clone, Copy)]
pub struct EventColumns;

impl Columns for EventColumns {
    type Row<'a> = EventRow<'a>;

    fn read(
        self,
        reader: &dyn RangeReader,
        from: u64,
        to: u64,
        f: &mut dyn for<'r> FnMut(&EventRow<'r>),
    ) -> Result<(), StoreError> {
        reader.scan_events(from, to, f)
    }

    fn of<R>(self, e: &RecordedEvent, f: impl for<'r> FnOnce(&EventRow<'r>) -> R) -> R {
        e.with_stored_row(|r| f(&r.event))
    }
}

/// Reads the whole log (as far as it reaches when the scan starts) on every core, `map`ping
/// each event on the thread that read it, and hands the mapped events to `fold` in log order,
/// a chunk at a time, until it breaks. Returns the break value, if any.
///
/// `columns` says what is read of each row. `map` is per event and pure (decoding, hashing
/// from the stored bytes); `fold` runs on the caller and sees every event of the log, in
/// order, exactly once. It may take the events out of the chunk: the emptied vector is handed
/// back to the workers, so that a scan allocates a handful of chunks whatever the size of the
/// log.
///
/// # Errors
/// As [`EventStore::read_all`].
pub async fn scan_log_parallel<C, T, B, M>(
    store: &impl EventStore,
    columns: C,
    map: M,
    mut fold: impl FnMut(&mut Vec<T>) -> ControlFlow<B>,
) -> Result<Option<B>, StoreError>
where
    C: Columns,
    T: Send + 'static,
    M: for<'r> Fn(&C::Row<'r>) -> T + Send + Sync + 'static,
{
    let map = Arc::new(map);
    let Some(reader) = store.range_reader() else {
        return scan_pages(store, 1, columns, map, fold).await;
    };
    let r = reader.clone();
    let head = tokio::task::spawn_blocking(move || r.head())
        .await
        .map_err(|e| StoreError::Unavailable(format!("reading the log's head: {e}")))??;
    if head == 0 {
        return Ok(None);
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let chunk = CHUNK.min(head.div_ceil(cores as u64 * 4)).max(MIN_CHUNK);
    let chunks = head.div_ceil(chunk);
    let threads = cores.min(usize::try_from(chunks).unwrap_or(usize::MAX));
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        folded: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        spare: Mutex::new(Vec::new()),
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel(threads * 2);
    let workers: Vec<std::thread::JoinHandle<()>> = (0..threads)
        .map(|_| {
            let (shared, reader, map, tx) =
                (shared.clone(), reader.clone(), map.clone(), tx.clone());
            std::thread::Builder::new()
                .name("log-scan".into())
                .spawn(move || work(&shared, (&*reader, columns), &*map, (head, chunk), &tx))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Unavailable(format!("starting a thread to read the log: {e}")))?;
    drop(tx);
    // Chunks come back in any order; they are folded in log order.
    let mut waiting: BTreeMap<u64, Result<Vec<T>, StoreError>> = BTreeMap::new();
    let mut next = 0;
    let outcome = loop {
        if next == chunks {
            break Ok(None);
        }
        if let Some(read) = waiting.remove(&next) {
            match read {
                Err(e) => break Err(e),
                // Chunks are cut by position, and the store keeps positions 1, 2, 3, ... A
                // chunk without a row is a gap of a whole chunk (a damaged log, or a position
                // far past the others): the rest is read page after page, whatever its gaps.
                Ok(items) if items.is_empty() && next + 1 < chunks => {
                    shared.stop.store(true, Ordering::Release);
                    rx.close();
                    wake(&workers);
                    break scan_pages(store, (next + 1) * chunk + 1, columns, map, fold).await;
                }
                Ok(mut items) => {
                    if let ControlFlow::Break(b) = fold(&mut items) {
                        break Ok(Some(b));
                    }
                    items.clear();
                    shared
                        .spare
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(items);
                }
            }
            next += 1;
            shared.folded.store(next, Ordering::Release);
            wake(&workers);
            continue;
        }
        match rx.recv().await {
            Some((k, chunk)) => {
                waiting.insert(k, chunk);
            }
            // Every worker is gone and the next chunk never came: a worker panicked.
            None => {
                break Err(StoreError::Unavailable(format!(
                    "the log could not be read past position {}: a reading thread failed",
                    next * chunk
                )));
            }
        }
    };
    shared.stop.store(true, Ordering::Release);
    wake(&workers);
    drop(rx);
    outcome
}

/// [`scan_log_parallel`] page after page: each page is mapped on every core, off the async
/// threads, while the next one is read; then folded.
async fn scan_pages<C, T, B, M>(
    store: &impl EventStore,
    from: u64,
    columns: C,
    map: Arc<M>,
    mut fold: impl FnMut(&mut Vec<T>) -> ControlFlow<B>,
) -> Result<Option<B>, StoreError>
where
    C: Columns,
    T: Send + 'static,
    M: for<'r> Fn(&C::Row<'r>) -> T + Send + Sync + 'static,
{
    const PAGE: u32 = 5_000;
    let mut page = store.read_all(from, PAGE).await?;
    loop {
        let Some(last) = page.last() else {
            return Ok(None);
        };
        let next = last.global_position + 1;
        let m = map.clone();
        let mapping =
            tokio::task::spawn_blocking(move || super::par_map(&page, |e| columns.of(e, &*m)));
        let (next_page, mapped) =
            futures_util::future::join(store.read_all(next, PAGE), mapping).await;
        let mut mapped = mapped
            .map_err(|e| StoreError::Unavailable(format!("mapping a page of the log: {e}")))?;
        if let ControlFlow::Break(b) = fold(&mut mapped) {
            return Ok(Some(b));
        }
        page = next_page?;
    }
}

/// What the workers of one scan share.
struct Shared<T> {
    /// The next chunk to read.
    next: AtomicU64,
    /// Chunks folded so far.
    folded: AtomicU64,
    /// Set when the caller stops (a break, an error, the end).
    stop: AtomicBool,
    /// Chunks folded and emptied, for the workers to fill again.
    spare: Mutex<Vec<Vec<T>>>,
}

fn wake(workers: &[std::thread::JoinHandle<()>]) {
    for w in workers {
        w.thread().unpark();
    }
}

type Chunk<T> = (u64, Result<Vec<T>, StoreError>);

/// One worker: takes the next chunk, unless it would run more than [`AHEAD`] chunks past the
/// fold (then it waits), reads and maps it, sends it back.
fn work<C, T, M>(
    shared: &Shared<T>,
    (reader, columns): (&dyn RangeReader, C),
    map: &M,
    (head, chunk): (u64, u64),
    tx: &tokio::sync::mpsc::Sender<Chunk<T>>,
) where
    C: Columns,
    M: for<'r> Fn(&C::Row<'r>) -> T,
{
    let chunks = head.div_ceil(chunk);
    loop {
        let k = shared.next.fetch_add(1, Ordering::AcqRel);
        if k >= chunks {
            return;
        }
        while k >= shared.folded.load(Ordering::Acquire) + AHEAD {
            // The caller stopped, or its future was dropped (the channel is closed then).
            if shared.stop.load(Ordering::Acquire) || tx.is_closed() {
                return;
            }
            std::thread::park_timeout(std::time::Duration::from_millis(5));
        }
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let from = k * chunk + 1;
        let to = ((k + 1) * chunk).min(head);
        let spare = shared.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut items = spare.unwrap_or_default();
        items.reserve(usize::try_from(to - from + 1).unwrap_or(0));
        // A panic in `map` must not leave the caller waiting for this chunk for ever.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            columns.read(reader, from, to, &mut |e| items.push(map(e)))
        }))
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "reading positions {from} to {to} of the log failed (a thread panicked)"
            )))
        });
        if tx.blocking_send((k, read.map(|()| items))).is_err() {
            return;
        }
    }
}
