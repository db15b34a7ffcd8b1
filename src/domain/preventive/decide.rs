//! Deciding: from a state and a command to the events to record, or a named rejection.

#[allow(unused_imports)]
use super::*;

pub(crate) fn check_state(case: &PreventiveCase, kind: CommandKind) -> Result<(), Rejection> {
    let specific = match case.phase {
        Phase::EscalatedToFormal { formal_case } if kind == CommandKind::RecordCourtReferral => {
            Some(Rejection::AlreadyEscalated { formal_case })
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

/// Checks whether the principal could issue `kind` now (permission, state, extension flags).
pub fn precheck(state: &State, kind: CommandKind, ctx: &Context) -> Result<(), Rejection> {
    let open = CommandKind::OpenPreventiveCase;
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
    case.rules.require_extension_for(kind)
}

/// Decides a command against the current state.
///
/// # Errors
/// A named [`Rejection`].
pub fn decide(
    state: &State,
    cmd: &Command,
    ctx: &Context,
) -> Result<Vec<PreventiveEvent>, Rejection> {
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
                alert,
                rules,
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
            require_text("alert.event_name", &alert.event_name)?;
            rules.validate()?;
            check_not_in_future(act, ctx, rules)?;
            let arrest = matches!(
                facts.request.kind,
                RequestKind::ArrestAndSurrender | RequestKind::ProvisionalArrest
            );
            if !arrest || !facts.request.outstanding {
                return Err(Rejection::NoOutstandingArrestRequest);
            }
            match facts.requested_state.status {
                StateStatus::StateParty | StateStatus::BoundByUnscResolution => {}
                status @ (StateStatus::NonStatePartyAdHoc | StateStatus::NotBound) => {
                    return Err(Rejection::HostNotBound { status });
                }
            }
            if let (Some(a), Some(d)) = (alert.expected_arrival, alert.expected_departure)
                && d < a
            {
                return Err(Rejection::InvalidField {
                    field: "alert.expected_departure".into(),
                    expected: format!("a date on or after expected_arrival {a}"),
                });
            }
            let meta = EventMeta::new(
                act,
                ctx,
                vec![LegalCitation::rome("art. 89"), LegalCitation::procedures()],
                rules.version,
            );
            let mut events = vec![Event {
                meta: meta.clone(),
                body: Body::ImminentNonCooperationAlerted {
                    case_id: *case_id,
                    reference: reference.clone(),
                    facts: Box::new(facts.clone()),
                    alert: Box::new(alert.clone()),
                    rules: Box::new(rules.clone()),
                },
            }];
            // E7: the standing channel carries the alert to the Assembly's roles.
            if rules.extensions.e7_standing_channel {
                use crate::domain::Role;
                let region = facts.requested_state.region;
                events.push(Event {
                    meta,
                    body: Body::AlertSentOnStandingChannel {
                        recipients: vec![
                            ChannelRecipient {
                                role: Role::President,
                                region: None,
                            },
                            ChannelRecipient {
                                role: Role::Bureau,
                                region: None,
                            },
                            ChannelRecipient {
                                role: Role::FocalPoint,
                                region: Some(region),
                            },
                        ],
                    },
                });
            }
            return Ok(events);
        }
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
    let body = match &cmd.action {
        Action::Open { .. } => return Err(Rejection::CaseAlreadyOpened),
        Action::AssessSituation {
            assessment,
            consulted_focal_points,
        } => Body::SituationAssessed {
            assessment: *assessment,
            consulted_focal_points: consulted_focal_points.clone(),
        },
        Action::DismissAlert { reason } => {
            require_text("reason", reason)?;
            if case.assessment.is_some_and(|a| a.qualifies()) {
                return Err(Rejection::AssessmentQualifies);
            }
            Body::AlertDismissed {
                reason: reason.clone(),
            }
        }
        // A State whose withdrawal took effect is bound only for proceedings begun before it
        // (art. 127(2)) or by a Security Council resolution.
        Action::InitiateGoodOffices
            if crate::domain::withdrawal::Withdrawal::status_on(
                case.withdrawal.as_ref(),
                &case.facts,
                on,
            ) == StateStatus::NotBound
                && crate::domain::withdrawal::Withdrawal::continuing_obligation(
                    case.withdrawal.as_ref(),
                    &case.facts,
                    on,
                )
                .is_none() =>
        {
            return Err(Rejection::HostNotBound {
                status: StateStatus::NotBound,
            });
        }
        Action::InitiateGoodOffices => match case.assessment {
            Some(a) if a.qualifies() => Body::GoodOfficesInitiated,
            a => {
                let a = a.unwrap_or(Assessment {
                    specific: false,
                    serious: false,
                    imminent: false,
                    ongoing: false,
                });
                return Err(Rejection::NotSpecificOrSerious {
                    specific: a.specific,
                    serious: a.serious,
                    imminent: a.imminent,
                    ongoing: a.ongoing,
                });
            }
        },
        Action::SendLetterToHostState {
            reference,
            addressee,
            text_ref,
        } => {
            require_text("reference", reference)?;
            require_text("addressee", addressee)?;
            // The obligations of the request concerned (art. 89 and 91, or art. 92), and after
            // a withdrawal took effect, art. 127(2).
            let mut cited = case.facts.obligation_citations();
            cited.extend(
                crate::domain::withdrawal::Withdrawal::continuing_obligation(
                    case.withdrawal.as_ref(),
                    &case.facts,
                    on,
                ),
            );
            cited.push(LegalCitation::procedures());
            return Ok(vec![ev(
                cited,
                Body::LetterToHostStateSent {
                    reference: reference.clone(),
                    addressee: addressee.clone(),
                    date: on,
                    text_ref: text_ref.clone(),
                },
            )]);
        }
        Action::MakeFocalPointDemarche {
            focal_point_state,
            level,
        } => {
            require_text("focal_point_state", focal_point_state)?;
            return Ok(vec![ev(
                vec![
                    LegalCitation::focal_points(),
                    LegalCitation::president_ex_officio(),
                ],
                Body::FocalPointDemarcheMade {
                    focal_point_state: focal_point_state.clone(),
                    region: case.facts.requested_state.region,
                    level: *level,
                    date: on,
                },
            )]);
        }
        Action::IssuePublicStatement {
            reference,
            text_ref,
        } => {
            require_text("reference", reference)?;
            Body::PublicStatementIssued {
                reference: reference.clone(),
                date: on,
                text_ref: text_ref.clone(),
            }
        }
        Action::RecordVisitCancelled { averted_by } => Body::VisitCancelled {
            averted_by: *averted_by,
        },
        Action::RecordPersonArrived {
            location,
            evidence_ref,
        } => {
            require_text("location", location)?;
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 89")],
                Body::PersonArrived {
                    datetime: act.occurred_at,
                    location: location.clone(),
                    evidence_ref: evidence_ref.clone(),
                },
            )]);
        }
        Action::RecordArrestAndSurrender {
            court_confirmation_ref,
        } => {
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 89")],
                Body::PersonArrestedAndSurrendered {
                    court_confirmation_ref: court_confirmation_ref.clone(),
                },
            )]);
        }
        Action::RecordDepartureWithoutArrest {
            location,
            evidence_ref,
        } => {
            require_text("location", location)?;
            if let Phase::IncidentOngoing { arrived_at } = case.phase
                && act.occurred_at < arrived_at
            {
                return Err(Rejection::InvalidField {
                    field: "occurred_at".into(),
                    expected: format!("the departure time, not before the arrival at {arrived_at}"),
                });
            }
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 89")],
                Body::PersonDepartedWithoutArrest {
                    datetime: act.occurred_at,
                    location: location.clone(),
                    evidence_ref: evidence_ref.clone(),
                },
            )]);
        }
        Action::InformBureau { reference } => {
            require_text("reference", reference)?;
            Body::BureauInformed {
                reference: reference.clone(),
                date: on,
            }
        }
        Action::RecordCourtProceedingsOpened {
            order_symbol,
            views_due_on,
        } => {
            require_text("order_symbol", order_symbol)?;
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 87(7)")],
                Body::CourtNonComplianceProceedingsOpened {
                    order_symbol: order_symbol.clone(),
                    views_due_on: *views_due_on,
                },
            )]);
        }
        Action::RecordCourtDetermination {
            determination,
            decision_symbol,
        } => {
            require_text("decision_symbol", decision_symbol)?;
            let body = match determination {
                // B14': after deferring, the Court can only decline to refer: its finding stands.
                Determination::NoFinding if matches!(case.phase, Phase::ReferralDeferred) => {
                    return Err(Rejection::InvalidField {
                        field: "determination".into(),
                        expected: "finding_without_referral: the Court has made its finding and deferred only the referral".into(),
                    });
                }
                Determination::NoFinding => Body::NoFindingMade {
                    decision_symbol: decision_symbol.clone(),
                    decision_date: on,
                },
                Determination::FindingWithoutReferral => Body::FindingMadeWithoutReferral {
                    decision_symbol: decision_symbol.clone(),
                    decision_date: on,
                },
            };
            return Ok(vec![ev(vec![LegalCitation::rome("art. 87(7)")], body)]);
        }
        Action::RecordReferralDeferred {
            decision_symbol,
            reason,
        } => {
            require_text("decision_symbol", decision_symbol)?;
            require_text("reason", reason)?;
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 87(7)")],
                Body::ReferralDecisionDeferred {
                    decision_symbol: decision_symbol.clone(),
                    reason: reason.clone(),
                },
            )]);
        }
        Action::RecordCourtReferral {
            referral,
            formal_case_id,
            formal_reference,
            existing_case_for_decision,
        } => {
            referral.validate(case.facts.requested_state.status)?;
            require_text("formal_reference", formal_reference)?;
            if *formal_case_id == case.id {
                return Err(Rejection::InvalidField {
                    field: "formal_case_id".into(),
                    expected: "a new id for the formal case, not this case's id".into(),
                });
            }
            if let Some(existing) = existing_case_for_decision {
                return Err(Rejection::DuplicateReferral {
                    existing_case: *existing,
                    decision_symbol: referral.decision_symbol.clone(),
                    state: case.facts.requested_state.iso_code.clone(),
                });
            }
            return Ok(vec![ev(
                referral.citations(),
                Body::NonCooperationFindingReferred {
                    referral: referral.clone(),
                    formal_case: *formal_case_id,
                    formal_reference: formal_reference.clone(),
                },
            )]);
        }
        Action::RecordUrgentDecision {
            decision_symbol,
            summary,
        } => {
            require_text("decision_symbol", decision_symbol)?;
            require_text("summary", summary)?;
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 89")],
                Body::UrgentDecisionIssued {
                    decision_symbol: decision_symbol.clone(),
                    summary: summary.trim().to_owned(),
                    date: on,
                },
            )]);
        }
        Action::RecordCourtDeadlineExtended {
            order_symbol,
            views_due_on,
            until,
        } => {
            require_text("order_symbol", order_symbol)?;
            let previous = match case.phase {
                Phase::AwaitingCourtDetermination { views_due_on } => views_due_on,
                _ => None,
            };
            let until = until
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned);
            match views_due_on {
                None if until.is_none() => {
                    return Err(Rejection::InvalidField {
                        field: "views_due_on".into(),
                        expected: "the new date for the State's views, or `until` (the event the time now runs until, e.g. the end of domestic proceedings)".into(),
                    });
                }
                Some(d) if *d < on || Some(*d) == previous => {
                    return Err(Rejection::InvalidField {
                        field: "views_due_on".into(),
                        expected: format!(
                            "a new date for the State's views, on or after the order ({on}){}",
                            previous
                                .map(|p| format!(" and other than {p}"))
                                .unwrap_or_default()
                        ),
                    });
                }
                _ => {}
            }
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 87(7)")],
                Body::CourtDeadlineExtended {
                    order_symbol: order_symbol.clone(),
                    previous_due_on: previous,
                    views_due_on: *views_due_on,
                    until,
                },
            )]);
        }
        Action::RecordCourtHearing { record_ref } => {
            require_text("record_ref", record_ref)?;
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 87(7)")],
                Body::CourtHearingHeld {
                    record_ref: record_ref.clone(),
                    date: on,
                },
            )]);
        }
        Action::RecordMatterMoot {
            basis,
            court_notice_ref,
        } => Body::MatterBecameMoot {
            basis: *basis,
            court_notice_ref: court_notice_ref.clone(),
            date: on,
        },
        Action::PublishLetter { channels, url } => {
            require_channels(channels)?;
            Body::VisitWarningPublished {
                published_on: on,
                channels: channels.clone(),
                url: url.clone(),
            }
        }
        Action::ReferToSecurityCouncil { requested_measures } => {
            if requested_measures.iter().all(|m| m.trim().is_empty()) {
                return Err(Rejection::InvalidField {
                    field: "requested_measures".into(),
                    expected: "at least one measure (e.g. targeted sanctions)".into(),
                });
            }
            return Ok(vec![ev(
                vec![LegalCitation::rome("art. 112(2)(g)")],
                Body::ReferredToSecurityCouncilByAssembly {
                    requested_measures: requested_measures.clone(),
                    referred_on: on,
                },
            )]);
        }
        Action::AmendRules {
            rules: new_rules,
            decision_ref,
        } => {
            require_text("decision_ref", decision_ref)?;
            let mut new_rules = new_rules.clone();
            new_rules.version = rules.version + 1;
            new_rules.validate()?;
            Body::RulesAmended {
                previous_version: rules.version,
                rules: new_rules,
                decision_ref: Some(decision_ref.trim().to_owned()),
            }
        }
        Action::Withdrawal(a) => {
            use crate::domain::withdrawal;
            let o = withdrawal::decide(case.withdrawal.as_ref(), &case.facts, a, on)?;
            return Ok(vec![ev(withdrawal::citations(), withdrawal_body(o))]);
        }
        Action::Consultation(a) => {
            let body = match case.consultations.decide(a, on, rules)? {
                Outcome::Requested(r) => Body::ConsultationRequested(r),
                Outcome::Held(h) => Body::ConsultationHeld(h),
                Outcome::Answered(a) => Body::ConsultationAnswered(a),
                Outcome::Joined(j) => Body::AssemblyRepresentativeJoinedConsultation(j),
            };
            return Ok(vec![ev(consultation::citations(), body)]);
        }
    };
    Ok(vec![ev(procedures(), body)])
}

