//! Case references (`NC-2017-0003`), numbered by the store when the write commits, and the
//! duplicate-referral look-up.

#[allow(unused_imports)]
use super::*;

impl Engine {
    /// A reference slot for a new case of `kind` opened in `year`: the store numbers it from a
    /// counter per prefix when the write commits (see [`crate::store::ReferenceSlot`]), e.g.
    /// `NC-2017-0003`; until then the events carry an unguessable placeholder.
    pub(super) fn reference_slot(&self, kind: ProcedureKind, year: i32) -> ReferenceSlot {
        let prefix = format!("{}-{year}-", kind.reference_prefix());
        let placeholder = format!("{prefix}@{}", self.ids.new_id().simple());
        ReferenceSlot {
            prefix,
            placeholder,
        }
    }

    /// A formal case already opened on the same State and decision (the DuplicateReferral
    /// guard): one indexed look-up, however many cases there are.
    pub(super) async fn existing_case_for(
        &self,
        iso: &str,
        decision_symbol: &str,
    ) -> Result<Option<CaseId>, EngineError> {
        Ok(self
            .store
            .find_by_duplicate_key(&duplicate_key(iso, decision_symbol))
            .await?
            .map(|s| CaseId(s.0)))
    }
}
