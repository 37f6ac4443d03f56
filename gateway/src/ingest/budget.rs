//! The ingest memory budget: one bound, set by `limits.ingest_memory_bytes`, on the memory that
//! every push in flight holds for its body and the journal entry decoded from it.
//!
//! A push reserves [`INGEST_MEMORY_FACTOR`] bytes per body byte: all at once when the body
//! declares its length, chunk by chunk as a chunked body arrives. A push that cannot get its
//! share within [`WAIT`] is refused with 503 and Retry-After, so however many pushes arrive and
//! whatever their bodies, the gateway's ingest memory stays under the configured figure. The
//! reservation is released when the push is answered.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::INGEST_MEMORY_FACTOR;

/// Budget unit: permits are KiB, so a `u32` count covers terabytes.
const UNIT: u64 = 1024;

/// How long a push waits for budget before it is refused.
pub const WAIT: Duration = Duration::from_secs(2);

/// The shared budget.
#[derive(Clone)]
pub struct IngestBudget {
    permits: Arc<Semaphore>,
    total_units: u32,
}

/// The budget could not be had in time.
#[derive(Debug, thiserror::Error)]
#[error("the gateway's ingest memory ({total_bytes} bytes) is taken by other pushes")]
pub struct BudgetExhausted {
    /// The configured budget.
    pub total_bytes: u64,
}

impl IngestBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: u64) -> IngestBudget {
        let units = (bytes / UNIT).clamp(1, u64::from(u32::MAX >> 3)) as u32;
        IngestBudget {
            permits: Arc::new(Semaphore::new(units as usize)),
            total_units: units,
        }
    }

    /// Bytes not reserved now.
    pub fn available_bytes(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    /// An empty reservation, grown with [`Reservation::grow_to`].
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            held: None,
            units: 0,
        }
    }
}

/// Memory reserved by one push; released when dropped.
pub struct Reservation {
    budget: IngestBudget,
    held: Option<OwnedSemaphorePermit>,
    units: u32,
}

impl Reservation {
    /// Grows the reservation to cover a body of `body_bytes`, waiting up to [`WAIT`].
    pub async fn grow_to(&mut self, body_bytes: u64) -> Result<(), BudgetExhausted> {
        let exhausted = BudgetExhausted {
            total_bytes: u64::from(self.budget.total_units) * UNIT,
        };
        let want = body_bytes
            .saturating_mul(INGEST_MEMORY_FACTOR)
            .div_ceil(UNIT)
            .max(1);
        if want <= u64::from(self.units) {
            return Ok(());
        }
        if want > u64::from(self.budget.total_units) {
            return Err(exhausted);
        }
        let more = (want - u64::from(self.units)) as u32;
        let got = tokio::time::timeout(WAIT, self.budget.permits.clone().acquire_many_owned(more))
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(exhausted)?;
        match &mut self.held {
            Some(h) => h.merge(got),
            None => self.held = Some(got),
        }
        self.units += more;
        Ok(())
    }

    /// Bytes reserved.
    pub fn bytes(&self) -> u64 {
        u64::from(self.units) * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_add_up_and_release_on_drop() {
        let budget = IngestBudget::new(30 * 1024 * 1024);
        let mut a = budget.reservation();
        a.grow_to(6 * 1024 * 1024).await.unwrap();
        assert_eq!(a.bytes(), 6 * 1024 * 1024 * INGEST_MEMORY_FACTOR);
        let mut b = budget.reservation();
        // 18 MiB of 30 are held by `a`: 5 MiB of body (15 MiB) does not fit.
        assert!(b.grow_to(5 * 1024 * 1024).await.is_err());
        // Growing again to a smaller size takes nothing more.
        a.grow_to(1024).await.unwrap();
        assert_eq!(a.bytes(), 6 * 1024 * 1024 * INGEST_MEMORY_FACTOR);
        drop(a);
        b.grow_to(5 * 1024 * 1024).await.unwrap();
        assert_eq!(budget.available_bytes(), 15 * 1024 * 1024);
        drop(b);
        assert_eq!(budget.available_bytes(), 30 * 1024 * 1024);
    }

    #[tokio::test]
    async fn a_body_larger_than_the_whole_budget_is_refused_at_once() {
        let budget = IngestBudget::new(1024 * 1024);
        let mut r = budget.reservation();
        assert!(r.grow_to(1024 * 1024).await.is_err());
        assert_eq!(budget.available_bytes(), 1024 * 1024);
    }
}
