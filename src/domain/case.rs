//! One entry point over every procedure, for the engine: decide, evolve, replay, deadlines and
//! "what may this principal do now, and why not the rest".
//!
//! Escalation (B16) is decided here as one decision over two streams: the preventive case's
//! `NonCooperationFindingReferred` and the new formal case's opening event (A1, linked both
//! ways), so the engine appends both in one transaction.

use serde::{Deserialize, Serialize};

use super::{
    CaseId, Context, Deadline, ProcedureKind, Rejection,
    formal::{self, FormalEvent},
    interpretative::{self, InterpretativeEvent},
    permissions::CommandKind,
    preventive::{self, PreventiveEvent},
    roster::{self, RosterEvent},
};

/// The state of any case stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "procedure", content = "state", rename_all = "snake_case")]
pub enum CaseState {
    /// Procedure A.
    Formal(formal::State),
    /// Procedure B.
    Preventive(preventive::State),
    /// E5.
    Interpretative(interpretative::State),
    /// Roster.
    Roster(roster::State),
}

/// An event of any procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseEvent {
    /// Procedure A.
    Formal(FormalEvent),
    /// Procedure B.
    Preventive(PreventiveEvent),
    /// E5.
    Interpretative(InterpretativeEvent),
    /// Roster.
    Roster(RosterEvent),
}

impl CaseEvent {
    /// The envelope facts.
    pub fn meta(&self) -> &super::EventMeta {
        match self {
            CaseEvent::Formal(e) => &e.meta,
            CaseEvent::Preventive(e) => &e.meta,
            CaseEvent::Interpretative(e) => &e.meta,
            CaseEvent::Roster(e) => &e.meta,
        }
    }

    /// The procedure it belongs to.
    pub fn procedure(&self) -> ProcedureKind {
        match self {
            CaseEvent::Formal(_) => ProcedureKind::Formal,
            CaseEvent::Preventive(_) => ProcedureKind::Preventive,
            CaseEvent::Interpretative(_) => ProcedureKind::Interpretative,
            CaseEvent::Roster(_) => ProcedureKind::Roster,
        }
    }
}

/// A command of any procedure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "procedure", content = "command", rename_all = "snake_case")]
pub enum CaseCommand {
    /// Procedure A.
    Formal(formal::Command),
    /// Procedure B.
    Preventive(preventive::Command),
    /// E5.
    Interpretative(interpretative::Command),
    /// Roster.
    Roster(roster::Command),
}

impl CaseCommand {
    /// The permission-table kind.
    pub fn kind(&self) -> CommandKind {
        match self {
            CaseCommand::Formal(c) => c.action.kind(),
            CaseCommand::Preventive(c) => c.action.kind(),
            CaseCommand::Interpretative(c) => c.action.kind(),
            CaseCommand::Roster(c) => c.action.kind(),
        }
    }

    /// The procedure it belongs to.
    pub fn procedure(&self) -> ProcedureKind {
        match self {
            CaseCommand::Formal(_) => ProcedureKind::Formal,
            CaseCommand::Preventive(_) => ProcedureKind::Preventive,
            CaseCommand::Interpretative(_) => ProcedureKind::Interpretative,
            CaseCommand::Roster(_) => ProcedureKind::Roster,
        }
    }
}

/// What a decision produces: events for the case, and possibly a second case opened with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Events for the case the command was addressed to.
    pub events: Vec<CaseEvent>,
    /// A case opened by the same decision (escalation B16 → A1), with its first events.
    pub opened: Option<(CaseId, Vec<CaseEvent>)>,
}

impl CaseState {
    /// The empty state of a new stream of `kind`.
    pub fn new(kind: ProcedureKind) -> Self {
        match kind {
            ProcedureKind::Formal => CaseState::Formal(formal::State::default()),
            ProcedureKind::Preventive => CaseState::Preventive(preventive::State::default()),
            ProcedureKind::Interpretative => {
                CaseState::Interpretative(interpretative::State::default())
            }
            ProcedureKind::Roster => CaseState::Roster(roster::State::default()),
        }
    }

    /// The state a client received as `CaseView.state_json` with its procedure's name; `None`
    /// when it cannot be read (another version's shape, or withheld from the caller).
    pub fn from_view(procedure: &str, state_json: &str) -> Option<Self> {
        match procedure {
            "formal" => serde_json::from_str(state_json).ok().map(CaseState::Formal),
            "preventive" => serde_json::from_str(state_json)
                .ok()
                .map(CaseState::Preventive),
            _ => None,
        }
    }

    /// The procedure.
    pub fn procedure(&self) -> ProcedureKind {
        match self {
            CaseState::Formal(_) => ProcedureKind::Formal,
            CaseState::Preventive(_) => ProcedureKind::Preventive,
            CaseState::Interpretative(_) => ProcedureKind::Interpretative,
            CaseState::Roster(_) => ProcedureKind::Roster,
        }
    }

