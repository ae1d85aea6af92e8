//! Counting within a time window, per key, with bounded memory: a key's window starts at its
//! first event and restarts once it is older than the window; each key fires at most once per
//! window; expired keys are dropped when the table grows.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::hash::Hash;

/// Keys kept before expired ones are swept.
const SWEEP_AT: usize = 500_000;

struct Slot<V> {
    start: i64,
    last: i64,
    values: Values<V>,
    attempts: usize,
    fired: bool,
}

/// A slot's distinct values: the first inline (most keys are seen once, and a set per key was
/// an allocation per key), the rest in a set.
enum Values<V> {
    None,
    One(V),
    Many(HashSet<V>),
}

impl<V: Hash + Eq> Values<V> {
    fn len(&self) -> usize {
        match self {
            Values::None => 0,
            Values::One(_) => 1,
            Values::Many(s) => s.len(),
        }
    }

    fn insert(&mut self, v: V) {
        match self {
            Values::None => *self = Values::One(v),
            Values::One(first) if *first == v => {}
            Values::One(_) => {
                let Values::One(first) = std::mem::replace(self, Values::None) else {
                    return;
                };
                let mut set = HashSet::with_capacity(4);
                set.insert(first);
                set.insert(v);
                *self = Values::Many(set);
            }
            Values::Many(s) => {
                s.insert(v);
            }
        }
    }
}

pub struct Distinct<K, V> {
    window: i64,
    slots: HashMap<K, Slot<V>>,
}

impl<K: Hash + Eq + Clone, V: Hash + Eq> Distinct<K, V> {
    pub fn new(window: i64) -> Self {
        Distinct {
            window,
            slots: HashMap::new(),
        }
    }

    /// Adds `value` for `key` at time `t` (seconds); returns (distinct values, attempts, first
    /// seen) the first time the distinct count reaches `min` in this window, or the attempts
    /// count does when `by_attempts`.
    pub fn add(
        &mut self,
        key: K,
        value: V,
        t: i64,
        min: usize,
        by_attempts: bool,
    ) -> Option<(usize, usize, i64)> {
        if self.slots.len() > SWEEP_AT {
            let w = self.window;
            self.slots.retain(|_, s| t - s.last <= w);
        }
        let slot = self.slots.entry(key).or_insert_with(|| Slot {
            start: t,
            last: t,
            values: Values::None,
            attempts: 0,
            fired: false,
        });
        if t - slot.start > self.window {
            *slot = Slot {
                start: t,
                last: t,
                values: Values::None,
                attempts: 0,
                fired: false,
            };
        }
        slot.last = slot.last.max(t);
        slot.attempts += 1;
        if slot.values.len() < min.max(1) * 4 {
            slot.values.insert(value);
        }
        let n = if by_attempts {
            slot.attempts
        } else {
            slot.values.len()
        };
        if !slot.fired && n >= min {
            slot.fired = true;
            return Some((slot.values.len(), slot.attempts, slot.start));
        }
        None
    }
}
