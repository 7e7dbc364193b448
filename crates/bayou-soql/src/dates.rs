//! Calendar dates and instants, in UTC.
//!
//! SOQL needs little: read `2024-01-31`, `2024-01-31T10:00:00Z` (also `.000` millis and `+01:00`
//! or `+0100` offsets, the latter being how Salesforce writes record values), turn them into
//! milliseconds since the epoch, and do day/month/year arithmetic for date literals. The
//! calendar (validity of a date, days since the epoch, months and years) is `jiff`'s. The
//! lexical form is still read here: SOQL accepts exactly these shapes, while jiff's ISO 8601
//! parser also takes forms SOQL refuses (no seconds, a space for `T`, zone annotations).
//!
//! Years are limited to 0000–9999 so every value prints back as the four-digit year it was read
//! from (a `+01:00` offset cannot push an instant outside that range either).

use std::fmt;

use jiff::civil;
use jiff::tz::Offset;

pub const MS_PER_DAY: i64 = 86_400_000;

/// 1970-01-01.
const EPOCH: civil::Date = civil::Date::constant(1970, 1, 1);

/// Days since 1970-01-01 of a date.
fn days_since_epoch(date: civil::Date) -> i64 {
    date.since(EPOCH)
        .map_or(0, |span| i64::from(span.get_days()))
}

/// The date `days` after 1970-01-01, if within jiff's range (years -9999..=9999).
pub(crate) fn date_from_days(days: i64) -> Option<civil::Date> {
    let days = i32::try_from(days).ok()?;
    EPOCH
        .checked_add(jiff::Span::new().try_days(days).ok()?)
        .ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date; 0 if it does not exist.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    civil_date(year, month, day).map_or(0, days_since_epoch)
}

/// The (year, month, day) `days` after 1970-01-01 (clamped to jiff's range), for tests.
#[cfg(test)]
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let date = date_from_days(days).unwrap_or(if days < 0 {
        civil::Date::MIN
    } else {
        civil::Date::MAX
    });
    (
        i64::from(date.year()),
        u32::try_from(date.month()).unwrap_or(1),
        u32::try_from(date.day()).unwrap_or(1),
    )
}

fn civil_date(year: i64, month: u32, day: u32) -> Option<civil::Date> {
    civil::Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()
}

/// `[0000-01-01, 10000-01-01)` in epoch milliseconds.
pub(crate) fn epoch_ms_range() -> (i64, i64) {
    (
        days_from_civil(0, 1, 1) * MS_PER_DAY,
        (days_from_civil(9999, 12, 31) + 1) * MS_PER_DAY,
    )
}

/// A calendar date (`2024-01-31`), year 0000–9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// `None` unless the date exists.
    pub fn new(year: i64, month: u32, day: u32) -> Option<Self> {
        if !(0..=9999).contains(&year) {
            return None;
        }
        civil_date(year, month, day)?;
        Some(Self {
            year: u16::try_from(year).ok()?,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
        })
    }

    pub fn year(self) -> i64 {
        i64::from(self.year)
    }

    pub fn month(self) -> u32 {
        u32::from(self.month)
    }

    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    pub fn days_since_epoch(self) -> i64 {
        civil_date(self.year(), self.month(), self.day()).map_or(0, days_since_epoch)
    }

    /// Midnight UTC at the start of the day, in epoch milliseconds.
    pub fn start_ms(self) -> i64 {
        self.days_since_epoch() * MS_PER_DAY
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// An instant with millisecond precision, between 0000-01-01 and 9999-12-31 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DateTime {
    epoch_ms: i64,
}

impl DateTime {
    /// `None` outside years 0000–9999.
    pub fn from_epoch_ms(epoch_ms: i64) -> Option<Self> {
        let (min, max) = epoch_ms_range();
        (min..max).contains(&epoch_ms).then_some(Self { epoch_ms })
    }

    pub fn epoch_ms(self) -> i64 {
        self.epoch_ms
    }
}

/// Canonical form: always UTC (`Z`), milliseconds only when not zero.
impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // In range by construction (years 0000–9999).
        let instant = jiff::Timestamp::from_millisecond(self.epoch_ms).map_err(|_| fmt::Error)?;
        let t = Offset::UTC.to_datetime(instant);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        if t.millisecond() != 0 {
            write!(f, ".{:03}", t.millisecond())?;
        }
        f.write_str("Z")
    }
}

/// A date or an instant, as read from a literal or a record value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    Date(Date),
    DateTime(DateTime),
}

impl Temporal {
    /// The instant this denotes: a date is its midnight UTC.
    pub fn epoch_ms(self) -> i64 {
        match self {
            Temporal::Date(d) => d.start_ms(),
            Temporal::DateTime(t) => t.epoch_ms(),
        }
    }
}