    /// The state's name, as in domain.md.
    pub fn name(&self) -> &'static str {
        match self {
            CaseState::Formal(s) => s.name(),
            CaseState::Preventive(s) => s.name(),
            CaseState::Interpretative(s) => s.name(),
            CaseState::Roster(s) => s.name(),
        }
    }

    /// Deadlines derived from the state.
    pub fn deadlines(&self) -> Vec<Deadline> {
        match self {
            CaseState::Formal(s) => s.deadlines(),
            CaseState::Preventive(s) => s.deadlines(),
            CaseState::Interpretative(_) | CaseState::Roster(_) => Vec::new(),
        }
    }

    /// The next deadline that fires, if any.
    pub fn next_deadline(&self) -> Option<Deadline> {
        self.deadlines().into_iter().find(|d| d.fires)
    }
}

fn wrong_procedure(state: &CaseState, cmd: &CaseCommand) -> Rejection {
    Rejection::InvalidField {
        field: "command".into(),
        expected: format!(
            "a {:?} command for this {:?} case, not a {:?} command",
            state.procedure(),
            state.procedure(),
            cmd.procedure()
        ),
    }
}

/// Decides any command.
///
/// # Errors
/// The procedure's named [`Rejection`], or `InvalidField` for a command of another procedure.
pub fn decide(state: &CaseState, cmd: &CaseCommand, ctx: &Context) -> Result<Decision, Rejection> {
    let single = |events: Vec<CaseEvent>| Decision {
        events,
        opened: None,
    };
    match (state, cmd) {
        (CaseState::Formal(s), CaseCommand::Formal(c)) => Ok(single(
            formal::decide(s, c, ctx)?
                .into_iter()
                .map(CaseEvent::Formal)
                .collect(),
        )),
        (CaseState::Preventive(s), CaseCommand::Preventive(c)) => {
            let events = preventive::decide(s, c, ctx)?;
            let opened = match (s.case(), events.first().map(|e| &e.body)) {
                (
                    Some(case),
                    Some(preventive::Body::NonCooperationFindingReferred {
                        referral,
                        formal_case,
                        formal_reference,
                    }),
                ) => Some((
                    *formal_case,
                    vec![CaseEvent::Formal(formal::opening_from_escalation(
                        &c.act,
                        ctx,
                        *formal_case,
                        formal_reference,
                        referral,
                        case,
                    ))],
                )),
                _ => None,
            };
            Ok(Decision {
                events: events.into_iter().map(CaseEvent::Preventive).collect(),
                opened,
            })
        }
        (CaseState::Interpretative(s), CaseCommand::Interpretative(c)) => Ok(single(
            interpretative::decide(s, c, ctx)?
                .into_iter()
                .map(CaseEvent::Interpretative)
                .collect(),
        )),
        (CaseState::Roster(s), CaseCommand::Roster(c)) => Ok(single(
            roster::decide(s, c, ctx)?
                .into_iter()
                .map(CaseEvent::Roster)
                .collect(),
        )),
        (
            CaseState::Formal(_)
            | CaseState::Preventive(_)
            | CaseState::Interpretative(_)
            | CaseState::Roster(_),
            _,
        ) => Err(wrong_procedure(state, cmd)),
    }
}

/// Applies any event. Total: an event of another procedure leaves the state as it is.
pub fn evolve(state: CaseState, event: &CaseEvent) -> CaseState {
    match (state, event) {
        (CaseState::Formal(s), CaseEvent::Formal(e)) => CaseState::Formal(formal::evolve(s, e)),
        (CaseState::Preventive(s), CaseEvent::Preventive(e)) => {
            CaseState::Preventive(preventive::evolve(s, e))
        }
        (CaseState::Interpretative(s), CaseEvent::Interpretative(e)) => {
            CaseState::Interpretative(interpretative::evolve(s, e))
        }
        (CaseState::Roster(s), CaseEvent::Roster(e)) => CaseState::Roster(roster::evolve(s, e)),
        (s, _) => s,
    }
}

/// Replays a stream from its first event.
pub fn replay<'a>(
    kind: ProcedureKind,
    events: impl IntoIterator<Item = &'a CaseEvent>,
) -> CaseState {
    events.into_iter().fold(CaseState::new(kind), evolve)
}

/// Whether a command is available to the principal now, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Availability {
    /// The command.
    pub command: CommandKind,
    /// `None` when allowed; otherwise the rejection the command would meet now.
    pub denied: Option<Rejection>,
}

