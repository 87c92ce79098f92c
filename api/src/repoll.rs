//! Poll a connection again at once when it wakes itself, instead of going back to tokio's
//! scheduler.
//!
//! Serving one request, the connection's task wakes itself twice while it runs: hyper's body
//! channel, when the handler reads the body, signals the connection's own dispatcher; and
//! async-graphql, which resolves a query's fields in a `FuturesUnordered`, wakes its task and
//! returns `Pending` whenever every field is waiting (a page's or a posting's statement sent to
//! the database, say: "yield, so other tasks are not starved"). In tokio's multi-threaded
//! runtime a task woken while it runs is queued again behind the others, and a parked worker
//! is woken to share the work: a futex wake, a context switch on a thread that then finds
//! nothing to do, and the whole connection (hyper, axum, the handler) polled once more — ~1.6
//! futex calls per request on a lookup by id (`strace -c -f`). Here such a self-wake is
//! noticed and the connection polled again straight away, at most [`MAX_PASSES`] times per
//! poll; after that the yield goes to the scheduler as meant. A wake from anywhere else (the
//! database's reply, the socket, a timer) reaches the task as before.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Passes per poll before a self-wake is handed to the scheduler: enough for a yield that
/// finds nothing left to do (the second pass returns `Pending` without waking), few enough
/// that a connection that keeps yielding (hyper does, every 16 rounds of its loop) still lets
/// other tasks run.
const MAX_PASSES: usize = 4;

/// `fut`, with its self-wakes answered by polling it again (see the module's text).
pub async fn repoll<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let relay = Arc::new(Relay {
        polling: AtomicBool::new(false),
        woken: AtomicBool::new(false),
        task: Mutex::new(Waker::noop().clone()),
    });
    let waker = Waker::from(relay.clone());
    std::future::poll_fn(move |cx| {
        relay.follow(cx.waker());
        let mut inner = Context::from_waker(&waker);
        for _ in 0..MAX_PASSES {
            relay.polling.store(true, SeqCst);
            let polled = fut.as_mut().poll(&mut inner);
            relay.polling.store(false, SeqCst);
            if polled.is_ready() {
                return polled;
            }
            if !relay.woken.swap(false, SeqCst) {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// The waker the connection sees: during its own poll a wake only marks it for another pass;
/// at any other time it wakes the task.
struct Relay {
    polling: AtomicBool,
    woken: AtomicBool,
    task: Mutex<Waker>,
}

impl Relay {
    fn follow(&self, task: &Waker) {
        let mut current = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if !current.will_wake(task) {
            *current = task.clone();
        }
    }

    fn wake_task(&self) {
        self.task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wake_by_ref();
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.polling.load(SeqCst) {
            return self.wake_task();
        }
        self.woken.store(true, SeqCst);
        // The poll may have ended between the two loads (a wake from another thread) and
        // already looked at `woken`: then whichever of the two takes the mark acts on it, so
        // the wake is never lost.
        if !self.polling.load(SeqCst) && self.woken.swap(false, SeqCst) {
            self.wake_task();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Wakes itself `yields` times (as `FuturesUnordered` does), then is ready.
    struct Yielding {
        yields: usize,
        polls: Arc<AtomicUsize>,
    }

    impl Future for Yielding {
        type Output = &'static str;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            self.polls.fetch_add(1, SeqCst);
            if self.yields == 0 {
                return Poll::Ready("done");
            }
            self.yields -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    struct Counting(AtomicUsize);
    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn a_self_wake_is_a_second_pass_not_a_trip_through_the_scheduler() {
        let task = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let polls = Arc::new(AtomicUsize::new(0));
        let mut fut = Box::pin(repoll(Yielding {
            yields: 2,
            polls: polls.clone(),
        }));
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready("done"));
        assert_eq!(polls.load(SeqCst), 3, "polled again at once, twice");
        assert_eq!(task.0.load(SeqCst), 0, "the task was never woken");
    }

    #[test]
    fn a_future_that_keeps_yielding_still_yields_to_the_scheduler() {
        let task = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let polls = Arc::new(AtomicUsize::new(0));
        let mut fut = Box::pin(repoll(Yielding {
            yields: 100,
            polls: polls.clone(),
        }));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.load(SeqCst), MAX_PASSES);
        assert_eq!(
            task.0.load(SeqCst),
            1,
            "the last self-wake went to the task"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wake_from_elsewhere_reaches_the_task() {
        // A timer and a channel woken from another task: both must complete.
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let _ = tx.send(7);
        });
        let got = repoll(async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            rx.await.unwrap()
        });
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), got)
            .await
            .expect("woken");
        assert_eq!(got, 7);
    }
}
