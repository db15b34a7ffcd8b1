//! Evolving: from a state and an event to the next state (total, for replay).

#[allow(unused_imports)]
use super::*;

/// Applies an event. Total: an event that does not fit the state changes nothing it cannot.
pub fn evolve(state: State, event: &FormalEvent) -> State {
    let mut case = match (state, &event.body) {
        (
            State::NotOpened,
            Body::NonCooperationFindingReferred {
                case_id,
                reference,
                facts,
                referral,
                rules,
                linked_preventive_case,
                previous_case,
                carried_consultations,
                carried_withdrawal,
            },
        ) => {
            return State::Open(Box::new(FormalCase {
                id: *case_id,
                reference: reference.clone(),
                facts: (**facts).clone(),
                referral: (**referral).clone(),
                rules: (**rules).clone(),
                phase: Phase::Referred,
                linked_preventive_case: *linked_preventive_case,
                previous_case: *previous_case,
                recurrences: Vec::new(),
                letter: None,
                circulated_on: None,
                views: Vec::new(),
                public_meeting_held_on: None,
                report_symbol: None,
                unsc_referrals: Vec::new(),
                unga_requests: Vec::new(),
                bureau_action_overdue: false,
                consultations: carried_consultations.clone(),
                last_occurred_at: event.meta.occurred_at,
                phase_entered_on: event.meta.legal_date(rules),
                withdrawal: carried_withdrawal.as_deref().cloned(),
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

fn apply(case: &mut FormalCase, event: &FormalEvent) {
    match &event.body {
        Body::NonCooperationFindingReferred { .. } => {}
        Body::EmergencyBureauMeetingConvened { .. } => {
            case.phase = Phase::UnderUrgentBureauConsideration;
        }
        Body::BureauSeized { .. } => case.phase = Phase::UnderBureauConsideration,
        Body::OpenLetterSent {
            letter_ref,
            sent_on,
            reply_deadline,
            ..
        } => {
            case.letter = Some(LetterOnFile {
                letter_ref: letter_ref.clone(),
                sent_on: *sent_on,
                reply_deadline: *reply_deadline,
            });
            case.phase = Phase::AwaitingViews {
                reply_deadline: *reply_deadline,
            };
        }
        Body::OpenLetterCopiedToStatesParties { circulated_on, .. } => {
            case.circulated_on = Some(*circulated_on);
        }
        Body::OpenLetterPublished { .. } => {}
        Body::ViewsReceived {
            received_on,
            document_ref,
            ..
        } => {
            case.views.push(ViewsOnRecord {
                received_on: *received_on,
                document_ref: document_ref.clone(),
                late: false,
            });
            case.phase = Phase::ViewsOnFile;
        }
        Body::LateViewsReceived {
            received_on,
            document_ref,
            ..
        } => case.views.push(ViewsOnRecord {
            received_on: *received_on,
            document_ref: document_ref.clone(),
            late: true,
        }),
        Body::ResponseDeadlineElapsed { .. } => case.phase = Phase::NoResponse,
        Body::BureauActionOverdue { .. } => case.bureau_action_overdue = true,
        Body::PublicMeetingScheduled { date, .. } => {
            case.phase = Phase::AwaitingPublicMeeting {
                scheduled_for: *date,
            };
        }
        Body::PublicMeetingHeld { held_on, .. } => {
            case.public_meeting_held_on = Some(*held_on);
            case.phase = Phase::PublicMeetingConcluded;
        }
        Body::BureauReportAdopted { report_symbol, .. } => {
            case.report_symbol = Some(report_symbol.clone());
            case.phase = Phase::ReportedToAssembly;
        }
        Body::MatterPlacedOnAssemblyAgenda {
            session_no,
            session_opening,
            ..
        } => {
            case.phase = Phase::OnAssemblyAgenda {
                session_no: *session_no,
                session_opening: *session_opening,
            };
        }
        Body::PlenaryDiscussionHeld { .. } => case.phase = Phase::ConsideredByAssembly,
        Body::AssemblyResolutionAdopted { .. } => case.phase = Phase::FollowUp,
        Body::CooperationRestored { .. } => case.phase = Phase::ClosedCooperationRestored,
        Body::FindingAppealed { filed_on, .. } => {
            let prior = std::mem::replace(&mut case.phase, Phase::Referred);
            case.phase = Phase::Suspended {
                prior: Box::new(prior),
                since: *filed_on,
            };
        }
        Body::FindingConfirmedOnAppeal {
            reply_deadline_extended_to,
            ..
        } => {
            let phase = std::mem::replace(&mut case.phase, Phase::Referred);
            case.phase = match phase {
                Phase::Suspended { prior, .. } => match (*prior, reply_deadline_extended_to) {
                    (Phase::AwaitingViews { .. }, Some(extended)) => {
                        if let Some(l) = case.letter.as_mut() {
                            l.reply_deadline = *extended;
                        }
                        Phase::AwaitingViews {
                            reply_deadline: *extended,
                        }
                    }
                    (prior, _) => prior,
                },
                other => other,
            };
        }
        Body::ReferralReversedOnAppeal { .. } => case.phase = Phase::ClosedReferralWithdrawn,
        Body::MatterBecameMoot { .. } => case.phase = Phase::ClosedMoot,
        Body::ConsiderationConcluded { .. } => case.phase = Phase::ClosedConcluded,
        Body::RecurrenceReferred { new_case_id, .. } => case.recurrences.push(*new_case_id),
        Body::ReferredToSecurityCouncilByAssembly { referred_on, .. } => {
            case.unsc_referrals.push(*referred_on);
        }
        Body::UngaRequestSent { sent_on, .. } => case.unga_requests.push(*sent_on),
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
        Body::PublicMeetingRescheduled { date, .. } => {
            if let Phase::AwaitingPublicMeeting { scheduled_for } = &mut case.phase {
                *scheduled_for = *date;
            }
        }
        Body::PublicMeetingCancelled { .. } => {
            case.phase = if case.views.iter().any(|v| !v.late) {
                Phase::ViewsOnFile
            } else {
                Phase::NoResponse
            };
        }
        Body::MatterDeferredToLaterSession {
            session_no,
            session_opening,
            ..
        } => {
            case.phase = Phase::OnAssemblyAgenda {
                session_no: *session_no,
                session_opening: *session_opening,
            };
        }
        Body::CourtWithdrewReferral { .. } => case.phase = Phase::ClosedReferralWithdrawn,
        Body::DeadlineLapseCorrected { kind, .. } => {
            if *kind == DeadlineKind::BureauActionDue {
                case.bureau_action_overdue = false;
            }
        }
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
