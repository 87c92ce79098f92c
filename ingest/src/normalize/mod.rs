//! Normalisation: pure functions from the messy strings sources return to typed values.
//!
//! Layout:
//! - [`salary`]: salary text and structured salary fields, periods, annualisation.
//! - `html`: [`sanitize_html`], [`html_to_text`], [`unescape_entities`].
//! - `location`: [`parse_location`], [`country_code`].
//! - `links`: [`http_url`]: only absolute `http(s)` links from scraped content are kept.
//! - `storable`: [`make_storable`]: the last check before a posting is stored (NULs, URLs).
//! - this module: work type / arrangement labels, timestamps, and the content hash.
//!
//! Every function is total: bad input gives `None`/`Unknown`/empty values, never a panic, so a
//! parser can call them on whatever a site sent.

pub mod cluster_keys;
mod html;
mod links;
mod location;
pub mod salary;
mod storable;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::{NormalizedPosting, WorkArrangement, WorkType};

pub use html::{
    DESCRIPTION_MAX_BYTES, TRUNCATION_NOTE, html_to_text, is_truncated, sanitize_html,
    unescape_entities,
};
pub use links::{http_url, is_http_url};
pub use location::{country_code, parse_location};
pub use storable::{Unstorable, make_storable, needs_cleaning, strip_nul, strip_nul_json};

/// Lower-cased letters and digits only, so "Full-time", "FULL_TIME" and "FullTime" compare equal.
fn label_key(label: &str) -> String {
    label
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Work type from a source's label ("Full time", "FULL_TIME", "FullTime", "Contract/Temp", …).
///
/// Covers SEEK (`Full time`, `Contract/Temp`, `Casual/Vacation`), schema.org `employmentType`
/// (`FULL_TIME`, `CONTRACTOR`, `INTERN`, `PER_DIEM`, …), Ashby (`FullTime`, `Intern`) and Lever
/// commitments. Unknown labels give `None` rather than a guess.
pub fn work_type_from_label(label: &str) -> Option<WorkType> {
    match label_key(label).as_str() {
        "fulltime" | "permanent" | "permanentfulltime" | "fulltimepermanent" => {
            Some(WorkType::FullTime)
        }
        "parttime" | "permanentparttime" | "parttimepermanent" => Some(WorkType::PartTime),
        "contract" | "contracttemp" | "contractor" | "contractors" | "fixedterm"
        | "fixedtermcontract" | "freelance" => Some(WorkType::Contract),
        "casual" | "casualvacation" => Some(WorkType::Casual),
        "intern" | "internship" | "interns" | "internships" => Some(WorkType::Internship),
        "temporary" | "temp" | "seasonal" => Some(WorkType::Temporary),
        "other" | "volunteer" | "perdiem" => Some(WorkType::Other),
        _ => None,
    }
}

/// Work arrangement from a label ("On-site", "OnSite", "hybrid", "Remote", "TELECOMMUTE", …).
///
/// Lever's `unspecified` and anything unrecognised are `Unknown`. Indeed's `REMOTE_HYBRID` is
/// hybrid: part of the week is in the office.
pub fn work_arrangement_from_label(label: &str) -> WorkArrangement {
    match label_key(label).as_str() {
        "onsite" | "inoffice" | "office" | "officebased" | "inperson" => WorkArrangement::OnSite,
        "hybrid" | "hybridremote" | "remotehybrid" | "flexiblehybrid" => WorkArrangement::Hybrid,
        "remote" | "telecommute" | "workfromhome" | "wfh" | "fullyremote" | "remoteonly"
        | "100remote" => WorkArrangement::Remote,
        _ => WorkArrangement::Unknown,
    }
}

/// Epoch values at or above this are milliseconds: as seconds they would be past the year 5000,
/// as milliseconds they are after March 1973.
const EPOCH_MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// A timestamp in any of the shapes sources use (RFC 3339, ISO date, epoch milliseconds), in UTC.
///
/// Accepted: RFC 3339 with `Z` or an offset (fractional seconds optional, `+1000` offsets too);
/// a date-time without an offset (taken as UTC); a bare `YYYY-MM-DD` (midnight UTC); RFC 2822;
/// and a numeric string of epoch seconds or milliseconds (told apart by magnitude, see
/// [`EPOCH_MILLIS_THRESHOLD`]).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        // Eight digits as epoch seconds would be 1970; as a compact date they are plausible.
        if s.len() == 8
            && let Ok(date) = NaiveDate::parse_from_str(s, "%Y%m%d")
        {
            return date.and_hms_opt(0, 0, 0).map(|dt| dt.and_utc());
        }
        let n: i64 = s.parse().ok()?;
        return if n >= EPOCH_MILLIS_THRESHOLD {
            datetime_from_epoch_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
    }
    if let Some((secs, frac)) = s.split_once('.')
        && !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
    {
        let seconds: f64 = s.parse().ok()?;
        return datetime_from_epoch_millis((seconds * 1000.0).round() as i64);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, format) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, format) {
            return Some(dt.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|dt| dt.and_utc());
    }
    DateTime::parse_from_rfc2822(s)
        .ok()
        .map(|dt| dt.with_timezone(&Utc))
}

