//! Extension E5: interpretative resolutions ("understandings", "interpretative declarations")
//! as their own small procedure, linked to the cases that raise the issue.
//!
//! `Proposed → {Adopted | Withdrawn}`. If all States Parties agree, the resolution may count as
//! a "subsequent agreement" the Court takes into account; it is never binding on the Court
//! (the source report's words), and the event records both facts.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    ActMeta, CaseId, Context, Event, EventMeta, ProcedureRules, Rejection,
    legal::LegalCitation,
    permissions::{CommandKind, authorize},
    require_text,
};

/// An interpretative resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Resolution {
    /// Stream id.
    pub id: CaseId,
    /// Human reference, e.g. `IR-2026-0001`.
    pub reference: String,
    /// The provision interpreted, e.g. "Rome Statute art. 98(1)".
    pub provision: String,
    /// The issue, e.g. "head-of-state immunity".
    pub issue: String,
    /// Proposed text.
    pub text: String,
    /// Cases that raise the issue.
    pub linked_cases: Vec<CaseId>,
    /// Where it stands.
    pub phase: Phase,
}

/// Where a resolution stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Proposed.
    Proposed,
    /// Adopted (terminal).
    Adopted {
        /// Symbol.
        resolution_symbol: String,
        /// All States Parties agreed.
        all_parties_agreed: bool,
    },
    /// Withdrawn (terminal).
    Withdrawn,
}

/// The stream's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum State {
    /// Nothing recorded.
    #[default]
    NotOpened,
    /// Proposed or decided.
    Open(Box<Resolution>),
}

impl State {
    /// The state's name.
    pub fn name(&self) -> &'static str {
        match self {
            State::NotOpened => "NotOpened",
            State::Open(r) => match r.phase {
                Phase::Proposed => "Proposed",
                Phase::Adopted { .. } => "Adopted",
                Phase::Withdrawn => "Withdrawn",
            },
        }
    }
}

/// What the commands ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Propose (opens the stream).
    Propose {
        /// Stream id.
        case_id: CaseId,
        /// Reference.
        reference: String,
        /// Provision.
        provision: String,
        /// Issue.
        issue: String,
        /// Text.
        text: String,
        /// Linked cases.
        linked_cases: Vec<CaseId>,
        /// Rules in force (E5 must be on).
        rules: ProcedureRules,
    },
    /// Adopt.
    Adopt {
        /// Symbol.
        resolution_symbol: String,
        /// All States Parties agreed.
        all_parties_agreed: bool,
    },
    /// Withdraw.
    Withdraw {
        /// Why.
        reason: String,
    },
}

impl Action {
    /// The permission-table kind.
    pub fn kind(&self) -> CommandKind {
        match self {
            Action::Propose { .. } => CommandKind::ProposeInterpretativeResolution,
            Action::Adopt { .. } => CommandKind::AdoptInterpretativeResolution,
            Action::Withdraw { .. } => CommandKind::WithdrawInterpretativeResolution,
        }
    }
}

/// A command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Command {
    /// The act.
    pub act: ActMeta,
    /// What to do.
    pub action: Action,
}

crate::domain::codec::stored_body! {
    /// Events. Stored names: never rename.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum Body {
        /// Proposed.
        InterpretativeResolutionProposed {
            /// Stream id.
            case_id: CaseId,
            /// Reference.
            reference: String,
            /// Provision.
            provision: String,
            /// Issue.
            issue: String,
            /// Text.
            text: String,
            /// Linked cases.
            linked_cases: Vec<CaseId>,
        },
        /// Adopted.
        InterpretativeResolutionAdopted {
            /// Symbol.
            resolution_symbol: String,
            /// Date.
            adopted_on: NaiveDate,
            /// All States Parties agreed.
            all_parties_agreed: bool,
            /// Whether it may count as a subsequent agreement (= all parties agreed).
            subsequent_agreement: bool,
            /// Always false: "not and cannot be binding on the court".
            binding_on_court: bool,
        },
        /// Withdrawn.
        InterpretativeResolutionWithdrawn {
            /// Why.
            reason: String,
        },
    }
}

