//! A State Party's withdrawal from the Rome Statute (art. 127), recorded on a formal or
//! preventive case: the case's facts are no longer frozen at opening.
//!
//! `WithdrawalNotified → {WithdrawalRevoked | WithdrawalTookEffect}`. Art. 127(1): a withdrawal
//! takes effect one year after the Secretary-General receives the notification, or at a later
//! date it names ([R]). Art. 127(2): it does not discharge the State of obligations that arose
//! while it was a Party, nor affect cooperation in proceedings begun before it took effect:
//! so on a case whose request predates the effect, the State stays bound and the letters add
//! art. 127(2) to the obligations they recall (Hungary 2025 announced its withdrawal while its
//! case was open, domain.md §6 row 11). The procedures ask [`Withdrawal::status_on`] for the
//! State's status as of an act's legal time.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{
    CaseFacts, Rejection, StateStatus, TriggerMechanism, legal::LegalCitation,
    permissions::CommandKind, require_text,
};

/// What the case records of a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Withdrawal {
    /// The notification (e.g. the depositary notification's symbol).
    pub notification_ref: String,
    /// When the Secretary-General received it.
    pub notified_on: NaiveDate,
    /// When it takes (or took) effect.
    pub effective_on: NaiveDate,
    /// When it was revoked, if it was.
    pub revoked_on: Option<NaiveDate>,
    /// Whether its taking effect was recorded.
    pub took_effect: bool,
}

impl Withdrawal {
    /// Pending: notified, neither revoked nor in effect.
    pub fn pending(&self) -> bool {
        self.revoked_on.is_none() && !self.took_effect
    }

    /// Whether the withdrawal is in effect on `date`.
    pub fn in_effect_on(&self, date: NaiveDate) -> bool {
        self.took_effect && self.effective_on <= date
    }

    /// The State's status on `date`: as opened, until the withdrawal takes effect; then bound
    /// only by a Security Council resolution (a situation the Council referred) or not at all.
    pub fn status_on(w: Option<&Withdrawal>, facts: &CaseFacts, date: NaiveDate) -> StateStatus {
        match w {
            Some(w) if w.in_effect_on(date) => {
                if facts.situation.trigger_mechanism == TriggerMechanism::UnscReferral {
                    StateStatus::BoundByUnscResolution
                } else {
                    StateStatus::NotBound
                }
            }
            _ => facts.requested_state.status,
        }
    }

    /// Art. 127(2), cited when the withdrawal is in effect on `date` and the request predates
    /// it: the State remains bound for proceedings begun before.
    pub fn continuing_obligation(
        w: Option<&Withdrawal>,
        facts: &CaseFacts,
        date: NaiveDate,
    ) -> Option<LegalCitation> {
        let w = w?;
        (w.in_effect_on(date) && facts.request.transmitted_on < w.effective_on)
            .then(|| LegalCitation::rome("art. 127(2)"))
    }
}

/// Withdrawal commands (both procedures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The State notified its withdrawal (the act's date: the notification's receipt).
    Notify {
        /// The notification.
        notification_ref: String,
        /// A later effective date the notification names; `None`: one year after receipt.
        effective_on: Option<NaiveDate>,
    },
    /// The State revoked its notification before it took effect.
    Revoke {
        /// The revocation.
        reference: String,
    },
    /// The withdrawal took effect (on or after its effective date).
    TakeEffect,
}

impl Action {
    /// The permission-table kind.
    pub fn kind(&self) -> CommandKind {
        match self {
            Action::Notify { .. } => CommandKind::RecordWithdrawalNotified,
            Action::Revoke { .. } => CommandKind::RecordWithdrawalRevoked,
            Action::TakeEffect => CommandKind::RecordWithdrawalTookEffect,
        }
    }
}

/// W1: the State notified its withdrawal (the body of `WithdrawalNotified` in both
/// procedures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Notified {
    /// The notification.
    pub notification_ref: String,
    /// Received by the Secretary-General on.
    pub notified_on: NaiveDate,
    /// Takes effect on.
    pub effective_on: NaiveDate,
}

/// W2: the State revoked its notification before it took effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Revoked {
    /// The revocation.
    pub reference: String,
    /// On.
    pub revoked_on: NaiveDate,
}

/// W3: the withdrawal took effect; obligations for proceedings begun before remain (art.
/// 127(2)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TookEffect {
    /// On.
    pub effective_on: NaiveDate,
}

/// What a withdrawal command records (the procedures wrap it in their event bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Notified.
    Notified(Notified),
    /// Revoked.
    Revoked(Revoked),
    /// In effect.
    TookEffect(TookEffect),
}

/// One year after `d` (29 February gives 28 February, as for any anniversary).
fn a_year_after(d: NaiveDate) -> NaiveDate {
    d.with_year(d.year() + 1)
        .or_else(|| d.pred_opt().and_then(|p| p.with_year(d.year() + 1)))
        .unwrap_or(d)
}

