//! Commands as the engine receives them from the API, before they are bound to a case's
//! procedure: the API cannot know whether `publish_letter` is for a formal or a preventive case
//! until the case is loaded, nor the id and reference of a formal case opened by escalation.

use serde::{Deserialize, Serialize};

use super::EngineError;
use crate::domain::{
    ActMeta, CaseFacts, CaseId, ProcedureKind, ProcedureRules, Rejection,
    case::CaseCommand,
    consultation,
    formal::{self, Referral},
    interpretative,
    preventive::{self, Alert},
};

/// Opening a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "procedure", rename_all = "snake_case")]
pub enum OpenCommand {
    /// A1.
    Formal {
        /// The act (registration of the referral).
        act: ActMeta,
        /// Facts.
        facts: CaseFacts,
        /// The referral.
        referral: Referral,
        /// A20: the earlier case.
        previous_case: Option<CaseId>,
    },
    /// B1.
    Preventive {
        /// The act (the alert).
        act: ActMeta,
        /// Facts.
        facts: CaseFacts,
        /// The alert.
        alert: Alert,
    },
    /// E5: an interpretative resolution proposed by the Bureau.
    Interpretative {
        /// The act (the Bureau's proposal).
        act: ActMeta,
        /// The provision interpreted, e.g. "Rome Statute art. 27 / art. 98(1)".
        provision: String,
        /// The issue, e.g. "head-of-state immunity".
        issue: String,
        /// The text.
        text: String,
        /// Cases that raise the issue.
        linked_cases: Vec<CaseId>,
    },
}

impl OpenCommand {
    /// Binds the command to its new id and reference.
    pub fn into_case_command(
        self,
        case_id: CaseId,
        reference: String,
        existing_case_for_decision: Option<CaseId>,
        rules: &ProcedureRules,
    ) -> CaseCommand {
        match self {
            OpenCommand::Formal {
                act,
                facts,
                referral,
                previous_case,
            } => CaseCommand::Formal(formal::Command {
                act,
                action: formal::Action::Open {
                    case_id,
                    reference,
                    facts,
                    referral,
                    rules: rules.clone(),
                    linked_preventive_case: None,
                    previous_case,
                    existing_case_for_decision,
                },
            }),
            OpenCommand::Preventive { act, facts, alert } => {
                CaseCommand::Preventive(preventive::Command {
                    act,
                    action: preventive::Action::Open {
                        case_id,
                        reference,
                        facts,
                        alert,
                        rules: rules.clone(),
                    },
                })
            }
            OpenCommand::Interpretative {
                act,
                provision,
                issue,
                text,
                linked_cases,
            } => CaseCommand::Interpretative(interpretative::Command {
                act,
                action: interpretative::Action::Propose {
                    case_id,
                    reference,
                    provision,
                    issue,
                    text,
                    linked_cases,
                    rules: rules.clone(),
                },
            }),
        }
    }
}

/// Commands that exist in both procedures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shared", rename_all = "snake_case")]
pub enum SharedAction {
    /// E2.
    PublishLetter {
        /// Channels.
        channels: Vec<String>,
        /// Where.
        url: Option<String>,
    },
    /// E3.
    ReferToSecurityCouncil {
        /// Measures requested.
        requested_measures: Vec<String>,
    },
    /// Rules amendment.
    AmendRules {
        /// New rules.
        rules: ProcedureRules,
        /// The Bureau's decision.
        decision_ref: String,
    },
    /// Art. 97 records.
    Consultation(consultation::Action),
    /// A18 / B20: the matter became moot.
    RecordMatterMoot {
        /// Why.
        basis: formal::MootBasis,
        /// The Court's notice.
        court_notice_ref: Option<String>,
    },
    /// Art. 127: the State's withdrawal.
    Withdrawal(crate::domain::withdrawal::Action),
}

/// A command on an open case, as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApiCommand {
    /// A formal-case command.
    Formal(formal::Action),
    /// A preventive-case command.
    Preventive(preventive::Action),
    /// A command of either procedure.
    Shared(SharedAction),
    /// B16: the Court's referral on a preventive case.
    CourtReferral(Referral),
    /// The scheduler: the next deadline elapsed.
    DeadlineElapsed,
    /// E5: adopting or withdrawing an interpretative resolution.
    Interpretative(interpretative::Action),
}

fn other_procedure(kind: ProcedureKind, command: &str) -> EngineError {
    let (this, other) = match kind {
        ProcedureKind::Formal => ("formal", "preventive"),
        _ => ("preventive", "formal"),
    };
    EngineError::Invalid {
        field: "command".into(),
        expected: format!("a command for a {this} case; {command} applies to {other} cases"),
    }
}

