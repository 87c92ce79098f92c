//! What the server counts per client address, shared by the HTTP and WebSocket routes and
//! kept in the application state: the token bucket of `JOBINTEL_RATE_LIMIT` and the open
//! anonymous WebSockets of `JOBINTEL_WS_MAX_PER_ADDRESS`. Both stay bounded in memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimit;

/// Keyed state is dropped once a client's bucket is full again; this many tracked addresses
/// triggers that sweep early (at most once a second) instead of waiting for the periodic one.
const SWEEP_ABOVE: usize = 65_536;

/// A token bucket per client address (`JOBINTEL_RATE_LIMIT`). Memory is bounded: addresses
/// whose bucket has refilled are forgotten by [`RateLimiter::forget_idle`], which the server
/// calls periodically, and early when many addresses are tracked.
pub struct RateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    started: Instant,
    /// Milliseconds since `started` of the last sweep.
    last_sweep: AtomicU64,
}

impl RateLimiter {
    /// `None` when the limit is off (or too fine to express).
    pub fn new(limit: RateLimit) -> Option<Self> {
        let limit = limit.enabled()?;
        let quota = Quota::with_period(limit.per / limit.requests)?
            .allow_burst(std::num::NonZeroU32::new(limit.burst.max(1))?);
        Some(RateLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            started: Instant::now(),
            last_sweep: AtomicU64::new(0),
        })
    }

    /// `Err(wait)` when `key` is over its limit: how long until it may send again.
    pub fn check(&self, key: IpAddr) -> Result<(), Duration> {
        if self.limiter.len() > SWEEP_ABOVE {
            let now = self.started.elapsed().as_millis() as u64;
            let last = self.last_sweep.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= 1000
                && self
                    .last_sweep
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.forget_idle();
            }
        }
        self.limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Forget addresses whose bucket is full again (they behave as new ones would).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Addresses currently tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// Anonymous WebSocket connections open per client address.
#[derive(Default)]
pub struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; dropping it frees the place. The map only holds addresses with a
/// connection open, so it is bounded by `JOBINTEL_WS_MAX_CONNECTIONS`.
pub struct AddressSlot {
    owner: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    pub fn try_acquire(self: &Arc<Self>, key: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(key).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            owner: self.clone(),
            key,
        })
    }

    /// Connections counted for `key` (for tests and diagnostics).
    pub fn open(&self, key: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&key).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limiter_refuses_past_the_burst_and_forgets_refilled_addresses() {
        let limiter = RateLimiter::new(RateLimit {
            requests: 1,
            per: Duration::from_millis(50),
            burst: 2,
        })
        .unwrap();
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).unwrap_err();
        assert!(wait <= Duration::from_millis(50), "{wait:?}");
        assert!(limiter.check(b).is_ok(), "addresses have their own buckets");
        assert_eq!(limiter.tracked(), 2);
        std::thread::sleep(Duration::from_millis(150));
        limiter.forget_idle();
        assert_eq!(limiter.tracked(), 0);
        assert!(RateLimiter::new(RateLimit::OFF).is_none());
    }

    #[test]
    fn per_address_slots_are_counted_and_freed() {
        let per = Arc::new(PerAddress::default());
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let a = per.try_acquire(ip, 2).unwrap();
        let b = per.try_acquire(ip, 2).unwrap();
        assert!(per.try_acquire(ip, 2).is_none());
        assert!(per.try_acquire("203.0.113.6".parse().unwrap(), 2).is_some());
        drop(a);
        assert_eq!(per.open(ip), 1);
        drop(b);
        assert_eq!(per.open(ip), 0);
        assert!(per.open.lock().unwrap().is_empty(), "no entry left behind");
    }
}
