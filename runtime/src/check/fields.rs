//! The name/value pairs, parts and members a request holds: at most
//! `gateway.limits.max_fields` in one place (a 400 beyond, as soon as they are counted),
//! and looked up by hash. A client chooses how many there are, so no lookup may compare
//! one with every other (a form of 20,000 distinct names cost 155 ms of CPU that way,
//! 200,000 a hundred times more).
//!
//! Hashes are seeded at random per table (foldhash's `quality` state), so a client cannot
//! choose names that collide.

use std::borrow::Cow;
use std::hash::{BuildHasherDefault, Hasher};

use crate::base::problem::{FieldError, Problem};
use crate::check::steps::step;

/// What a place holding more than `max` `things` (`name=value pairs`, `parts`,
/// `members`) is told, after what names the place.
pub(crate) fn too_many(max: usize, things: &str) -> String {
    format!("has more than {max} {things}, the most `gateway.limits.max_fields` allows")
}

/// The 400 for a whole query string or body holding too many: `place` names it in the
/// detail (`the query string`), `location` and `pointer` in the error listed.
pub(crate) fn too_many_problem(
    location: &'static str,
    pointer: Option<String>,
    place: &str,
    max: usize,
    things: &str,
) -> Problem {
    let message = too_many(max, things);
    let detail = format!("{place} {message}");
    let mut problem = Problem::invalid_request(vec![FieldError {
        location,
        name: None,
        pointer,
        message,
    }]);
    problem.detail = detail;
    problem
}

/// The hash state of every table keyed by what a client sent.
pub(crate) type RandomState = foldhash::quality::RandomState;

/// Values grouped by name, the names in the order first seen: one hash probe a pair.
pub(crate) type Grouped<'v, V> = indexmap::IndexMap<Cow<'v, str>, Vec<V>, RandomState>;

pub(crate) fn grouped<'v, V>() -> Grouped<'v, V> {
    Grouped::with_hasher(RandomState::default())
}

/// Adds `value` to the values of `name`.
pub(crate) fn group<'v, V>(groups: &mut Grouped<'v, V>, name: Cow<'v, str>, value: V) {
    step();
    groups.entry(name).or_default().push(value);
}

/// The hasher of a set whose keys are hashes already.
pub(crate) type Prehashed = BuildHasherDefault<Identity>;

#[derive(Default)]
pub(crate) struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The first item equal to an earlier one, as `(earlier, later)`: pairwise for a few items,
/// beyond through `hash`, under which equal items must hash alike (an equal hash sends us
/// back to compare the items themselves, which only equal items or a true collision of
/// randomly seeded 64-bit hashes cause).
pub(crate) fn first_repeat<T>(
    items: &[T],
    hash: impl Fn(&RandomState, &T) -> u64,
    equal: impl Fn(&T, &T) -> bool,
) -> Option<(usize, usize)> {
    let earlier = |i: usize| {
        items[..i].iter().position(|b| {
            step();
            equal(&items[i], b)
        })
    };
    if items.len() <= 16 {
        return (1..items.len()).find_map(|i| earlier(i).map(|j| (j, i)));
    }
    let state = RandomState::default();
    let mut seen: std::collections::HashSet<u64, Prehashed> =
        std::collections::HashSet::with_capacity_and_hasher(items.len(), Prehashed::default());
    for (i, item) in items.iter().enumerate() {
        step();
        if !seen.insert(hash(&state, item))
            && let Some(j) = earlier(i)
        {
            return Some((j, i));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_found_pairwise_and_by_hash() {
        let hash = |state: &RandomState, item: &u32| std::hash::BuildHasher::hash_one(state, item);
        let equal = |a: &u32, b: &u32| a == b;
        assert_eq!(first_repeat(&[1, 2, 3, 2, 1], hash, equal), Some((1, 3)));
        assert_eq!(first_repeat::<u32>(&[], hash, equal), None);
        let mut long: Vec<u32> = (0..100).collect();
        assert_eq!(first_repeat(&long, hash, equal), None);
        long.push(42);
        assert_eq!(first_repeat(&long, hash, equal), Some((42, 100)));
        // Equal by `equal`, not by value: the hash must agree with it (here, parity).
        let parity =
            |state: &RandomState, item: &u32| std::hash::BuildHasher::hash_one(state, item % 2);
        let same_parity = |a: &u32, b: &u32| a % 2 == b % 2;
        assert_eq!(first_repeat(&long[..40], parity, same_parity), Some((0, 2)));
    }

    #[test]
    fn groups_keep_the_order_first_seen() {
        let mut groups = grouped();
        for (name, value) in [("b", 1), ("a", 2), ("b", 3)] {
            group(&mut groups, Cow::Borrowed(name), value);
        }
        let groups: Vec<(&str, Vec<i32>)> = groups
            .iter()
            .map(|(k, v)| (k.as_ref(), v.clone()))
            .collect();
        assert_eq!(groups, [("b", vec![1, 3]), ("a", vec![2])]);
    }
}
