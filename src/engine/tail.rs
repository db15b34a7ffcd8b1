//! The node's one follower of the log: it reads what every node commits, keeps the most recent
//! events in a ring bounded in bytes, and wakes only the streams whose filter matches.
//!
//! Without it each `WatchCase` and `Subscribe` stream polled the log on its own (500 idle
//! watchers: 2,000 queries a second). Now one task per node reads the log when this node
//! commits, or every [`POLL`] for other nodes' commits, and for each batch notifies the
//! registered [`Interest`]s whose filter matches one of its events. A stream then reads what it
//! needs from the ring ([`Tail::recent`]), or from the log itself when it is further behind than
//! the ring reaches, so catching up never depends on the ring and no event can be dropped.
//!
//! Called by the gRPC streams (`api::cases`, `api::eventlog`); started by `api::run`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use tokio::sync::{Notify, watch};

use super::Engine;
use crate::store::{EventStore, RecordedEvent};

/// How often the tail looks at the log when this node has not signalled a commit (writes by
/// other nodes sharing the database arrive only through the log).
pub const POLL: Duration = Duration::from_millis(250);

/// The most bytes of payload the ring keeps.
pub const RING_BYTES: usize = 8 * 1024 * 1024;

/// Events read from the log per query.
const PAGE: u32 = 500;

type Filter = Box<dyn Fn(&RecordedEvent) -> bool + Send + Sync>;

