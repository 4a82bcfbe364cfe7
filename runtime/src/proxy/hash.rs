//! The hashes and random numbers balancing uses: FNV-1a over a key, a finalizer that
//! spreads it, and a fast random `u64`.

/// A random number (for P2C, keyless hashing and jitter); uuid's generator is already
/// linked and fast.
pub(crate) fn random() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0
}

/// FNV-1a, for hashing keys and URLs (stable across runs and builds, unlike `std`'s
/// randomly keyed hasher).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A finalizer (splitmix64's) so that close inputs give unrelated outputs.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
