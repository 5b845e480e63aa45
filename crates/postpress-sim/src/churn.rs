//! Day-to-day churn: which items a list holds on a given day, and in which order.
//!
//! Owns the membership model of SPEC section 8. A list of `size` items with churn `F` is `size`
//! slots that start full (item `i` in slot `i`) plus about `2·F·size` slots that start empty.
//! Each day an occupied slot loses its member with probability `F`, and an empty slot gains one
//! with probability 1/2. The start is the steady state of that chain, so on every day the
//! expected size is `size`, about `F·size` items leave and about as many arrive. One arrival in
//! four is the member who last left that slot (an unfollow, then a follow again); the others are
//! new items with indices no other slot ever uses (`size + (n - 1)·slots + slot` for the slot's
//! `n`-th new item). Each slot's history is drawn from its own seeded generator, one draw per
//! stay, so any day is computed directly, in time proportional to the number of slots, not to
//! the days before it. It must not know about HTTP, cursors, caching or what an item contains.
//!
//! Served order: newest first. Members that (re)joined on a later day come first, those of the
//! same day by ascending item index; members of day 0 that never left come last, in their day-0
//! order. Day 0, and any day without churn, is therefore the list as served without churn.

use super::rng::{Rng, mix};

/// The last day a list can be asked for (100 years of daily snapshots).
pub const MAX_DAY: u32 = 36_500;

/// The largest churn used; anything above is treated as this.
const MAX_CHURN: f64 = 0.999;

/// Daily probability that an empty slot gains a member: empty for two days on average.
const FILL: f64 = 0.5;

/// One arrival in four is the member who last left the slot.
const RETURN_PER_MILLE: u64 = 250;

/// A list's members on one day, in served order: position to item index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Members {
    /// No churn or day 0: position `i` holds item `i`, for this many items.
    Identity(u64),
    /// Item indices below 2^32: four bytes per member.
    Compact(Vec<u32>),
    /// Item indices of very long histories of very large lists.
    Wide(Vec<u64>),
}

impl Members {
    /// How many items the list has.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Members::Identity(len) => *len,
            Members::Compact(v) => v.len() as u64,
            Members::Wide(v) => v.len() as u64,
        }
    }

    /// The index of the item at `position`, if the list is that long.
    pub(crate) fn index(&self, position: u64) -> Option<u64> {
        match self {
            Members::Identity(len) => (position < *len).then_some(position),
            Members::Compact(v) => {
                let i = usize::try_from(position).ok()?;
                v.get(i).map(|&x| u64::from(x))
            }
            Members::Wide(v) => v.get(usize::try_from(position).ok()?).copied(),
        }
    }

    /// Every item index, in served order.
    pub(crate) fn indices(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match self {
            Members::Identity(len) => Box::new(0..*len),
            Members::Compact(v) => Box::new(v.iter().map(|&x| u64::from(x))),
            Members::Wide(v) => Box::new(v.iter().copied()),
        }
    }

    /// Heap bytes held, for the cache's budget.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Members::Identity(_) => 0,
            Members::Compact(v) => v.len() * 4,
            Members::Wide(v) => v.len() * 8,
        }
    }
}

/// The members on `day` of a list of `size` items on day 0, with daily churn `churn`, whose
/// history is drawn from `seed` (one per list: seed, account, dataset).
pub(crate) fn members(seed: u64, size: u64, churn: f64, day: u32) -> Members {
    let churn = if churn.is_nan() {
        0.0
    } else {
        churn.clamp(0.0, MAX_CHURN)
    };
    if churn == 0.0 || day == 0 || size == 0 {
        return Members::Identity(size);
    }
    let lists = Lists {
        seed,
        size,
        slots: size.saturating_add((size as f64 * churn / FILL).round() as u64),
        leave: Geometric::new(churn),
        fill: Geometric::new(FILL),
    };
    // Day-0 members still there come in slot order, which is their served order already.
    let mut kept = Vec::new();
    let mut recent: Vec<(u32, u64)> = Vec::new();
    let mut widest = 0;
    for slot in 0..lists.slots {
        if let Some(Stay { index, since }) = lists.occupant(slot, day) {
            widest = widest.max(index);
            if since == 0 {
                kept.push(index);
            } else {
                recent.push((since, index));
            }
        }
    }
    recent.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let order = recent.into_iter().map(|(_, index)| index).chain(kept);
    if u32::try_from(widest).is_ok() {
        Members::Compact(order.map(|i| i as u32).collect())
    } else {
        Members::Wide(order.collect())
    }
}

/// The fixed parameters of one list's slots.
struct Lists {
    seed: u64,
    size: u64,
    slots: u64,
    leave: Geometric,
    fill: Geometric,
}

/// Who holds a slot, and since which day.
struct Stay {
    index: u64,
    since: u32,
}

