//! `Idempotency-Key` on pushes (DESIGN sections 4 and 9).
//!
//! A key is scoped to one pusher (token subject) and one source, so two systems cannot collide.
//! The first push with a key binds it to that push's batch id (the body's SHA-256) once the batch
//! is acknowledged, together with the answer it got. Afterwards:
//!
//! - the same key with the same body is answered with the original answer (nothing changes);
//! - the same key with another body is refused (422): the client reused a key by mistake;
//! - the same key while the first push is still in flight is refused (409, retry later).
//!
//! A push that fails before its acknowledgement releases its key, so a retry can run it again.
//! Retention is bounded by age ([`RETENTION`]) and by the bytes of the kept answers
//! ([`MAX_ANSWER_BYTES`]); the oldest bindings go first. Bindings live in memory: after a
//! restart a key is forgotten, but the same body is still recognised by its batch id.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a binding is kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Most bytes of kept answers (the answers hold up to 1000 row problems each).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 128;

/// Whether a client's key is acceptable: 1 to 128 visible ASCII characters (it is audited).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Scope {
    pusher: String,
    source: String,
    key: String,
}

#[derive(Debug)]
enum Binding {
    InFlight {
        batch_id: [u8; 32],
    },
    Done {
        batch_id: [u8; 32],
        answer: Arc<Vec<u8>>,
        at: Instant,
    },
}

