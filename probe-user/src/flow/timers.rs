//! When each flow next needs attention: a coarse timer wheel over packet time.
//!
//! A flow needs attention when its pending record is due (a status record)
//! or, once reported, when it has been idle past its timeout. Every change
//! of that time files the flow's index under the new time's slot; the old
//! entry stays where it was and is recognised as stale when its slot comes
//! up, because the flow's own state says when it is next due. A tick then
//! visits only the slots that have come up instead of every flow, so ticks
//! can be frequent (which keeps the records waiting for the writer few)
//! and cost what they find, not what the table holds.
//!
//! The slots (10 ms each) of the next 6.4 s are lists in a ring, so filing
//! a flow is a push; slots further ahead, or behind the ring when packet
//! time steps back, wait in an ordered map. A visit takes slots in time
//! order from both, in the order their flows were filed.

use crate::prefetch::prefetch;
use std::collections::BTreeMap;

/// The width of a slot in packet time: a tenth of the default interval
/// between ticks ([`SCAN_NS`]). A tick finds the slot it falls in only
/// partly due, and visits every flow filed there (a flow is a few cache
/// lines somewhere in the table) to tell which: with slots as wide as the
/// interval, those visits that found nothing due were more than half of
/// all visits in the replay benchmark (3.2M of 6.9M).
pub const SLOT_NS: u64 = 10_000_000;

/// The default interval between ticks, in packet time.
pub const SCAN_NS: u64 = 10 * SLOT_NS;

/// Slots the wheel holds in lists of its own: 6.4 s ahead, past a status
/// interval (5 s by default), so nearly every filing lands in the wheel.
/// (Each list keeps its capacity, so a wider wheel holds more memory: a
/// flow's idle timeout, filed once per idle spell, waits in the map.)
const WHEEL: u64 = 640;

/// How far ahead of the entry it visits [`Timers::visit`] looks for the
/// next entry to name (the first live one from there on).
pub const AHEAD: usize = 12;
/// How far ahead of the entry it visits [`Timers::visit`] fetches the
/// stamp it checks [`AHEAD`] entries later.
const STAMP_AHEAD: usize = 2 * AHEAD;
/// No entry that far ahead in the slot.
pub const NONE_AHEAD: u32 = u32::MAX;

#[derive(Default)]
pub struct Timers {
    /// Slot `s` in `base..base + WHEEL` → the flow indices filed under it,
    /// in `wheel[s % WHEEL]` (empty until the first filing).
    wheel: Vec<Vec<u32>>,
    base: u64,
    /// Slots outside the wheel's window (far ahead, or behind it when packet
    /// time steps back) → flow indices. A slot's entries here were all filed
    /// before any the wheel holds for it, so taking these first keeps the
    /// order they were filed in.
    far: BTreeMap<u64, Vec<u32>>,
    /// Emptied lists of `far`, kept for reuse.
    spare: Vec<Vec<u32>>,
    /// Entries to file again after a visit (reused).
    again: Vec<(u64, u32)>,
    /// Entries a visit keeps in the slot under way (reused).
    keep: Vec<u32>,
    /// By flow index: the low byte of the slot it was last filed under. A
    /// later filing supersedes the earlier ones, whose entries a visit then
    /// passes over without calling the visitor, that is without touching
    /// the flow (one byte per flow, where the flow is a few cache lines
    /// somewhere in the table). Slots 256 apart share a byte: such an old
    /// entry is visited, as every entry was before, and the visitor's own
    /// checks find it stale.
    stamp: Vec<u8>,
}

impl Timers {
    /// Files flow `idx` under packet time `at_ns`, in place of where it was
    /// filed before: only the latest filing of a flow is visited. That time
    /// must therefore be no later than the flow next needs attention.
    ///
    /// The first filing's setup and the slots outside the wheel are calls
    /// of their own, so that the common case does not save and restore the
    /// registers the map's code needs.
    #[inline]
    pub fn file(&mut self, at_ns: u64, idx: u32) {
        let slot = at_ns / SLOT_NS;
        let i = idx as usize;
        if i >= self.stamp.len() || self.wheel.is_empty() {
            self.make_room(i, slot);
        }
        self.stamp[i] = slot as u8;
        if slot.wrapping_sub(self.base) < WHEEL {
            self.wheel[(slot % WHEEL) as usize].push(idx);
            return;
        }
        self.file_far(slot, idx);
    }

