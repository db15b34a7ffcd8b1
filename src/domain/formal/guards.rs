//! The checks `decide` applies beyond the table: legal time (never in the future, never before
//! the act answered), the lapse corrections of "recorded late is not legally late", and the
//! fields every command of a kind needs.

#[allow(unused_imports)]
use super::*;

/// The legal-time rules every act on an open case obeys (docs/procedures.md, "Legal time"):
/// never in the future beyond the rules' tolerance; the Assembly's next step not before the act
/// that brought the case where it stands; the Court's acts not before its finding; views not
/// before the letter (checked with the views). Art. 97 records may predate the case.
pub(crate) fn legal_time(
    case: &FormalCase,
    kind: CommandKind,
    act: &ActMeta,
    ctx: &Context,
) -> Result<(), Rejection> {
    use CommandKind as K;
    // The scheduler dates a lapse itself: the first instant after the due day.
    if kind == K::RecordDeadlineElapsed {
        return Ok(());
    }
    check_not_in_future(act, ctx, &case.rules)?;
    let on = act.legal_date(&case.rules);
    match kind {
        K::RecordConsultationRequested
        | K::RecordConsultationHeld
        | K::RecordConsultationAnswered
        | K::JoinConsultation
        | K::RecordWithdrawalNotified
        | K::RecordWithdrawalRevoked
        | K::RecordWithdrawalTookEffect
        | K::RecordViews => Ok(()),
        K::RecordCooperationRestored
        | K::RecordFindingAppealed
        | K::RecordMatterMoot
        | K::RecordCourtWithdrawal
        | K::RecordRecurrence => check_not_before(on, case.referral.decision_date, || {
            format!("the Court's finding of {}", case.referral.decision_date)
        }),
        _ => check_not_before(on, case.phase_entered_on, || {
            format!(
                "the act that brought the case to {} on {}",
                case.phase.name(),
                case.phase_entered_on
            )
        }),
    }
}

/// E4: the Bureau's action dated on or before its due day corrects an overdue record.
pub(crate) fn overdue_correction(
    case: &FormalCase,
    on: NaiveDate,
    ev: &impl Fn(Vec<LegalCitation>, Body) -> FormalEvent,
) -> Vec<FormalEvent> {
    let due = case.bureau_action_due();
    if !case.bureau_action_overdue || on > due {
        return Vec::new();
    }
    vec![ev(
        vec![LegalCitation::procedures()],
        Body::DeadlineLapseCorrected {
            kind: DeadlineKind::BureauActionDue,
            deadline: due,
            met_on: on,
            reason: format!(
                "the Bureau acted on {on}, on or before the day its action was due ({due}); the act was entered after the delay was recorded"
            ),
        },
    )]
}

pub(crate) fn require_measures(measures: &[String]) -> Result<(), Rejection> {
    if measures.iter().any(|m| !m.trim().is_empty()) {
        Ok(())
    } else {
        Err(Rejection::InvalidField {
            field: "requested_measures".into(),
            expected: "at least one measure (e.g. targeted sanctions)".into(),
        })
    }
}

pub(crate) fn require_channels(channels: &[String]) -> Result<(), Rejection> {
    if channels.iter().any(|c| !c.trim().is_empty()) {
        Ok(())
    } else {
        Err(Rejection::InvalidField {
            field: "channels".into(),
            expected: "at least one channel (e.g. ICC website, social media)".into(),
        })
    }
}
