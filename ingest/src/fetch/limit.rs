//! Per-host politeness state shared by every run: the request pacing (a token bucket holding one
//! token) and the in-flight limit (a semaphore).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// A token bucket of capacity one, refilled at the rate the *previous* request asked for:
/// consecutive requests to a host start at least `1 / rate` apart, with no bursts. Waiters get
/// slots in the order they asked (a reservation is made before waiting), so nobody starves.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    /// When the next token becomes available.
    next_free: Mutex<Instant>,
}

impl TokenBucket {
    pub(crate) fn new() -> Self {
        TokenBucket {
            next_free: Mutex::new(Instant::now()),
        }
    }

    /// Reserves the next slot and returns when it starts; the following slot starts `interval`
    /// later. The caller sleeps until the returned instant.
    pub(crate) fn reserve(&self, interval: Duration) -> Instant {
        let mut next_free = self
            .next_free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = (*next_free).max(Instant::now());
        *next_free = slot + interval;
        slot
    }

    /// Makes no slot start before `until` (the host said `Retry-After`).
    pub(crate) fn defer_until(&self, until: Instant) {
        let mut next_free = self
            .next_free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *next_free = (*next_free).max(until);
    }
}

/// Everything the fetcher remembers about one origin (scheme, host, port).
#[derive(Debug)]
pub(crate) struct HostState {
    pub bucket: TokenBucket,
    pub in_flight: Arc<Semaphore>,
    /// The cached robots.txt verdict; the async mutex makes concurrent first requests wait for
    /// one robots.txt fetch instead of each sending their own.
    pub robots: tokio::sync::Mutex<Option<super::CachedRobots>>,
}

impl HostState {
    pub(crate) fn new(max_in_flight: usize) -> Self {
        HostState {
            bucket: TokenBucket::new(),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            robots: tokio::sync::Mutex::new(None),
        }
    }
}

/// The minimum spacing between requests for a rate in requests per second; invalid rates
/// (zero, negative, NaN) fall back to `default_rate`, and `crawl_delay` (if longer) wins.
pub(crate) fn request_interval(
    rate_per_sec: Option<f64>,
    default_rate: f64,
    crawl_delay: Option<Duration>,
) -> Duration {
    let valid = |rate: f64| rate.is_finite() && rate > 0.0;
    let rate = rate_per_sec
        .filter(|r| valid(*r))
        .or_else(|| valid(default_rate).then_some(default_rate))
        .unwrap_or(1.0);
    let interval = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::ZERO);
    interval.max(crawl_delay.unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn consecutive_reservations_are_spaced_by_the_interval() {
        let bucket = TokenBucket::new();
        let start = Instant::now();
        let interval = Duration::from_millis(500);
        let slots: Vec<Duration> = (0..4).map(|_| bucket.reserve(interval) - start).collect();
        assert_eq!(
            slots,
            [0, 500, 1000, 1500].map(Duration::from_millis).to_vec()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_does_not_accumulate_a_burst() {
        let bucket = TokenBucket::new();
        let interval = Duration::from_secs(1);
        bucket.reserve(interval);
        tokio::time::advance(Duration::from_secs(10)).await;
        let now = Instant::now();
        assert_eq!(bucket.reserve(interval), now);
        assert_eq!(bucket.reserve(interval), now + interval);
    }

    #[tokio::test(start_paused = true)]
    async fn deferring_pushes_the_next_slot_back_but_never_forward() {
        let bucket = TokenBucket::new();
        let start = Instant::now();
        bucket.defer_until(start + Duration::from_secs(5));
        bucket.defer_until(start + Duration::from_secs(1));
        assert_eq!(
            bucket.reserve(Duration::from_secs(1)),
            start + Duration::from_secs(5)
        );
    }

    #[test]
    fn interval_is_the_inverse_rate_unless_crawl_delay_is_longer() {
        assert_eq!(
            request_interval(None, 2.0, None),
            Duration::from_millis(500)
        );
        assert_eq!(
            request_interval(Some(4.0), 2.0, None),
            Duration::from_millis(250)
        );
        assert_eq!(
            request_interval(Some(4.0), 2.0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            request_interval(None, 1.0, Some(Duration::from_millis(100))),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn invalid_rates_fall_back_to_the_default() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                request_interval(Some(bad), 2.0, None),
                Duration::from_millis(500)
            );
        }
        assert_eq!(request_interval(None, 0.0, None), Duration::from_secs(1));
    }
}
