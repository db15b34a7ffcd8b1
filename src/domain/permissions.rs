//! Who may do what: the Role x Command table, deny by default.
//!
//! Every command of every procedure has a [`CommandKind`]; [`allowed_roles`] lists the roles
//! that may issue it (an empty list for nobody). Focal points act only for States of their own
//! region; the President makes démarches as focal point only for his or her own region
//! (ICC-ASP/13/Res.5 op. 14). Auditors and observers issue no command.

use serde::{Deserialize, Serialize};

use super::{Principal, Region, Rejection, Role};

macro_rules! command_kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Every command of every procedure, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum CommandKind { $(#[doc = $name] $variant),* }

        impl CommandKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [CommandKind] = &[$(CommandKind::$variant),*];

            /// The stable snake_case name used in the API and the docs.
            pub fn as_str(self) -> &'static str {
                match self { $(CommandKind::$variant => $name),* }
            }
        }
    };
}

command_kinds! {
    OpenFormalCase => "open_formal_case",
    ConveneEmergencyBureauMeeting => "convene_emergency_bureau_meeting",
    SeizeBureau => "seize_bureau",
    SendOpenLetter => "send_open_letter",
    CirculateOpenLetter => "circulate_open_letter",
    PublishLetter => "publish_letter",
    RecordViews => "record_views",
    RecordDeadlineElapsed => "record_deadline_elapsed",
    SchedulePublicMeeting => "schedule_public_meeting",
    RecordPublicMeeting => "record_public_meeting",
    AdoptBureauReport => "adopt_bureau_report",
    PlaceOnAssemblyAgenda => "place_on_assembly_agenda",
    RecordPlenaryDiscussion => "record_plenary_discussion",
    RecordAssemblyResolution => "record_assembly_resolution",
    RecordCooperationRestored => "record_cooperation_restored",
    RecordFindingAppealed => "record_finding_appealed",
    RecordAppealJudgment => "record_appeal_judgment",
    RecordMatterMoot => "record_matter_moot",
    ConcludeConsideration => "conclude_consideration",
    RecordRecurrence => "record_recurrence",
    ReferToSecurityCouncil => "refer_to_security_council",
    SendUngaRequest => "send_unga_request",
    AmendRules => "amend_rules",
    RecordConsultationRequested => "record_consultation_requested",
    RecordConsultationHeld => "record_consultation_held",
    RecordConsultationAnswered => "record_consultation_answered",
    JoinConsultation => "join_consultation",
    RecordWithdrawalNotified => "record_withdrawal_notified",
    RecordWithdrawalRevoked => "record_withdrawal_revoked",
    RecordWithdrawalTookEffect => "record_withdrawal_took_effect",
    OpenPreventiveCase => "open_preventive_case",
    AssessSituation => "assess_situation",
    DismissAlert => "dismiss_alert",
    InitiateGoodOffices => "initiate_good_offices",
    SendLetterToHostState => "send_letter_to_host_state",
    MakeFocalPointDemarche => "make_focal_point_demarche",
    IssuePublicStatement => "issue_public_statement",
    RecordVisitCancelled => "record_visit_cancelled",
    RecordPersonArrived => "record_person_arrived",
    RecordArrestAndSurrender => "record_arrest_and_surrender",
    RecordDepartureWithoutArrest => "record_departure_without_arrest",
    InformBureau => "inform_bureau",
    RecordCourtProceedingsOpened => "record_court_proceedings_opened",
    RecordCourtDetermination => "record_court_determination",
    RecordReferralDeferred => "record_referral_deferred",
    RecordCourtReferral => "record_court_referral",
    RecordUrgentDecision => "record_urgent_decision",
    RecordCourtDeadlineExtended => "record_court_deadline_extended",
    RecordCourtHearing => "record_court_hearing",
    CancelPublicMeeting => "cancel_public_meeting",
    RecordCourtWithdrawal => "record_court_withdrawal",
    AppointFocalPoints => "appoint_focal_points",
    RequestFifthFocalPoint => "request_fifth_focal_point",
    ReplaceFocalPoint => "replace_focal_point",
    AdoptProcedureRules => "adopt_procedure_rules",
    ProposeInterpretativeResolution => "propose_interpretative_resolution",
    AdoptInterpretativeResolution => "adopt_interpretative_resolution",
    WithdrawInterpretativeResolution => "withdraw_interpretative_resolution",
}

