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

use std::collections::BTreeMap;

/// The width of a slot in packet time.
pub const SLOT_NS: u64 = 100_000_000;

#[derive(Default)]
pub struct Timers {
    /// Slot number (time / `SLOT_NS`) → flow indices filed under it.
    slots: BTreeMap<u64, Vec<u32>>,
    /// Emptied slot lists, kept for reuse.
    spare: Vec<Vec<u32>>,
    /// Entries to file again after a visit (reused).
    again: Vec<(u64, u32)>,
}

impl Timers {
    /// Files flow `idx` under packet time `at_ns`.
    #[inline]
    pub fn file(&mut self, at_ns: u64, idx: u32) {
        let slot = at_ns / SLOT_NS;
        // Packet time mostly moves forward: the newest slot is the usual one.
        if let Some(mut last) = self.slots.last_entry() {
            if *last.key() == slot {
                last.get_mut().push(idx);
                return;
            }
        }
        let spare = &mut self.spare;
        self.slots
            .entry(slot)
            .or_insert_with(|| spare.pop().unwrap_or_default())
            .push(idx);
    }

    /// Calls `visit` with every flow filed under a slot that has begun by
    /// `now_ns`, taking the entry out. `visit` returns the time to file the
    /// flow under again, if any.
    pub fn visit(&mut self, now_ns: u64, mut visit: impl FnMut(u32) -> Option<u64>) {
        let now_slot = now_ns / SLOT_NS;
        let mut again = std::mem::take(&mut self.again);
        while let Some(entry) = self.slots.first_entry() {
            let slot = *entry.key();
            if slot > now_slot {
                break;
            }
            if slot < now_slot {
                let mut list = entry.remove();
                for &idx in &list {
                    if let Some(at) = visit(idx) {
                        again.push((at, idx));
                    }
                }
                list.clear();
                self.spare.push(list);
            } else {
                // The slot in progress keeps what is filed under it again.
                entry.into_mut().retain(|&idx| match visit(idx) {
                    Some(at) if at / SLOT_NS == slot => true,
                    Some(at) => {
                        again.push((at, idx));
                        false
                    }
                    None => false,
                });
                break;
            }
        }
        for &(at, idx) in &again {
            self.file(at, idx);
        }
        again.clear();
        self.again = again;
    }

    /// Entries filed (stale ones included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.values().map(Vec::len).sum()
    }

    pub fn clear(&mut self) {
        self.slots.clear();
        self.spare.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        t.visit(now, |i| {
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
        t.visit(9 * SLOT_NS, |i| {
            seen.push(i);
            None
        });
        assert_eq!(seen, [3, 2, 4]);
        assert_eq!(t.len(), 0);
        // Nothing has come up before its slot.
        t.file(20 * SLOT_NS, 7);
        t.visit(20 * SLOT_NS - 1, |_| panic!("too early"));
        assert_eq!(t.len(), 1);
        // Slot lists are reused.
        assert!(t.spare.len() <= 3);
    }
}