/// The legal-time rules every act on an open case obeys (docs/procedures.md, "Legal time"):
/// never in the future beyond the rules' tolerance; the President's, the Bureau's and the
/// Court's next steps not before the act that brought the case where it stands. Facts on the
/// ground (arrival, departure, cancellation, arrest), the Court's urgent decisions, mootness and
/// art. 97 records follow the world, not the case: only the departure is tied (to the arrival).
fn legal_time(
    case: &PreventiveCase,
    kind: CommandKind,
    act: &ActMeta,
    ctx: &Context,
) -> Result<(), Rejection> {
    use CommandKind as K;
    check_not_in_future(act, ctx, &case.rules)?;
    match kind {
        K::RecordConsultationRequested
        | K::RecordConsultationHeld
        | K::RecordConsultationAnswered
        | K::JoinConsultation
        | K::RecordVisitCancelled
        | K::RecordPersonArrived
        | K::RecordArrestAndSurrender
        | K::RecordDepartureWithoutArrest
        | K::RecordUrgentDecision
        | K::RecordWithdrawalNotified
        | K::RecordWithdrawalRevoked
        | K::RecordWithdrawalTookEffect
        | K::RecordMatterMoot => Ok(()),
        _ => check_not_before(act.legal_date(&case.rules), case.phase_entered_on, || {
            format!(
                "the act that brought the case to {} on {}",
                case.phase.name(),
                case.phase_entered_on
            )
        }),
    }
}