use Role::{Bureau, CourtLiaison, FocalPoint, President, Secretariat, System};

/// The roles that may issue `kind`. Deny by default: a role not listed may not.
pub fn allowed_roles(kind: CommandKind) -> &'static [Role] {
    use CommandKind as K;
    match kind {
        // Court acts are recorded by the Court liaison; the Secretariat registers them too.
        K::OpenFormalCase | K::RecordRecurrence => &[CourtLiaison, Secretariat],
        K::RecordFindingAppealed | K::RecordAppealJudgment => &[CourtLiaison],
        K::RecordCooperationRestored | K::RecordMatterMoot => &[CourtLiaison, Secretariat],
        K::RecordCourtProceedingsOpened
        | K::RecordCourtDetermination
        | K::RecordReferralDeferred
        | K::RecordCourtReferral
        | K::RecordUrgentDecision
        | K::RecordCourtDeadlineExtended
        | K::RecordCourtHearing
        | K::RecordCourtWithdrawal
        | K::RecordArrestAndSurrender => &[CourtLiaison],
        // Bureau decisions.
        K::ConveneEmergencyBureauMeeting => &[President, Bureau],
        K::SeizeBureau
        | K::SchedulePublicMeeting
        | K::CancelPublicMeeting
        | K::AdoptBureauReport
        | K::AmendRules
        | K::AppointFocalPoints
        | K::AdoptProcedureRules
        | K::ReplaceFocalPoint => &[Bureau],
        K::RecordPublicMeeting | K::PlaceOnAssemblyAgenda | K::ConcludeConsideration => {
            &[Bureau, Secretariat]
        }
        // The President's acts (on behalf of the Assembly).
        K::SendOpenLetter
        | K::ReferToSecurityCouncil
        | K::SendUngaRequest
        | K::AssessSituation
        | K::DismissAlert
        | K::InitiateGoodOffices
        | K::SendLetterToHostState
        | K::IssuePublicStatement
        | K::InformBureau
        | K::RequestFifthFocalPoint => &[President],
        K::CirculateOpenLetter | K::PublishLetter => &[President, Secretariat],
        // Correspondence and the Assembly's own acts, registered by the Secretariat.
        K::RecordViews | K::RecordPlenaryDiscussion | K::RecordAssemblyResolution => &[Secretariat],
        K::RecordConsultationRequested
        | K::RecordConsultationHeld
        | K::RecordConsultationAnswered => &[CourtLiaison, Secretariat],
        // Depositary notifications (art. 127), registered by the Secretariat.
        K::RecordWithdrawalNotified
        | K::RecordWithdrawalRevoked
        | K::RecordWithdrawalTookEffect => &[Secretariat],
        K::JoinConsultation => &[President, Bureau, FocalPoint],
        // Alerts and facts on the ground come from many sources.
        K::OpenPreventiveCase => &[CourtLiaison, Secretariat, President, FocalPoint],
        K::RecordVisitCancelled | K::RecordPersonArrived | K::RecordDepartureWithoutArrest => {
            &[CourtLiaison, Secretariat, President, FocalPoint]
        }
        K::MakeFocalPointDemarche => &[FocalPoint, President],
        // Deadlines fire by themselves.
        K::RecordDeadlineElapsed => &[System],
        // E5: proposed by the Bureau, adopted by the Assembly (registered by the Secretariat).
        K::ProposeInterpretativeResolution | K::WithdrawInterpretativeResolution => &[Bureau],
        K::AdoptInterpretativeResolution => &[Secretariat],
    }
}