/// Decides a withdrawal command on a case whose State is as `facts` say, on `on`.
///
/// # Errors
/// `InvalidField` naming what is wrong.
pub fn decide(
    current: Option<&Withdrawal>,
    facts: &CaseFacts,
    action: &Action,
    on: NaiveDate,
) -> Result<Outcome, Rejection> {
    let invalid = |field: &str, expected: String| Rejection::InvalidField {
        field: field.into(),
        expected,
    };
    match action {
        Action::Notify {
            notification_ref,
            effective_on,
        } => {
            require_text("notification_ref", notification_ref)?;
            if facts.requested_state.status != StateStatus::StateParty {
                return Err(invalid(
                    "action",
                    "a State Party: only a State Party withdraws under art. 127".into(),
                ));
            }
            if let Some(w) = current.filter(|w| w.revoked_on.is_none()) {
                return Err(invalid(
                    "action",
                    format!(
                        "no withdrawal on record: one was notified on {} ({})",
                        w.notified_on, w.notification_ref
                    ),
                ));
            }
            let earliest = a_year_after(on);
            let effective_on = effective_on.unwrap_or(earliest);
            if effective_on < earliest {
                return Err(invalid(
                    "effective_on",
                    format!(
                        "a date on or after {earliest}, one year after the notification (art. 127(1))"
                    ),
                ));
            }
            Ok(Outcome::Notified(Notified {
                notification_ref: notification_ref.trim().to_owned(),
                notified_on: on,
                effective_on,
            }))
        }
        Action::Revoke { reference } => {
            require_text("reference", reference)?;
            let w = current
                .filter(|w| w.pending())
                .ok_or_else(|| invalid("action", "a pending withdrawal to revoke".into()))?;
            if on >= w.effective_on {
                return Err(invalid(
                    "occurred_at",
                    format!(
                        "a date before {}, when the withdrawal takes effect",
                        w.effective_on
                    ),
                ));
            }
            Ok(Outcome::Revoked(Revoked {
                reference: reference.trim().to_owned(),
                revoked_on: on,
            }))
        }
        Action::TakeEffect => {
            let w = current
                .filter(|w| w.pending())
                .ok_or_else(|| invalid("action", "a pending withdrawal".into()))?;
            if on < w.effective_on {
                return Err(invalid(
                    "occurred_at",
                    format!(
                        "{} or later: the withdrawal takes effect then",
                        w.effective_on
                    ),
                ));
            }
            Ok(Outcome::TookEffect(TookEffect {
                effective_on: w.effective_on,
            }))
        }
    }
}

/// Applies an outcome to the case's record.
pub fn evolve(current: &mut Option<Withdrawal>, o: &Outcome) {
    match o {
        Outcome::Notified(n) => {
            *current = Some(Withdrawal {
                notification_ref: n.notification_ref.clone(),
                notified_on: n.notified_on,
                effective_on: n.effective_on,
                revoked_on: None,
                took_effect: false,
            });
        }
        Outcome::Revoked(r) => {
            if let Some(w) = current.as_mut() {
                w.revoked_on = Some(r.revoked_on);
            }
        }
        Outcome::TookEffect(_) => {
            if let Some(w) = current.as_mut() {
                w.took_effect = true;
            }
        }
    }
}

/// The citations a withdrawal event carries.
pub fn citations() -> Vec<LegalCitation> {
    vec![LegalCitation::rome("art. 127")]
}

#[cfg(test)]
mod tests {
    //! Art. 127 on a case: notified, revoked or in effect; the State's status as of an act's
    //! legal time; letters after the effect cite art. 127(2).

    use chrono::Duration;

    use crate::domain::{
        Role, StateStatus,
        case::CaseEvent,
        formal::{self, tests as f},
        permissions::CommandKind as K,
        preventive::{self, tests as p},
        testkit::*,
    };

    use super::Action;

    fn notify(effective_on: Option<chrono::NaiveDate>) -> formal::Action {
        formal::Action::Withdrawal(Action::Notify {
            notification_ref: "C.N.123.2025.TREATIES-XVIII.10".into(),
            effective_on,
        })
    }