/// An event.
pub type InterpretativeEvent = Event<Body>;

/// Decides a command.
///
/// # Errors
/// A named [`Rejection`].
pub fn decide(
    state: &State,
    cmd: &Command,
    ctx: &Context,
) -> Result<Vec<InterpretativeEvent>, Rejection> {
    authorize(&ctx.principal, cmd.action.kind(), None)?;
    let on = cmd.act.occurred_at.date_naive();
    let citations = || vec![LegalCitation::rome("art. 112(2)(g)")];
    let (body, rules_version) = match (state, &cmd.action) {
        (
            State::NotOpened,
            Action::Propose {
                case_id,
                reference,
                provision,
                issue,
                text,
                linked_cases,
                rules,
            },
        ) => {
            rules.require(
                rules.extensions.e5_interpretative_resolutions,
                "E5",
                "interpretative resolutions",
            )?;
            require_text("reference", reference)?;
            require_text("provision", provision)?;
            require_text("issue", issue)?;
            require_text("text", text)?;
            (
                Body::InterpretativeResolutionProposed {
                    case_id: *case_id,
                    reference: reference.clone(),
                    provision: provision.clone(),
                    issue: issue.clone(),
                    text: text.clone(),
                    linked_cases: linked_cases.clone(),
                },
                rules.version,
            )
        }
        (State::NotOpened, Action::Adopt { .. } | Action::Withdraw { .. }) => {
            return Err(Rejection::CaseNotOpened);
        }
        (State::Open(_), Action::Propose { .. }) => return Err(Rejection::CaseAlreadyOpened),
        (State::Open(r), Action::Adopt { .. } | Action::Withdraw { .. })
            if r.phase != Phase::Proposed =>
        {
            return Err(Rejection::ProcedureClosed {
                state: state.name().into(),
            });
        }
        (
            State::Open(_),
            Action::Adopt {
                resolution_symbol,
                all_parties_agreed,
            },
        ) => {
            require_text("resolution_symbol", resolution_symbol)?;
            (
                Body::InterpretativeResolutionAdopted {
                    resolution_symbol: resolution_symbol.clone(),
                    adopted_on: on,
                    all_parties_agreed: *all_parties_agreed,
                    subsequent_agreement: *all_parties_agreed,
                    binding_on_court: false,
                },
                1,
            )
        }
        (State::Open(_), Action::Withdraw { reason }) => {
            require_text("reason", reason)?;
            (
                Body::InterpretativeResolutionWithdrawn {
                    reason: reason.clone(),
                },
                1,
            )
        }
    };
    Ok(vec![Event {
        meta: EventMeta::new(&cmd.act, ctx, citations(), rules_version),
        body,
    }])
}

/// Applies an event. Total.
pub fn evolve(state: State, event: &InterpretativeEvent) -> State {
    match (state, &event.body) {
        (
            State::NotOpened,
            Body::InterpretativeResolutionProposed {
                case_id,
                reference,
                provision,
                issue,
                text,
                linked_cases,
            },
        ) => State::Open(Box::new(Resolution {
            id: *case_id,
            reference: reference.clone(),
            provision: provision.clone(),
            issue: issue.clone(),
            text: text.clone(),
            linked_cases: linked_cases.clone(),
            phase: Phase::Proposed,
        })),
        (State::NotOpened, _) => State::NotOpened,
        (State::Open(r), Body::InterpretativeResolutionProposed { .. }) => State::Open(r),
        (
            State::Open(mut r),
            Body::InterpretativeResolutionAdopted {
                resolution_symbol,
                all_parties_agreed,
                ..
            },
        ) => {
            r.phase = Phase::Adopted {
                resolution_symbol: resolution_symbol.clone(),
                all_parties_agreed: *all_parties_agreed,
            };
            State::Open(r)
        }
        (State::Open(mut r), Body::InterpretativeResolutionWithdrawn { .. }) => {
            r.phase = Phase::Withdrawn;
            State::Open(r)
        }
    }
}
