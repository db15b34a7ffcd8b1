//! The engine's cache of folded case states: bounded, least recently used out.
//!
//! A state is the fold of a prefix of its case's stream (the log is append-only), so an entry
//! is never wrong, only possibly behind: the engine reads the events after its version. When
//! the cache is full, the eighth of its entries used least recently is dropped at once, so the
//! cost of a miss grows with nothing and there is no cliff at the size (it used to be cleared
//! whole).

use std::{collections::HashMap, sync::Arc};

use crate::domain::{CaseId, case::CaseState};

/// Most case states kept.
pub const CAPACITY: usize = 10_000;

/// A cached state, its version, and when it was last used.
struct Entry {
    state: Arc<CaseState>,
    version: u64,
    used: u64,
}

/// The cache (behind the engine's mutex).
#[derive(Default)]
pub struct StateCache {
    entries: HashMap<CaseId, Entry>,
    clock: u64,
}

impl StateCache {
    /// The cached state and version of `id`, marking it used (shared, not copied).
    pub fn get(&mut self, id: CaseId) -> Option<(Arc<CaseState>, u64)> {
        self.clock += 1;
        let now = self.clock;
        self.entries.get_mut(&id).map(|e| {
            e.used = now;
            (e.state.clone(), e.version)
        })
    }

    /// Keeps `state` at `version` unless a newer one is cached already.
    pub fn put(&mut self, id: CaseId, state: Arc<CaseState>, version: u64) {
        if self.entries.get(&id).is_some_and(|e| e.version >= version) {
            return;
        }
        if !self.entries.contains_key(&id) && self.entries.len() >= CAPACITY {
            self.evict();
        }
        self.clock += 1;
        let used = self.clock;
        self.entries.insert(
            id,
            Entry {
                state,
                version,
                used,
            },
        );
    }

    /// Drops the eighth of the entries used least recently.
    fn evict(&mut self) {
        let mut ages: Vec<(u64, CaseId)> =
            self.entries.iter().map(|(id, e)| (e.used, *id)).collect();
        let n = (ages.len() / 8).max(1);
        ages.select_nth_unstable(n - 1);
        for (_, id) in &ages[..n] {
            self.entries.remove(id);
        }
    }

    /// How many states are cached.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::{CAPACITY, StateCache};
    use crate::domain::{CaseId, ProcedureKind, case::CaseState};

    fn id(n: u128) -> CaseId {
        CaseId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn full_cache_drops_the_least_recently_used_eighth_not_everything() {
        let mut c = StateCache::default();
        let s = std::sync::Arc::new(CaseState::new(ProcedureKind::Formal));
        for n in 0..CAPACITY as u128 {
            c.put(id(n), s.clone(), 1);
        }
        // Case 0 is used again: it is now among the most recent.
        assert!(c.get(id(0)).is_some());
        c.put(id(u128::MAX), s.clone(), 1);
        assert_eq!(c.len(), CAPACITY - CAPACITY / 8 + 1);
        assert!(c.get(id(0)).is_some(), "a recently used case stays");
        assert!(c.get(id(1)).is_none(), "the least recently used went");
        assert!(c.get(id(CAPACITY as u128 - 1)).is_some());
        // A newer version replaces; an older one does not.
        c.put(id(0), s.clone(), 5);
        c.put(id(0), s, 3);
        assert_eq!(c.get(id(0)).map(|(_, v)| v), Some(5));
    }
}
