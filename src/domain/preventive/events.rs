//! The events (what the procedure records). Variant names are stored: never rename without an upcaster.

#[allow(unused_imports)]
use super::*;

crate::domain::codec::stored_body! {
    /// What happened in a preventive case. Variant names are the stored event names: never rename.
    #[allow(clippy::large_enum_variant)] // see `Action`
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum Body {
        /// B1.
        ImminentNonCooperationAlerted {
            /// The case opened.
            case_id: CaseId,
            /// Its reference.
            reference: String,
            // Boxed, as the alert and rules: inline, the opening event's parts made every event
            // twice its size in memory.
            /// Facts.
            facts: Box<CaseFacts>,
            /// The alert.
            alert: Box<Alert>,
            /// Rules pinned.
            rules: Box<ProcedureRules>,
        },
        /// B2.
        SituationAssessed {
            /// The assessment.
            assessment: Assessment,
            /// Focal points consulted.
            consulted_focal_points: Vec<String>,
        },
        /// B3.
        AlertDismissed {
            /// Why.
            reason: String,
        },
        /// B4.
        GoodOfficesInitiated,
        /// B5.
        LetterToHostStateSent {
            /// Reference.
            reference: String,
            /// Addressee.
            addressee: String,
            /// Date.
            date: NaiveDate,
            /// Text.
            text_ref: Option<String>,
        },
        /// B6.
        FocalPointDemarcheMade {
            /// Focal point State.
            focal_point_state: String,
            /// Region acted for.
            region: crate::domain::Region,
            /// Level.
            level: DemarcheLevel,
            /// Date.
            date: NaiveDate,
        },
        /// B7.
        PublicStatementIssued {
            /// Reference.
            reference: String,
            /// Date.
            date: NaiveDate,
            /// Text.
            text_ref: Option<String>,
        },
        /// B8.
        VisitCancelled {
            /// How.
            averted_by: AvertedBy,
        },
        /// B9.
        PersonArrived {
            /// When.
            datetime: DateTime<Utc>,
            /// Where.
            location: String,
            /// Evidence.
            evidence_ref: Option<String>,
        },
        /// B10.
        PersonArrestedAndSurrendered {
            /// Court confirmation.
            court_confirmation_ref: Option<String>,
        },
        /// B11.
        PersonDepartedWithoutArrest {
            /// When.
            datetime: DateTime<Utc>,
            /// From where.
            location: String,
            /// Evidence.
            evidence_ref: Option<String>,
        },
        /// B12.
        BureauInformed {
            /// Meeting or note.
            reference: String,
            /// Date.
            date: NaiveDate,
        },
        /// B13.
        CourtNonComplianceProceedingsOpened {
            /// Order.
            order_symbol: String,
            /// Views due.
            views_due_on: Option<NaiveDate>,
        },
        /// B14 (no finding).
        NoFindingMade {
            /// Decision.
            decision_symbol: String,
            /// Date.
            decision_date: NaiveDate,
        },
        /// B14 (finding without referral).
        FindingMadeWithoutReferral {
            /// Decision.
            decision_symbol: String,
            /// Date.
            decision_date: NaiveDate,
        },
        /// B15.
        ReferralDecisionDeferred {
            /// Decision.
            decision_symbol: String,
            /// Why.
            reason: String,
        },
        /// E7: the alert went out on the standing channel to the Assembly's roles.
        AlertSentOnStandingChannel {
            /// Who receives it: roles, and the region for focal points.
            recipients: Vec<ChannelRecipient>,
        },
        /// B17: the Chamber's urgent decision before any non-compliance proceedings.
        UrgentDecisionIssued {
            /// The decision.
            decision_symbol: String,
            /// What it orders.
            summary: String,
            /// When.
            date: NaiveDate,
        },
        /// B18: the Chamber extended the date for the State's views.
        CourtDeadlineExtended {
            /// The order.
            order_symbol: String,
            /// The date it replaces (none if no date was set).
            previous_due_on: Option<NaiveDate>,
            /// The new date, if the Court set one.
            views_due_on: Option<NaiveDate>,
            /// Or the event the time runs until (e.g. "the end of domestic proceedings").
            until: Option<String>,
        },
        /// B19: the Chamber held a hearing.
        CourtHearingHeld {
            /// Transcript or record.
            record_ref: String,
            /// When.
            date: NaiveDate,
        },
        /// B20: the matter became moot.
        MatterBecameMoot {
            /// Why.
            basis: MootBasis,
            /// The Court's notice.
            court_notice_ref: Option<String>,
            /// When.
            date: NaiveDate,
        },
        /// B16: the referral; this case is closed as escalated, `formal_case` is opened with it.
        NonCooperationFindingReferred {
            /// The referral.
            referral: Referral,
            /// The formal case opened.
            formal_case: CaseId,
            /// Its reference.
            formal_reference: String,
        },
        /// E2.
        VisitWarningPublished {
            /// When.
            published_on: NaiveDate,
            /// Channels.
            channels: Vec<String>,
            /// Where.
            url: Option<String>,
        },
        /// E3.
        ReferredToSecurityCouncilByAssembly {
            /// Measures requested.
            requested_measures: Vec<String>,
            /// When.
            referred_on: NaiveDate,
        },
        /// Rules amended.
        RulesAmended {
            /// Previous version.
            previous_version: u32,
            /// New rules.
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

/// A preventive-case event.
pub type PreventiveEvent = Event<Body>;
