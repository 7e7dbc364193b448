//! Relative date literals (`TODAY`, `LAST_N_DAYS:30`, …) and the UTC range each denotes.
//!
//! Salesforce resolves these in the running user's time zone; the emulated org has no users with
//! zones, so Bayou resolves them in UTC against the evaluation's "now". Each literal is a
//! half-open range `[start, end)` of epoch milliseconds, and comparisons use it as Salesforce
//! documents: `=` means inside the range, `<` before its start, `>` at or after its end, `<=`
//! before its end, `>=` at or after its start, `!=` outside it.
//!
//! Weeks start on Sunday (Salesforce's `en_US` default). `LAST_N_DAYS:n` and `LAST_90_DAYS`
//! include today (n + 1 days in all); `NEXT_N_DAYS:n` and `NEXT_90_DAYS` start tomorrow.

use std::fmt;

use jiff::civil;

use crate::dates::{date_from_days, days_from_civil, MS_PER_DAY};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateLiteral {
    Yesterday,
    Today,
    Tomorrow,
    LastWeek,
    ThisWeek,
    NextWeek,
    LastMonth,
    ThisMonth,
    NextMonth,
    Last90Days,
    Next90Days,
    LastNDays(u32),
    NextNDays(u32),
    LastYear,
    ThisYear,
    NextYear,
}

/// The literals that need no `:n`, by name.
const FIXED: [(&str, DateLiteral); 14] = [
    ("YESTERDAY", DateLiteral::Yesterday),
    ("TODAY", DateLiteral::Today),
    ("TOMORROW", DateLiteral::Tomorrow),
    ("LAST_WEEK", DateLiteral::LastWeek),
    ("THIS_WEEK", DateLiteral::ThisWeek),
    ("NEXT_WEEK", DateLiteral::NextWeek),
    ("LAST_MONTH", DateLiteral::LastMonth),
    ("THIS_MONTH", DateLiteral::ThisMonth),
    ("NEXT_MONTH", DateLiteral::NextMonth),
    ("LAST_90_DAYS", DateLiteral::Last90Days),
    ("NEXT_90_DAYS", DateLiteral::Next90Days),
    ("LAST_YEAR", DateLiteral::LastYear),
    ("THIS_YEAR", DateLiteral::ThisYear),
    ("NEXT_YEAR", DateLiteral::NextYear),
];

/// How a date-literal name reads.
pub(crate) enum NameKind {
    Fixed(DateLiteral),
    /// `LAST_N_DAYS` / `NEXT_N_DAYS`: needs `:n`; the flag says "last".
    WithCount(bool),
}

impl DateLiteral {
    /// Looks a name up, case-insensitively.
    pub(crate) fn by_name(name: &str) -> Option<NameKind> {
        if name.eq_ignore_ascii_case("LAST_N_DAYS") {
            return Some(NameKind::WithCount(true));
        }
        if name.eq_ignore_ascii_case("NEXT_N_DAYS") {
            return Some(NameKind::WithCount(false));
        }
        FIXED
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, lit)| NameKind::Fixed(*lit))
    }

    /// The UTC range `[start, end)` in epoch milliseconds, given "now".
    pub fn range_ms(self, now_ms: i64) -> (i64, i64) {
        let (start, end) = self.range_days(now_ms.div_euclid(MS_PER_DAY));
        (
            start.saturating_mul(MS_PER_DAY),
            end.saturating_mul(MS_PER_DAY),
        )
    }

    /// The range in days since the epoch, given today.
    fn range_days(self, today: i64) -> (i64, i64) {
        // Weeks, months and years come from jiff's calendar. A "today" outside its range
        // (years -9999..=9999, only reachable with absurd clocks) is clamped to it.
        let date = date_from_days(today).unwrap_or(if today < 0 {
            civil::Date::MIN
        } else {
            civil::Date::MAX
        });
        let week_start = today - i64::from(date.weekday().to_sunday_zero_offset());
        let first = date.first_of_month();
        let shifted = |span: jiff::Span, fallback: i64| {
            first
                .checked_add(span)
                .map_or(fallback, days_from_civil_date)
        };
        let month_start = |delta: i64| shifted(jiff::Span::new().months(delta), today);
        let january = first.with().month(1).build().unwrap_or(first);
        let year_start = |delta: i64| {
            january
                .checked_add(jiff::Span::new().years(delta))
                .map_or(today, days_from_civil_date)
        };
        match self {
            DateLiteral::Yesterday => (today - 1, today),
            DateLiteral::Today => (today, today + 1),
            DateLiteral::Tomorrow => (today + 1, today + 2),
            DateLiteral::LastWeek => (week_start - 7, week_start),
            DateLiteral::ThisWeek => (week_start, week_start + 7),
            DateLiteral::NextWeek => (week_start + 7, week_start + 14),
            DateLiteral::LastMonth => (month_start(-1), month_start(0)),
            DateLiteral::ThisMonth => (month_start(0), month_start(1)),
            DateLiteral::NextMonth => (month_start(1), month_start(2)),
            DateLiteral::Last90Days => (today - 90, today + 1),
            DateLiteral::Next90Days => (today + 1, today + 91),
            DateLiteral::LastNDays(n) => (today - i64::from(n), today + 1),
            DateLiteral::NextNDays(n) => (today + 1, today + 1 + i64::from(n)),
            DateLiteral::LastYear => (year_start(-1), year_start(0)),
            DateLiteral::ThisYear => (year_start(0), year_start(1)),
            DateLiteral::NextYear => (year_start(1), year_start(2)),
        }
    }
}

