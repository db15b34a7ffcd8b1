//! Legal time has a place (issue 13 item 2): an act's legal date is its instant read in a time
//! zone (the act's own, or the seat the rules name), and a deadline ends at the end of its due
//! day in the rules' zone, not at midnight UTC.
//!
//! Zones are IANA names ("Europe/Amsterdam" for The Hague, "America/New_York"). Whether a
//! deadline that ends on a Saturday, a Sunday or a holiday the rules list rolls forward to the
//! next working day is a rule value (`deadlines_roll_forward`, [A] default off: domain.md gives
//! T_reply as a plain 14 days).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::{ProcedureRules, Rejection};

/// The Assembly's seat, the default zone of the rules: The Hague (Rome Statute art. 3(1); the
/// Assembly meets there or at United Nations Headquarters, art. 112(6)).
pub const SEAT: &str = "Europe/Amsterdam";

/// The zone named `name`.
///
/// # Errors
/// `InvalidField` on `field` for a name that is not an IANA time zone.
pub fn zone(field: &str, name: &str) -> Result<Tz, Rejection> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| Rejection::InvalidField {
            field: field.into(),
            expected: format!(
                "an IANA time zone such as Europe/Amsterdam (The Hague) or America/New_York, got {:?}",
                name.chars().take(60).collect::<String>()
            ),
        })
}

/// `name` as a zone; UTC for a name that does not parse (names are validated when recorded).
fn tz(name: &str) -> Tz {
    name.trim().parse::<Tz>().unwrap_or(Tz::UTC)
}

/// The calendar date of `at` in the zone `name`.
pub fn local_date(at: DateTime<Utc>, name: &str) -> NaiveDate {
    at.with_timezone(&tz(name)).date_naive()
}

/// The first instant after the day `due` in the zone `name`: when a deadline on `due` has
/// passed.
pub fn day_end(due: NaiveDate, name: &str) -> DateTime<Utc> {
    let next = due.succ_opt().unwrap_or(due);
    let zone = tz(name);
    let midnight = next.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        // A zone that skips midnight (a DST change at 00:00): the first hour that exists.
        .or_else(|| {
            zone.from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// Whether `d` is a working day under `rules`: not a Saturday, Sunday or listed holiday.
pub fn is_working_day(d: NaiveDate, rules: &ProcedureRules) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !rules.holidays.contains(&d)
}

/// The day a period of `days` from `start` ends: rolled forward to the next working day when
/// the rules say so.
pub fn period_end(start: NaiveDate, days: u32, rules: &ProcedureRules) -> NaiveDate {
    let mut end = super::add_days(start, days);
    if rules.deadlines_roll_forward {
        // At most a year of non-working days in a row: a bound, not a rule.
        for _ in 0..366 {
            if is_working_day(end, rules) {
                break;
            }
            end = end.succ_opt().unwrap_or(end);
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn an_evening_act_in_new_york_is_dated_there_not_the_next_utc_day() {
        // 20:30 in New York on 12 Jan 2018 is 01:30 UTC on the 13th.
        let at = Utc.with_ymd_and_hms(2018, 1, 13, 1, 30, 0).unwrap();
        assert_eq!(local_date(at, "America/New_York"), d(2018, 1, 12));
        assert_eq!(local_date(at, "Europe/Amsterdam"), d(2018, 1, 13));
        assert_eq!(local_date(at, "UTC"), d(2018, 1, 13));
    }

    #[test]
    fn a_deadline_ends_at_midnight_where_the_rules_say() {
        // 26 Jan 2018 ends at 27 Jan 00:00 in New York = 05:00 UTC, in The Hague 23:00 UTC.
        assert_eq!(
            day_end(d(2018, 1, 26), "America/New_York"),
            Utc.with_ymd_and_hms(2018, 1, 27, 5, 0, 0).unwrap()
        );
        assert_eq!(
            day_end(d(2018, 1, 26), "Europe/Amsterdam"),
            Utc.with_ymd_and_hms(2018, 1, 26, 23, 0, 0).unwrap()
        );
        // Summer time.
        assert_eq!(
            day_end(d(2018, 7, 1), "Europe/Amsterdam"),
            Utc.with_ymd_and_hms(2018, 7, 1, 22, 0, 0).unwrap()
        );
    }

    #[test]
    fn a_period_rolls_forward_over_weekends_and_holidays_only_if_the_rules_say_so() {
        let mut rules = ProcedureRules::default();
        // 14 days from Friday 12 Jan 2018: Friday 26 Jan; from Saturday 13 Jan: Saturday 27.
        assert_eq!(period_end(d(2018, 1, 13), 14, &rules), d(2018, 1, 27));
        rules.deadlines_roll_forward = true;
        assert_eq!(period_end(d(2018, 1, 13), 14, &rules), d(2018, 1, 29));
        rules.holidays = vec![d(2018, 1, 29)];
        assert_eq!(period_end(d(2018, 1, 13), 14, &rules), d(2018, 1, 30));
        assert_eq!(period_end(d(2018, 1, 12), 14, &rules), d(2018, 1, 26));
    }

    #[test]
    fn an_unknown_zone_is_refused_by_name() {
        assert!(zone("rules.seat_time_zone", "Europe/Amsterdam").is_ok());
        let r = zone("act.time_zone", "Mars/Olympus").unwrap_err();
        assert!(r.to_string().contains("act.time_zone"), "{r}");
    }
}
