//! Cron expressions evaluated in an IANA time zone, with the daylight-saving rules of Cronos
//! (the parser Hangfire uses), so the 65 migrated Hangfire schedules fire at the same instants.
//!
//! croner finds the wall-clock times a pattern matches; this module decides which real instants
//! those are around DST transitions, because croner's own rules differ from Cronos in two ways:
//! croner *skips* an interval pattern's times that fall into a spring-forward gap (Cronos
//! shifts them to the end of the gap), and croner treats a list such as `0,30 2 * * *` as an
//! interval (Cronos treats it as fixed times and fires it once in a repeated hour).
//!
//! The rules (Cronos):
//! - **Spring forward** (a wall-clock hour never happens): a time inside the gap fires at the
//!   first real instant after the gap (`30 2 * * *` fires at 03:00 the day clocks go forward).
//!   Several times inside one gap collapse into that one instant.
//! - **Fall back** (a wall-clock hour happens twice): a fixed-time pattern fires once, in the
//!   first pass; an *interval* pattern — one whose second, minute or hour field uses `*`, `?`, a
//!   range or a step — fires in both passes (`*/30 * * * *` fires 50 times that day).
//! - **Day of month and day of week** are combined with AND when both are restricted (Cronos
//!   and Quartz; Vixie cron and croner's default use OR): `0 9 13 * FRI` is 09:00 on Friday the
//!   13th only.
//!
//! Times have one-second resolution; an optional leading seconds field is accepted
//! (`*/10 * * * * *`). `@yearly`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`,
//! `@every_minute` and `@every_second` are accepted as in Cronos.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Why a cron expression or time zone was rejected. The message says where and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronSpecError {
    #[error("invalid cron expression `{expr}`: {reason}")]
    Cron { expr: String, reason: String },
    #[error(
        "unknown time zone `{0}`: use an IANA name such as `Australia/Sydney`, `Europe/London` or `UTC`"
    )]
    TimeZone(String),
}

/// A parsed cron expression bound to a time zone.
#[derive(Clone)]
pub struct CronSchedule {
    expr: String,
    cron: Cron,
    tz: Tz,
    /// Cronos' "interval" flag: fires in both passes of a repeated hour.
    interval: bool,
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({} in {})", self.expr, self.tz)
    }
}

const FIELDS_5: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
const FIELDS_6: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day-of-month",
    "month",
    "day-of-week",
];

/// Parse an IANA time zone name.
pub fn parse_time_zone(name: &str) -> Result<Tz, CronSpecError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| CronSpecError::TimeZone(name.to_owned()))
}

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .dom_and_dow(true)
        .build()
}

/// Cronos' macros, expanded before parsing so the interval rule sees the real fields.
fn expand_macro(expr: &str) -> Result<&str, String> {
    Ok(match expr.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        "@every_minute" => "* * * * *",
        "@every_second" => "* * * * * *",
        _ => {
            return Err(format!(
                "unknown macro `{expr}` (use @yearly, @monthly, @weekly, @daily, @hourly, \
                 @every_minute or @every_second)"
            ));
        }
    })
}

impl CronSchedule {
    /// Parse `expr` (5 fields, or 6 with seconds first) for time zone `tz` (IANA name).
    pub fn parse(expr: &str, tz: &str) -> Result<Self, CronSpecError> {
        let tz = parse_time_zone(tz)?;
        Self::parse_in(expr, tz)
    }

