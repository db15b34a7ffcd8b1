//! Art. 97 consultations (domain.md §3.4), recorded on a formal or preventive case, with the
//! Assembly's participation (extension E6).
//!
//! `ConsultationRequested → {ConsultationHeld, AssemblyRepresentativeJoinedConsultation}* →
//! ConsultationAnswered`. Each consultation is known by its reference within the case. The
//! timing matters downstream (Mongolia 2024: requested days before the visit; Jordan 2019: the
//! referral was reversed partly over whether consultations were sought), so dates are kept.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    ProcedureRules, Rejection, legal::LegalCitation, permissions::CommandKind, require_text,
};

/// Problems a State may raise under art. 97.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Art. 97(a): insufficient information to execute the request.
    InsufficientInfo,
    /// Art. 97(b): the person cannot be located.
    CannotLocate,
    /// Art. 97(b): the person is clearly not the person named.
    WrongPerson,
    /// Art. 97(c): a pre-existing treaty obligation to another State.
    PriorTreatyObligation,
    /// Anything else (e.g. head-of-state immunity claims).
    Other,
}

/// Who represents the Assembly in a consultation (E6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Representative {
    /// The President of the Assembly.
    President,
    /// A member of the Bureau.
    BureauMember,
    /// A non-cooperation focal point.
    FocalPoint,
}

/// The commands of this sub-machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// The State asked the Court to consult (the act's date is `requested_on`).
    Request {
        /// Reference of the request (e.g. the State's note verbale).
        reference: String,
        /// The problems raised.
        problems: Vec<Problem>,
    },
    /// A consultation meeting took place.
    Hold {
        /// Which consultation.
        reference: String,
    },
    /// The Court answered.
    Answer {
        /// Which consultation.
        reference: String,
        /// The answer's gist (e.g. "consultations must be timely to be meaningful").
        summary: String,
    },
    /// E6: an Assembly representative joined.
    Join {
        /// Which consultation.
        reference: String,
        /// In which capacity.
        representative: Representative,
        /// Name of the person or State.
        name: String,
    },
}

impl Action {
    /// The permission-table kind.
    pub fn kind(&self) -> CommandKind {
        match self {
            Action::Request { .. } => CommandKind::RecordConsultationRequested,
            Action::Hold { .. } => CommandKind::RecordConsultationHeld,
            Action::Answer { .. } => CommandKind::RecordConsultationAnswered,
            Action::Join { .. } => CommandKind::JoinConsultation,
        }
    }
}

/// `ConsultationRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Requested {
    /// Reference.
    pub reference: String,
    /// When.
    pub requested_on: NaiveDate,
    /// Problems raised.
    pub problems: Vec<Problem>,
}

/// `ConsultationHeld`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Held {
    /// Reference.
    pub reference: String,
    /// When.
    pub held_on: NaiveDate,
}

/// `ConsultationAnswered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Answered {
    /// Reference.
    pub reference: String,
    /// When.
    pub answered_on: NaiveDate,
    /// Gist of the answer.
    pub summary: String,
}

/// `AssemblyRepresentativeJoinedConsultation` (E6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RepresentativeJoined {
    /// Reference.
    pub reference: String,
    /// Capacity.
    pub representative: Representative,
    /// Who.
    pub name: String,
    /// When.
    pub joined_on: NaiveDate,
}

/// What this sub-machine emits (each procedure wraps these in its own event enum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A request.
    Requested(Requested),
    /// A meeting.
    Held(Held),
    /// An answer.
    Answered(Answered),
    /// A representative joined.
    Joined(RepresentativeJoined),
}

/// One consultation as the case knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Consultation {
    /// Reference.
    pub reference: String,
    /// When requested.
    pub requested_on: NaiveDate,
    /// Problems raised.
    pub problems: Vec<Problem>,
    /// Meetings held.
    pub held_on: Vec<NaiveDate>,
    /// When answered.
    pub answered_on: Option<NaiveDate>,
    /// Assembly representatives who joined.
    pub representatives: Vec<(Representative, String)>,
}

/// The consultations of a case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Consultations(pub Vec<Consultation>);

