//! The group committer: writes that arrive while a transaction commits wait and go together
//! into the next one, so that fsyncs are shared and durability is unchanged.

#[allow(unused_imports)]
use super::*;

pub(super) type Pending = (
    Write,
    tokio::sync::oneshot::Sender<Result<crate::store::AppendReceipt, AppendError>>,
);

/// Most writes committed in one transaction by the group committer.
pub const MAX_BATCH: usize = 64;

/// Group commit: writes that arrive while a transaction is being committed wait and go
/// together into the next one (each in its own savepoint, so a conflict fails only its own
/// write). Durability is unchanged (each transaction is fully synced); fsyncs are shared.
pub(super) async fn group_committer(store: AnyStore, mut rx: tokio::sync::mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let (writes, replies): (Vec<Write>, Vec<_>) = batch.into_iter().unzip();
        let events: usize = writes
            .iter()
            .flat_map(|w| &w.streams)
            .map(|s| s.events.len())
            .sum();
        let started = std::time::Instant::now();
        let outcome = store.append_batch(writes).await;
        crate::metrics::commit(events, started.elapsed());
        match outcome {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "group commit failed");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(AppendError::Backend(StoreError::Unavailable(
                        message.clone(),
                    ))));
                }
            }
        }
    }
}

impl Engine {
    /// Appends one write, through the group committer when there is one.
    pub(super) async fn append(
        &self,
        write: Write,
    ) -> Result<crate::store::AppendReceipt, AppendError> {
        let Some(committer) = &self.committer else {
            let events = write.streams.iter().map(|s| s.events.len()).sum();
            let started = std::time::Instant::now();
            let receipt = self.store.append(write).await;
            crate::metrics::commit(events, started.elapsed());
            return receipt;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        if committer.send((write, tx)).await.is_err() {
            return Err(AppendError::Backend(StoreError::Unavailable(
                "the committer has stopped".into(),
            )));
        }
        rx.await.unwrap_or_else(|_| {
            Err(AppendError::Backend(StoreError::Unavailable(
                "the committer has stopped".into(),
            )))
        })
    }
}