/// Whether the bytes are all ASCII digits; their value if so.
fn number(text: &str, from: usize, to: usize) -> Option<i64> {
    let digits = text.get(from..to)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn byte_is(text: &str, at: usize, wanted: &[u8]) -> bool {
    text.as_bytes().get(at).is_some_and(|b| wanted.contains(b))
}

/// Reads `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ss[.fff][Z|±hh:mm|±hhmm]`. A date-time without a
/// zone is accepted only when `require_zone` is false (record values), and is then UTC.
/// Fractions beyond milliseconds are truncated.
pub(crate) fn parse_temporal(text: &str, require_zone: bool) -> Option<Temporal> {
    if !byte_is(text, 4, b"-") || !byte_is(text, 7, b"-") {
        return None;
    }
    let date = Date::new(
        number(text, 0, 4)?,
        month_day(text, 5)?,
        month_day(text, 8)?,
    )?;
    if text.len() == 10 {
        return Some(Temporal::Date(date));
    }
    if !byte_is(text, 10, b"Tt") || !byte_is(text, 13, b":") || !byte_is(text, 16, b":") {
        return None;
    }
    let (hh, mm, ss) = (
        number(text, 11, 13)?,
        number(text, 14, 16)?,
        number(text, 17, 19)?,
    );
    let mut rest = text.get(19..)?;
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let padded = format!("{:0<3}", fraction.get(..len.min(3))?);
        millis = padded.parse::<i64>().ok()?;
        rest = fraction.get(len..)?;
    }
    let offset_minutes = match rest {
        "" if !require_zone => 0,
        "Z" | "z" => 0,
        _ => zone_offset(rest)?,
    };
    // jiff checks the time of day and applies the offset.
    let time = civil::Time::new(
        i8::try_from(hh).ok()?,
        i8::try_from(mm).ok()?,
        i8::try_from(ss).ok()?,
        i32::try_from(millis * 1_000_000).ok()?,
    )
    .ok()?;
    let offset = Offset::from_seconds(i32::try_from(offset_minutes * 60).ok()?).ok()?;
    let day = civil_date(date.year(), date.month(), date.day())?;
    let instant = offset.to_timestamp(day.to_datetime(time)).ok()?;
    DateTime::from_epoch_ms(instant.as_millisecond()).map(Temporal::DateTime)
}

fn month_day(text: &str, at: usize) -> Option<u32> {
    u32::try_from(number(text, at, at + 2)?).ok()
}

/// `+hh:mm`, `-hh:mm`, `+hhmm` or `-hhmm`, in minutes east of UTC.
fn zone_offset(zone: &str) -> Option<i64> {
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hh, mm) = match zone.len() {
        6 if byte_is(zone, 3, b":") => (number(zone, 1, 3)?, number(zone, 4, 6)?),
        5 => (number(zone, 1, 3)?, number(zone, 3, 5)?),
        _ => return None,
    };
    (hh <= 23 && mm <= 59).then_some(sign * (hh * 60 + mm))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant(text: &str) -> i64 {
        match parse_temporal(text, true) {
            Some(t) => t.epoch_ms(),
            None => panic!("{text} should parse"),
        }
    }

    #[test]
    fn civil_conversions_round_trip() {
        let (first, last) = (days_from_civil(0, 1, 1), days_from_civil(9999, 12, 31));
        assert_eq!((first, last), (-719_528, 2_932_896));
        for days in (first..=last).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(19_753), (2024, 1, 31));
    }

    #[test]
    fn dates_are_validated() {
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(2024, 13, 1).is_none());
        assert!(Date::new(2024, 4, 31).is_none());
        assert!(Date::new(10_000, 1, 1).is_none());
    }

    #[test]
    fn datetimes_in_every_accepted_form() {
        let base = instant("2024-01-31T10:00:00Z");
        assert_eq!(base, 1_706_695_200_000);
        assert_eq!(instant("2024-01-31T10:00:00.000Z"), base);
        assert_eq!(instant("2024-01-31T11:00:00+01:00"), base);
        assert_eq!(instant("2024-01-31T11:00:00+0100"), base);
        assert_eq!(instant("2024-01-31T05:30:00-04:30"), base);
        assert_eq!(instant("2024-01-31T10:00:00.5Z"), base + 500);
        assert_eq!(instant("2024-01-31T10:00:00.123456Z"), base + 123);
        assert_eq!(
            instant("2024-01-31"),
            days_from_civil(2024, 1, 31) * MS_PER_DAY
        );
    }

    #[test]
    fn malformed_datetimes_are_refused() {
        for text in [
            "2024-01-31T10:00:00",
            "2024-01-31T24:00:00Z",
            "2024-01-31T10:60:00Z",
            "2024-01-31T10:00:60Z",
            "2024-01-31T10:00Z",
            "2024-01-31T10:00:00.Z",
            "2024-01-31T10:00:00+1:00",
            "2024-01-31T10:00:00+01:00:00",
            "2024-1-31",
            "2024-01-31X",
            "0000-01-01T00:30:00+01:00",
            "9999-12-31T23:30:00-01:00",
            "２024-01-31",
        ] {
            assert!(parse_temporal(text, true).is_none(), "{text}");
        }
        assert!(parse_temporal("2024-01-31T10:00:00", false).is_some());
    }

    #[test]
    fn datetimes_print_in_utc() {
        let t = parse_temporal("2024-01-31T11:00:00+01:00", true);
        let printed = match t {
            Some(Temporal::DateTime(t)) => t.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(printed, "2024-01-31T10:00:00Z");
        let ms = DateTime::from_epoch_ms(1_706_695_200_007).map(|t| t.to_string());
        assert_eq!(ms.as_deref(), Some("2024-01-31T10:00:00.007Z"));
        let early = DateTime::from_epoch_ms(days_from_civil(5, 3, 1) * MS_PER_DAY);
        assert_eq!(
            early.map(|t| t.to_string()).as_deref(),
            Some("0005-03-01T00:00:00Z")
        );
    }
}
