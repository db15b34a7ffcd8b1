//! Server streams with a memory bound in bytes, that end when the server stops.
//!
//! Every server stream (`WatchCase`, `EventLog.Subscribe`, `Audit.ExportCase`) is fed by a task
//! through a [`StreamSender`]: a message waits until the stream's byte budget
//! ([`STREAM_BUDGET_BYTES`]) has room, so a client that stops reading holds at most that much
//! here (plus what the HTTP/2 flow-control window lets the transport buffer), however far the
//! log runs ahead. A send also gives up when the server is stopping or the client has gone, so a
//! stalled stream never holds up shutdown.

use std::{pin::Pin, sync::Arc};

use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tonic::Status;

/// The most bytes of encoded messages one stream holds that its client has not taken yet.
pub const STREAM_BUDGET_BYTES: usize = 1024 * 1024;

/// A server stream of results.
pub type ResultStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

type Item<T> = (Result<T, Status>, OwnedSemaphorePermit);

/// The feeding side of a byte-bounded stream.
pub struct StreamSender<T> {
    tx: mpsc::UnboundedSender<Item<T>>,
    budget: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
}

/// Why a send did not go through: the client went away or the server is stopping. Either
/// way the feeding task should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl<T: prost::Message + Send + 'static> StreamSender<T> {
    /// Sends one message, waiting for room in the byte budget.
    ///
    /// # Errors
    /// [`Closed`] when the client has gone or the server is stopping.
    pub async fn send(&mut self, item: Result<T, Status>) -> Result<(), Closed> {
        let size = match &item {
            Ok(m) => m.encoded_len(),
            Err(s) => s.message().len(),
        };
        // A message larger than the whole budget waits for the budget to be empty.
        let permits = u32::try_from(size.clamp(1, STREAM_BUDGET_BYTES)).unwrap_or(u32::MAX);
        if *self.stop.borrow() {
            return Err(Closed);
        }
        let permit = tokio::select! {
            p = self.budget.clone().acquire_many_owned(permits) => p.map_err(|_| Closed)?,
            _ = self.stop.changed() => return Err(Closed),
            _ = self.tx.closed() => return Err(Closed),
        };
        self.tx.send((item, permit)).map_err(|_| Closed)
    }

    /// Resolves when the client has gone or the server is stopping.
    pub async fn closed(&mut self) {
        if *self.stop.borrow() {
            return;
        }
        tokio::select! {
            _ = self.stop.changed() => {}
            _ = self.tx.closed() => {}
        }
    }
}

/// A byte-bounded stream: the sender for the feeding task and the response stream for tonic.
/// The stream ends when the server stops (`stop` turns true).
pub fn bounded<T: Send + 'static>(
    stop: watch::Receiver<bool>,
) -> (StreamSender<T>, ResultStream<T>) {
    let (tx, rx) = mpsc::unbounded_channel::<Item<T>>();
    let sender = StreamSender {
        tx,
        budget: Arc::new(Semaphore::new(STREAM_BUDGET_BYTES)),
        stop: stop.clone(),
    };
    let stream = futures_util::stream::unfold((rx, stop), |(mut rx, mut stop)| async move {
        if *stop.borrow() {
            return None;
        }
        let next = tokio::select! {
            n = rx.recv() => n,
            _ = stop.changed() => None,
        };
        // The permit is dropped here: the message has left the budget for the transport.
        next.map(|(item, _permit)| (item, (rx, stop)))
    });
    (sender, Box::pin(stream))
}
