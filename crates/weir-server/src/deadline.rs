//! The time limit of a request, without a tokio timer per request.
//!
//! Almost every request waits once (for its body, right after the
//! headers), and a tokio timer armed at that wait takes the timer wheel's
//! lock and, often, a write to the I/O driver's eventfd to re-plan its
//! sleep: a system call per request, measured as about 6 % of the server's
//! time under load. Here a waiting request only puts its waker in a shared
//! table; one task sweeps the table a few times per limit and wakes the
//! requests whose time is up, which then answer 408. A limit is so
//! enforced up to one sweep late (a tenth of it, at most a second).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::error::ServerError;

/// Requests waiting, by slot: when their time is up, and how to wake them.
pub(crate) struct Deadlines {
    limit: Duration,
    waiting: Mutex<HashMap<u64, (Instant, Waker)>>,
    next: AtomicU64,
    sweeper: OnceLock<()>,
}

impl Deadlines {
    pub(crate) fn new(limit: Duration) -> Arc<Deadlines> {
        Arc::new(Deadlines {
            limit,
            waiting: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            sweeper: OnceLock::new(),
        })
    }

    fn tick(&self) -> Duration {
        (self.limit / 10).clamp(Duration::from_millis(5), Duration::from_secs(1))
    }

    fn wait(self: &Arc<Self>, deadline: Instant, waker: Waker) -> u64 {
        // The sweeper starts with the first request that waits: the router
        // may be built outside a runtime, a request never is.
        self.sweeper.get_or_init(|| {
            let me = Arc::downgrade(self);
            tokio::spawn(sweep(me, self.tick()));
        });
        let slot = self.next.fetch_add(1, Ordering::Relaxed);
        self.waiting.lock().unwrap().insert(slot, (deadline, waker));
        slot
    }

    fn rewake(&self, slot: u64, waker: &Waker) {
        if let Some((_, w)) = self.waiting.lock().unwrap().get_mut(&slot)
            && !w.will_wake(waker)
        {
            *w = waker.clone();
        }
    }

    fn done(&self, slot: u64) {
        self.waiting.lock().unwrap().remove(&slot);
    }
}

/// Wakes the requests whose time is up, until the server is gone.
async fn sweep(deadlines: Weak<Deadlines>, tick: Duration) {
    let mut every = tokio::time::interval(tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(d) = deadlines.upgrade() else { return };
        let now = Instant::now();
        let due: Vec<Waker> = (d.waiting.lock().unwrap())
            .extract_if(|_, (at, _)| *at <= now)
            .map(|(_, (_, w))| w)
            .collect();
        due.into_iter().for_each(Waker::wake);
    }
}

#[derive(Clone)]
pub(crate) struct DeadlineLayer(pub Arc<Deadlines>);

impl<S> Layer<S> for DeadlineLayer {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            deadlines: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Limited<S> {
    inner: S,
    deadlines: Arc<Deadlines>,
}

impl<S> Service<Request> for Limited<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = InTime<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        InTime {
            inner: self.inner.call(req),
            deadline: Instant::now() + self.deadlines.limit,
            slot: None,
            deadlines: self.deadlines.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, or 408 when its time is up first.
    pub(crate) struct InTime<F> {
        #[pin]
        inner: F,
        deadline: Instant,
        slot: Option<u64>,
        deadlines: Arc<Deadlines>,
    }

    impl<F> PinnedDrop for InTime<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(slot) = this.slot.take() {
                this.deadlines.done(slot);
            }
        }
    }
}

impl<F> Future for InTime<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(r) = this.inner.poll(cx) {
            return Poll::Ready(r);
        }
        if Instant::now() >= *this.deadline {
            let limit = this.deadlines.limit;
            return Poll::Ready(Ok(ServerError::Timeout(format!(
                "the request took longer than the server's limit of {limit:?}"
            ))
            .into_response()));
        }
        match *this.slot {
            None => *this.slot = Some(this.deadlines.wait(*this.deadline, cx.waker().clone())),
            Some(slot) => this.deadlines.rewake(slot, cx.waker()),
        }
        Poll::Pending
    }
}