impl Consultations {
    fn find(&self, reference: &str) -> Result<&Consultation, Rejection> {
        self.0
            .iter()
            .find(|c| c.reference == reference)
            .ok_or_else(|| Rejection::UnknownConsultation {
                reference: reference.to_owned(),
            })
    }

    fn find_mut(&mut self, reference: &str) -> Option<&mut Consultation> {
        self.0.iter_mut().find(|c| c.reference == reference)
    }

    /// Decides an action on `on` (the act's date).
    ///
    /// # Errors
    /// Unknown or duplicate references, an answered consultation, E6 off, empty fields.
    pub fn decide(
        &self,
        action: &Action,
        on: NaiveDate,
        rules: &ProcedureRules,
    ) -> Result<Outcome, Rejection> {
        match action {
            Action::Request {
                reference,
                problems,
            } => {
                require_text("reference", reference)?;
                if self.0.iter().any(|c| &c.reference == reference) {
                    return Err(Rejection::ConsultationAlreadyRecorded {
                        reference: reference.clone(),
                    });
                }
                if problems.is_empty() {
                    return Err(Rejection::InvalidField {
                        field: "problems".into(),
                        expected: "at least one art. 97 problem".into(),
                    });
                }
                Ok(Outcome::Requested(Requested {
                    reference: reference.clone(),
                    requested_on: on,
                    problems: problems.clone(),
                }))
            }
            Action::Hold { reference } => {
                self.open(reference, on)?;
                Ok(Outcome::Held(Held {
                    reference: reference.clone(),
                    held_on: on,
                }))
            }
            Action::Answer { reference, summary } => {
                self.open(reference, on)?;
                require_text("summary", summary)?;
                Ok(Outcome::Answered(Answered {
                    reference: reference.clone(),
                    answered_on: on,
                    summary: summary.clone(),
                }))
            }
            Action::Join {
                reference,
                representative,
                name,
            } => {
                rules.require(
                    rules.extensions.e6_consultation_participation,
                    "E6",
                    "Assembly participation in art. 97 consultations",
                )?;
                self.open(reference, on)?;
                require_text("name", name)?;
                Ok(Outcome::Joined(RepresentativeJoined {
                    reference: reference.clone(),
                    representative: *representative,
                    name: name.clone(),
                    joined_on: on,
                }))
            }
        }
    }

    fn open(&self, reference: &str, on: NaiveDate) -> Result<(), Rejection> {
        let c = self.find(reference)?;
        if let Some(answered_on) = c.answered_on {
            return Err(Rejection::ConsultationAlreadyAnswered {
                reference: reference.to_owned(),
                answered_on,
            });
        }
        if on < c.requested_on {
            return Err(Rejection::InvalidField {
                field: "occurred_at".into(),
                expected: format!(
                    "a date on or after the request of {} ({})",
                    c.requested_on, reference
                ),
            });
        }
        Ok(())
    }

    // The procedures' `evolve` apply each outcome's record as their event holds it (total: an
    // unknown reference is ignored, never a failure).

    /// Applies a request.
    pub fn requested(&mut self, r: &Requested) {
        self.0.push(Consultation {
            reference: r.reference.clone(),
            requested_on: r.requested_on,
            problems: r.problems.clone(),
            held_on: Vec::new(),
            answered_on: None,
            representatives: Vec::new(),
        });
    }

    /// Applies a meeting.
    pub fn held(&mut self, h: &Held) {
        if let Some(c) = self.find_mut(&h.reference) {
            c.held_on.push(h.held_on);
        }
    }

    /// Applies an answer.
    pub fn answered(&mut self, a: &Answered) {
        if let Some(c) = self.find_mut(&a.reference) {
            c.answered_on = Some(a.answered_on);
        }
    }

    /// Applies a representative's joining.
    pub fn joined(&mut self, j: &RepresentativeJoined) {
        if let Some(c) = self.find_mut(&j.reference) {
            c.representatives.push((j.representative, j.name.clone()));
        }
    }
}

/// The legal basis of every consultation event.
pub fn citations() -> Vec<LegalCitation> {
    vec![LegalCitation::rome("art. 97")]
}
