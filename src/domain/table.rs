//! Transition tables as data: one row per transition of domain.md, shared by `decide` (which
//! states a command may be issued from), `available_actions`, and docs/procedures.md (generated
//! from these rows and checked against the file by a test, so the docs cannot drift).

use super::{
    Rejection,
    permissions::{CommandKind, allowed_roles},
};

/// One transition of a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Its id in domain.md (`A4`, `B16`, `E3`, ...).
    pub id: &'static str,
    /// The command that triggers it.
    pub command: CommandKind,
    /// The states it may start from.
    pub from: &'static [&'static str],
    /// The event(s) recorded.
    pub event: &'static str,
    /// The resulting state (`(unchanged)` when it stays).
    pub to: &'static str,
    /// The guard, in words.
    pub guard: &'static str,
    /// The legal basis the event cites by itself.
    pub legal: &'static str,
}

impl Transition {
    /// The states the row may lead to: its `to`, or for a row that returns to an earlier state
    /// ("(as before: A or B)") each of those; none for a row that keeps the state or returns to
    /// the state before a suspension ("(prior state)").
    pub fn targets(&self) -> Vec<&'static str> {
        if let Some(list) = self
            .to
            .strip_prefix("(as before: ")
            .and_then(|l| l.strip_suffix(')'))
        {
            return list.split(" or ").map(str::trim).collect();
        }
        if self.to.starts_with('(') {
            Vec::new()
        } else {
            vec![self.to]
        }
    }
}

/// A procedure's transition table followed by the rows both procedures share (rules
/// amendments, the art. 97 records and the State's withdrawal under art. 127), which may be issued from every state in `$open`.
macro_rules! with_shared_rows {
    ($open:expr; $($row:expr),* $(,)?) => {
        &[
            $($row,)*
            Transition { id: "R", command: CommandKind::AmendRules, from: $open, event: "RulesAmended", to: "(unchanged)", guard: "valid rules; version becomes previous + 1", legal: "ICC-ASP/10/Res.5 annex" },
            Transition { id: "C1", command: CommandKind::RecordConsultationRequested, from: $open, event: "ConsultationRequested", to: "(unchanged)", guard: "new reference; at least one problem", legal: "Rome Statute art. 97" },
            Transition { id: "C2", command: CommandKind::RecordConsultationHeld, from: $open, event: "ConsultationHeld", to: "(unchanged)", guard: "known, unanswered consultation", legal: "Rome Statute art. 97" },
            Transition { id: "C3", command: CommandKind::RecordConsultationAnswered, from: $open, event: "ConsultationAnswered", to: "(unchanged)", guard: "known, unanswered consultation", legal: "Rome Statute art. 97" },
            Transition { id: "E6", command: CommandKind::JoinConsultation, from: $open, event: "AssemblyRepresentativeJoinedConsultation", to: "(unchanged)", guard: "extension E6 on; known, unanswered consultation", legal: "Rome Statute art. 97" },
            Transition { id: "W1", command: CommandKind::RecordWithdrawalNotified, from: $open, event: "WithdrawalNotified", to: "(unchanged)", guard: "a State Party; none on record (unless revoked); effective one year after receipt or a later date named", legal: "Rome Statute art. 127(1)" },
            Transition { id: "W2", command: CommandKind::RecordWithdrawalRevoked, from: $open, event: "WithdrawalRevoked", to: "(unchanged)", guard: "a pending withdrawal, before its effective date", legal: "Rome Statute art. 127" },
            Transition { id: "W3", command: CommandKind::RecordWithdrawalTookEffect, from: $open, event: "WithdrawalTookEffect", to: "(unchanged)", guard: "a pending withdrawal, on or after its effective date; obligations for proceedings begun before remain (art. 127(2))", legal: "Rome Statute art. 127(2)" },
        ]
    };
}
pub(crate) use with_shared_rows;

/// States from which `command` may be issued, per `table` (union of its rows).
pub fn states_for(table: &[Transition], command: CommandKind) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for t in table.iter().filter(|t| t.command == command) {
        for s in t.from {
            if !out.contains(s) {
                out.push(s);
            }
        }
    }
    out
}

/// The state check both procedures make. `Ok` when a row allows `kind` from `state`;
/// otherwise the procedure's most specific rejection (`specific`), then `ProcedureClosed` for a
/// closed case, `NoDeadlinePending` for a deadline, and `NotAllowedInState` naming the states
/// from which the command is possible.
///
/// # Errors
/// As above.
pub(crate) fn check_state(
    table: &[Transition],
    kind: CommandKind,
    state: &'static str,
    closed: bool,
    specific: Option<Rejection>,
) -> Result<(), Rejection> {
    let from = states_for(table, kind);
    if from.contains(&state) {
        return Ok(());
    }
    if let Some(r) = specific {
        return Err(r);
    }
    if closed {
        return Err(Rejection::ProcedureClosed {
            state: state.to_owned(),
        });
    }
    if kind == CommandKind::RecordDeadlineElapsed {
        return Err(Rejection::NoDeadlinePending {
            state: state.to_owned(),
        });
    }
    Err(Rejection::NotAllowedInState {
        command: kind.as_str().to_owned(),
        state: state.to_owned(),
        allowed_from: from.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// Renders a table as Markdown (the transition table of docs/procedures.md).
pub fn to_markdown(table: &[Transition]) -> String {
    let mut md = String::from(
        "| # | command | from | event | to | who | guard | legal basis |\n|---|---|---|---|---|---|---|---|\n",
    );
    for t in table {
        let who: Vec<&str> = allowed_roles(t.command)
            .iter()
            .map(|r| r.as_str())
            .collect();
        md.push_str(&format!(
            "| {} | `{}` | {} | `{}` | {} | {} | {} | {} |\n",
            t.id,
            t.command.as_str(),
            t.from.join(", "),
            t.event,
            t.to,
            who.join(", "),
            t.guard,
            t.legal
        ));
    }
    md
}

/// Renders a table as a Mermaid state diagram. Rows that keep the state are left to the table;
/// rows that start from more than four states are drawn from one "any open state" node.
pub fn to_mermaid(table: &[Transition], terminal: &[&str]) -> String {
    let mut out = String::new();
    let mut any_open = false;
    for t in table {
        if t.to.starts_with("(as before: ") {
            let label = format!("{} {}", t.id, t.event.split(' ').next().unwrap_or(t.event));
            for from in t.from {
                for to in t.targets() {
                    out.push_str(&format!("    {from} --> {to} : {label}\n"));
                }
            }
            continue;
        }
        if t.to.starts_with('(') && t.to != "(prior state)" {
            continue;
        }
        let label = format!("{} {}", t.id, t.event.split(' ').next().unwrap_or(t.event));
        if t.to == "(prior state)" {
            for from in t.from {
                out.push_str(&format!(
                    "    note right of {from} : {} returns to the state before the appeal\n",
                    t.id
                ));
            }
            continue;
        }
        if t.from == ["(none)"] {
            out.push_str(&format!("    [*] --> {} : {label}\n", t.to));
        } else if t.from.len() > 4 {
            any_open = true;
            out.push_str(&format!("    AnyOpen --> {} : {label}\n", t.to));
        } else {
            for from in t.from {
                out.push_str(&format!("    {from} --> {} : {label}\n", t.to));
            }
        }
    }
    for s in terminal {
        out.push_str(&format!("    {s} --> [*]\n"));
    }
    let header = if any_open {
        "stateDiagram-v2\n    state \"any open state\" as AnyOpen\n"
    } else {
        "stateDiagram-v2\n"
    };
    format!("{header}{out}")
}
