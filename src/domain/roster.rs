//! The focal-point roster of one Bureau term (domain.md §3.3).
//!
//! The Bureau appoints four focal points, or five at the President's request, with equitable
//! geographical representation; the President covers his or her own region ex officio
//! (ICC-ASP/13/Res.5 op. 14). With four, each of the other four regions has exactly one; with
//! five, each of them has at least one ([A]: the fifth covers an extra need). A replacement
//! comes from the same region as the State it replaces ([A]).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    ActMeta, CaseId, Context, Event, EventMeta, ProcedureRules, Region, Rejection,
    legal::LegalCitation,
    permissions::{CommandKind, authorize},
    require_text,
};

/// A focal point: a State Party and the region it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Member {
    /// ISO code of the State.
    pub state: String,
    /// Its name.
    pub name: String,
    /// Its regional group.
    pub region: Region,
    /// The token subjects of the people who act for this focal point (the identity provider's
    /// `sub`): a caller in the `focal_point` role covers this member's region only if named
    /// here. Schema v2; empty when upcast from v1.
    #[serde(default)]
    pub subjects: Vec<String>,
}

/// The term's roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Term {
    /// Stream id of the roster.
    pub id: CaseId,
    /// e.g. "2023-2026".
    pub term: String,
    /// The President's own region (covered ex officio).
    pub president_region: Region,
    /// Whether the President asked for a fifth focal point.
    pub fifth_requested: bool,
    /// Current focal points (empty until appointed).
    pub members: Vec<Member>,
    /// When appointed.
    pub appointed_on: Option<NaiveDate>,
    /// The procedure rules this Bureau adopted: every case opened while they are in force pins
    /// them. `None` until the Bureau adopts rules in this term.
    #[serde(default)]
    pub rules: Option<AdoptedRules>,
}

/// Procedure rules as the Bureau adopted them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AdoptedRules {
    /// The rules (their version follows the rules in force before).
    pub rules: ProcedureRules,
    /// The Bureau's decision.
    pub decision_ref: String,
    /// When adopted.
    pub adopted_on: NaiveDate,
}

/// The roster stream's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum State {
    /// Nothing recorded.
    #[default]
    NotOpened,
    /// A term.
    Open(Term),
}

impl State {
    /// The state's name.
    pub fn name(&self) -> &'static str {
        match self {
            State::NotOpened => "NotOpened",
            State::Open(t) if t.members.is_empty() => "AwaitingAppointment",
            State::Open(_) => "Appointed",
        }
    }

    /// The focal point for `region`, if any (several with five).
    pub fn focal_points_for(&self, region: Region) -> Vec<&Member> {
        match self {
            State::NotOpened => Vec::new(),
            State::Open(t) => t.members.iter().filter(|m| m.region == region).collect(),
        }
    }
}

/// What the roster's commands ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The President asks for a fifth focal point (may open the term's stream).
    RequestFifthFocalPoint {
        /// Stream id (for a new term).
        roster_id: CaseId,
        /// Term.
        term: String,
        /// The President's region.
        president_region: Region,
    },
    /// The Bureau appoints the focal points (may open the term's stream).
    AppointFocalPoints {
        /// Stream id (for a new term).
        roster_id: CaseId,
        /// Term.
        term: String,
        /// The President's region.
        president_region: Region,
        /// The States appointed.
        members: Vec<Member>,
    },
    /// The Bureau adopts the procedure rules for the cases opened from now on (may open the
    /// term's stream).
    AdoptProcedureRules {
        /// Stream id (for a new term).
        roster_id: CaseId,
        /// Term.
        term: String,
        /// The President's region.
        president_region: Region,
        /// The rules.
        rules: ProcedureRules,
        /// The Bureau's decision.
        decision_ref: String,
        /// Looked up by the engine: the version of the rules in force (this term's, an earlier
        /// term's, or the built-in defaults').
        version_in_force: u32,
    },
    /// The Bureau replaces one focal point.
    ReplaceFocalPoint {
        /// ISO code of the State replaced.
        replaced: String,
        /// The new focal point.
        replacement: Member,
    },
}

impl Action {
    /// The permission-table kind.
    pub fn kind(&self) -> CommandKind {
        match self {
            Action::RequestFifthFocalPoint { .. } => CommandKind::RequestFifthFocalPoint,
            Action::AppointFocalPoints { .. } => CommandKind::AppointFocalPoints,
            Action::ReplaceFocalPoint { .. } => CommandKind::ReplaceFocalPoint,
            Action::AdoptProcedureRules { .. } => CommandKind::AdoptProcedureRules,
        }
    }
}

/// A roster command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Command {
    /// The act.
    pub act: ActMeta,
    /// What to do.
    pub action: Action,
}