struct Registered {
    filter: Filter,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct Ring {
    events: VecDeque<Arc<RecordedEvent>>,
    bytes: usize,
}

fn weight(e: &RecordedEvent) -> usize {
    e.payload.len() + e.event_type.len() + e.actor.len() + e.request_id.len() + 200
}

struct Inner {
    /// The last position the tail has read (every event up to it is visible in the log).
    head: watch::Sender<u64>,
    ring: RwLock<Ring>,
    interests: Mutex<HashMap<u64, Registered>>,
    next_id: Mutex<u64>,
}

/// A handle on the node's tail. Cheap to clone.
#[derive(Clone)]
pub struct Tail {
    inner: Arc<Inner>,
}

/// A registration: its [`Interest::notified`] resolves after a batch with a matching event has
/// been read. Dropping it unregisters.
pub struct Interest {
    id: u64,
    notify: Arc<Notify>,
    tail: Tail,
}

impl Interest {
    /// Waits for a matching event (a wake-up that happened while nobody waited is kept).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Interest {
    fn drop(&mut self) {
        self.tail
            .inner
            .interests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl Default for Tail {
    fn default() -> Self {
        let (head, _) = watch::channel(0);
        Tail {
            inner: Arc::new(Inner {
                head,
                ring: RwLock::default(),
                interests: Mutex::default(),
                next_id: Mutex::new(0),
            }),
        }
    }
}

impl Tail {
    /// Registers a filter; matching batches wake the returned [`Interest`].
    pub fn register(
        &self,
        filter: impl Fn(&RecordedEvent) -> bool + Send + Sync + 'static,
    ) -> Interest {
        let id = {
            let mut n = self.inner.next_id.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        let notify = Arc::new(Notify::new());
        self.inner
            .interests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                id,
                Registered {
                    filter: Box::new(filter),
                    notify: notify.clone(),
                },
            );
        Interest {
            id,
            notify,
            tail: self.clone(),
        }
    }

    /// How many streams are registered.
    pub fn interests(&self) -> usize {
        self.inner
            .interests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The last position the tail has read.
    pub fn head(&self) -> u64 {
        *self.inner.head.borrow()
    }

    /// Up to `limit` events from position `from` on, if the ring still holds `from` (`None`:
    /// read the log instead). An empty answer means the tail has read nothing past `from` yet.
    pub fn recent(&self, from: u64, limit: usize) -> Option<Vec<Arc<RecordedEvent>>> {
        let ring = self.inner.ring.read().unwrap_or_else(|p| p.into_inner());
        let first = ring.events.front().map(|e| e.global_position)?;
        let last = ring.events.back().map_or(0, |e| e.global_position);
        if from < first {
            return None;
        }
        if from > last {
            return Some(Vec::new());
        }
        let skip = usize::try_from(from - first).unwrap_or(usize::MAX);
        Some(ring.events.iter().skip(skip).take(limit).cloned().collect())
    }

    fn publish(&self, batch: Vec<RecordedEvent>) {
        let Some(last) = batch.last().map(|e| e.global_position) else {
            return;
        };
        let batch: Vec<Arc<RecordedEvent>> = batch.into_iter().map(Arc::new).collect();
        {
            let mut ring = self.inner.ring.write().unwrap_or_else(|p| p.into_inner());
            for e in &batch {
                ring.bytes += weight(e);
                ring.events.push_back(e.clone());
            }
            while ring.bytes > RING_BYTES {
                match ring.events.pop_front() {
                    Some(old) => ring.bytes -= weight(&old),
                    None => break,
                }
            }
        }
        self.inner.head.send_replace(last);
        let interests = self
            .inner
            .interests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for r in interests.values() {
            if batch.iter().any(|e| (r.filter)(e)) {
                r.notify.notify_one();
            }
        }
    }

    /// Follows the log until `stop` turns true: reads from the current head on, after every
    /// commit of this node and every [`POLL`].
    pub async fn run(self, engine: Engine, mut stop: watch::Receiver<bool>) {
        let mut commits = engine.subscribe_head();
        let mut next = match engine.store().head_position().await {
            Ok(h) => h + 1,
            Err(e) => {
                tracing::warn!(error = %e, "log tail: cannot read the head; starting from 1");
                1
            }
        };
        self.inner.head.send_replace(next - 1);
        // The position this node's last commit reached, when that commit is what woke the
        // tail: the log is then known to hold every position up to it (positions are taken
        // under the log lock and committed in order), without asking the database. The head
        // is still read from the log at least every POLL, however often this node commits,
        // for other nodes' commits.
        let mut committed = None;
        let mut head_read = tokio::time::Instant::now();
        loop {
            let known = committed.filter(|_| head_read.elapsed() < POLL);
            if known.is_none() {
                head_read = tokio::time::Instant::now();
            }
            if let Some(head) = self.head_when_unwatched(&engine, known).await {
                next = head + 1;
            } else {
                next = self.read_from(&engine, next).await;
            }
            committed = tokio::select! {
                _ = commits.changed() => Some(*commits.borrow_and_update()),
                _ = tokio::time::sleep(POLL) => None,
                _ = stop.changed() => return,
            };
        }
    }

    /// With no stream registered, events would be read only to fill the ring: the head alone
    /// is followed, and the ring emptied (a stream that registers later reads what the ring
    /// lacks from the log, and the ring starts again at the next event read). `None` when a
    /// stream is registered (or the head cannot be read): then the events are read.
    ///
    /// The count is looked at after the head is read: a stream registered later reads the log
    /// after that, so it sees every event up to the head, and the tail's next read, from the
    /// head on, wakes it for the rest.
    ///
    /// After this node's own commit (`committed`), the head is the position that commit
    /// reached (or the head already known, if higher), not read: at 64 clients that was a
    /// query on every batch. Another node's later commits are found within a [`POLL`], when
    /// the head is read from the log again; a head known too low only makes a stream read
    /// more.
    async fn head_when_unwatched(&self, engine: &Engine, committed: Option<u64>) -> Option<u64> {
        if self.interests() > 0 {
            return None;
        }
        let head = match committed {
            Some(position) => position.max(self.head()),
            None => engine.store().head_position().await.ok()?,
        };
        if self.interests() > 0 {
            return None;
        }
        {
            let mut ring = self.inner.ring.write().unwrap_or_else(|p| p.into_inner());
            ring.events.clear();
            ring.bytes = 0;
        }
        self.inner.head.send_replace(head);
        Some(head)
    }

    /// Reads and publishes the log from `next` to its end; returns the next position to read.
    async fn read_from(&self, engine: &Engine, mut next: u64) -> u64 {
        loop {
            match engine.store().read_all(next, PAGE).await {
                Ok(page) => {
                    let n = page.len();
                    if let Some(last) = page.last() {
                        next = last.global_position + 1;
                    }
                    self.publish(page);
                    if n < PAGE as usize {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "log tail: reading the log failed; retrying");
                    break;
                }
            }
        }
        next
    }
}
