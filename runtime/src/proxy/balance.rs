//! Choosing an instance: the [`Balancer`] trait and its four algorithms.
//!
//! A balancer is built for one snapshot of a service's instances (so its state, such as
//! the smooth weighted round robin's current weights, always matches the instance list)
//! and chooses among the candidates the caller passes: the instances that are healthy,
//! not ejected, whose breaker lets a request through, and not yet tried by this request.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::hash;
use super::instance::Entry;
use super::policy::Balance;

/// Chooses one of `candidates` (indices into `entries`, never empty). `key` is the
/// request's hash key, for the algorithms that use one.
pub(crate) trait Balancer: Send + Sync + std::fmt::Debug {
    fn pick(&self, entries: &[Entry], candidates: &[usize], key: Option<u64>) -> usize;
}

pub(crate) fn new(balance: Balance, entries: &[Entry]) -> Box<dyn Balancer> {
    match balance {
        Balance::RoundRobin => Box::new(RoundRobin::default()),
        Balance::Weighted => Box::new(Weighted {
            current: Mutex::new(vec![0; entries.len()]),
        }),
        Balance::LeastRequests => Box::new(LeastRequests),
        Balance::ConsistentHash(_) => Box::new(ConsistentHash),
    }
}

/// Each candidate in turn.
#[derive(Debug, Default)]
pub(crate) struct RoundRobin {
    next: AtomicUsize,
}

impl Balancer for RoundRobin {
    fn pick(&self, _entries: &[Entry], candidates: &[usize], _key: Option<u64>) -> usize {
        candidates[self.next.fetch_add(1, Ordering::Relaxed) % candidates.len()]
    }
}

/// nginx's smooth weighted round robin: every pick adds each candidate's weight to its
/// current weight, takes the largest, and subtracts the candidates' total from it. Weights
/// 5, 1, 1 give `a a b a c a a`, not `a a a a a b c`.
#[derive(Debug)]
pub(crate) struct Weighted {
    current: Mutex<Vec<i64>>,
}

impl Balancer for Weighted {
    fn pick(&self, entries: &[Entry], candidates: &[usize], _key: Option<u64>) -> usize {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0i64;
        let mut best = candidates[0];
        let mut best_weight = i64::MIN;
        for &index in candidates {
            let weight = i64::from(entries[index].weight);
            total += weight;
            current[index] += weight;
            if current[index] > best_weight {
                best_weight = current[index];
                best = index;
            }
        }
        current[best] -= total;
        best
    }
}

/// Power of two choices: two random candidates, the one with fewer requests in flight
/// (ties go to the heavier weight). Nearly as good as scanning every instance, at the cost
/// of two loads.
#[derive(Debug)]
pub(crate) struct LeastRequests;

impl Balancer for LeastRequests {
    fn pick(&self, entries: &[Entry], candidates: &[usize], _key: Option<u64>) -> usize {
        if candidates.len() == 1 {
            return candidates[0];
        }
        let random = hash::random();
        let n = candidates.len() as u64;
        let first = (random % n) as usize;
        // A second, different one.
        let second = (first + 1 + ((random >> 32) % (n - 1)) as usize) % candidates.len();
        let (a, b) = (candidates[first], candidates[second]);
        let load = |i: usize| {
            // Load per unit of weight, compared without division.
            let in_flight = u64::from(entries[i].instance.in_flight.load(Ordering::Relaxed));
            (in_flight, u64::from(entries[i].weight.max(1)))
        };
        let ((la, wa), (lb, wb)) = (load(a), load(b));
        match (la * wb).cmp(&(lb * wa)) {
            std::cmp::Ordering::Less => a,
            std::cmp::Ordering::Greater => b,
            std::cmp::Ordering::Equal if wb > wa => b,
            std::cmp::Ordering::Equal => a,
        }
    }
}

/// Rendezvous (highest random weight) hashing: each candidate scores the key, the best
/// score wins. When an instance leaves, only the keys it had move; each to wherever it
/// scores second, so the load spreads evenly. Weighted by `-weight / ln(score)`. A request
/// without a key goes to a random candidate.
#[derive(Debug)]
pub(crate) struct ConsistentHash;

impl Balancer for ConsistentHash {
    fn pick(&self, entries: &[Entry], candidates: &[usize], key: Option<u64>) -> usize {
        let Some(key) = key else {
            return candidates[(hash::random() % candidates.len() as u64) as usize];
        };
        let mut best = candidates[0];
        let mut best_score = f64::NEG_INFINITY;
        for &index in candidates {
            let entry = &entries[index];
            let hash = hash::mix(key ^ entry.instance.url_hash);
            // A uniform number in (0, 1).
            let unit = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let score = -f64::from(entry.weight.max(1)) / unit.ln();
            if score > best_score {
                best_score = score;
                best = index;
            }
        }
        best
    }
}