/// A UTC timestamp from epoch milliseconds (Indeed `pubDate`, Lever `createdAt`); `None` when
/// out of chrono's range.
pub fn datetime_from_epoch_millis(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// Hash over the fields that matter to a reader; a different hash means the posting changed.
///
/// Covers title, company, location (raw, city, region, country), work type and arrangement,
/// salary (text, min, max, currency, period), description HTML, classification, apply URL and
/// expiry. Left out on purpose: `raw` (sources reorder and re-stamp their JSON), `posted_at`
/// (re-listing an unchanged ad is not a change), ids and URLs that identify rather than
/// describe, and values derived from the ones included. Each field is written as a name, a
/// presence byte and a length-prefixed value, so no two postings share an encoding. The
/// leading version tag changes if the field list ever does.
pub fn content_hash(p: &NormalizedPosting) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"jobintel-content-v1");
    let mut field = |name: &str, value: Option<&str>| {
        hasher.update((name.len() as u64).to_be_bytes());
        hasher.update(name.as_bytes());
        match value {
            None => hasher.update([0u8]),
            Some(v) => {
                hasher.update([1u8]);
                hasher.update((v.len() as u64).to_be_bytes());
                hasher.update(v.as_bytes());
            }
        }
    };
    let number = |v: Option<f64>| v.map(|x| x.to_string());
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros().to_string());
    let salary = &p.salary;
    let location = &p.location;

    field("title", Some(&p.title));
    field("company", p.company.as_deref());
    field("location.raw", location.raw.as_deref());
    field("location.city", location.city.as_deref());
    field("location.region", location.region.as_deref());
    field("location.country", location.country.as_deref());
    field("work_type", p.work_type.map(WorkType::as_str));
    field("work_arrangement", Some(p.work_arrangement.as_str()));
    field("salary.text", salary.text.as_deref());
    field("salary.min", number(salary.min).as_deref());
    field("salary.max", number(salary.max).as_deref());
    field("salary.currency", salary.currency.as_deref());
    field("salary.period", salary.period.map(|x| x.as_str()));
    field("description_html", p.description_html.as_deref());
    field("classification", p.classification.as_deref());
    field("apply_url", p.apply_url.as_deref());
    field("expires_at", time(p.expires_at).as_deref());

    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Location, Salary, SalaryPeriod, Source};
    use chrono::TimeZone;

    #[test]
    fn work_type_labels_from_every_source_map_to_work_types() {
        let cases = [
            ("Full time", Some(WorkType::FullTime)),
            ("Full Time", Some(WorkType::FullTime)),
            ("full-time", Some(WorkType::FullTime)),
            ("FULL_TIME", Some(WorkType::FullTime)),
            ("FullTime", Some(WorkType::FullTime)),
            ("Permanent", Some(WorkType::FullTime)),
            ("Part time", Some(WorkType::PartTime)),
            ("PART_TIME", Some(WorkType::PartTime)),
            ("PartTime", Some(WorkType::PartTime)),
            ("Contract/Temp", Some(WorkType::Contract)),
            ("Contract", Some(WorkType::Contract)),
            ("CONTRACTOR", Some(WorkType::Contract)),
            ("Contractor", Some(WorkType::Contract)),
            ("Casual/Vacation", Some(WorkType::Casual)),
            ("Casual", Some(WorkType::Casual)),
            ("Intern", Some(WorkType::Internship)),
            ("INTERN", Some(WorkType::Internship)),
            ("Internship", Some(WorkType::Internship)),
            ("Temporary", Some(WorkType::Temporary)),
            ("TEMPORARY", Some(WorkType::Temporary)),
            ("Temp", Some(WorkType::Temporary)),
            ("OTHER", Some(WorkType::Other)),
            ("VOLUNTEER", Some(WorkType::Other)),
            ("PER_DIEM", Some(WorkType::Other)),
            ("  full time  ", Some(WorkType::FullTime)),
            ("Apprenticeship", None),
            ("", None),
        ];
        for (label, expected) in cases {
            assert_eq!(work_type_from_label(label), expected, "{label:?}");
        }
    }

    #[test]
    fn work_arrangement_labels_map_and_unknown_stays_unknown() {
        let cases = [
            ("On-site", WorkArrangement::OnSite),
            ("Onsite", WorkArrangement::OnSite),
            ("OnSite", WorkArrangement::OnSite),
            ("on-site", WorkArrangement::OnSite),
            ("In office", WorkArrangement::OnSite),
            ("Hybrid", WorkArrangement::Hybrid),
            ("hybrid", WorkArrangement::Hybrid),
            ("REMOTE_HYBRID", WorkArrangement::Hybrid),
            ("Remote", WorkArrangement::Remote),
            ("TELECOMMUTE", WorkArrangement::Remote),
            ("Work from home", WorkArrangement::Remote),
            ("unspecified", WorkArrangement::Unknown),
            ("Flexible", WorkArrangement::Unknown),
            ("", WorkArrangement::Unknown),
        ];
        for (label, expected) in cases {
            assert_eq!(work_arrangement_from_label(label), expected, "{label:?}");
        }
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn rfc3339_timestamps_with_zulu_or_offset_become_utc() {
        assert_eq!(
            parse_datetime("2026-08-16T11:10:20Z"),
            Some(utc(2026, 8, 16, 11, 10, 20))
        );
        assert_eq!(
            parse_datetime("2026-07-03T12:16:54.579+00:00").map(|d| d.timestamp_millis()),
            Some(utc(2026, 7, 3, 12, 16, 54).timestamp_millis() + 579)
        );
        assert_eq!(
            parse_datetime("2026-08-01T10:00:00+10:00"),
            Some(utc(2026, 8, 1, 0, 0, 0))
        );
        assert_eq!(
            parse_datetime("2026-08-01T10:00:00+1000"),
            Some(utc(2026, 8, 1, 0, 0, 0))
        );
    }

    #[test]
    fn timestamps_without_an_offset_are_taken_as_utc() {
        assert_eq!(
            parse_datetime("2026-08-01T10:00:00"),
            Some(utc(2026, 8, 1, 10, 0, 0))
        );
        assert_eq!(
            parse_datetime("2026-08-01 10:00:00"),
            Some(utc(2026, 8, 1, 10, 0, 0))
        );
        assert_eq!(
            parse_datetime(" 2026-08-01 "),
            Some(utc(2026, 8, 1, 0, 0, 0))
        );
    }

    #[test]
    fn epoch_strings_are_read_as_milliseconds_or_seconds_by_magnitude() {
        let expected = DateTime::from_timestamp_millis(1_779_223_091_267);
        assert_eq!(parse_datetime("1779223091267"), expected);
        assert_eq!(
            parse_datetime("1779223091"),
            DateTime::from_timestamp(1_779_223_091, 0)
        );
        assert_eq!(parse_datetime("1779223091.267"), expected);
        assert_eq!(datetime_from_epoch_millis(1_779_223_091_267), expected);
    }

    #[test]
    fn rfc2822_and_compact_dates_parse_and_garbage_does_not() {
        assert_eq!(
            parse_datetime("Sat, 01 Aug 2026 10:00:00 +0000"),
            Some(utc(2026, 8, 1, 10, 0, 0))
        );
        assert_eq!(parse_datetime("20260801"), Some(utc(2026, 8, 1, 0, 0, 0)));
        for junk in [
            "",
            "1d ago",
            "2026-13-45",
            "not a date",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_datetime(junk), None, "{junk:?}");
        }
        assert_eq!(datetime_from_epoch_millis(i64::MAX), None);
    }

    fn posting() -> NormalizedPosting {
        NormalizedPosting {
            source: Source::Seek,
            external_id: "94002843".into(),
            url: "https://www.seek.com.au/job/94002843".into(),
            apply_url: None,
            title: "Senior Rust Engineer".into(),
            company: Some("Acme".into()),
            company_external_id: Some("123".into()),
            location: Location {
                raw: Some("Sydney NSW".into()),
                city: Some("Sydney".into()),
                region: Some("NSW".into()),
                country: Some("AU".into()),
            },
            work_type: Some(WorkType::FullTime),
            work_arrangement: WorkArrangement::Hybrid,
            salary: Salary {
                text: Some("$170k - $180k p.a.".into()),
                min: Some(170_000.0),
                max: Some(180_000.0),
                currency: Some("AUD".into()),
                period: Some(SalaryPeriod::Year),
                ..Salary::default()
            },
            description_html: Some("<p>Build things.</p>".into()),
            description_text: Some("Build things.".into()),
            classification: Some("Information & Communication Technology".into()),
            posted_at: Some(utc(2026, 8, 16, 11, 10, 20)),
            expires_at: Some(utc(2026, 9, 15, 13, 59, 59)),
            raw: serde_json::json!({"id": "94002843"}),
        }
    }

    #[test]
    fn content_hash_is_stable_hex_sha256() {
        let hash = content_hash(&posting());
        assert_eq!(hash, content_hash(&posting()));
        assert_eq!(hash.len(), 64);
        assert!(
            hash.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn content_hash_changes_when_the_salary_changes() {
        let mut changed = posting();
        changed.salary.max = Some(190_000.0);
        assert_ne!(content_hash(&changed), content_hash(&posting()));
    }

    #[test]
    fn content_hash_ignores_raw_json_and_posted_at() {
        let mut changed = posting();
        changed.raw = serde_json::json!({"id": "94002843", "solMetadata": {"token": "new"}});
        changed.posted_at = Some(utc(2026, 8, 20, 0, 0, 0));
        assert_eq!(content_hash(&changed), content_hash(&posting()));
    }

    #[test]
    fn content_hash_sees_expiry_and_missing_versus_empty_values() {
        let mut extended = posting();
        extended.expires_at = Some(utc(2026, 10, 1, 0, 0, 0));
        assert_ne!(content_hash(&extended), content_hash(&posting()));

        let mut empty_company = posting();
        empty_company.company = Some(String::new());
        let mut no_company = posting();
        no_company.company = None;
        assert_ne!(content_hash(&empty_company), content_hash(&no_company));
    }

    #[test]
    fn content_hash_does_not_confuse_text_moved_between_fields() {
        let mut a = posting();
        a.title = "Rust Engineer Sydney".into();
        a.company = Some(String::new());
        let mut b = posting();
        b.title = "Rust Engineer".into();
        b.company = Some(" Sydney".into());
        assert_ne!(content_hash(&a), content_hash(&b));
    }
}
