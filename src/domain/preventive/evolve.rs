//! Evolving: from a state and an event to the next state (total, for replay).

#[allow(unused_imports)]
use super::*;

/// Applies an event. Total.
pub fn evolve(state: State, event: &PreventiveEvent) -> State {
    let mut case = match (state, &event.body) {
        (
            State::NotOpened,
            Body::ImminentNonCooperationAlerted {
                case_id,
                reference,
                facts,
                alert,
                rules,
            },
        ) => {
            return State::Open(Box::new(PreventiveCase {
                id: *case_id,
                reference: reference.clone(),
                facts: (**facts).clone(),
                alert: (**alert).clone(),
                rules: (**rules).clone(),
                phase: Phase::Alerted,
                assessment: None,
                actions_taken: Vec::new(),
                bureau_informed_on: None,
                unsc_referrals: Vec::new(),
                consultations: Consultations::default(),
                last_occurred_at: event.meta.occurred_at,
                phase_entered_on: event.meta.legal_date(rules),
                withdrawal: None,
                urgent_decisions: Vec::new(),
            }));
        }
        (State::NotOpened, _) => return State::NotOpened,
        (State::Open(c), _) => c,
    };
    case.last_occurred_at = event.meta.occurred_at;
    let before = case.phase.name();
    apply(&mut case, event);
    if case.phase.name() != before {
        case.phase_entered_on = event.meta.legal_date(&case.rules);
    }
    State::Open(case)
}

fn apply(case: &mut PreventiveCase, event: &PreventiveEvent) {
    match &event.body {
        Body::ImminentNonCooperationAlerted { .. } => {}
        Body::SituationAssessed { assessment, .. } => {
            case.assessment = Some(*assessment);
            case.phase = Phase::Assessed(*assessment);
        }
        Body::AlertDismissed { .. } => case.phase = Phase::Dismissed,
        Body::GoodOfficesInitiated => case.phase = Phase::GoodOfficesActive,
        Body::LetterToHostStateSent { reference, .. } => {
            case.actions_taken.push(format!("letter {reference}"));
        }
        Body::FocalPointDemarcheMade {
            focal_point_state, ..
        } => case
            .actions_taken
            .push(format!("démarche by {focal_point_state}")),
        Body::PublicStatementIssued { reference, .. } => {
            case.actions_taken.push(format!("statement {reference}"));
        }
        Body::VisitCancelled { averted_by } => case.phase = Phase::Averted(*averted_by),
        Body::PersonArrived { datetime, .. } => {
            case.phase = Phase::IncidentOngoing {
                arrived_at: *datetime,
            };
        }
        Body::PersonArrestedAndSurrendered { .. } => case.phase = Phase::PersonSurrendered,
        Body::PersonDepartedWithoutArrest { datetime, .. } => {
            case.phase = Phase::IncidentOccurred {
                departed_at: *datetime,
            };
        }
        Body::BureauInformed { date, .. } => case.bureau_informed_on = Some(*date),
        Body::CourtNonComplianceProceedingsOpened { views_due_on, .. } => {
            case.phase = Phase::AwaitingCourtDetermination {
                views_due_on: *views_due_on,
            };
        }
        Body::NoFindingMade { .. } => {
            case.phase = Phase::ClosedNoReferral(Determination::NoFinding);
        }
        Body::FindingMadeWithoutReferral { .. } => {
            case.phase = Phase::ClosedNoReferral(Determination::FindingWithoutReferral);
        }
        Body::ReferralDecisionDeferred { .. } => case.phase = Phase::ReferralDeferred,
        Body::NonCooperationFindingReferred { formal_case, .. } => {
            case.phase = Phase::EscalatedToFormal {
                formal_case: *formal_case,
            };
        }
        Body::VisitWarningPublished { .. } => {}
        Body::ReferredToSecurityCouncilByAssembly { referred_on, .. } => {
            case.unsc_referrals.push(*referred_on);
        }
        Body::RulesAmended { rules, .. } => case.rules = rules.clone(),
        Body::ConsultationRequested(r) => case.consultations.requested(r),
        Body::ConsultationHeld(h) => case.consultations.held(h),
        Body::ConsultationAnswered(a) => {
            case.consultations.answered(a);
        }
        Body::AssemblyRepresentativeJoinedConsultation(j) => {
            case.consultations.joined(j);
        }
        Body::WithdrawalNotified(n) => crate::domain::withdrawal::evolve(
            &mut case.withdrawal,
            &crate::domain::withdrawal::Outcome::Notified(n.clone()),
        ),
        Body::WithdrawalRevoked(r) => crate::domain::withdrawal::evolve(
            &mut case.withdrawal,
            &crate::domain::withdrawal::Outcome::Revoked(r.clone()),
        ),
        Body::WithdrawalTookEffect(t) => crate::domain::withdrawal::evolve(
            &mut case.withdrawal,
            &crate::domain::withdrawal::Outcome::TookEffect(t.clone()),
        ),
        Body::UrgentDecisionIssued {
            decision_symbol, ..
        } => case.urgent_decisions.push(decision_symbol.clone()),
        Body::CourtDeadlineExtended { views_due_on, .. } => {
            if let Phase::AwaitingCourtDetermination { views_due_on: due } = &mut case.phase {
                *due = *views_due_on;
            }
        }
        Body::CourtHearingHeld { .. } | Body::AlertSentOnStandingChannel { .. } => {}
        Body::MatterBecameMoot { basis, .. } => case.phase = Phase::ClosedMoot(*basis),
    }
}

/// The event body of a withdrawal record.
pub(crate) fn withdrawal_body(o: crate::domain::withdrawal::Outcome) -> Body {
    use crate::domain::withdrawal::Outcome as W;
    match o {
        W::Notified(n) => Body::WithdrawalNotified(n),
        W::Revoked(r) => Body::WithdrawalRevoked(r),
        W::TookEffect(t) => Body::WithdrawalTookEffect(t),
    }
}
