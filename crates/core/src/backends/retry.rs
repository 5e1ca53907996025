//! Retries with exponential backoff for idempotent backend calls: what is worth repeating
//! (no connection, 5xx, 429) and how long to wait between attempts.

use std::future::Future;
use std::time::Duration;

use super::BackendError;

/// How often and how patiently an idempotent call is repeated after a transient failure.
///
/// Retried: no connection or a broken one, HTTP 5xx and 429. Xinference also answers 500 for
/// requests that will never succeed (an embedding call on a chat model); those cost
/// `max_attempts - 1` quick retries before the error surfaces, which is cheaper than missing a
/// worker restart. Not retried: timeouts (the server is busy; repeating adds load while the
/// first request may still be running), 4xx refusals, protocol and stream errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// One attempt only.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait after failed attempt `attempt` (1-based): exponential, capped, with ±25 % jitter
    /// so that concurrent batches that failed together do not come back together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let base = exp.min(self.max_backoff);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let factor = 0.75 + f64::from(nanos % 1000) / 2000.0;
        base.mul_f64(factor)
    }

    /// Runs `op` until it succeeds, fails for good, or the attempts are used up.
    pub(crate) async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, BackendError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if attempt < self.max_attempts && is_transient(&e) => {
                    let wait = self.backoff(attempt);
                    tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

fn is_transient(e: &BackendError) -> bool {
    match e {
        BackendError::Unreachable { .. } => true,
        BackendError::Http { status, .. } => *status >= 500 || *status == 429,
        _ => false,
    }
}