    /// Stamps for flow indices up to `i`, and the wheel, based at `slot`,
    /// at the first filing.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, i: usize, slot: u64) {
        if i >= self.stamp.len() {
            self.stamp.resize((i + 1).next_power_of_two(), 0);
        }
        if self.wheel.is_empty() {
            self.wheel = (0..WHEEL).map(|_| Vec::new()).collect();
            self.base = slot;
        }
    }

    /// Files `idx` under a slot outside the wheel's window.
    #[cold]
    #[inline(never)]
    fn file_far(&mut self, slot: u64, idx: u32) {
        let spare = &mut self.spare;
        self.far
            .entry(slot)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push(idx);
    }

    /// Calls `visit` with every flow filed under a slot that has begun by
    /// `now_ns` (and not filed again since), slot by slot in time order and
    /// in filing order within a slot, taking the entry out. `visit` returns
    /// the time to file the flow under again, if any. Its second argument is
    /// a later entry of the same slot that will be visited, at least
    /// [`AHEAD`] places later and named no earlier, or [`NONE_AHEAD`]: the
    /// flows are scattered through memory, and a visitor that prefetches
    /// that one overlaps the cache misses instead of taking them one after
    /// another.
    pub fn visit(&mut self, now_ns: u64, mut visit: impl FnMut(u32, u32) -> Option<u64>) {
        let now_slot = now_ns / SLOT_NS;
        let mut again = std::mem::take(&mut self.again);
        let mut keep = std::mem::take(&mut self.keep);
        // The wheel's slots that have begun: base..=last.
        let last = now_slot.min(self.base.saturating_add(WHEEL - 1));
        let mut cursor = self.base;
        loop {
            let far_next = self
                .far
                .first_key_value()
                .map(|(&k, _)| k)
                .filter(|&k| k <= now_slot);
            let wheel_next = if self.wheel.is_empty() {
                None
            } else {
                (cursor.max(self.base)..=last)
                    .find(|&s| !self.wheel[(s % WHEEL) as usize].is_empty())
            };
            let slot = match (far_next, wheel_next) {
                (Some(f), Some(w)) => f.min(w),
                (Some(f), None) => f,
                (None, Some(w)) => w,
                (None, None) => break,
            };
            let from_far = if far_next == Some(slot) {
                self.far.remove(&slot)
            } else {
                None
            };
            let at = (slot % WHEEL) as usize;
            let in_wheel = wheel_next == Some(slot);
            let mut from_wheel = if in_wheel {
                std::mem::take(&mut self.wheel[at])
            } else {
                Vec::new()
            };
            let far_list = from_far.as_deref().unwrap_or(&[]);
            let stamp = slot as u8;
            // The entry `k` places into the slot's visit (far list first).
            let entry = |k: usize| {
                far_list
                    .get(k)
                    .or_else(|| from_wheel.get(k - far_list.len()))
                    .copied()
            };
            // The next entry the `ahead` search looks at. It runs at least
            // AHEAD entries ahead of the visit, over the stale entries, so
            // that every entry to be visited past the slot's first few is
            // named ahead once (a third of the entries can be stale: had
            // the search looked only AHEAD entries on, the flows that many
            // after each stale entry would be visited unfetched).
            let mut ahead_at = 0;
            for (n, &idx) in far_list.iter().chain(&from_wheel).enumerate() {
                // The stamp that the `ahead` search will read AHEAD entries
                // from now, fetched now: that search decides whether to
                // fetch a flow ahead, and must not wait for memory itself
                // (the stamps of a slot's flows are scattered too).
                if let Some(i) = entry(n + STAMP_AHEAD) {
                    prefetch(self.stamp.as_ptr().wrapping_add(i as usize));
                }
                if self.stamp[idx as usize] != stamp {
                    // Filed again since, under another slot.
                    continue;
                }
                ahead_at = ahead_at.max(n + AHEAD);
                let mut ahead = NONE_AHEAD;
                while let Some(i) = entry(ahead_at) {
                    ahead_at += 1;
                    if self.stamp[i as usize] == stamp {
                        ahead = i;
                        break;
                    }
                }
                match visit(idx, ahead) {
                    // The slot under way keeps what is filed under it again.
                    Some(t) if slot == now_slot && t / SLOT_NS == slot => keep.push(idx),
                    Some(t) => again.push((t, idx)),
                    None => {}
                }
            }
            from_wheel.clear();
            if in_wheel && slot == now_slot {
                // What the slot keeps stays in its list, in order.
                from_wheel.append(&mut keep);
            }
            if let Some(mut list) = from_far {
                list.clear();
                self.spare.push(list);
            }
            if in_wheel {
                // The list goes back with its capacity (and what it kept).
                self.wheel[at] = from_wheel;
            }
            if slot >= now_slot {
                break;
            }
            cursor = slot + 1;
        }
        if !self.wheel.is_empty() && now_slot > self.base {
            // Every slot before the one under way is empty now: the window
            // moves up to it.
            self.base = now_slot;
        }
        for idx in keep.drain(..) {
            self.file(now_slot * SLOT_NS, idx);
        }
        for &(at, idx) in &again {
            self.file(at, idx);
        }
        again.clear();
        self.again = again;
        self.keep = keep;
    }

    /// Entries filed (stale ones included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.wheel.iter().map(Vec::len).sum::<usize>()
            + self.far.values().map(Vec::len).sum::<usize>()
    }

    pub fn clear(&mut self) {
        self.stamp.clear();
        self.wheel.clear();
        self.base = 0;
        self.far.clear();
        self.spare.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timers as a plain ordered map (what they were before the wheel):
    /// the model the wheel must agree with, visit for visit.
    /// A flow's latest filing supersedes the earlier ones, which a visit
    /// passes over unless their slot has the same low byte.
    #[derive(Default)]
    struct Model {
        slots: BTreeMap<u64, Vec<u32>>,
        latest: std::collections::HashMap<u32, u64>,
    }

    impl Model {
        fn file(&mut self, at_ns: u64, idx: u32) {
            self.slots.entry(at_ns / SLOT_NS).or_default().push(idx);
            self.latest.insert(idx, at_ns / SLOT_NS);
        }
        fn current(&self, idx: u32, slot: u64) -> bool {
            self.latest[&idx] as u8 == slot as u8
        }
        fn visit(&mut self, now_ns: u64, mut visit: impl FnMut(u32) -> Option<u64>) {
            let now_slot = now_ns / SLOT_NS;
            let mut again = Vec::new();
            while let Some(entry) = self.slots.first_entry() {
                let slot = *entry.key();
                if slot > now_slot {
                    break;
                }
                let list = std::mem::take(entry.into_mut());
                let mut kept = Vec::new();
                for idx in list {
                    if !self.current(idx, slot) {
                        continue;
                    }
                    match visit(idx) {
                        Some(at) if slot == now_slot && at / SLOT_NS == slot => kept.push(idx),
                        Some(at) => again.push((at, idx)),
                        None => {}
                    }
                }
                if kept.is_empty() {
                    self.slots.remove(&slot);
                } else {
                    self.slots.insert(slot, kept);
                }
                if slot == now_slot {
                    break;
                }
            }
            for (at, idx) in again {
                self.file(at, idx);
            }
        }
    }

    /// Random filings (ahead, far ahead, behind, across jumps of packet
    /// time) and random answers from the visitor: the wheel visits the same
    /// flows in the same order as the ordered map, and holds the same.
    #[test]
    fn the_wheel_visits_as_an_ordered_map_does() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200 {
            let mut wheel = Timers::default();
            let mut model = Model::default();
            let mut now = 1_700_000_000 * 1_000_000_000 + next() % (10 * SLOT_NS);
            let mut idx = 0u32;
            for _ in 0..60 {
                for _ in 0..next() % 40 {
                    let at = match next() % 8 {
                        // Behind the present (a late packet).
                        0 => now.saturating_sub(next() % (30 * SLOT_NS)),
                        // Past the wheel's window.
                        1 => now + next() % (3 * WHEEL * SLOT_NS),
                        _ => now + next() % (60 * SLOT_NS),
                    };
                    // A new flow, or one filed again (which supersedes
                    // where it was filed before).
                    let id = if idx > 0 && next() % 3 == 0 {
                        (next() % u64::from(idx)) as u32
                    } else {
                        idx += 1;
                        idx - 1
                    };
                    wheel.file(at, id);
                    model.file(at, id);
                }
                now += match next() % 10 {
                    // A jump of packet time past the window.
                    0 => next() % (2 * WHEEL * SLOT_NS),
                    _ => next() % (2 * SLOT_NS),
                };
                let seed = next();
                let answer = |i: u32| {
                    let wide = (u64::from(i) ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    let h = wide >> 40;
                    match h % 4 {
                        0 => None,
                        1 => Some(now + h % (3 * SLOT_NS)),
                        // Anywhere up to past the window.
                        2 => Some(now + (wide >> 8) % (2 * WHEEL * SLOT_NS)),
                        _ => Some(now - now % SLOT_NS + h % SLOT_NS),
                    }
                };
                let (mut seen_w, mut seen_m) = (Vec::new(), Vec::new());
                let mut aheads = Vec::new();
                wheel.visit(now, |i, ahead| {
                    seen_w.push(i);
                    aheads.push(ahead);
                    answer(i)
                });
                // What a visit names ahead, it visits within that many more.
                for (n, &a) in aheads.iter().enumerate() {
                    if a != NONE_AHEAD {
                        let next = &seen_w[n + 1..(n + 1 + AHEAD).min(seen_w.len())];
                        assert!(next.contains(&a), "round {round}");
                    }
                }
                model.visit(now, |i| {
                    seen_m.push(i);
                    answer(i)
                });
                assert_eq!(seen_w, seen_m, "round {round}");
                assert_eq!(
                    wheel.len(),
                    model.slots.values().map(Vec::len).sum::<usize>(),
                    "round {round}"
                );
            }
        }
    }

    #[test]
    fn visits_what_has_come_up_and_files_again_what_asks() {
        let mut t = Timers::default();
        t.file(5 * SLOT_NS + 1, 1);
        t.file(SLOT_NS / 2, 2);
        t.file(5 * SLOT_NS + SLOT_NS / 2, 3);
        t.file(9 * SLOT_NS, 4);
        assert_eq!(t.len(), 4);
        let mut seen = Vec::new();
        // At 5.25 slots: 2 and 1 are due; 3 is not yet (it stays in its
        // slot), and 2 asks to come back at slot 7.
        let now = 5 * SLOT_NS + SLOT_NS / 4;
        t.visit(now, |i, _| {
            seen.push(i);
            match i {
                3 => Some(5 * SLOT_NS + SLOT_NS / 2),
                2 => Some(7 * SLOT_NS),
                _ => None,
            }
        });
        assert_eq!(seen, [2, 1, 3]);
        assert_eq!(t.len(), 3);
        seen.clear();
        t.visit(9 * SLOT_NS, |i, _| {
            seen.push(i);
            None
        });
        assert_eq!(seen, [3, 2, 4]);
        assert_eq!(t.len(), 0);
        // Nothing has come up before its slot.
        t.file(20 * SLOT_NS, 7);
        t.visit(20 * SLOT_NS - 1, |_, _| panic!("too early"));
        assert_eq!(t.len(), 1);
        // Slot lists are reused.
        assert!(t.spare.len() <= 3);
    }

    /// Every flow a slot's visit reaches past the AHEAD entries after its
    /// first was named ahead by an earlier visit, however many stale
    /// entries (flows filed again elsewhere since) lie between.
    #[test]
    fn every_flow_past_the_first_few_is_named_ahead_despite_stale_entries() {
        for stale_every in [2u32, 5, 7, 11] {
            let mut t = Timers::default();
            for i in 0..300u32 {
                t.file(3 * SLOT_NS, i);
            }
            // Filed again under a later slot: their entries here go stale.
            // (Stale entries 5, 7 or 11 apart are what a search that looked
            // exactly AHEAD entries on would miss the flows after.)
            for i in (0..300).filter(|i| i % stale_every == 0) {
                t.file(8 * SLOT_NS, i);
            }
            let mut named = std::collections::HashSet::new();
            let mut unnamed = Vec::new();
            t.visit(3 * SLOT_NS, |i, ahead| {
                if !named.remove(&i) {
                    unnamed.push(i);
                }
                if ahead != NONE_AHEAD {
                    assert!(named.insert(ahead), "{ahead} named twice");
                }
                None
            });
            assert!(named.is_empty(), "named but not visited: {named:?}");
            // Flow i is entry i; entry 0 is stale: the first visit is 1.
            assert!(
                unnamed.iter().all(|&i| (i as usize) < 1 + AHEAD),
                "every {stale_every}th stale: {unnamed:?} visited unnamed"
            );
        }
    }
}