crate::domain::codec::stored_body! {
    /// What happened to the roster. Stored names: never rename.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum Body {
        /// The President asked for a fifth focal point.
        FifthFocalPointRequested {
            /// Stream id.
            roster_id: CaseId,
            /// Term.
            term: String,
            /// The President's region.
            president_region: Region,
        },
        /// The Bureau appointed the focal points.
        FocalPointsAppointed {
            /// Stream id.
            roster_id: CaseId,
            /// Term.
            term: String,
            /// The President's region.
            president_region: Region,
            /// Appointed.
            members: Vec<Member>,
            /// 4 or 5.
            count: usize,
            /// Bureau meeting date.
            meeting_date: NaiveDate,
        },
        /// The Bureau adopted the procedure rules for the cases opened from now on.
        ProcedureRulesAdopted {
            /// Stream id.
            roster_id: CaseId,
            /// Term.
            term: String,
            /// The President's region.
            president_region: Region,
            /// The rules (version: the rules in force before + 1).
            rules: ProcedureRules,
            /// The Bureau's decision.
            decision_ref: String,
            /// When adopted.
            adopted_on: NaiveDate,
        },
        /// One focal point was replaced.
        FocalPointReplaced {
            /// The State replaced.
            replaced: String,
            /// The replacement.
            replacement: Member,
        },
    }
}

/// A roster event.
pub type RosterEvent = Event<Body>;

fn check_members(
    members: &[Member],
    president_region: Region,
    fifth: bool,
) -> Result<(), Rejection> {
    let allowed = if fifth {
        "4 or 5 (a fifth was requested)"
    } else {
        "4 (5 only at the President's request)"
    };
    if members.len() != 4 && !(fifth && members.len() == 5) {
        return Err(Rejection::FocalPointCountInvalid {
            count: members.len(),
            allowed: allowed.into(),
        });
    }
    for (i, m) in members.iter().enumerate() {
        require_text(&format!("members[{i}].state"), &m.state)?;
        require_text(&format!("members[{i}].name"), &m.name)?;
        if members[..i].iter().any(|o| o.state == m.state) {
            return Err(Rejection::InequitableRepresentation {
                problem: format!("{} is appointed twice", m.state),
            });
        }
    }
    for region in Region::ALL {
        let n = members.iter().filter(|m| m.region == region).count();
        if region != president_region && n == 0 {
            return Err(Rejection::InequitableRepresentation {
                problem: format!("no focal point for the {}", region.label()),
            });
        }
        if members.len() == 4 && n > 1 {
            return Err(Rejection::InequitableRepresentation {
                problem: format!("the {} have {n} focal points", region.label()),
            });
        }
    }
    Ok(())
}