impl ApiCommand {
    /// Binds the command to the case's procedure. `escalation` carries the new formal case's id,
    /// reference and any existing case on the same decision (B16 only).
    ///
    /// # Errors
    /// `Invalid` for a command of the other procedure; `Rejected` for a deadline on a
    /// procedure without firing deadlines.
    pub fn into_case_command(
        self,
        kind: ProcedureKind,
        act: ActMeta,
        escalation: Option<(CaseId, String, Option<CaseId>)>,
    ) -> Result<CaseCommand, EngineError> {
        let formal_cmd = |action| {
            Ok(CaseCommand::Formal(formal::Command {
                act: act.clone(),
                action,
            }))
        };
        let preventive_cmd = |action| {
            Ok(CaseCommand::Preventive(preventive::Command {
                act: act.clone(),
                action,
            }))
        };
        match (kind, self) {
            (ProcedureKind::Formal, ApiCommand::Formal(a)) => formal_cmd(a),
            (ProcedureKind::Preventive, ApiCommand::Preventive(a)) => preventive_cmd(a),
            (ProcedureKind::Formal, ApiCommand::DeadlineElapsed) => {
                formal_cmd(formal::Action::RecordDeadlineElapsed)
            }
            (ProcedureKind::Formal, ApiCommand::Shared(s)) => formal_cmd(match s {
                SharedAction::PublishLetter { channels, url } => {
                    formal::Action::PublishLetter { channels, url }
                }
                SharedAction::ReferToSecurityCouncil { requested_measures } => {
                    formal::Action::ReferToSecurityCouncil { requested_measures }
                }
                SharedAction::AmendRules {
                    rules,
                    decision_ref,
                } => formal::Action::AmendRules {
                    rules,
                    decision_ref,
                },
                SharedAction::Consultation(c) => formal::Action::Consultation(c),
                SharedAction::Withdrawal(w) => formal::Action::Withdrawal(w),
                SharedAction::RecordMatterMoot {
                    basis,
                    court_notice_ref,
                } => formal::Action::RecordMatterMoot {
                    basis,
                    court_notice_ref,
                },
            }),
            (ProcedureKind::Preventive, ApiCommand::Shared(s)) => preventive_cmd(match s {
                SharedAction::PublishLetter { channels, url } => {
                    preventive::Action::PublishLetter { channels, url }
                }
                SharedAction::ReferToSecurityCouncil { requested_measures } => {
                    preventive::Action::ReferToSecurityCouncil { requested_measures }
                }
                SharedAction::AmendRules {
                    rules,
                    decision_ref,
                } => preventive::Action::AmendRules {
                    rules,
                    decision_ref,
                },
                SharedAction::Consultation(c) => preventive::Action::Consultation(c),
                SharedAction::Withdrawal(w) => preventive::Action::Withdrawal(w),
                SharedAction::RecordMatterMoot {
                    basis,
                    court_notice_ref,
                } => preventive::Action::RecordMatterMoot {
                    basis,
                    court_notice_ref,
                },
            }),
            (ProcedureKind::Preventive, ApiCommand::CourtReferral(referral)) => {
                let (formal_case_id, formal_reference, existing_case_for_decision) = escalation
                    .ok_or_else(|| EngineError::Invalid {
                        field: "command".into(),
                        expected: "an escalation binding (internal)".into(),
                    })?;
                preventive_cmd(preventive::Action::RecordCourtReferral {
                    referral,
                    formal_case_id,
                    formal_reference,
                    existing_case_for_decision,
                })
            }
            (ProcedureKind::Preventive, ApiCommand::DeadlineElapsed) => {
                Err(EngineError::Rejected(Rejection::NoDeadlinePending {
                    state: "preventive".into(),
                }))
            }
            (k, ApiCommand::Formal(a)) => Err(other_procedure(k, a.kind().as_str())),
            (k, ApiCommand::Preventive(a)) => Err(other_procedure(k, a.kind().as_str())),
            (ProcedureKind::Interpretative, ApiCommand::Interpretative(action)) => {
                Ok(CaseCommand::Interpretative(interpretative::Command {
                    act,
                    action,
                }))
            }
            (k, ApiCommand::Interpretative(a)) => Err(EngineError::Invalid {
                field: "command".into(),
                expected: format!(
                    "a command for a {} record; {} applies to interpretative resolutions (IR-...)",
                    super::procedure_name(k),
                    a.kind().as_str()
                ),
            }),
            (k, ApiCommand::CourtReferral(_)) => Err(other_procedure(k, "record_court_referral")),
            (k, ApiCommand::Shared(_) | ApiCommand::DeadlineElapsed) => Err(EngineError::Invalid {
                field: "case_id".into(),
                expected: format!(
                    "a formal or preventive case (this is a {} record)",
                    super::procedure_name(k)
                ),
            }),
        }
    }
}
