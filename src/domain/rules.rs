//! `ProcedureRules`: the parameters of the procedures that the sources do not fix for certain
//! (domain.md's [R] and [A] items) and the source report's extensions E1-E7.
//!
//! A case pins the rules in force when it opens (they are part of its opening event). Changing
//! the defaults never changes an open case; only a `RulesAmended` event does.

use serde::{Deserialize, Serialize};

use super::Rejection;

/// Versioned procedure parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProcedureRules {
    /// Version of this rule set (increases with every amendment).
    pub version: u32,
    /// T_reply: days the requested State has to reply to the open letter ([R]: 14).
    pub reply_window_days: u32,
    /// T_agenda_gap: minimum months between the public meeting and the plenary session
    /// ([S3] paraphrase: 3).
    pub agenda_gap_months: u32,
    /// Days within which a scheduled public meeting should take place ([A]: 30). Informational.
    pub public_meeting_within_days: u32,
    /// Whether the Bureau may report without holding the public meeting ([A]: true).
    pub report_without_public_meeting: bool,
    /// Whether the reply window is extended by the time a case was suspended on appeal
    /// ([A]: true, "timers resume").
    pub extend_reply_window_after_suspension: bool,
    /// Focal points the Bureau appoints by default ([S2]: 4; 5 at the President's request).
    pub focal_point_count: u32,
    /// How far in the future (hours after the server's clock) an act's legal time may lie
    /// ([A]: 24, for the time zones between the seat and the person recording). An act dated
    /// later is refused with `LegalTimeInFuture`. Cases opened before this rule existed read 24.
    #[serde(default = "default_legal_time_tolerance_hours")]
    pub legal_time_tolerance_hours: u32,
    /// The time zone (IANA name) in which acts without their own zone are dated and deadlines
    /// end ([A]: the Assembly's seat, The Hague, "Europe/Amsterdam"). Cases opened before this
    /// rule existed read "Etc/UTC", the zone their deadlines were computed in.
    #[serde(default = "default_seat_time_zone")]
    pub seat_time_zone: String,
    /// Whether a period that ends on a Saturday, a Sunday or a listed holiday ends on the next
    /// working day instead ([A]: false; domain.md gives T_reply as a plain 14 days).
    #[serde(default)]
    pub deadlines_roll_forward: bool,
    /// Holidays observed at the seat (e.g. UN holidays), for `deadlines_roll_forward`.
    #[serde(default)]
    pub holidays: Vec<chrono::NaiveDate>,
    /// The source report's extensions.
    pub extensions: Extensions,
}

/// The source report's recommendations E1-E7 (domain.md §5), each off unless switched on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Extensions {
    /// E1: open letters warn of specific measures (`warned_measures` required).
    pub e1_warned_measures: bool,
    /// E2: letters (and visit warnings) are published.
    pub e2_publication: bool,
    /// E3: the Assembly may refer non-cooperation to the Security Council, whatever the trigger.
    pub e3_unsc_referral: bool,
    /// E4: routine, prompt response: Bureau action due within `e4_bureau_action_days` of the
    /// referral, and requests to the UN General Assembly.
    pub e4_prompt_response: bool,
    /// E4: days within which the Bureau should take up a referral ([A]: 14).
    pub e4_bureau_action_days: u32,
    /// E5: interpretative resolutions.
    pub e5_interpretative_resolutions: bool,
    /// E6: Assembly representatives join art. 97 consultations.
    pub e6_consultation_participation: bool,
    /// E7: standing channel: alerts are published to subscribed Assembly roles.
    pub e7_standing_channel: bool,
}

impl Default for ProcedureRules {
    fn default() -> Self {
        ProcedureRules {
            version: 1,
            reply_window_days: 14,
            agenda_gap_months: 3,
            public_meeting_within_days: 30,
            report_without_public_meeting: true,
            extend_reply_window_after_suspension: true,
            focal_point_count: 4,
            legal_time_tolerance_hours: DEFAULT_LEGAL_TIME_TOLERANCE_HOURS,
            seat_time_zone: super::calendar::SEAT.to_owned(),
            deadlines_roll_forward: false,
            holidays: Vec::new(),
            extensions: Extensions {
                e4_bureau_action_days: 14,
                ..Extensions::default()
            },
        }
    }
}

