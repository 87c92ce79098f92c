//! The scheduler's decisions that need no database: when a fire's run may start (jitter), how
//! long a retry waits (backoff) and what a fire becomes while the schedule's previous run is
//! still active (overlap). Pure functions, so every instance computes the same answer.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{OverlapPolicy, RunStatus};

/// Jitter for one fire of one schedule: stable (SplitMix64 of the pair), in `[0, max]` seconds.
pub fn jitter(schedule_id: i64, fire: DateTime<Utc>, max_seconds: i32) -> TimeDelta {
    if max_seconds <= 0 {
        return TimeDelta::zero();
    }
    let mut z = (schedule_id as u64) ^ (fire.timestamp() as u64).rotate_left(32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    TimeDelta::seconds((z % (max_seconds as u64 + 1)) as i64)
}

/// The newest queued and the newest running run of a schedule.
#[derive(Debug, Default, Clone, Copy)]
pub struct ActiveRuns {
    pub queued: Option<i64>,
    pub running: Option<i64>,
}

/// What a schedule's new fire becomes under its overlap policy: `queued`, or `skipped` with
/// the reason. `queue` keeps at most one run waiting: a fire while one already waits is
/// skipped, so a slow source cannot pile up an unbounded backlog.
pub fn overlap_outcome(policy: OverlapPolicy, active: ActiveRuns) -> (RunStatus, Option<String>) {
    match (policy, active.running, active.queued) {
        (_, None, None) => (RunStatus::Queued, None),
        (OverlapPolicy::Skip, running, queued) => {
            let (id, what) = match (running, queued) {
                (Some(id), _) => (id, "still running"),
                (None, Some(id)) => (id, "still queued"),
                (None, None) => unreachable!("matched above"),
            };
            (
                RunStatus::Skipped,
                Some(format!(
                    "skipped: run {id} of this schedule is {what} (overlap policy skip)"
                )),
            )
        }
        (OverlapPolicy::Queue, _, Some(id)) => (
            RunStatus::Skipped,
            Some(format!(
                "skipped: run {id} of this schedule is already waiting (overlap policy queue keeps one waiting run)"
            )),
        ),
        (OverlapPolicy::Queue, Some(_), None) => (RunStatus::Queued, None),
    }
}

/// Delay before attempt `attempt + 1`: `base × 2^(attempt − 1)`, at most a day.
pub fn backoff(base_seconds: i32, attempt: i32) -> TimeDelta {
    let base = i64::from(base_seconds.max(1));
    let factor = 1_i64 << (attempt - 1).clamp(0, 20);
    TimeDelta::seconds((base.saturating_mul(factor)).min(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_stable_and_within_bounds() {
        let fire = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(jitter(7, fire, 0), TimeDelta::zero());
        for id in 0..200 {
            let j = jitter(id, fire, 30);
            assert!(
                (TimeDelta::zero()..=TimeDelta::seconds(30)).contains(&j),
                "{j}"
            );
            assert_eq!(
                j,
                jitter(id, fire, 30),
                "same schedule and fire, same jitter"
            );
        }
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_a_day() {
        assert_eq!(backoff(60, 1), TimeDelta::seconds(60));
        assert_eq!(backoff(60, 2), TimeDelta::seconds(120));
        assert_eq!(backoff(60, 3), TimeDelta::seconds(240));
        assert_eq!(backoff(60, 30), TimeDelta::seconds(86_400));
        assert_eq!(backoff(0, 1), TimeDelta::seconds(1));
    }

    #[test]
    fn overlap_skips_or_keeps_at_most_one_waiting_run() {
        let idle = ActiveRuns::default();
        let running = ActiveRuns {
            running: Some(1),
            queued: None,
        };
        let waiting = ActiveRuns {
            running: Some(1),
            queued: Some(2),
        };
        assert_eq!(
            overlap_outcome(OverlapPolicy::Skip, idle).0,
            RunStatus::Queued
        );
        assert_eq!(
            overlap_outcome(OverlapPolicy::Skip, running).0,
            RunStatus::Skipped
        );
        assert_eq!(
            overlap_outcome(OverlapPolicy::Queue, running).0,
            RunStatus::Queued
        );
        let (status, why) = overlap_outcome(OverlapPolicy::Queue, waiting);
        assert_eq!(status, RunStatus::Skipped);
        assert!(why.unwrap().contains("run 2"));
    }
}
