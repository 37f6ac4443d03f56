//! Rollup counters kept in memory and adjusted at apply time (old version out, new version in).
//!
//! The cube layout (which cubes, which cells a record counts in) is `store::cubes`, shared with
//! a backend that keeps the cells with its records. A query whose group-by and filter
//! dimensions fit inside one cube is answered from that cube's cells without touching records.
//! Rollups are loaded from the store's own cells when it keeps them (PostgreSQL), or rebuilt by
//! a scan on start (sled), so they never disagree with it.

use pes_schemas::RecordType;
use rustc_hash::FxHashMap;

use crate::store::cubes;
pub use crate::store::cubes::{Counters, MAX_CUBE_DIMS};
use crate::store::facts::{Dim, Facts};
use crate::store::{RecordStore, StoreError};

/// One cube: a set of dimensions and its cells.
#[derive(Debug, Clone)]
pub struct Cube {
    /// Dimensions, in [`Dim`] order.
    pub dims: Vec<Dim>,
    /// Cell values (unused slots are 0) to counters.
    pub cells: FxHashMap<[u32; MAX_CUBE_DIMS], Counters>,
}

/// All cubes of all record types.
#[derive(Debug, Clone)]
pub struct Rollups {
    by_type: Vec<Vec<Cube>>,
}

impl Default for Rollups {
    fn default() -> Self {
        Rollups::new()
    }
}

impl Rollups {
    /// The rollups of what the store holds: its own cells when it keeps them
    /// ([`RecordStore::stored_rollups`]), else rebuilt from every stored record (the start-up
    /// scan, [`RecordStore::for_each_fact`]).
    pub fn rebuild(store: &dyn RecordStore) -> Result<Rollups, StoreError> {
        let mut r = Rollups::new();
        let kept = store.stored_rollups(&mut |rtype, cube, key, c| {
            if let Some(cube) = r.by_type[rtype as usize].get_mut(cube) {
                add(&mut cube.cells, key, c.count, c.sum);
            }
        })?;
        if !kept {
            store.for_each_fact(&mut |f| r.apply(f, 1))?;
        }
        Ok(r)
    }

    /// Empty rollups with the cube layout of [`cubes::layout`].
    pub fn new() -> Rollups {
        let by_type = RecordType::ALL
            .iter()
            .map(|t| {
                cubes::layout(*t)
                    .iter()
                    .map(|dims| Cube {
                        dims: dims.clone(),
                        cells: FxHashMap::default(),
                    })
                    .collect()
            })
            .collect();
        Rollups { by_type }
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) one record's facts (or `sign` records with
    /// the same facts).
    pub fn apply(&mut self, f: &Facts, sign: i64) {
        let measure = i64::from(f.measure) * sign;
        let cubes = &mut self.by_type[f.rtype as usize];
        cubes::for_each_cell(f, |n, key| add(&mut cubes[n].cells, key, sign, measure));
    }

    /// The smallest cube of `rtype` that holds every dimension in `needed`. A cube over
    /// `key_group` fits only a query that needs it: it leaves out records in no key group and
    /// counts a record once per group, so its cells do not add up to the other dimensions' totals.
    pub fn fitting_cube(&self, rtype: RecordType, needed: &[Dim]) -> Option<&Cube> {
        let kg_needed = needed.contains(&Dim::KeyGroup);
        self.by_type[rtype as usize]
            .iter()
            .filter(|c| needed.iter().all(|d| c.dims.contains(d)))
            .filter(|c| kg_needed || !c.dims.contains(&Dim::KeyGroup))
            .min_by_key(|c| c.cells.len())
    }

    /// The cube over exactly no dimensions: the total count and sum of a type.
    pub fn total(&self, rtype: RecordType) -> Counters {
        self.by_type[rtype as usize]
            .first()
            .and_then(|c| c.cells.get(&[0; MAX_CUBE_DIMS]).copied())
            .unwrap_or_default()
    }

    /// Every cube of a type (for tests and the recount check).
    pub fn cubes(&self, rtype: RecordType) -> &[Cube] {
        &self.by_type[rtype as usize]
    }
}

fn add(
    cells: &mut FxHashMap<[u32; MAX_CUBE_DIMS], Counters>,
    key: [u32; MAX_CUBE_DIMS],
    sign: i64,
    measure: i64,
) {
    let c = cells.entry(key).or_default();
    c.count += sign;
    c.sum += measure;
    if c.count == 0 && c.sum == 0 {
        cells.remove(&key);
    }
}

/// Whether two rollups hold the same counts (empty cells are never stored).
pub fn same_counts(a: &Rollups, b: &Rollups) -> bool {
    a.by_type
        .iter()
        .zip(&b.by_type)
        .all(|(ca, cb)| ca.iter().zip(cb).all(|(x, y)| x.cells == y.cells))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::facts::DIMS;

    fn facts(rtype: RecordType, status: u32, key_groups: u8) -> Facts {
        let mut vals = [0; DIMS];
        vals[Dim::Status.index()] = status;
        Facts {
            rtype,
            vals,
            key_groups,
            measure: 0,
        }
    }

    #[test]
    fn key_group_cubes_answer_only_key_group_queries() {
        let t = RecordType::JobSeekerRegistration;
        let mut r = Rollups::new();
        // Three registrations in no key group and one in a group: the key-group cubes hold one
        // cell, fewer than the total cube, yet must not answer a total or a status query.
        for _ in 0..3 {
            r.apply(&facts(t, 1, 0), 1);
        }
        r.apply(&facts(t, 2, 0b1), 1);
        let total = r.fitting_cube(t, &[]).unwrap();
        assert!(total.dims.is_empty());
        assert_eq!(total.cells[&[0; MAX_CUBE_DIMS]].count, 4);
        let by_status = r.fitting_cube(t, &[Dim::Status]).unwrap();
        assert!(!by_status.dims.contains(&Dim::KeyGroup));
        assert_eq!(by_status.cells.values().map(|c| c.count).sum::<i64>(), 4);
        let by_group = r.fitting_cube(t, &[Dim::KeyGroup]).unwrap();
        assert!(by_group.dims.contains(&Dim::KeyGroup));
        assert_eq!(by_group.cells.values().map(|c| c.count).sum::<i64>(), 1);
    }
}