/// The default of [`ProcedureRules::legal_time_tolerance_hours`].
pub const DEFAULT_LEGAL_TIME_TOLERANCE_HOURS: u32 = 24;

fn default_legal_time_tolerance_hours() -> u32 {
    DEFAULT_LEGAL_TIME_TOLERANCE_HOURS
}

/// The zone of rules recorded before zones existed: their deadlines were computed in UTC.
pub const LEGACY_TIME_ZONE: &str = "Etc/UTC";

fn default_seat_time_zone() -> String {
    LEGACY_TIME_ZONE.to_owned()
}

impl ProcedureRules {
    /// The defaults with every extension switched on (the source report's full proposal).
    pub fn with_all_extensions() -> Self {
        ProcedureRules {
            extensions: Extensions {
                e1_warned_measures: true,
                e2_publication: true,
                e3_unsc_referral: true,
                e4_prompt_response: true,
                e4_bureau_action_days: 14,
                e5_interpretative_resolutions: true,
                e6_consultation_participation: true,
                e7_standing_channel: true,
            },
            ..Self::default()
        }
    }

    /// Checks that the parameters make sense.
    ///
    /// # Errors
    /// [`Rejection::InvalidField`] naming the parameter.
    pub fn validate(&self) -> Result<(), Rejection> {
        let bad = |field: &str, expected: &str| {
            Err(Rejection::InvalidField {
                field: format!("rules.{field}"),
                expected: expected.to_owned(),
            })
        };
        if self.version == 0 {
            return bad("version", "a version of at least 1");
        }
        if !(1..=365).contains(&self.reply_window_days) {
            return bad("reply_window_days", "between 1 and 365 days");
        }
        if self.agenda_gap_months > 24 {
            return bad("agenda_gap_months", "at most 24 months");
        }
        if !(1..=365).contains(&self.public_meeting_within_days) {
            return bad("public_meeting_within_days", "between 1 and 365 days");
        }
        if !(4..=5).contains(&self.focal_point_count) {
            return bad("focal_point_count", "4, or 5 at the President's request");
        }
        super::calendar::zone("rules.seat_time_zone", &self.seat_time_zone)?;
        if self.holidays.len() > 100 {
            return bad("holidays", "at most 100 dates");
        }
        if self.legal_time_tolerance_hours > 168 {
            return bad("legal_time_tolerance_hours", "at most 168 hours (one week)");
        }
        if self.extensions.e4_prompt_response
            && !(1..=365).contains(&self.extensions.e4_bureau_action_days)
        {
            return bad("extensions.e4_bureau_action_days", "between 1 and 365 days");
        }
        Ok(())
    }

    /// Fails with [`Rejection::ExtensionDisabled`] when `kind` belongs to an extension these
    /// rules switch off.
    pub(crate) fn require_extension_for(
        &self,
        kind: super::permissions::CommandKind,
    ) -> Result<(), Rejection> {
        use super::permissions::CommandKind as K;
        let ext = &self.extensions;
        match kind {
            K::PublishLetter => self.require(ext.e2_publication, "E2", "publication"),
            K::ReferToSecurityCouncil => {
                self.require(ext.e3_unsc_referral, "E3", "ASP referral to the UNSC")
            }
            K::SendUngaRequest => self.require(ext.e4_prompt_response, "E4", "UNGA requests"),
            K::JoinConsultation => self.require(
                ext.e6_consultation_participation,
                "E6",
                "Assembly participation in art. 97 consultations",
            ),
            _ => Ok(()),
        }
    }

    /// Fails with [`Rejection::ExtensionDisabled`] unless `on`.
    pub(crate) fn require(
        &self,
        on: bool,
        extension: &str,
        feature: &str,
    ) -> Result<(), Rejection> {
        if on {
            Ok(())
        } else {
            Err(Rejection::ExtensionDisabled {
                extension: extension.to_owned(),
                feature: feature.to_owned(),
                rules_version: self.version,
            })
        }
    }
}
