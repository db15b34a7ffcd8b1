//! Deciding: from a state and a command to the events to record, or a named rejection.

#[allow(unused_imports)]
use super::*;

pub(crate) fn rome(p: &str) -> LegalCitation {
    LegalCitation::rome(p)
}

/// Checks that the command may be issued in the case's current state, with the most specific
/// rejection when it may not.
pub(crate) fn check_state(case: &FormalCase, kind: CommandKind) -> Result<(), Rejection> {
    let specific = match (&case.phase, kind, &case.letter) {
        (phase, _, _) if phase.is_closed() => None,
        (Phase::Suspended { since, .. }, _, _) => Some(Rejection::CaseSuspended {
            suspended_since: *since,
        }),
        (_, CommandKind::SendOpenLetter, Some(l)) => {
            Some(Rejection::LetterAlreadySent { sent_on: l.sent_on })
        }
        (Phase::ViewsOnFile | Phase::NoResponse, CommandKind::RecordPublicMeeting, _) => {
            Some(Rejection::NoInvitationIssued)
        }
        _ => None,
    };
    table::check_state(
        TRANSITIONS,
        kind,
        case.phase.name(),
        case.phase.is_closed(),
        specific,
    )
}

/// Checks whether `principal` could issue `kind` now (permission and state; not the command's
/// own fields). Used by `available_actions`.
pub fn precheck(state: &State, kind: CommandKind, ctx: &Context) -> Result<(), Rejection> {
    let open = CommandKind::OpenFormalCase;
    let case = match state {
        State::NotOpened => return before_opening(&ctx.principal, kind, open),
        State::Open(case) => case,
    };
    on_open_case(
        &ctx.principal,
        kind,
        open,
        case.facts.requested_state.region,
    )?;
    check_state(case, kind)?;
    case.rules.require_extension_for(kind)?;
    if kind == CommandKind::RecordDeadlineElapsed {
        return match state.next_deadline() {
            None => Err(Rejection::NoDeadlinePending {
                state: case.phase.name().to_owned(),
            }),
            Some(d) if !d.has_elapsed(ctx.now) => Err(Rejection::DeadlineNotReached {
                kind: d.kind,
                due: d.due,
                now: ctx.now,
            }),
            Some(_) => Ok(()),
        };
    }
    Ok(())
}

