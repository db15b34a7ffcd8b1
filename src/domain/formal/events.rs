//! The events (what the procedure records). Variant names are stored: never rename without an upcaster.

#[allow(unused_imports)]
use super::*;

crate::domain::codec::stored_body! {
    /// What happened in a formal case. Variant names are the stored event names: never rename.
    #[allow(clippy::large_enum_variant)] // see `Action`
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum Body {
        /// A1.
        NonCooperationFindingReferred {
            /// The case opened.
            case_id: CaseId,
            /// Its human reference.
            reference: String,
            // Boxed, as the referral, rules and withdrawal: inline, the opening event's parts
            // made every event 688 bytes in memory instead of 312 (replay holds a million).
            /// Facts.
            facts: Box<CaseFacts>,
            /// The referral.
            referral: Box<Referral>,
            /// Rules pinned.
            rules: Box<ProcedureRules>,
            /// Escalated from.
            linked_preventive_case: Option<CaseId>,
            /// Recurrence of.
            previous_case: Option<CaseId>,
            /// Art. 97 consultations carried over from the preventive case on escalation (B16),
            /// as they stood; empty otherwise. Schema version 2; upcast from version 1 as empty.
            carried_consultations: Consultations,
            /// The State's withdrawal as recorded on the preventive case it escalates (schema
            /// v3; none otherwise).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            carried_withdrawal: Option<Box<crate::domain::withdrawal::Withdrawal>>,
        },
        /// A2.
        EmergencyBureauMeetingConvened {
            /// Date.
            meeting_date: NaiveDate,
            /// Number.
            meeting_no: String,
            /// Why urgent.
            urgency_rationale: String,
            /// Quorum.
            quorum_present: bool,
        },
        /// A3.
        BureauSeized {
            /// Date.
            meeting_date: NaiveDate,
            /// Number.
            meeting_no: String,
            /// Quorum.
            quorum_present: bool,
        },
        /// A4.
        OpenLetterSent {
            /// Reference.
            letter_ref: String,
            /// Signatory.
            signatory: String,
            /// Addressee.
            addressee: String,
            /// Sent on.
            sent_on: NaiveDate,
            /// Last day for a timely reply.
            reply_deadline: NaiveDate,
            /// Obligations recalled.
            obligations_recalled: Vec<String>,
            /// Always true: the letter requests the State's views.
            views_requested: bool,
            /// E1 warned measures.
            warned_measures: Vec<String>,
            /// E2: channels the letter is published on when sent (schema version 2; upcast from
            /// version 1 as an empty list).
            published_channels: Vec<String>,
        },
        /// A5.
        OpenLetterCopiedToStatesParties {
            /// When.
            circulated_on: NaiveDate,
            /// Distribution list.
            distribution_list_ref: String,
        },
        /// E2.
        OpenLetterPublished {
            /// When.
            published_on: NaiveDate,
            /// Channels.
            channels: Vec<String>,
            /// Where.
            url: Option<String>,
        },
        /// A6.
        ViewsReceived {
            /// When.
            received_on: NaiveDate,
            /// Document.
            document_ref: String,
            /// Gist.
            summary: String,
            /// Grounds.
            asserted_grounds: Vec<String>,
        },
        /// A8.
        LateViewsReceived {
            /// When.
            received_on: NaiveDate,
            /// The missed deadline.
            reply_deadline: NaiveDate,
            /// Document.
            document_ref: String,
            /// Gist.
            summary: String,
            /// Grounds.
            asserted_grounds: Vec<String>,
        },
        /// A7.
        ResponseDeadlineElapsed {
            /// The deadline.
            deadline: NaiveDate,
            /// When the engine checked.
            checked_at: DateTime<Utc>,
        },
        /// E4 SLA.
        BureauActionOverdue {
            /// The due day.
            due: NaiveDate,
            /// When the engine checked.
            checked_at: DateTime<Utc>,
        },
        /// A9.
        PublicMeetingScheduled {
            /// Date.
            date: NaiveDate,
            /// Venue.
            venue: String,
            /// Invitation.
            invitation_ref: String,
            /// Always "ambassadorial".
            level: String,
        },
        /// A10.
        PublicMeetingHeld {
            /// When.
            held_on: NaiveDate,
            /// Attendance.
            attendance: Attendance,
            /// The State's statement.
            state_statement_ref: Option<String>,
            /// Record.
            record_ref: String,
        },
        /// A11.
        BureauReportAdopted {
            /// Symbol.
            report_symbol: String,
            /// When.
            adopted_on: NaiveDate,
            /// Recommendations.
            recommendations: Vec<String>,
            /// Omnibus language.
            omnibus_language_ref: Option<String>,
            /// Whether a public meeting preceded it.
            public_meeting_held: bool,
        },
        /// A12.
        MatterPlacedOnAssemblyAgenda {
            /// Session.
            session_no: u32,
            /// Opening.
            session_opening: NaiveDate,
            /// Agenda item.
            agenda_item: String,
            /// The agenda-gap check made (none when no public meeting was held).
            gap_check: Option<GapCheck>,
        },
        /// A13.
        PlenaryDiscussionHeld {
            /// Session.
            session_no: u32,
            /// Date.
            date: NaiveDate,
            /// Speakers.
            speakers: Vec<String>,
            /// Record.
            record_ref: String,
        },
        /// A14.
        AssemblyResolutionAdopted {
            /// Symbol.
            resolution_symbol: String,
            /// Paragraphs.
            paragraphs: Vec<String>,
            /// How.
            adoption: Adoption,
        },
        /// A15.
        CooperationRestored {
            /// What happened.
            basis: String,
            /// Court notice.
            court_notice_ref: Option<String>,
            /// When.
            date: NaiveDate,
        },
        /// A16.
        FindingAppealed {
            /// Appeal.
            appeal_symbol: String,
            /// Filed on.
            filed_on: NaiveDate,
        },
        /// A17a.
        FindingConfirmedOnAppeal {
            /// Appeal.
            appeal_symbol: String,
            /// Judgment date.
            judgment_date: NaiveDate,
            /// The reply deadline after extension, when the case was awaiting views.
            reply_deadline_extended_to: Option<NaiveDate>,
        },
        /// A17b.
        ReferralReversedOnAppeal {
            /// Appeal.
            appeal_symbol: String,
            /// Judgment date.
            judgment_date: NaiveDate,
        },
        /// A18.
        MatterBecameMoot {
            /// Why.
            basis: MootBasis,
            /// Court notice.
            court_notice_ref: Option<String>,
            /// When.
            date: NaiveDate,
        },
        /// A9': the public meeting moved to another date.
        PublicMeetingRescheduled {
            /// The new date.
            date: NaiveDate,
            /// The date it replaces.
            previous_date: NaiveDate,
            /// New York or The Hague.
            venue: String,
            /// The (new) invitation.
            invitation_ref: String,
        },
        /// A9'': the public meeting was cancelled.
        PublicMeetingCancelled {
            /// The date it was scheduled for.
            scheduled_for: NaiveDate,
            /// Why.
            reason: String,
        },
        /// A12': the matter was deferred from one session's agenda to a later session's.
        MatterDeferredToLaterSession {
            /// The session it leaves.
            from_session_no: u32,
            /// The session it goes to.
            session_no: u32,
            /// That session's opening.
            session_opening: NaiveDate,
            /// Agenda item.
            agenda_item: String,
            /// The agenda-gap check against the new session.
            gap_check: Option<GapCheck>,
        },
        /// A21: the Court withdrew its referral or revoked its finding (not on appeal).
        CourtWithdrewReferral {
            /// The Chamber's decision.
            decision_symbol: String,
            /// Referral withdrawn or finding revoked.
            withdrawal: CourtWithdrawal,
            /// When.
            date: NaiveDate,
        },
        /// A6'' / A2-A3 (E4): a deadline the scheduler recorded as elapsed turns out to have been
        /// met: the act entered later is dated on or before the deadline. The lapse stays in the
        /// log; this event says why it no longer counts.
        DeadlineLapseCorrected {
            /// Which deadline.
            kind: DeadlineKind,
            /// Its due day.
            deadline: NaiveDate,
            /// The legal date of the act that met it.
            met_on: NaiveDate,
            /// Why, in words.
            reason: String,
        },
        /// A19.
        ConsiderationConcluded {
            /// When.
            concluded_on: NaiveDate,
        },
        /// A20.
        RecurrenceReferred {
            /// The new case.
            new_case_id: CaseId,
            /// The new decision.
            decision_symbol: String,
        },
        /// E3.
        ReferredToSecurityCouncilByAssembly {
            /// Measures requested.
            requested_measures: Vec<String>,
            /// When.
            referred_on: NaiveDate,
        },
        /// E4.
        UngaRequestSent {
            /// Reference.
            request_ref: String,
            /// Measures requested.
            requested_measures: Vec<String>,
            /// When.
            sent_on: NaiveDate,
        },
        /// Rules amended.
        RulesAmended {
            /// Previous version.
            previous_version: u32,
            /// The new rules.
            rules: ProcedureRules,
            /// The Bureau's decision (schema v2; none in v1 events).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            decision_ref: Option<String>,
        },
        /// W1 (art. 127(1)): the State notified its withdrawal from the Statute.
        WithdrawalNotified(crate::domain::withdrawal::Notified),
        /// W2: the State revoked its notification before it took effect.
        WithdrawalRevoked(crate::domain::withdrawal::Revoked),
        /// W3 (art. 127(2)): the withdrawal took effect; obligations for proceedings begun
        /// before remain.
        WithdrawalTookEffect(crate::domain::withdrawal::TookEffect),
        /// Art. 97.
        ConsultationRequested(consultation::Requested),
        /// Art. 97.
        ConsultationHeld(consultation::Held),
        /// Art. 97.
        ConsultationAnswered(consultation::Answered),
        /// E6.
        AssemblyRepresentativeJoinedConsultation(consultation::RepresentativeJoined),
    }
}

/// The agenda-gap check recorded with A12.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GapCheck {
    /// The public meeting's date.
    pub public_meeting_date: NaiveDate,
    /// The gap required, in months.
    pub months: u32,
    /// The earliest opening allowed.
    pub earliest_allowed: NaiveDate,
}

/// A formal-case event.
pub type FormalEvent = Event<Body>;