/// Checks that `principal` may issue `kind` on a case whose requested State is in `host_region`.
///
/// # Errors
/// [`Rejection::NotPermitted`] for a role not in the table; [`Rejection::FocalPointRegionMismatch`]
/// for a focal point outside its region, or the President making a démarche outside his or her
/// own region.
pub fn authorize(
    principal: &Principal,
    kind: CommandKind,
    host_region: Option<Region>,
) -> Result<(), Rejection> {
    let allowed = allowed_roles(kind);
    if !allowed.contains(&principal.role) {
        return Err(Rejection::NotPermitted {
            role: principal.role,
            command: kind.as_str().to_owned(),
            allowed: allowed.to_vec(),
        });
    }
    let region_bound = principal.role == FocalPoint
        || (principal.role == President && kind == CommandKind::MakeFocalPointDemarche);
    if let (true, Some(host)) = (region_bound, host_region)
        && principal.region != Some(host)
    {
        return Err(Rejection::FocalPointRegionMismatch {
            focal_point_region: principal.region,
            host_region: host,
        });
    }
    Ok(())
}

/// Before a case exists only its opening command is possible (and only for roles that may open).
///
/// # Errors
/// [`Rejection::CaseNotOpened`] or [`Rejection::NotPermitted`].
pub(crate) fn before_opening(
    principal: &Principal,
    kind: CommandKind,
    open: CommandKind,
) -> Result<(), Rejection> {
    if kind == open {
        authorize(principal, kind, None)
    } else {
        Err(Rejection::CaseNotOpened)
    }
}

/// On an open case, opening again is refused and every other command is authorized against
/// the requested State's region.
///
/// # Errors
/// [`Rejection::CaseAlreadyOpened`] or those of [`authorize`].
pub(crate) fn on_open_case(
    principal: &Principal,
    kind: CommandKind,
    open: CommandKind,
    host: Region,
) -> Result<(), Rejection> {
    if kind == open {
        return Err(Rejection::CaseAlreadyOpened);
    }
    authorize(principal, kind, Some(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_may_issue_nothing() {
        for kind in CommandKind::ALL {
            for role in [Role::Auditor, Role::Observer] {
                assert!(authorize(&Principal::new("r", role), *kind, None).is_err());
            }
        }
    }

    #[test]
    fn every_command_has_someone_who_may_issue_it() {
        for kind in CommandKind::ALL {
            assert!(!allowed_roles(*kind).is_empty(), "{kind:?}");
        }
    }

    #[test]
    fn focal_points_act_only_in_their_region() {
        let fp = Principal::new("mx", Role::FocalPoint).in_region(Region::LatinAmericanCaribbean);
        assert!(
            authorize(
                &fp,
                CommandKind::MakeFocalPointDemarche,
                Some(Region::LatinAmericanCaribbean)
            )
            .is_ok()
        );
        assert!(matches!(
            authorize(
                &fp,
                CommandKind::MakeFocalPointDemarche,
                Some(Region::African)
            ),
            Err(Rejection::FocalPointRegionMismatch { .. })
        ));
        let president = Principal::new("p", Role::President).in_region(Region::African);
        assert!(
            authorize(
                &president,
                CommandKind::MakeFocalPointDemarche,
                Some(Region::African)
            )
            .is_ok()
        );
        assert!(
            authorize(
                &president,
                CommandKind::MakeFocalPointDemarche,
                Some(Region::AsiaPacific)
            )
            .is_err()
        );
        // Other presidential acts are not region-bound.
        assert!(
            authorize(
                &president,
                CommandKind::SendLetterToHostState,
                Some(Region::AsiaPacific)
            )
            .is_ok()
        );
    }

    #[test]
    fn deadlines_fire_only_as_system() {
        assert!(
            authorize(
                &Principal::system(),
                CommandKind::RecordDeadlineElapsed,
                None
            )
            .is_ok()
        );
        assert!(
            authorize(
                &Principal::new("p", Role::President),
                CommandKind::RecordDeadlineElapsed,
                None
            )
            .is_err()
        );
    }
}
