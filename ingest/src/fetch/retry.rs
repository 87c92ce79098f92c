//! When and how long to wait before trying again: `Retry-After` parsing and exponential backoff
//! with full jitter.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng;

/// Statuses worth retrying: rate limited and the transient server errors.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// Parses a `Retry-After` header value: either a number of seconds or an HTTP date
/// (IMF-fixdate, RFC 850 or asctime form, RFC 9110 §10.2.3). A date in the past means "now"
/// (zero). Returns `None` for values that are neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate; they are over any cap anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    // Obsolete RFC 850 form: "Sunday, 06-Nov-94 08:49:37 GMT"
    if let Ok(at) = NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT") {
        return Some(at.and_utc());
    }
    // asctime form: "Sun Nov  6 08:49:37 1994"
    let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
    NaiveDateTime::parse_from_str(&collapsed, "%a %b %d %H:%M:%S %Y")
        .ok()
        .map(|at| at.and_utc())
}

/// The wait before retry number `retry` (0 for the first retry): a uniformly random duration
/// between zero and `min(max, base * 2^retry)` ("full jitter"), so that clients that failed
/// together do not come back together.
pub(crate) fn backoff_delay(retry: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=ceiling_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap()
    }

    #[test]
    fn retry_after_in_seconds_is_parsed() {
        assert_eq!(parse_retry_after("1", now()), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 120 ", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now()), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_as_an_imf_fixdate_is_the_time_until_that_date() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now()),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn retry_after_in_the_obsolete_date_forms_is_parsed() {
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:05 2015", now()),
            Some(Duration::from_secs(5))
        );
        let early_month = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 30).unwrap();
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", early_month),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn retry_after_dates_in_the_past_mean_retry_now() {
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn unparsable_retry_after_values_are_ignored() {
        for value in ["", "soon", "-5", "1.5", "Wed, 99 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }

    #[test]
    fn backoff_never_exceeds_the_doubling_ceiling_or_the_maximum() {
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(8);
        for _ in 0..200 {
            assert!(backoff_delay(0, base, max) <= base);
            assert!(backoff_delay(2, base, max) <= Duration::from_secs(2));
            assert!(backoff_delay(10, base, max) <= max);
            assert!(backoff_delay(u32::MAX, base, max) <= max);
        }
    }

    #[test]
    fn backoff_is_jittered_rather_than_constant() {
        let samples: std::collections::HashSet<Duration> = (0..50)
            .map(|_| backoff_delay(3, Duration::from_secs(1), Duration::from_secs(60)))
            .collect();
        assert!(samples.len() > 1);
    }

    #[test]
    fn only_429_and_transient_server_errors_are_retryable() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404, 410, 501, 505] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }
}
