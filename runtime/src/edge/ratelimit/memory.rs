//! The in-memory GCRA state of one policy: a sharded map of key hashes to theoretical
//! arrival times, bounded in keys and bytes (see the folder's documentation).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;

use http::header::HeaderMap;

use super::policy::{Caller, Quota, RateLimit};

/// Shards per policy.
pub const SHARDS: usize = 128;
/// Entries per shard, at most. Half of what a 4096-bucket table holds: hashbrown
/// rehashes a table in place (rather than doubling it) while it is at most half full, so
/// deleted entries never make a shard grow past 4096 buckets.
pub const SHARD_CAPACITY: usize = 1792;
/// Keys tracked per policy, at most (229,376).
pub const MAX_KEYS: usize = SHARDS * SHARD_CAPACITY;
/// The most bytes the tables of one policy hold: 4096 buckets of 16 bytes and 4096 + 16
/// control bytes per shard (about 8.5 MiB).
pub const MAX_TABLE_BYTES: usize = SHARDS * (4096 * 17 + 16);

/// The key is already a random 64-bit hash: the table uses it as is.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard = HashMap<u64, u64, BuildHasherDefault<Identity>>;

/// The state of one policy: GCRA over a sharded map of key hashes.
pub struct Limiter {
    pub policy: &'static RateLimit,
    /// Emission interval, nanoseconds.
    pub(crate) interval: u64,
    /// `burst * interval`, nanoseconds.
    tolerance: u64,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("policy", &self.policy.name)
            .field("keys", &self.len())
            .finish()
    }
}

impl Limiter {
    /// A limiter for `policy`; `check_policy` must accept it.
    pub fn new(policy: &'static RateLimit) -> Limiter {
        let period = u64::try_from(policy.period.as_nanos()).unwrap_or(u64::MAX);
        let interval = (period / policy.count.max(1)).max(1);
        Limiter {
            policy,
            interval,
            tolerance: interval.saturating_mul(policy.burst.max(1)),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// The key hash of a request without a verified identity.
    pub fn key(&self, client_ip: IpAddr, headers: &HeaderMap) -> u64 {
        self.key_for(&Caller {
            ip: client_ip,
            headers,
            identity: None,
        })
    }

    /// The key hash of a request.
    pub fn key_for(&self, caller: &Caller<'_>) -> u64 {
        self.hasher
            .hash_one(self.policy.key.value(caller, self.policy.ipv6_prefix))
    }

    /// The key hash of raw bytes (tests and benchmarks).
    pub fn key_of(&self, bytes: &[u8]) -> u64 {
        self.hasher.hash_one(bytes)
    }

    fn shard(&self, key: u64) -> &Mutex<Shard> {
        // Bits the table itself does not use (it takes the low bits for the bucket
        // and the top seven as tag).
        &self.shards[((key >> 32) as usize) % SHARDS]
    }

    /// One request of `key` at `now` (nanoseconds on the limiter's clock).
    pub fn check_at(&self, key: u64, now: u64) -> Quota {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let tat = shard.get(&key).copied().unwrap_or(now).max(now);
        let new_tat = tat.saturating_add(self.interval);
        if new_tat - now > self.tolerance {
            // Refused: nothing changes.
            let wait = new_tat - now - self.tolerance;
            return Quota {
                limit: self.policy.burst,
                remaining: 0,
                reset: ceil_secs(tat - now),
                retry_after: Some(ceil_secs(wait).max(1)),
            };
        }
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&key) {
            make_room(&mut shard, now);
        }
        shard.insert(key, new_tat);
        Quota {
            limit: self.policy.burst,
            remaining: (self.tolerance - (new_tat - now)) / self.interval,
            reset: ceil_secs(new_tat - now),
            retry_after: None,
        }
    }

    /// The seconds `key` must wait at `now` before `check_at` would allow it; `None` when
    /// it would. Nothing changes: the failure limit asks this before any credential is
    /// checked, and counts with `check_at` only what fails.
    pub fn wait_at(&self, key: u64, now: u64) -> Option<u64> {
        let shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        let tat = shard.get(&key).copied()?.max(now);
        let ahead = tat.saturating_add(self.interval) - now;
        (ahead > self.tolerance).then(|| ceil_secs(ahead - self.tolerance).max(1))
    }

    /// Moves `key`'s TAT up to `ahead` nanoseconds after `now` (what the shared store
    /// holds for it), never back.
    pub(crate) fn raise_at(&self, key: u64, now: u64, ahead: u64) {
        let tat = now.saturating_add(ahead);
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&key) {
            make_room(&mut shard, now);
        }
        let entry = shard.entry(key).or_insert(tat);
        *entry = (*entry).max(tat);
    }

    /// Gives back the request `check_at` just allowed (another policy refused it).
    pub fn refund(&self, key: u64, now: u64) {
        let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tat) = shard.get_mut(&key) {
            *tat = tat.saturating_sub(self.interval).max(now);
        }
    }

    /// Drops the idle keys (whose TAT has passed: their state is that of a new key).
    pub fn sweep_at(&self, now: u64) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.retain(|_, tat| *tat > now);
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A full shard: drop the idle entries, and if that is not enough, the eighth of the
/// entries nearest to idle (smallest TAT), so that the cost is amortized.
fn make_room(shard: &mut Shard, now: u64) {
    shard.retain(|_, tat| *tat > now);
    if shard.len() < SHARD_CAPACITY {
        return;
    }
    let mut tats: Vec<u64> = shard.values().copied().collect();
    let nth = SHARD_CAPACITY / 8;
    let (_, threshold, _) = tats.select_nth_unstable(nth);
    let threshold = *threshold;
    shard.retain(|_, tat| *tat > threshold);
}

fn ceil_secs(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}