fn commands_of(kind: ProcedureKind) -> Vec<CommandKind> {
    let table = match kind {
        ProcedureKind::Formal => formal::TRANSITIONS,
        ProcedureKind::Preventive => preventive::TRANSITIONS,
        ProcedureKind::Interpretative => {
            return vec![
                CommandKind::ProposeInterpretativeResolution,
                CommandKind::AdoptInterpretativeResolution,
                CommandKind::WithdrawInterpretativeResolution,
            ];
        }
        ProcedureKind::Roster => {
            return vec![
                CommandKind::RequestFifthFocalPoint,
                CommandKind::AppointFocalPoints,
                CommandKind::ReplaceFocalPoint,
            ];
        }
    };
    let mut out: Vec<CommandKind> = Vec::new();
    for t in table {
        if !out.contains(&t.command) {
            out.push(t.command);
        }
    }
    out
}

/// What the principal in `ctx` may do on this case now (permission, state and rule flags; the
/// command's own fields are checked when it is sent), and the reason for the rest.
pub fn available_actions(state: &CaseState, ctx: &Context) -> Vec<Availability> {
    let opened = state.describe().is_some();
    commands_of(state.procedure())
        .into_iter()
        // Opening is not an action on a case that exists; firing deadlines is the engine's.
        .filter(|c| {
            !(opened
                && matches!(
                    c,
                    CommandKind::OpenFormalCase | CommandKind::OpenPreventiveCase
                ))
                && (*c != CommandKind::RecordDeadlineElapsed
                    || ctx.principal.role == super::Role::System)
        })
        .map(|command| {
            let denied = match state {
                CaseState::Formal(s) => formal::precheck(s, command, ctx).err(),
                CaseState::Preventive(s) => preventive::precheck(s, command, ctx).err(),
                CaseState::Interpretative(_) | CaseState::Roster(_) => {
                    super::permissions::authorize(&ctx.principal, command, None).err()
                }
            };
            Availability { command, denied }
        })
        .collect()
}

/// Who may act next on this case, command by command: [`available_actions`] asked for every
/// role of a person (a focal point and the President as covering `region`, the requested
/// State's region). The CLI's `case show` and the console's case page both say this.
pub fn who_may_act(
    state: &CaseState,
    region: super::Region,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(CommandKind, Vec<super::Role>)> {
    let mut next: Vec<(CommandKind, Vec<super::Role>)> = Vec::new();
    for role in super::Role::PEOPLE {
        let ctx = Context {
            now,
            principal: super::Principal::new("who-may-act", role).in_region(region),
        };
        for a in available_actions(state, &ctx) {
            if a.denied.is_some() {
                continue;
            }
            match next.iter_mut().find(|(c, _)| *c == a.command) {
                Some((_, roles)) => roles.push(role),
                None => next.push((a.command, vec![role])),
            }
        }
    }
    next
}

/// What the read model and the API need to know about any case, whatever its procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description<'a> {
    /// Human reference.
    pub reference: String,
    /// Terminal state reached.
    pub closed: bool,
    /// The case's facts (formal and preventive cases).
    pub facts: Option<&'a super::CaseFacts>,
    /// A linked case (escalation either way, or the previous case of a recurrence).
    pub linked_case: Option<CaseId>,
    /// Legal time of the latest event.
    pub last_occurred_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl CaseState {
    /// The rules pinned in an open case (formal or preventive); `None` otherwise.
    pub fn rules(&self) -> Option<&super::ProcedureRules> {
        match self {
            CaseState::Formal(formal::State::Open(c)) => Some(&c.rules),
            CaseState::Preventive(preventive::State::Open(c)) => Some(&c.rules),
            _ => None,
        }
    }

    /// Describes an opened case; `None` before its first event.
    pub fn describe(&self) -> Option<Description<'_>> {
        match self {
            CaseState::Formal(formal::State::Open(c)) => Some(Description {
                reference: c.reference.clone(),
                closed: c.phase.is_closed(),
                facts: Some(&c.facts),
                linked_case: c.linked_preventive_case.or(c.previous_case),
                last_occurred_at: Some(c.last_occurred_at),
            }),
            CaseState::Preventive(preventive::State::Open(c)) => Some(Description {
                reference: c.reference.clone(),
                closed: c.phase.is_closed(),
                facts: Some(&c.facts),
                linked_case: match c.phase {
                    preventive::Phase::EscalatedToFormal { formal_case } => Some(formal_case),
                    _ => None,
                },
                last_occurred_at: Some(c.last_occurred_at),
            }),
            CaseState::Interpretative(interpretative::State::Open(r)) => Some(Description {
                reference: r.reference.clone(),
                closed: !matches!(r.phase, interpretative::Phase::Proposed),
                facts: None,
                linked_case: r.linked_cases.first().copied(),
                last_occurred_at: None,
            }),
            CaseState::Roster(roster::State::Open(t)) => Some(Description {
                reference: format!("FP-{}", t.term),
                closed: false,
                facts: None,
                linked_case: None,
                last_occurred_at: None,
            }),
            CaseState::Formal(formal::State::NotOpened)
            | CaseState::Preventive(preventive::State::NotOpened)
            | CaseState::Interpretative(interpretative::State::NotOpened)
            | CaseState::Roster(roster::State::NotOpened) => None,
        }
    }
}
