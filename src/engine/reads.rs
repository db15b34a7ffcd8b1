//! The reads of a case: its current state (the cached fold brought up to date), a case by id
//! or reference, and a case as of any point in its history.

#[allow(unused_imports)]
use super::*;

impl Engine {
    /// The case's current state and version: the cached fold, brought up to date with the
    /// events recorded since (by any node). Correct without invalidation because the log is
    /// append-only: a cached state is always the fold of a prefix of the stream.
    ///
    /// # Errors
    /// `NotFound` for a case with no events; `Corrupt`; `Store`.
    pub async fn current(&self, id: CaseId) -> Result<(Arc<CaseState>, u64), EngineError> {
        self.state_for(id, true).await
    }

    /// The case's state and version to decide a write on: the cached fold as it is when there
    /// is one and `catch_up` is false (no read: the append's version check catches a write by
    /// another node, and the write path then catches up and tries again), else
    /// [`Engine::current`].
    pub(super) async fn state_for(
        &self,
        id: CaseId,
        catch_up: bool,
    ) -> Result<(Arc<CaseState>, u64), EngineError> {
        let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(id);
        crate::metrics::cache(cached.is_some());
        if !catch_up && let Some(hit) = cached {
            return Ok(hit);
        }
        let from = cached.as_ref().map_or(1, |(_, v)| v + 1);
        let newer = self.store.read_stream(StreamId(id.0), from, None).await?;
        let (mut state, mut version) = match cached {
            Some(c) if newer.is_empty() => return Ok(c),
            Some((s, v)) => (Arc::unwrap_or_clone(s), v),
            None => {
                let first = newer
                    .first()
                    .ok_or_else(|| EngineError::NotFound(id.to_string()))?;
                (CaseState::new(kind_of(&first.event_type)?), 0)
            }
        };
        for r in &newer {
            let e = decode(r)?;
            state = case::evolve(state, &e);
            version = r.version;
        }
        let state = Arc::new(state);
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(id, Arc::clone(&state), version);
        Ok((state, version))
    }

    /// Resolves a case id or human reference.
    ///
    /// # Errors
    /// `NotFound` when neither matches; `Store` on failure.
    pub async fn resolve(&self, id_or_reference: &str) -> Result<CaseId, EngineError> {
        if let Ok(id) = Uuid::parse_str(id_or_reference) {
            return Ok(CaseId(id));
        }
        match self.store.find_by_reference(id_or_reference).await? {
            Some(s) => Ok(CaseId(s.0)),
            None => Err(EngineError::NotFound(id_or_reference.to_owned())),
        }
    }

    /// Loads a case as of a point in its history.
    ///
    /// # Errors
    /// `NotFound` for a case with no events; `Corrupt` if an event cannot be decoded.
    pub async fn load(&self, id: CaseId, as_of: AsOf) -> Result<LoadedCase, EngineError> {
        let stored = self
            .read_store()
            .read_stream(StreamId(id.0), 1, None)
            .await?;
        let Some(first) = stored.first() else {
            return Err(EngineError::NotFound(id.to_string()));
        };
        let kind = kind_of(&first.event_type)?;
        let mut state = CaseState::new(kind);
        let mut events = Vec::with_capacity(stored.len());
        let mut version = 0;
        for r in stored {
            let include = match as_of {
                AsOf::Latest => true,
                AsOf::Version(v) => r.version <= v,
                AsOf::Recorded(t) => r.recorded_at <= t,
                AsOf::Legal(t) => r.occurred_at <= t,
            };
            if !include {
                continue;
            }
            let e = decode(&r)?;
            state = case::evolve(state, &e);
            version = r.version;
            events.push((r, e));
        }
        if events.is_empty() {
            return Err(EngineError::NotFound(format!(
                "{id} (nothing recorded at that point)"
            )));
        }
        Ok(LoadedCase {
            id,
            state: Arc::new(state),
            version,
            events,
        })
    }
}