/// Decides a roster command.
///
/// # Errors
/// A named [`Rejection`].
pub fn decide(state: &State, cmd: &Command, ctx: &Context) -> Result<Vec<RosterEvent>, Rejection> {
    authorize(&ctx.principal, cmd.action.kind(), None)?;
    let on = cmd.act.occurred_at.date_naive();
    let ev = |body| Event {
        meta: EventMeta::new(&cmd.act, ctx, vec![LegalCitation::focal_points()], 1),
        body,
    };
    let body = match (state, &cmd.action) {
        (
            State::NotOpened,
            Action::RequestFifthFocalPoint {
                roster_id,
                term,
                president_region,
            },
        ) => {
            require_text("term", term)?;
            Body::FifthFocalPointRequested {
                roster_id: *roster_id,
                term: term.clone(),
                president_region: *president_region,
            }
        }
        (State::Open(t), Action::RequestFifthFocalPoint { .. }) => {
            if t.fifth_requested {
                return Err(Rejection::InvalidField {
                    field: "action".into(),
                    expected: "a fifth focal point was already requested for this term".into(),
                });
            }
            Body::FifthFocalPointRequested {
                roster_id: t.id,
                term: t.term.clone(),
                president_region: t.president_region,
            }
        }
        (
            State::NotOpened,
            Action::AppointFocalPoints {
                roster_id,
                term,
                president_region,
                members,
            },
        ) => {
            require_text("term", term)?;
            check_members(members, *president_region, false)?;
            Body::FocalPointsAppointed {
                roster_id: *roster_id,
                term: term.clone(),
                president_region: *president_region,
                members: members.clone(),
                count: members.len(),
                meeting_date: on,
            }
        }
        (State::Open(t), Action::AppointFocalPoints { members, .. }) => {
            if !t.members.is_empty() {
                return Err(Rejection::NotAllowedInState {
                    command: CommandKind::AppointFocalPoints.as_str().into(),
                    state: state.name().into(),
                    allowed_from: vec!["NotOpened".into(), "AwaitingAppointment".into()],
                });
            }
            check_members(members, t.president_region, t.fifth_requested)?;
            Body::FocalPointsAppointed {
                roster_id: t.id,
                term: t.term.clone(),
                president_region: t.president_region,
                members: members.clone(),
                count: members.len(),
                meeting_date: on,
            }
        }
        (
            state,
            Action::AdoptProcedureRules {
                roster_id,
                term,
                president_region,
                rules,
                decision_ref,
                version_in_force,
            },
        ) => {
            require_text("term", term)?;
            require_text("decision_ref", decision_ref)?;
            let mut rules = rules.clone();
            rules.version = version_in_force + 1;
            rules.validate()?;
            let (roster_id, term, president_region) = match state {
                State::Open(t) => (t.id, t.term.clone(), t.president_region),
                State::NotOpened => (*roster_id, term.clone(), *president_region),
            };
            return Ok(vec![Event {
                meta: EventMeta::new(
                    &cmd.act,
                    ctx,
                    vec![LegalCitation::procedures()],
                    rules.version,
                ),
                body: Body::ProcedureRulesAdopted {
                    roster_id,
                    term,
                    president_region,
                    rules,
                    decision_ref: decision_ref.trim().to_owned(),
                    adopted_on: on,
                },
            }]);
        }
        (State::NotOpened, Action::ReplaceFocalPoint { .. }) => {
            return Err(Rejection::CaseNotOpened);
        }
        (
            State::Open(t),
            Action::ReplaceFocalPoint {
                replaced,
                replacement,
            },
        ) => {
            let old = t
                .members
                .iter()
                .find(|m| &m.state == replaced)
                .ok_or_else(|| Rejection::NotAFocalPoint {
                    state: replaced.clone(),
                })?;
            if old.region != replacement.region {
                return Err(Rejection::ReplacementRegionMismatch {
                    replaced: old.region,
                    replacement: replacement.region,
                });
            }
            require_text("replacement.state", &replacement.state)?;
            require_text("replacement.name", &replacement.name)?;
            if t.members.iter().any(|m| m.state == replacement.state) {
                return Err(Rejection::InequitableRepresentation {
                    problem: format!("{} is already a focal point", replacement.state),
                });
            }
            Body::FocalPointReplaced {
                replaced: replaced.clone(),
                replacement: replacement.clone(),
            }
        }
    };
    Ok(vec![ev(body)])
}

/// Applies a roster event. Total.
pub fn evolve(state: State, event: &RosterEvent) -> State {
    match (state, &event.body) {
        (
            State::NotOpened,
            Body::FifthFocalPointRequested {
                roster_id,
                term,
                president_region,
            },
        ) => State::Open(Term {
            id: *roster_id,
            term: term.clone(),
            president_region: *president_region,
            fifth_requested: true,
            members: Vec::new(),
            appointed_on: None,
            rules: None,
        }),
        (
            State::NotOpened,
            Body::FocalPointsAppointed {
                roster_id,
                term,
                president_region,
                members,
                meeting_date,
                ..
            },
        ) => State::Open(Term {
            id: *roster_id,
            term: term.clone(),
            president_region: *president_region,
            fifth_requested: false,
            members: members.clone(),
            appointed_on: Some(*meeting_date),
            rules: None,
        }),
        (
            State::NotOpened,
            Body::ProcedureRulesAdopted {
                roster_id,
                term,
                president_region,
                rules,
                decision_ref,
                adopted_on,
            },
        ) => State::Open(Term {
            id: *roster_id,
            term: term.clone(),
            president_region: *president_region,
            fifth_requested: false,
            members: Vec::new(),
            appointed_on: None,
            rules: Some(AdoptedRules {
                rules: rules.clone(),
                decision_ref: decision_ref.clone(),
                adopted_on: *adopted_on,
            }),
        }),
        (
            State::Open(mut t),
            Body::ProcedureRulesAdopted {
                rules,
                decision_ref,
                adopted_on,
                ..
            },
        ) => {
            t.rules = Some(AdoptedRules {
                rules: rules.clone(),
                decision_ref: decision_ref.clone(),
                adopted_on: *adopted_on,
            });
            State::Open(t)
        }
        (State::NotOpened, Body::FocalPointReplaced { .. }) => State::NotOpened,
        (State::Open(mut t), Body::FifthFocalPointRequested { .. }) => {
            t.fifth_requested = true;
            State::Open(t)
        }
        (
            State::Open(mut t),
            Body::FocalPointsAppointed {
                members,
                meeting_date,
                ..
            },
        ) => {
            t.members = members.clone();
            t.appointed_on = Some(*meeting_date);
            State::Open(t)
        }
        (
            State::Open(mut t),
            Body::FocalPointReplaced {
                replaced,
                replacement,
            },
        ) => {
            if let Some(m) = t.members.iter_mut().find(|m| &m.state == replaced) {
                *m = replacement.clone();
            }
            State::Open(t)
        }
    }
}