impl Lists {
    /// The member of `slot` on `day`, if it is not empty. The draws follow the slot's history
    /// in order and stop at the first stay that lasts past `day`, so every day sees the same
    /// history.
    fn occupant(&self, slot: u64, day: u32) -> Option<Stay> {
        let mut rng = Rng(mix(self.seed ^ slot.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let day = u64::from(day);
        let mut current = (slot < self.size).then_some(slot);
        let (mut start, mut since) = (0u64, 0u64);
        let mut last_left = None;
        let mut new_items = 0u64;
        loop {
            let stay = match current {
                Some(_) => self.leave.sample(&mut rng),
                None => self.fill.sample(&mut rng),
            };
            start = start.saturating_add(stay);
            if start > day {
                break;
            }
            match current.take() {
                Some(index) => last_left = Some(index),
                None => {
                    let back = last_left.filter(|_| rng.chance(RETURN_PER_MILLE));
                    current = Some(back.unwrap_or_else(|| {
                        new_items += 1;
                        self.size
                            .saturating_add((new_items - 1).saturating_mul(self.slots))
                            .saturating_add(slot)
                    }));
                    since = start;
                }
            }
        }
        current.map(|index| Stay {
            index,
            since: since as u32,
        })
    }
}

/// Days until an event of daily probability `p` (1 or more), in one draw.
struct Geometric {
    /// `1 / ln(1 - p)`, negative.
    inv_log: f64,
}

impl Geometric {
    fn new(p: f64) -> Self {
        Self {
            inv_log: 1.0 / (-p).ln_1p(),
        }
    }

    /// P(result > k) = (1 - p)^k: `u <= (1 - p)^k` exactly when `ln u / ln(1 - p) >= k`.
    fn sample(&self, rng: &mut Rng) -> u64 {
        // `as` saturates: a stay longer than u64 days is forever.
        1 + (rng.unit().ln() * self.inv_log).floor() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn set(m: &Members) -> HashSet<u64> {
        m.indices().collect()
    }

    #[test]
    fn day_zero_and_no_churn_are_the_plain_list() {
        assert_eq!(members(1, 500, 0.3, 0), Members::Identity(500));
        assert_eq!(members(1, 500, 0.0, 9), Members::Identity(500));
        assert_eq!(members(1, 500, f64::NAN, 9), Members::Identity(500));
        assert_eq!(members(1, 0, 0.3, 9).len(), 0);
        let m = members(1, 5, 0.0, 3);
        assert_eq!(m.indices().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        assert_eq!((m.index(4), m.index(5)), (Some(4), None));
    }

    #[test]
    fn deterministic_per_seed() {
        let a = members(7, 3000, 0.05, 12);
        assert_eq!(a, members(7, 3000, 0.05, 12));
        assert_ne!(a, members(8, 3000, 0.05, 12));
        assert_ne!(a, members(7, 3000, 0.05, 13));
    }

    /// Sizes stay near N; about F of the list leaves and about as many arrive every day, by key.
    #[test]
    fn sizes_and_daily_changes() {
        let (n, f) = (10_000u64, 0.05);
        let expected = n as f64 * f;
        let mut previous = set(&members(3, n, f, 0));
        for day in 1..=30 {
            let today = members(3, n, f, day);
            let now = set(&today);
            assert_eq!(now.len() as u64, today.len(), "duplicates on day {day}");
            let size = today.len() as f64;
            assert!(
                (size - n as f64).abs() < 0.03 * n as f64,
                "day {day}: {size}"
            );
            let lost = previous.difference(&now).count() as f64;
            let gained = now.difference(&previous).count() as f64;
            for (what, count) in [("lost", lost), ("gained", gained)] {
                assert!(
                    (count - expected).abs() < 0.3 * expected,
                    "day {day}: {what} {count}, expected about {expected}"
                );
            }
            previous = now;
        }
    }

    /// Items that left come back on a later day; new items never reuse an index.
    #[test]
    fn returns_and_fresh_indices() {
        let n = 2000;
        let days: Vec<HashSet<u64>> = (0..=20).map(|d| set(&members(11, n, 0.1, d))).collect();
        let mut ever: HashSet<u64> = days[0].clone();
        let mut returns = 0;
        for d in 1..days.len() {
            for &i in &days[d] {
                if !days[d - 1].contains(&i) && ever.contains(&i) {
                    returns += 1;
                }
                assert_eq!(days[0].contains(&i), i < n, "{i}");
            }
            ever.extend(days[d].iter().copied());
        }
        assert!(returns > 20, "{returns} returns");
        assert!(ever.iter().any(|&i| i >= n), "no new items");
    }

    /// Newest first: today's arrivals lead, day-0 members that stayed close the list in order.
    #[test]
    fn served_order_is_newest_first() {
        let n = 5000;
        let yesterday = set(&members(5, n, 0.05, 6));
        let today = members(5, n, 0.05, 7);
        let order: Vec<u64> = today.indices().collect();
        let arrivals = order.iter().filter(|i| !yesterday.contains(i)).count();
        assert!(arrivals > 0);
        assert!(order[..arrivals].iter().all(|i| !yesterday.contains(i)));
        assert!(order[..arrivals].windows(2).all(|w| w[0] < w[1]));
        let originals: Vec<u64> = order.iter().copied().filter(|&i| i < n).collect();
        let tail = &order[order.len() - originals.len().min(100)..];
        assert!(tail.windows(2).all(|w| w[0] < w[1] && w[1] < n));
    }

    #[test]
    fn geometric_mean() {
        let g = Geometric::new(0.1);
        let mut rng = Rng(9);
        let total: u64 = (0..20_000).map(|_| g.sample(&mut rng)).sum();
        let mean = total as f64 / 20_000.0;
        assert!((mean - 10.0).abs() < 0.5, "{mean}");
        let short = Geometric::new(MAX_CHURN);
        assert!((0..100).all(|_| (1..5).contains(&short.sample(&mut rng))));
    }
}
