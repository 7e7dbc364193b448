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

/// Reads an ISO-8601 instant (`2016-03-29T16:40:08.208Z`, or with an offset such as `+00:00`
/// or Salesforce's `+0000`) as epoch milliseconds; `None` when it is not one.
pub fn parse_iso8601_millis(text: &str) -> Option<i64> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t.as_millisecond());
    }
    // `+0000`: an offset without its colon, which jiff's RFC 3339 reading refuses.
    let at = text.len().checked_sub(5)?;
    if !text.is_char_boundary(at) {
        return None;
    }
    let (head, offset) = text.split_at(at);
    let colon_less = (offset.starts_with('+') || offset.starts_with('-'))
        && offset[1..].bytes().all(|b| b.is_ascii_digit());
    if !colon_less {
        return None;
    }
    let fixed = format!("{head}{}:{}", &offset[..3], &offset[3..]);
    fixed.parse::<Timestamp>().ok().map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes_and_salesforce_offsets() {
        let ms = 1_459_269_608_208;
        assert_eq!(parse_iso8601_millis(&iso8601_millis(ms)), Some(ms));
        assert_eq!(
            parse_iso8601_millis("2016-03-29T16:40:08.208+0000"),
            Some(ms)
        );
        assert_eq!(
            parse_iso8601_millis("2016-03-29T18:40:08.208+02:00"),
            Some(ms)
        );
        assert_eq!(parse_iso8601_millis("yesterday"), None);
        assert_eq!(parse_iso8601_millis(""), None);
        assert_eq!(parse_iso8601_millis("2016-03-29T16:40:08é+0000"), None);
    }

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
