//! The work request parsing does, counted for the tests' bound on work per byte of input
//! (tests/fuzz.rs): every loop over a request's data counts a step for each item it
//! visits, each comparison it makes with another item and each hash-table probe. A loop
//! that compares each pair with all the others shows as steps growing with the square of
//! the input, which a timer on a shared machine could not tell from noise.
//!
//! Counting is on only with the `steps` feature, which only the tests' crate turns on;
//! without it [`step`] is empty and compiles to nothing.

#[cfg(feature = "steps")]
thread_local! {
    static COUNT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One unit of parsing work.
#[inline(always)]
pub(crate) fn step() {
    #[cfg(feature = "steps")]
    COUNT.with(|count| count.set(count.get() + 1));
}

/// The steps counted on this thread since the last call (the count starts again at 0).
#[cfg(feature = "steps")]
pub fn take() -> u64 {
    COUNT.with(|count| count.replace(0))
}