impl Binding {
    fn batch_id(&self) -> &[u8; 32] {
        match self {
            Binding::InFlight { batch_id } | Binding::Done { batch_id, .. } => batch_id,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Scope, (u64, Binding)>,
    /// Completed bindings, oldest first, as `(scope, generation)`; stale rows are skipped.
    order: VecDeque<(Scope, u64)>,
    bytes: usize,
    generation: u64,
}

impl Inner {
    fn evict(&mut self, now: Instant, budget: usize) {
        while let Some((scope, generation)) = self.order.front().cloned() {
            let expired_or_over = match self.map.get(&scope) {
                Some((g, Binding::Done { at, .. })) if *g == generation => {
                    self.bytes > budget || now.duration_since(*at) >= RETENTION
                }
                // Replaced or released since: the row is stale.
                _ => {
                    self.order.pop_front();
                    continue;
                }
            };
            if !expired_or_over {
                break;
            }
            self.order.pop_front();
            if let Some((_, Binding::Done { answer, .. })) = self.map.remove(&scope) {
                self.bytes -= answer.len();
            }
        }
    }
}

/// The gateway's idempotency keys.
#[derive(Debug)]
pub struct IdempotencyKeys {
    inner: Mutex<Inner>,
    budget: usize,
}

impl Default for IdempotencyKeys {
    fn default() -> Self {
        IdempotencyKeys::with_budget(MAX_ANSWER_BYTES)
    }
}

/// What a key means for a push.
#[derive(Debug)]
pub enum Claim<'a> {
    /// A new key: the push goes ahead; [`Pending::complete`] binds the answer.
    New(Pending<'a>),
    /// The same key and body were answered before: answer this again.
    Replay(Arc<Vec<u8>>),
    /// The same key and body are being pushed right now.
    InFlight,
    /// The key was used for another body (its batch id is given).
    Mismatch([u8; 32]),
}

/// A key held by a push in flight; released on drop unless completed.
#[derive(Debug)]
pub struct Pending<'a> {
    keys: &'a IdempotencyKeys,
    scope: Scope,
    generation: u64,
    done: bool,
}

impl IdempotencyKeys {
    /// Keys whose kept answers may total `budget` bytes.
    pub fn with_budget(budget: usize) -> IdempotencyKeys {
        IdempotencyKeys {
            inner: Mutex::new(Inner::default()),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks a key up for a push of `batch_id`, claiming it when it is new.
    pub fn claim(
        &self,
        pusher: &str,
        source: &str,
        key: &str,
        batch_id: [u8; 32],
        now: Instant,
    ) -> Claim<'_> {
        let scope = Scope {
            pusher: pusher.to_string(),
            source: source.to_string(),
            key: key.to_string(),
        };
        let mut inner = self.lock();
        inner.evict(now, self.budget);
        if let Some((_, b)) = inner.map.get(&scope) {
            if *b.batch_id() != batch_id {
                return Claim::Mismatch(*b.batch_id());
            }
            return match b {
                Binding::InFlight { .. } => Claim::InFlight,
                Binding::Done { answer, .. } => Claim::Replay(answer.clone()),
            };
        }
        inner.generation += 1;
        let generation = inner.generation;
        inner
            .map
            .insert(scope.clone(), (generation, Binding::InFlight { batch_id }));
        Claim::New(Pending {
            keys: self,
            scope,
            generation,
            done: false,
        })
    }

    /// Bindings kept (in flight or answered).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no key is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Pending<'_> {
    /// Binds the key to the answer of its acknowledged push.
    pub fn complete(mut self, answer: Vec<u8>, now: Instant) {
        self.done = true;
        let keys = self.keys;
        let mut inner = keys.lock();
        let Some((g, b)) = inner.map.get_mut(&self.scope) else {
            return;
        };
        if *g != self.generation {
            return;
        }
        let batch_id = *b.batch_id();
        let len = answer.len();
        *b = Binding::Done {
            batch_id,
            answer: Arc::new(answer),
            at: now,
        };
        inner.bytes += len;
        inner.order.push_back((self.scope.clone(), self.generation));
        inner.evict(now, keys.budget);
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut inner = self.keys.lock();
        if inner
            .map
            .get(&self.scope)
            .is_some_and(|(g, _)| *g == self.generation)
        {
            inner.map.remove(&self.scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [1; 32];
    const B: [u8; 32] = [2; 32];

    #[test]
    fn same_key_same_body_replays_the_answer_and_another_body_is_a_mismatch() {
        let keys = IdempotencyKeys::default();
        let now = Instant::now();
        let Claim::New(p) = keys.claim("sys", "gd-hr", "k1", A, now) else {
            panic!("first use must be new");
        };
        assert!(matches!(
            keys.claim("sys", "gd-hr", "k1", A, now),
            Claim::InFlight
        ));
        p.complete(b"answer".to_vec(), now);
        match keys.claim("sys", "gd-hr", "k1", A, now) {
            Claim::Replay(a) => assert_eq!(a.as_slice(), b"answer"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            keys.claim("sys", "gd-hr", "k1", B, now),
            Claim::Mismatch(id) if id == A
        ));
    }

    #[test]
    fn keys_are_scoped_per_pusher_and_source() {
        let keys = IdempotencyKeys::default();
        let now = Instant::now();
        let Claim::New(p) = keys.claim("sys", "gd-hr", "k1", A, now) else {
            panic!()
        };
        p.complete(b"x".to_vec(), now);
        assert!(matches!(
            keys.claim("other", "gd-hr", "k1", B, now),
            Claim::New(_)
        ));
        assert!(matches!(
            keys.claim("sys", "gd-edu", "k1", B, now),
            Claim::New(_)
        ));
    }

    #[test]
    fn a_failed_push_releases_its_key() {
        let keys = IdempotencyKeys::default();
        let now = Instant::now();
        drop(keys.claim("sys", "gd-hr", "k1", A, now));
        assert!(keys.is_empty());
        assert!(matches!(
            keys.claim("sys", "gd-hr", "k1", B, now),
            Claim::New(_)
        ));
    }

    #[test]
    fn retention_is_bounded_by_age_and_bytes() {
        let keys = IdempotencyKeys::with_budget(10);
        let now = Instant::now();
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            let Claim::New(p) = keys.claim("sys", "s", k, [i as u8; 32], now) else {
                panic!()
            };
            p.complete(vec![0; 4], now);
        }
        // 12 bytes over a budget of 10: the oldest binding went.
        assert_eq!(keys.len(), 2);
        assert!(matches!(keys.claim("sys", "s", "a", B, now), Claim::New(_)));
        let later = now + RETENTION;
        assert!(matches!(
            keys.claim("sys", "s", "b", B, later),
            Claim::New(_)
        ));
        assert_eq!(keys.len(), 0, "expired bindings are dropped");
    }

    #[test]
    fn only_visible_ascii_keys_up_to_128_are_valid() {
        assert!(valid_key("order-2026-03-05/7"));
        assert!(!valid_key(""));
        assert!(!valid_key("with space"));
        assert!(!valid_key("键"));
        assert!(!valid_key(&"k".repeat(129)));
    }
}