/// Days since the epoch of a jiff date.
fn days_from_civil_date(date: civil::Date) -> i64 {
    days_from_civil(
        i64::from(date.year()),
        u32::try_from(date.month()).unwrap_or(1),
        u32::try_from(date.day()).unwrap_or(1),
    )
}

impl fmt::Display for DateLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateLiteral::LastNDays(n) => write!(f, "LAST_N_DAYS:{n}"),
            DateLiteral::NextNDays(n) => write!(f, "NEXT_N_DAYS:{n}"),
            fixed => {
                let name = FIXED.iter().find(|(_, lit)| lit == fixed).map(|(n, _)| *n);
                f.write_str(name.unwrap_or("TODAY"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::{civil_from_days, Date};

    /// 2024-02-29 (a Thursday) at 15:30 UTC.
    fn now() -> i64 {
        days_from_civil(2024, 2, 29) * MS_PER_DAY + 15 * 3_600_000 + 30 * 60_000
    }

    fn range(lit: DateLiteral) -> (String, String) {
        let (start, end) = lit.range_days(now().div_euclid(MS_PER_DAY));
        let show = |d: i64| {
            let (y, m, day) = civil_from_days(d);
            Date::new(y, m, day)
                .map(|d| d.to_string())
                .unwrap_or_default()
        };
        (show(start), show(end))
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn days() {
        assert_eq!(
            range(DateLiteral::Yesterday),
            pair("2024-02-28", "2024-02-29")
        );
        assert_eq!(range(DateLiteral::Today), pair("2024-02-29", "2024-03-01"));
        assert_eq!(
            range(DateLiteral::Tomorrow),
            pair("2024-03-01", "2024-03-02")
        );
    }

    #[test]
    fn weeks_start_on_sunday() {
        assert_eq!(
            range(DateLiteral::ThisWeek),
            pair("2024-02-25", "2024-03-03")
        );
        assert_eq!(
            range(DateLiteral::LastWeek),
            pair("2024-02-18", "2024-02-25")
        );
        assert_eq!(
            range(DateLiteral::NextWeek),
            pair("2024-03-03", "2024-03-10")
        );
    }

    #[test]
    fn months_and_years() {
        assert_eq!(
            range(DateLiteral::ThisMonth),
            pair("2024-02-01", "2024-03-01")
        );
        assert_eq!(
            range(DateLiteral::LastMonth),
            pair("2024-01-01", "2024-02-01")
        );
        assert_eq!(
            range(DateLiteral::NextMonth),
            pair("2024-03-01", "2024-04-01")
        );
        assert_eq!(
            range(DateLiteral::ThisYear),
            pair("2024-01-01", "2025-01-01")
        );
        assert_eq!(
            range(DateLiteral::LastYear),
            pair("2023-01-01", "2024-01-01")
        );
        assert_eq!(
            range(DateLiteral::NextYear),
            pair("2025-01-01", "2026-01-01")
        );
    }

    #[test]
    fn months_wrap_around_the_year() {
        let december = days_from_civil(2023, 12, 15);
        let (start, end) = DateLiteral::NextMonth.range_days(december);
        assert_eq!(
            (start, end),
            (days_from_civil(2024, 1, 1), days_from_civil(2024, 2, 1))
        );
        let january = days_from_civil(2024, 1, 15);
        let (start, _) = DateLiteral::LastMonth.range_days(january);
        assert_eq!(start, days_from_civil(2023, 12, 1));
    }

    #[test]
    fn n_days_include_today_looking_back_and_start_tomorrow_looking_ahead() {
        assert_eq!(
            range(DateLiteral::LastNDays(1)),
            pair("2024-02-28", "2024-03-01")
        );
        assert_eq!(
            range(DateLiteral::NextNDays(2)),
            pair("2024-03-01", "2024-03-03")
        );
        assert_eq!(
            range(DateLiteral::Last90Days),
            range(DateLiteral::LastNDays(90))
        );
        assert_eq!(
            range(DateLiteral::Next90Days),
            range(DateLiteral::NextNDays(90))
        );
    }

    #[test]
    fn names_are_case_insensitive_and_print_canonically() {
        assert!(matches!(
            DateLiteral::by_name("this_month"),
            Some(NameKind::Fixed(DateLiteral::ThisMonth))
        ));
        assert!(matches!(
            DateLiteral::by_name("Last_N_Days"),
            Some(NameKind::WithCount(true))
        ));
        assert!(DateLiteral::by_name("LAST_QUARTER").is_none());
        assert_eq!(DateLiteral::Next90Days.to_string(), "NEXT_90_DAYS");
        assert_eq!(DateLiteral::LastNDays(7).to_string(), "LAST_N_DAYS:7");
    }

    #[test]
    fn extreme_counts_do_not_overflow() {
        let (start, end) = DateLiteral::LastNDays(u32::MAX).range_ms(i64::MIN);
        assert!(start <= end);
        let (start, end) = DateLiteral::NextNDays(u32::MAX).range_ms(i64::MAX);
        assert!(start <= end);
    }
}
