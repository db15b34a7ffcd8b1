//! Where time comes from. The only module allowed to read the system clock (see clippy.toml).
//!
//! The domain never reads a clock: the engine stamps commands with `Clock::now`, and the store
//! stamps `recorded_at` with it. Tests use [`ManualClock`] to move time by hand.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests, replays, simulations).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start))
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// Moves the time forward by `d`.
    pub fn advance(&self, d: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where new ids come from (case ids, correlation ids): UUID v7, time-ordered.
pub trait IdSource: Send + Sync + 'static {
    /// A new, unique, time-ordered id.
    fn new_id(&self) -> uuid::Uuid;
}

/// UUID v7 from the system clock and a random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct V7Ids;

impl IdSource for V7Ids {
    fn new_id(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fffffffff]Z` (what the log writes) with a valid date and a time
/// before 24:00 that is not a leap second, read without chrono's general parser, to the instant
/// chrono would read; `None` for anything else (for the caller to give to chrono).
pub fn parse_utc_fast(b: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    fn digits(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let fixed = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if fixed.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let nano = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', f @ ..] if (1..=9).contains(&f.len()) => digits(f)? * 10u32.pow(9 - f.len() as u32),
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(digits(&b[0..4])?).ok()?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )?;
    let (h, m, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if sec > 59 {
        return None;
    }
    let time = chrono::NaiveTime::from_hms_nano_opt(h, m, sec, nano)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    #[test]
    fn the_fast_time_reader_reads_what_chrono_reads() {
        let agree = |s: &str| {
            let chrono = s.parse::<DateTime<Utc>>().ok();
            let rfc3339 = DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc());
            let fast = super::parse_utc_fast(s.as_bytes());
            if let Some(t) = fast {
                assert_eq!(Some(t), chrono, "{s}");
                assert_eq!(Some(t), rfc3339, "{s}");
            }
            fast
        };
        for s in [
            "2017-12-11T12:00:00Z",
            "2017-12-11T12:00:00.5Z",
            "2017-12-11T12:00:00.123456Z",
            "2017-12-11T23:59:59.999999999Z",
            "2024-02-29T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(agree(s).is_some(), "{s}");
        }
        for s in [
            "2023-02-29T00:00:00Z",
            "2017-12-11T24:00:00Z",
            "2017-12-11T23:59:60Z",
            "2017-12-11T12:00:00.1234567891Z",
            "2017-12-11T12:00:00.Z",
            "2017-12-11T12:00:00+01:00",
            "2017-12-11 12:00:00Z",
            "2017-12-11t12:00:00z",
            "+2017-12-11T12:00:00Z",
            "2017-1a-11T12:00:00Z",
            "2017-12-11T12:00Z",
            "",
        ] {
            assert!(agree(s).is_none(), "{s}");
        }
        // Every instant as the log and chrono write it takes the fast path, over the whole range.
        let mut t = DateTime::<Utc>::from_timestamp(-62_135_596_800, 0).unwrap();
        while t.timestamp() < 253_402_300_799 {
            for s in [
                crate::store::canonical_time(t),
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ] {
                assert!(agree(&s).is_some(), "{s}");
            }
            t += chrono::Duration::seconds(7_777_777) + chrono::Duration::nanoseconds(123_457);
        }
    }
}