/// Decides a command against the current state.
///
/// # Errors
/// A named [`Rejection`]: permission, state, guard or field.
pub fn decide(state: &State, cmd: &Command, ctx: &Context) -> Result<Vec<FormalEvent>, Rejection> {
    let kind = cmd.action.kind();
    precheck(state, kind, ctx)?;
    let act = &cmd.act;
    let case = match (state, &cmd.action) {
        (
            State::NotOpened,
            Action::Open {
                case_id,
                reference,
                facts,
                referral,
                rules,
                linked_preventive_case,
                previous_case,
                existing_case_for_decision,
            },
        ) => {
            validate_facts(facts)?;
            // A focal point opens a case only for a State of its own region.
            crate::domain::permissions::authorize(
                &ctx.principal,
                cmd.action.kind(),
                Some(facts.requested_state.region),
            )?;
            require_text("reference", reference)?;
            referral.validate(facts.requested_state.status)?;
            rules.validate()?;
            check_not_in_future(act, ctx, rules)?;
            check_not_before(act.legal_date(rules), referral.transmitted_on, || {
                format!("the referral's transmission ({})", referral.transmitted_on)
            })?;
            if let Some(existing) = existing_case_for_decision {
                return Err(Rejection::DuplicateReferral {
                    existing_case: *existing,
                    decision_symbol: referral.decision_symbol.clone(),
                    state: facts.requested_state.iso_code.clone(),
                });
            }
            let body = Body::NonCooperationFindingReferred {
                case_id: *case_id,
                reference: reference.clone(),
                facts: Box::new(facts.clone()),
                referral: Box::new(referral.clone()),
                rules: Box::new(rules.clone()),
                linked_preventive_case: *linked_preventive_case,
                previous_case: *previous_case,
                carried_consultations: Consultations::default(),
                carried_withdrawal: None,
            };
            let meta = EventMeta::new(act, ctx, referral.citations(), rules.version);
            return Ok(vec![Event { meta, body }]);
        }
        // `precheck` already refused every other command before opening, and opening twice.
        (State::NotOpened, _) => return Err(Rejection::CaseNotOpened),
        (State::Open(_), Action::Open { .. }) => return Err(Rejection::CaseAlreadyOpened),
        (State::Open(c), _) => c,
    };
    let rules = &case.rules;
    // The act's legal date: its instant where it happened, or at the rules' seat.
    let on = act.legal_date(rules);
    legal_time(case, kind, act, ctx)?;
    let ev = |base: Vec<LegalCitation>, body: Body| Event {
        meta: EventMeta::new(act, ctx, base, rules.version),
        body,
    };
    let procedures = || vec![LegalCitation::procedures()];
    let events = match &cmd.action {
        Action::Open { .. } => return Err(Rejection::CaseAlreadyOpened),
        Action::ConveneEmergencyBureauMeeting {
            meeting_no,
            urgency_rationale,
            quorum_present,
        } => {
            require_text("meeting_no", meeting_no)?;
            require_text("urgency_rationale", urgency_rationale)?;
            let mut out = overdue_correction(case, on, &ev);
            out.push(ev(
                procedures(),
                Body::EmergencyBureauMeetingConvened {
                    meeting_date: on,
                    meeting_no: meeting_no.clone(),
                    urgency_rationale: urgency_rationale.clone(),
                    quorum_present: *quorum_present,
                },
            ));
            out
        }
        Action::SeizeBureau {
            meeting_no,
            quorum_present,
        } => {
            require_text("meeting_no", meeting_no)?;
            let mut out = overdue_correction(case, on, &ev);
            out.push(ev(
                procedures(),
                Body::BureauSeized {
                    meeting_date: on,
                    meeting_no: meeting_no.clone(),
                    quorum_present: *quorum_present,
                },
            ));
            out
        }
        Action::SendOpenLetter {
            letter_ref,
            signatory,
            addressee,
            obligations_recalled,
            warned_measures,
            published_channels,
        } => {
            require_text("letter_ref", letter_ref)?;
            if !published_channels.is_empty() {
                rules.require(rules.extensions.e2_publication, "E2", "publication")?;
            }
            require_text("signatory", signatory)?;
            require_text("addressee", addressee)?;
            if rules.extensions.e1_warned_measures
                && warned_measures.iter().all(|m| m.trim().is_empty())
            {
                return Err(Rejection::WarnedMeasuresRequired);
            }
            // The obligations of the request concerned (art. 89, 92 or 93...), unless the
            // President's office names others.
            let mut obligations = obligations_recalled.clone();
            if obligations.is_empty() {
                obligations = case.facts.obligations();
            }
            let mut cited = case.facts.obligation_citations();
            // After a withdrawal took effect, the State stays bound for proceedings begun
            // before (art. 127(2)).
            let continuing = crate::domain::withdrawal::Withdrawal::continuing_obligation(
                case.withdrawal.as_ref(),
                &case.facts,
                on,
            );
            if let Some(c) = continuing
                .as_ref()
                .filter(|c| !obligations.contains(&c.provision))
            {
                obligations.push(c.provision.clone());
            }
            cited.extend(continuing);
            cited.push(LegalCitation::procedures());
            vec![ev(
                cited,
                Body::OpenLetterSent {
                    letter_ref: letter_ref.clone(),
                    signatory: signatory.clone(),
                    addressee: addressee.clone(),
                    sent_on: on,
                    reply_deadline: crate::domain::calendar::period_end(
                        on,
                        rules.reply_window_days,
                        rules,
                    ),
                    obligations_recalled: obligations,
                    views_requested: true,
                    warned_measures: warned_measures.clone(),
                    published_channels: published_channels.clone(),
                },
            )]
        }
        Action::CirculateOpenLetter {
            distribution_list_ref,
        } => {
            if let Some(circulated_on) = case.circulated_on {
                return Err(Rejection::AlreadyCirculated { circulated_on });
            }
            require_text("distribution_list_ref", distribution_list_ref)?;
            vec![ev(
                procedures(),
                Body::OpenLetterCopiedToStatesParties {
                    circulated_on: on,
                    distribution_list_ref: distribution_list_ref.clone(),
                },
            )]
        }
        Action::PublishLetter { channels, url } => {
            require_channels(channels)?;
            vec![ev(
                procedures(),
                Body::OpenLetterPublished {
                    published_on: on,
                    channels: channels.clone(),
                    url: url.clone(),
                },
            )]
        }
        Action::RecordViews {
            document_ref,
            summary,
            asserted_grounds,
        } => {
            require_text("document_ref", document_ref)?;
            let letter = case.letter.as_ref().ok_or(Rejection::NotAllowedInState {
                command: kind.as_str().into(),
                state: case.phase.name().into(),
                allowed_from: vec![AWAITING_VIEWS.into(), NO_RESPONSE.into()],
            })?;
            if on < letter.sent_on {
                return Err(Rejection::InvalidField {
                    field: "occurred_at".into(),
                    expected: format!(
                        "the day the views were received, on or after the letter of {}",
                        letter.sent_on
                    ),
                });
            }
            let late = Body::LateViewsReceived {
                received_on: on,
                reply_deadline: letter.reply_deadline,
                document_ref: document_ref.clone(),
                summary: summary.clone(),
                asserted_grounds: asserted_grounds.clone(),
            };
            let on_time = Body::ViewsReceived {
                received_on: on,
                document_ref: document_ref.clone(),
                summary: summary.clone(),
                asserted_grounds: asserted_grounds.clone(),
            };
            match &case.phase {
                Phase::AwaitingViews { reply_deadline } if on <= *reply_deadline => {
                    vec![ev(procedures(), on_time)]
                }
                // A receipt date cannot close a window that is still open on the clock.
                // (In AwaitingViews the state's next deadline is the reply window.)
                Phase::AwaitingViews { reply_deadline }
                    if !state
                        .next_deadline()
                        .is_some_and(|d| d.has_elapsed(ctx.now)) =>
                {
                    return Err(Rejection::ReplyWindowStillOpen {
                        received_on: on,
                        reply_deadline: *reply_deadline,
                    });
                }
                Phase::AwaitingViews { reply_deadline } => vec![
                    ev(
                        procedures(),
                        Body::ResponseDeadlineElapsed {
                            deadline: *reply_deadline,
                            checked_at: ctx.now,
                        },
                    ),
                    ev(procedures(), late),
                ],
                // Recorded late is not legally late: views received on or before the deadline
                // but entered after the scheduler recorded the lapse correct that record.
                Phase::NoResponse if on <= letter.reply_deadline => vec![
                    ev(
                        procedures(),
                        Body::DeadlineLapseCorrected {
                            kind: DeadlineKind::ReplyWindow,
                            deadline: letter.reply_deadline,
                            met_on: on,
                            reason: format!(
                                "views {document_ref} were received on {on}, on or before the reply deadline {}; they were entered after the lapse was recorded",
                                letter.reply_deadline
                            ),
                        },
                    ),
                    ev(procedures(), on_time),
                ],
                _ => vec![ev(procedures(), late)],
            }
        }
        Action::RecordDeadlineElapsed => {
            // `precheck` established that a firing deadline exists and has elapsed.
            let d = state.next_deadline().ok_or(Rejection::NoDeadlinePending {
                state: case.phase.name().into(),
            })?;
            let body = match d.kind {
                DeadlineKind::ReplyWindow => Body::ResponseDeadlineElapsed {
                    deadline: d.due,
                    checked_at: ctx.now,
                },
                DeadlineKind::BureauActionDue => Body::BureauActionOverdue {
                    due: d.due,
                    checked_at: ctx.now,
                },
                DeadlineKind::PublicMeeting
                | DeadlineKind::AssemblySession
                | DeadlineKind::ExpectedArrival
                | DeadlineKind::ExpectedDeparture
                | DeadlineKind::CourtViewsDue => {
                    return Err(Rejection::NoDeadlinePending {
                        state: case.phase.name().into(),
                    });
                }
            };
            vec![ev(procedures(), body)]
        }
        Action::SchedulePublicMeeting {
            date,
            venue,
            invitation_ref,
        } => {
            require_text("venue", venue)?;
            require_text("invitation_ref", invitation_ref)?;
            if *date < on {
                return Err(Rejection::InvalidField {
                    field: "date".into(),
                    expected: format!(
                        "a meeting date on or after the decision to schedule it ({on})"
                    ),
                });
            }
            if let Phase::AwaitingPublicMeeting { scheduled_for } = &case.phase {
                if date == scheduled_for {
                    return Err(Rejection::MeetingAlreadyScheduledFor {
                        scheduled_for: *scheduled_for,
                    });
                }
                return Ok(vec![ev(
                    procedures(),
                    Body::PublicMeetingRescheduled {
                        date: *date,
                        previous_date: *scheduled_for,
                        venue: venue.clone(),
                        invitation_ref: invitation_ref.clone(),
                    },
                )]);
            }
            vec![ev(
                procedures(),
                Body::PublicMeetingScheduled {
                    date: *date,
                    venue: venue.clone(),
                    invitation_ref: invitation_ref.clone(),
                    level: "ambassadorial".into(),
                },
            )]
        }
        Action::RecordPublicMeeting {
            attendance,
            state_statement_ref,
            record_ref,
        } => {
            require_text("record_ref", record_ref)?;
            vec![ev(
                procedures(),
                Body::PublicMeetingHeld {
                    held_on: on,
                    attendance: *attendance,
                    state_statement_ref: state_statement_ref.clone(),
                    record_ref: record_ref.clone(),
                },
            )]
        }
        Action::AdoptBureauReport {
            report_symbol,
            recommendations,
            omnibus_language_ref,
        } => {
            require_text("report_symbol", report_symbol)?;
            let follow_up = matches!(case.phase, Phase::FollowUp);
            if follow_up && case.report_symbol.as_deref() == Some(report_symbol.trim()) {
                return Err(Rejection::InvalidField {
                    field: "report_symbol".into(),
                    expected: format!(
                        "the symbol of this year's report, not that of the last one ({})",
                        report_symbol.trim()
                    ),
                });
            }
            let held = matches!(case.phase, Phase::PublicMeetingConcluded)
                || (follow_up && case.public_meeting_held_on.is_some());
            if !held && !follow_up && !rules.report_without_public_meeting {
                return Err(Rejection::NotAllowedInState {
                    command: kind.as_str().into(),
                    state: case.phase.name().into(),
                    allowed_from: vec![MEETING_CONCLUDED.into()],
                });
            }
            vec![ev(
                vec![LegalCitation::bureau_report()],
                Body::BureauReportAdopted {
                    report_symbol: report_symbol.clone(),
                    adopted_on: on,
                    recommendations: recommendations.clone(),
                    omnibus_language_ref: omnibus_language_ref.clone(),
                    public_meeting_held: held,
                },
            )]
        }
        Action::PlaceOnAssemblyAgenda {
            session_no,
            session_opening,
            agenda_item,
        } => {
            require_text("agenda_item", agenda_item)?;
            let gap_check = case.public_meeting_held_on.map(|held| GapCheck {
                public_meeting_date: held,
                months: rules.agenda_gap_months,
                earliest_allowed: add_months(held, rules.agenda_gap_months),
            });
            if let Some(g) = &gap_check
                && *session_opening < g.earliest_allowed
            {
                return Err(Rejection::AgendaTooLate {
                    session_opening: *session_opening,
                    earliest_allowed: g.earliest_allowed,
                    public_meeting_on: g.public_meeting_date,
                    gap_months: g.months,
                });
            }
            if let Phase::OnAssemblyAgenda {
                session_no: current,
                ..
            } = &case.phase
            {
                if session_no <= current {
                    return Err(Rejection::InvalidField {
                        field: "session_no".into(),
                        expected: format!(
                            "a session after session {current}, whose agenda carries the matter now"
                        ),
                    });
                }
                return Ok(vec![ev(
                    vec![rome("art. 112(2)(f)"), LegalCitation::procedures()],
                    Body::MatterDeferredToLaterSession {
                        from_session_no: *current,
                        session_no: *session_no,
                        session_opening: *session_opening,
                        agenda_item: agenda_item.clone(),
                        gap_check,
                    },
                )]);
            }
            vec![ev(
                vec![rome("art. 112(2)(f)"), LegalCitation::procedures()],
                Body::MatterPlacedOnAssemblyAgenda {
                    session_no: *session_no,
                    session_opening: *session_opening,
                    agenda_item: agenda_item.clone(),
                    gap_check,
                },
            )]
        }
        Action::RecordPlenaryDiscussion {
            session_no,
            speakers,
            record_ref,
        } => {
            require_text("record_ref", record_ref)?;
            if let Phase::OnAssemblyAgenda {
                session_no: agenda, ..
            } = &case.phase
                && agenda != session_no
            {
                return Err(Rejection::InvalidField {
                    field: "session_no".into(),
                    expected: format!("{agenda}, the session whose agenda carries the matter"),
                });
            }
            vec![ev(
                vec![rome("art. 112(2)(f)")],
                Body::PlenaryDiscussionHeld {
                    session_no: *session_no,
                    date: on,
                    speakers: speakers.clone(),
                    record_ref: record_ref.clone(),
                },
            )]
        }
        Action::RecordAssemblyResolution {
            resolution_symbol,
            paragraphs,
            adoption,
        } => {
            require_text("resolution_symbol", resolution_symbol)?;
            vec![ev(
                vec![rome("art. 112(2)(f)")],
                Body::AssemblyResolutionAdopted {
                    resolution_symbol: resolution_symbol.clone(),
                    paragraphs: paragraphs.clone(),
                    adoption: *adoption,
                },
            )]
        }
        Action::RecordCooperationRestored {
            basis,
            court_notice_ref,
        } => {
            require_text("basis", basis)?;
            vec![ev(
                vec![rome("art. 86")],
                Body::CooperationRestored {
                    basis: basis.clone(),
                    court_notice_ref: court_notice_ref.clone(),
                    date: on,
                },
            )]
        }
        Action::RecordFindingAppealed { appeal_symbol } => {
            require_text("appeal_symbol", appeal_symbol)?;
            vec![ev(
                vec![rome("art. 82")],
                Body::FindingAppealed {
                    appeal_symbol: appeal_symbol.clone(),
                    filed_on: on,
                },
            )]
        }
        Action::RecordAppealJudgment {
            appeal_symbol,
            outcome,
        } => {
            require_text("appeal_symbol", appeal_symbol)?;
            let body = match outcome {
                AppealOutcome::FindingConfirmed => {
                    let extended = match &case.phase {
                        Phase::Suspended { prior, since } => match prior.as_ref() {
                            Phase::AwaitingViews { reply_deadline }
                                if rules.extend_reply_window_after_suspension =>
                            {
                                let days = (on - *since).num_days().max(0);
                                Some(crate::domain::calendar::period_end(
                                    *reply_deadline,
                                    u32::try_from(days).unwrap_or(u32::MAX),
                                    rules,
                                ))
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    Body::FindingConfirmedOnAppeal {
                        appeal_symbol: appeal_symbol.clone(),
                        judgment_date: on,
                        reply_deadline_extended_to: extended,
                    }
                }
                AppealOutcome::ReferralReversed => Body::ReferralReversedOnAppeal {
                    appeal_symbol: appeal_symbol.clone(),
                    judgment_date: on,
                },
            };
            vec![ev(vec![rome("art. 83")], body)]
        }
        Action::RecordMatterMoot {
            basis: MootBasis::NoCourtProceedings,
            ..
        } => {
            return Err(Rejection::InvalidField {
                field: "basis".into(),
                expected: "warrant_withdrawn, surrendered_elsewhere, person_deceased or case_terminated (a formal case rests on the Court's finding, so no_court_proceedings does not apply)".into(),
            });
        }
        Action::RecordMatterMoot {
            basis,
            court_notice_ref,
        } => vec![ev(
            procedures(),
            Body::MatterBecameMoot {
                basis: *basis,
                court_notice_ref: court_notice_ref.clone(),
                date: on,
            },
        )],
        Action::CancelPublicMeeting { reason } => {
            require_text("reason", reason)?;
            let Phase::AwaitingPublicMeeting { scheduled_for } = &case.phase else {
                return Err(Rejection::NoInvitationIssued);
            };
            vec![ev(
                procedures(),
                Body::PublicMeetingCancelled {
                    scheduled_for: *scheduled_for,
                    reason: reason.trim().to_owned(),
                },
            )]
        }
        Action::RecordCourtWithdrawal {
            decision_symbol,
            withdrawal,
        } => {
            require_text("decision_symbol", decision_symbol)?;
            vec![ev(
                vec![rome("art. 87(7)")],
                Body::CourtWithdrewReferral {
                    decision_symbol: decision_symbol.clone(),
                    withdrawal: *withdrawal,
                    date: on,
                },
            )]
        }
        Action::ConcludeConsideration => vec![ev(
            procedures(),
            Body::ConsiderationConcluded { concluded_on: on },
        )],
        Action::RecordRecurrence {
            new_case_id,
            decision_symbol,
        } => {
            require_text("decision_symbol", decision_symbol)?;
            if *new_case_id == case.id {
                return Err(Rejection::InvalidField {
                    field: "new_case_id".into(),
                    expected: "the id of the new case, not this one".into(),
                });
            }
            vec![ev(
                vec![rome("art. 87(7)")],
                Body::RecurrenceReferred {
                    new_case_id: *new_case_id,
                    decision_symbol: decision_symbol.clone(),
                },
            )]
        }
        Action::ReferToSecurityCouncil { requested_measures } => {
            require_measures(requested_measures)?;
            vec![ev(
                vec![rome("art. 112(2)(g)")],
                Body::ReferredToSecurityCouncilByAssembly {
                    requested_measures: requested_measures.clone(),
                    referred_on: on,
                },
            )]
        }
        Action::SendUngaRequest {
            request_ref,
            requested_measures,
        } => {
            require_text("request_ref", request_ref)?;
            require_measures(requested_measures)?;
            vec![ev(
                vec![rome("art. 112(2)(g)")],
                Body::UngaRequestSent {
                    request_ref: request_ref.clone(),
                    requested_measures: requested_measures.clone(),
                    sent_on: on,
                },
            )]
        }
        Action::AmendRules {
            rules: new_rules,
            decision_ref,
        } => {
            require_text("decision_ref", decision_ref)?;
            let mut new_rules = new_rules.clone();
            new_rules.version = rules.version + 1;
            new_rules.validate()?;
            vec![ev(
                procedures(),
                Body::RulesAmended {
                    previous_version: rules.version,
                    rules: new_rules,
                    decision_ref: Some(decision_ref.trim().to_owned()),
                },
            )]
        }
        Action::Consultation(a) => {
            let outcome = case.consultations.decide(a, on, rules)?;
            vec![ev(consultation::citations(), consultation_body(outcome))]
        }
        Action::Withdrawal(a) => {
            use crate::domain::withdrawal;
            let o = withdrawal::decide(case.withdrawal.as_ref(), &case.facts, a, on)?;
            vec![ev(withdrawal::citations(), withdrawal_body(o))]
        }
    };
    Ok(events)
}

pub(crate) fn consultation_body(o: Outcome) -> Body {
    match o {
        Outcome::Requested(r) => Body::ConsultationRequested(r),
        Outcome::Held(h) => Body::ConsultationHeld(h),
        Outcome::Answered(a) => Body::ConsultationAnswered(a),
        Outcome::Joined(j) => Body::AssemblyRepresentativeJoinedConsultation(j),
    }
}

/// The A1 event that opens a formal case from a preventive case's escalation (B16): the new
/// case takes the preventive case's facts, rules and art. 97 consultations, and links back to
/// it.
pub fn opening_from_escalation(
    act: &ActMeta,
    ctx: &Context,
    formal_case_id: CaseId,
    reference: &str,
    referral: &Referral,
    origin: &crate::domain::preventive::PreventiveCase,
) -> FormalEvent {
    Event {
        meta: EventMeta::new(act, ctx, referral.citations(), origin.rules.version),
        body: Body::NonCooperationFindingReferred {
            case_id: formal_case_id,
            reference: reference.to_owned(),
            facts: Box::new(origin.facts.clone()),
            referral: Box::new(referral.clone()),
            rules: Box::new(origin.rules.clone()),
            linked_preventive_case: Some(origin.id),
            previous_case: None,
            // The art. 97 record and the State's withdrawal follow the case (issue 13 items 5,
            // 9).
            carried_consultations: origin.consultations.clone(),
            carried_withdrawal: origin.withdrawal.clone().map(Box::new),
        },
    }
}
