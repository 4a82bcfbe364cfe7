//! The memory bound of the in-memory rate limiter: a million distinct keys through one
//! policy, in-process, measured with a counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use openapi_gateway_runtime::ratelimit::{Limiter, MAX_KEYS, MAX_TABLE_BYTES};
use openapi_gateway_runtime::{OnStoreFailure, RateKey, RateLimit};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static POLICY: RateLimit = RateLimit {
    name: "per-ip",
    count: 100,
    period: Duration::from_secs(60),
    burst: 20,
    key: RateKey::Ip,
    ipv6_prefix: 64,
    on_store_failure: OnStoreFailure::Allow,
    allowed_headers: true,
};

#[test]
fn a_million_distinct_keys_stay_within_the_bound() {
    let before = LIVE.load(Ordering::Relaxed);
    let limiter = Limiter::new(&POLICY);
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    // A million clients within a millisecond: none is idle, so only the cap holds the map.
    for i in 0..1_000_000u64 {
        let key = limiter.key_of(&i.to_le_bytes());
        let quota = limiter.check_at(key, i);
        assert_eq!(quota.retry_after, None);
    }
    let keys = limiter.len();
    let held = LIVE.load(Ordering::Relaxed) - before;
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "1,000,000 keys: {keys} tracked (cap {MAX_KEYS}), {held} bytes held, {peak} bytes at peak (bound {MAX_TABLE_BYTES})"
    );
    assert!(keys <= MAX_KEYS);
    assert!(keys >= MAX_KEYS / 2, "the cap evicts only what it must");
    // The tables, plus the shard vector and one transient eviction buffer.
    assert!(held <= MAX_TABLE_BYTES + 64 * 1024, "{held}");
    assert!(peak <= MAX_TABLE_BYTES + 64 * 1024, "{peak}");
}
