//! Bounded nonce replay cache. A nonce is remembered until the last instant its signature could
//! still be accepted; after that the time window alone refuses a replay.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Mutex;

use super::SignatureError;

/// Remembers (key id, nonce) pairs of accepted signatures.
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashSet<(String, String)>,
    // Earliest forget-time first.
    expiry: BinaryHeap<Reverse<(i64, String, String)>>,
}

impl ReplayCache {
    /// A cache holding at most `capacity` live nonces.
    pub fn new(capacity: usize) -> Self {
        ReplayCache {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// Records the nonce, or refuses it if already seen. `forget_after` is the unix time after
    /// which the signature would be refused anyway. When the cache is full of live nonces the
    /// request is refused (never silently forgotten, which would reopen a replay window).
    pub fn check_and_insert(
        &self,
        kid: &str,
        nonce: &str,
        forget_after: i64,
        now: i64,
    ) -> Result<(), SignatureError> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| SignatureError::ReplayCacheFull)?;
        while let Some(Reverse((t, _, _))) = inner.expiry.peek() {
            if *t >= now {
                break;
            }
            if let Some(Reverse((_, k, n))) = inner.expiry.pop() {
                inner.seen.remove(&(k, n));
            }
        }
        let key = (kid.to_owned(), nonce.to_owned());
        if inner.seen.contains(&key) {
            return Err(SignatureError::ReplayedNonce);
        }
        if inner.seen.len() >= self.capacity {
            return Err(SignatureError::ReplayCacheFull);
        }
        inner.seen.insert(key.clone());
        inner.expiry.push(Reverse((forget_after, key.0, key.1)));
        Ok(())
    }

    /// Number of live nonces.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.seen.len()).unwrap_or(0)
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_of_a_nonce_is_refused_until_it_expires() {
        let cache = ReplayCache::new(10);
        cache.check_and_insert("k", "n1", 100, 50).unwrap();
        assert!(matches!(
            cache.check_and_insert("k", "n1", 100, 60),
            Err(SignatureError::ReplayedNonce)
        ));
        // Same nonce under another key is a different signature.
        cache.check_and_insert("k2", "n1", 100, 60).unwrap();
        // After its forget time it is purged (the time window refuses it by then).
        cache.check_and_insert("k", "n1", 200, 101).unwrap();
    }

    #[test]
    fn full_cache_refuses_instead_of_forgetting_live_nonces() {
        let cache = ReplayCache::new(2);
        cache.check_and_insert("k", "a", 100, 0).unwrap();
        cache.check_and_insert("k", "b", 100, 0).unwrap();
        assert!(matches!(
            cache.check_and_insert("k", "c", 100, 0),
            Err(SignatureError::ReplayCacheFull)
        ));
        assert!(matches!(
            cache.check_and_insert("k", "a", 100, 1),
            Err(SignatureError::ReplayedNonce)
        ));
        // Once the old ones expire there is room again.
        cache.check_and_insert("k", "c", 300, 101).unwrap();
        assert_eq!(cache.len(), 1);
    }
}