    fn formal_case(events: &[CaseEvent]) -> formal::FormalCase {
        match state_after(crate::domain::ProcedureKind::Formal, events) {
            crate::domain::case::CaseState::Formal(formal::State::Open(c)) => *c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_withdrawal_is_notified_then_revoked_or_takes_effect_a_year_later() {
        let (mut events, at) = f::run(&[K::OpenFormalCase, K::SeizeBureau]);
        let sec = ctx(Role::Secretariat, at);
        // Only the Secretariat registers it.
        given_when_rejected(
            &events,
            &f::fc(at, notify(None)),
            &ctx(Role::Bureau, at),
            "NotPermitted",
        );
        // A later date than a year is allowed; an earlier one is not.
        given_when_rejected(
            &events,
            &f::fc(at, notify(Some(at.date_naive() + Duration::days(200)))),
            &sec,
            "InvalidField",
        );
        events.extend(given_when_then(
            &events,
            &f::fc(at, notify(None)),
            &sec,
            formal::names::REGULAR,
        ));
        let w = formal_case(&events).withdrawal.expect("on record");
        assert_eq!(w.effective_on, at.date_naive() + Duration::days(365));
        assert!(w.pending());
        // Twice: refused.
        given_when_rejected(&events, &f::fc(at, notify(None)), &sec, "InvalidField");
        // It cannot take effect early.
        let early = at + Duration::days(100);
        given_when_rejected(
            &events,
            &f::fc(early, formal::Action::Withdrawal(Action::TakeEffect)),
            &ctx(Role::Secretariat, early),
            "InvalidField",
        );
        // Revoked before the date: the State stays a Party, and a new notification may follow.
        let mut revoked = events.clone();
        revoked.extend(given_when_then(
            &events,
            &f::fc(
                early,
                formal::Action::Withdrawal(Action::Revoke {
                    reference: "C.N.200.2025.TREATIES-XVIII.10".into(),
                }),
            ),
            &ctx(Role::Secretariat, early),
            formal::names::REGULAR,
        ));
        let c = formal_case(&revoked);
        assert_eq!(
            super::Withdrawal::status_on(c.withdrawal.as_ref(), &c.facts, early.date_naive()),
            StateStatus::StateParty
        );
        given_when_then(
            &revoked,
            &f::fc(early, notify(None)),
            &ctx(Role::Secretariat, early),
            formal::names::REGULAR,
        );
        // Or it takes effect; then it cannot be revoked.
        let later = at + Duration::days(366);
        events.extend(given_when_then(
            &events,
            &f::fc(later, formal::Action::Withdrawal(Action::TakeEffect)),
            &ctx(Role::Secretariat, later),
            formal::names::REGULAR,
        ));
        given_when_rejected(
            &events,
            &f::fc(
                later,
                formal::Action::Withdrawal(Action::Revoke {
                    reference: "late".into(),
                }),
            ),
            &ctx(Role::Secretariat, later),
            "InvalidField",
        );
        // The State's status as of an act's legal time: a Party before, not after (Darfur was
        // referred by the Security Council, so the resolution still binds it).
        let c = formal_case(&events);
        assert_eq!(
            super::Withdrawal::status_on(c.withdrawal.as_ref(), &c.facts, at.date_naive()),
            StateStatus::StateParty
        );
        assert_eq!(
            super::Withdrawal::status_on(c.withdrawal.as_ref(), &c.facts, later.date_naive()),
            StateStatus::BoundByUnscResolution
        );
        // A letter after the effect recalls the obligations that continue (art. 127(2)).
        let letter = given_when_then(
            &events,
            &f::fc(later, f::sample(K::SendOpenLetter, later)),
            &ctx(Role::President, later),
            formal::names::AWAITING_VIEWS,
        );
        let cites: Vec<String> = letter[0]
            .meta()
            .legal_basis
            .iter()
            .map(|c| c.display())
            .collect();
        assert!(
            cites.contains(&"Rome Statute art. 127(2)".to_owned()),
            "{cites:?}"
        );
    }

    #[test]
    fn only_a_state_party_withdraws_and_good_offices_follow_the_status() {
        // A non-Party bound by a UNSC resolution cannot withdraw.
        let (events, at) = p::run(&[K::OpenPreventiveCase]);
        let mut facts_bound = bashir_facts("SD", "Sudan", crate::domain::Region::African);
        facts_bound.requested_state.status = StateStatus::BoundByUnscResolution;
        let open_bound = match p::sample(K::OpenPreventiveCase, at) {
            preventive::Action::Open {
                case_id,
                reference,
                alert,
                rules,
                ..
            } => preventive::Action::Open {
                case_id,
                reference,
                facts: facts_bound,
                alert,
                rules,
            },
            other => panic!("{other:?}"),
        };
        let bound = given_when_then(
            &[],
            &p::pc(at, open_bound),
            &ctx(Role::CourtLiaison, at),
            preventive::names::ALERTED,
        );
        given_when_rejected(
            &bound,
            &p::pc(at, p::sample(K::RecordWithdrawalNotified, at)),
            &ctx(Role::Secretariat, at),
            "InvalidField",
        );
        // A State Party's withdrawal on a preventive case: good offices stay possible for the
        // request that predates it (art. 127(2)).
        let mut events = events;
        let sec = ctx(Role::Secretariat, at);
        events.extend(given_when_then(
            &events,
            &p::pc(at, p::sample(K::RecordWithdrawalNotified, at)),
            &sec,
            preventive::names::ALERTED,
        ));
        let later = at + Duration::days(366);
        events.extend(given_when_then(
            &events,
            &p::pc(later, p::sample(K::RecordWithdrawalTookEffect, later)),
            &ctx(Role::Secretariat, later),
            preventive::names::ALERTED,
        ));
        events.extend(given_when_then(
            &events,
            &p::pc(later, p::sample(K::AssessSituation, later)),
            &ctx(Role::President, later),
            preventive::names::ASSESSED,
        ));
        given_when_then(
            &events,
            &p::pc(later, preventive::Action::InitiateGoodOffices),
            &ctx(Role::President, later),
            preventive::names::ACTIVE,
        );
    }
}
