//! Timestamps as Salesforce writes them in events: ISO-8601, UTC, millisecond precision, `Z`
//! (`2016-03-29T16:40:08.208Z`). The calendar is `jiff`'s (built without its time zone
//! database, so it adds one small dependency-free crate to a protocol crate that clients and
//! the bench also use); the layout is written here so it stays exactly Salesforce's.

use jiff::tz::Offset;
use jiff::Timestamp;

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    Timestamp::now().as_millisecond()
}

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Instants outside `jiff`'s range
/// (about years -9999..=9999) are clamped to it.
pub fn iso8601_millis(epoch_ms: i64) -> String {
    let instant = Timestamp::from_millisecond(epoch_ms).unwrap_or(if epoch_ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    let t = Offset::UTC.to_datetime(instant);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_salesforce() {
        assert_eq!(iso8601_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso8601_millis(1_459_269_608_208),
            "2016-03-29T16:40:08.208Z"
        );
        assert_eq!(iso8601_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(
            iso8601_millis(1_596_694_939_000),
            "2020-08-06T06:22:19.000Z"
        );
        assert_eq!(iso8601_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            iso8601_millis(32_503_680_000_000),
            "3000-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_millis() > 1_704_067_200_000);
    }
}