    pub fn parse_in(expr: &str, tz: Tz) -> Result<Self, CronSpecError> {
        let original = expr.trim();
        let err = |reason: String| CronSpecError::Cron {
            expr: original.to_owned(),
            reason,
        };
        if original.is_empty() {
            return Err(err("it is empty".into()));
        }
        let expanded = if original.starts_with('@') {
            expand_macro(original).map_err(err)?
        } else {
            original
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let names: &[&str] = match fields.len() {
            5 => &FIELDS_5,
            6 => &FIELDS_6,
            n => {
                return Err(err(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 \
                     (second first), got {n}"
                )));
            }
        };
        let cron = parser()
            .parse(expanded)
            .map_err(|e| err(locate_error(&fields, names, &e)))?;
        // Cronos: a `*`, `?`, range or step in the second, minute or hour field makes the
        // expression an interval. Without a seconds field the second is fixed at 0.
        let time_fields = &fields[..fields.len() - 3];
        let interval = time_fields.iter().any(|f| f.contains(['*', '?', '-', '/']));
        let schedule = CronSchedule {
            expr: original.to_owned(),
            cron,
            tz,
            interval,
        };
        // A pattern such as `0 0 30 2 *` parses but never matches.
        if schedule.next_after(Utc::now()).is_none() {
            return Err(err(
                "it never fires (no date matches, e.g. February 30)".into()
            ));
        }
        Ok(schedule)
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Whether the expression is an interval in Cronos' sense (fires twice in a repeated hour).
    pub fn is_interval(&self) -> bool {
        self.interval
    }

    /// Plain-English description (croner's).
    pub fn describe(&self) -> String {
        self.cron.describe()
    }

    /// The first occurrence strictly after `from`, or `None` if there is none (before year 5000).
    pub fn next_after(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // One-second resolution: dropping sub-seconds keeps "strictly after" correct because
        // every occurrence is a whole second.
        let from = DateTime::<Utc>::from_timestamp(from.timestamp(), 0)?;
        let local = from.with_timezone(&self.tz);
        let naive = local.naive_local();
        let mut cursor = naive;
        let mut inclusive = false;
        if let LocalResult::Ambiguous(early, late) = self.tz.from_local_datetime(&naive) {
            let (overlap_start, overlap_end) = self.overlap_bounds(early.to_utc(), late.to_utc());
            if local.offset().fix() == early.offset().fix() {
                // First pass: anything left before the clock goes back.
                if let Some(c) = self.find(naive, false).filter(|c| *c < overlap_end) {
                    return self
                        .tz
                        .from_local_datetime(&c)
                        .earliest()
                        .map(|d| d.to_utc());
                }
                cursor = overlap_start;
                inclusive = true;
            }
            // Second pass: only interval expressions fire again.
            if self.interval
                && let Some(c) = self.find(cursor, inclusive).filter(|c| *c < overlap_end)
                && let Some(at) = self.tz.from_local_datetime(&c).latest()
                && at.to_utc() > from
            {
                return Some(at.to_utc());
            }
            cursor = overlap_end;
            inclusive = true;
        }
        let c = self.find(cursor, inclusive)?;
        match self.tz.from_local_datetime(&c) {
            LocalResult::Single(at) => Some(at.to_utc()),
            LocalResult::Ambiguous(early, _) => Some(early.to_utc()),
            LocalResult::None => Some(self.first_instant_after_gap(c)),
        }
    }

    /// The next `count` occurrences after `from`.
    pub fn upcoming(&self, from: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(count);
        let mut at = from;
        while out.len() < count {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }

    /// The next wall-clock time matching the pattern (no time zone involved).
    fn find(&self, from: NaiveDateTime, inclusive: bool) -> Option<NaiveDateTime> {
        self.cron.find_next_occurrence(&from, inclusive).ok()
    }

    /// The wall-clock range `[start, end)` that happens twice around the fall-back transition
    /// between `early` and `late` (the two instants of one ambiguous wall-clock time).
    fn overlap_bounds(
        &self,
        early: DateTime<Utc>,
        late: DateTime<Utc>,
    ) -> (NaiveDateTime, NaiveDateTime) {
        let offset = |t: DateTime<Utc>| {
            self.tz
                .offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc()
        };
        let early_offset = offset(early);
        let late_offset = offset(late);
        // Bisect (whole seconds) for the transition: the first second with the later offset.
        let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(late);
        let (mut lo, mut hi) = (early.timestamp(), late.timestamp());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if offset(at(mid)) == early_offset {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let hi = at(hi);
        let start = hi.naive_utc() + TimeDelta::seconds(late_offset.into());
        let end = hi.naive_utc() + TimeDelta::seconds(early_offset.into());
        (start, end)
    }

    /// For a wall-clock time inside a spring-forward gap: the first real instant after the gap
    /// (the transition itself).
    fn first_instant_after_gap(&self, in_gap: NaiveDateTime) -> DateTime<Utc> {
        let as_utc = in_gap.and_utc();
        let local_of = |t: DateTime<Utc>| t.with_timezone(&self.tz).naive_local();
        // UTC offsets lie within [-12 h, +14 h], so the wall clock passes `in_gap` somewhere in
        // this window; bisect for the first instant whose wall clock is later than it.
        let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or(as_utc);
        let (mut lo, mut hi) = (
            as_utc.timestamp() - 15 * 3600,
            as_utc.timestamp() + 13 * 3600,
        );
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if local_of(at(mid)) > in_gap {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        at(hi)
    }
}

/// Say which field is wrong: parse each field alone (the others as `*`) and report the first
/// that fails, with croner's reason.
fn locate_error(fields: &[&str], names: &[&str], whole: &croner::errors::CronError) -> String {
    for (i, field) in fields.iter().enumerate() {
        let probe: Vec<&str> = fields
            .iter()
            .enumerate()
            .map(|(j, f)| if i == j { *f } else { "*" })
            .collect();
        if let Err(e) = parser().parse(&probe.join(" ")) {
            return format!("field {} ({}) `{field}` is not valid: {e}", i + 1, names[i]);
        }
    }
    whole.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, NaiveDate, Timelike};

    fn sydney(expr: &str) -> CronSchedule {
        CronSchedule::parse(expr, "Australia/Sydney").unwrap()
    }

    /// Occurrences whose local date is `day`, walking from the day before.
    fn fires_on(s: &CronSchedule, day: NaiveDate) -> Vec<DateTime<Tz>> {
        let tz = s.time_zone();
        let start = tz
            .from_local_datetime(&(day - TimeDelta::days(1)).and_hms_opt(12, 0, 0).unwrap())
            .unwrap()
            .to_utc();
        let mut out = Vec::new();
        let mut at = start;
        loop {
            let next = s.next_after(at).unwrap();
            let local = next.with_timezone(&tz);
            if local.date_naive() > day {
                break;
            }
            if local.date_naive() == day {
                out.push(local);
            }
            at = next;
        }
        out
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_fixed_time_in_the_repeated_hour_fires_once_in_the_first_pass() {
        let fires = fires_on(&sydney("30 2 * * *"), d(2026, 4, 5));
        assert_eq!(fires.len(), 1, "{fires:?}");
        assert_eq!(fires[0].to_rfc3339(), "2026-04-05T02:30:00+11:00");
    }

    #[test]
    fn an_interval_fires_in_both_passes_of_the_repeated_hour() {
        let fires = fires_on(&sydney("*/30 * * * *"), d(2026, 4, 5));
        assert_eq!(fires.len(), 50);
        let around: Vec<String> = fires[3..8].iter().map(|f| f.to_rfc3339()).collect();
        assert_eq!(
            around,
            [
                "2026-04-05T01:30:00+11:00",
                "2026-04-05T02:00:00+11:00",
                "2026-04-05T02:30:00+11:00",
                "2026-04-05T02:00:00+10:00",
                "2026-04-05T02:30:00+10:00",
            ]
        );
        // Strictly increasing instants: nothing fires twice at the same moment.
        assert!(fires.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_fixed_time_inside_the_skipped_hour_runs_at_the_end_of_the_gap() {
        let fires = fires_on(&sydney("30 2 * * *"), d(2026, 10, 4));
        assert_eq!(fires.len(), 1);
        assert_eq!(fires[0].to_rfc3339(), "2026-10-04T03:00:00+11:00");
        // The day after, back to 02:30.
        let next = fires_on(&sydney("30 2 * * *"), d(2026, 10, 5));
        assert_eq!(next[0].to_rfc3339(), "2026-10-05T02:30:00+11:00");
    }

    #[test]
    fn interval_times_inside_the_gap_collapse_into_the_first_instant_after_it() {
        let fires = fires_on(&sydney("*/30 * * * *"), d(2026, 10, 4));
        assert_eq!(fires.len(), 46);
        let around: Vec<String> = fires[3..6].iter().map(|f| f.to_rfc3339()).collect();
        assert_eq!(
            around,
            [
                "2026-10-04T01:30:00+10:00",
                "2026-10-04T03:00:00+11:00",
                "2026-10-04T03:30:00+11:00",
            ]
        );
        // Cronos shifts (croner alone would skip): `15 * * * *` fires at 03:00 instead of 02:15.
        let quarter = fires_on(&sydney("15 * * * *"), d(2026, 10, 4));
        assert!(
            quarter
                .iter()
                .any(|f| f.to_rfc3339() == "2026-10-04T03:00:00+11:00")
        );
        assert_eq!(quarter.len(), 24);
    }

    #[test]
    fn a_list_of_fixed_times_is_not_an_interval() {
        // croner would fire the 02:30 twice; Cronos fires fixed lists once.
        let s = sydney("0,30 2 * * *");
        assert!(!s.is_interval());
        assert_eq!(fires_on(&s, d(2026, 4, 5)).len(), 2);
        assert!(sydney("0 */2 * * *").is_interval());
        assert!(sydney("0 1-3 * * *").is_interval());
        assert!(!sydney("0 9 * * *").is_interval());
    }

    #[test]
    fn nine_am_fires_once_per_local_day_for_400_days_in_four_zones() {
        for zone in [
            "Australia/Sydney",
            "America/New_York",
            "Europe/London",
            "UTC",
        ] {
            let s = CronSchedule::parse("0 9 * * *", zone).unwrap();
            let tz = s.time_zone();
            let mut at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
            let mut last_day: Option<NaiveDate> = None;
            for _ in 0..400 {
                let next = s.next_after(at).unwrap();
                let local = next.with_timezone(&tz);
                assert_eq!((local.hour(), local.minute()), (9, 0), "{zone} {local}");
                if let Some(prev) = last_day {
                    assert_eq!(local.date_naive(), prev.succ_opt().unwrap(), "{zone}");
                }
                last_day = Some(local.date_naive());
                at = next;
            }
        }
    }

    #[test]
    fn every_minute_keeps_firing_through_both_transitions() {
        // Hangfire#567: every-minute jobs went silent for an hour at fall-back.
        let s = sydney("* * * * *");
        let fall = fires_on(&s, d(2026, 4, 5));
        assert_eq!(fall.len(), 25 * 60);
        let spring = fires_on(&s, d(2026, 10, 4));
        assert_eq!(spring.len(), 23 * 60);
    }

    #[test]
    fn day_of_month_and_day_of_week_are_combined_with_and() {
        let s = CronSchedule::parse("0 9 13 * FRI", "UTC").unwrap();
        let fires = s.upcoming(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(), 3);
        for f in &fires {
            assert_eq!(f.day(), 13);
            assert_eq!(f.weekday(), chrono::Weekday::Fri);
        }
        assert_eq!(fires[0].to_rfc3339(), "2026-02-13T09:00:00+00:00");
    }

    #[test]
    fn an_optional_seconds_field_and_macros_are_accepted() {
        let s = CronSchedule::parse("*/10 * * * * *", "UTC").unwrap();
        let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 5).unwrap();
        assert_eq!(
            s.next_after(from).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 10).unwrap()
        );
        let h = CronSchedule::parse("@hourly", "UTC").unwrap();
        assert!(h.is_interval());
        assert_eq!(
            h.next_after(from).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap()
        );
    }

    #[test]
    fn next_after_is_strictly_after_even_with_sub_seconds() {
        let s = CronSchedule::parse("* * * * *", "UTC").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 1, 0).unwrap();
        assert_eq!(s.next_after(at).unwrap(), at + TimeDelta::minutes(1));
        let later = at + TimeDelta::milliseconds(300);
        assert_eq!(s.next_after(later).unwrap(), at + TimeDelta::minutes(1));
    }

    #[test]
    fn errors_say_which_field_is_wrong() {
        let e = CronSchedule::parse("0 25 * * *", "UTC")
            .unwrap_err()
            .to_string();
        assert!(e.contains("field 2 (hour) `25`"), "{e}");
        let e = CronSchedule::parse("0 0 * * * * *", "UTC")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected 5 fields"), "{e}");
        assert!(e.contains("got 7"), "{e}");
        let e = CronSchedule::parse("*/10 61 * * * *", "UTC")
            .unwrap_err()
            .to_string();
        assert!(e.contains("field 2 (minute) `61`"), "{e}");
        let e = CronSchedule::parse("0 0 30 2 *", "UTC")
            .unwrap_err()
            .to_string();
        assert!(e.contains("never fires"), "{e}");
        let e = CronSchedule::parse("@fortnightly", "UTC")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown macro"), "{e}");
        let e = CronSchedule::parse("* * * * *", "Mars/Olympus")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown time zone `Mars/Olympus`"), "{e}");
    }
}
