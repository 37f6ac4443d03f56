//! Rollup counters kept in memory and adjusted at apply time (old version out, new version in).
//!
//! For each record type there is a set of cubes, each over at most three of its dimensions: every
//! subset of one or two dimensions, and every three-dimension subset that includes `status`
//! (the filter almost every dashboard query carries) and, except for the station types, not
//! `county`: a county has ten times the values of a prefecture, so county triples of the big
//! types would hold most of a cell per record; such queries scan the facts instead. A query whose group-by and filter
//! dimensions fit inside one cube is answered from that cube's cells without touching records.
//! Rollups are rebuilt from the store on start, so they never disagree with it.

use pes_schemas::RecordType;
use rustc_hash::FxHashMap;

use crate::store::facts::{Dim, Facts};
use crate::store::{RecordStore, StoreError};

/// Count and sum of one cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Number of records.
    pub count: i64,
    /// Sum of the type's measure.
    pub sum: i64,
}

/// Most dimensions one cube holds.
pub const MAX_CUBE_DIMS: usize = 3;

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
    /// Rebuilds rollups from every stored record (the start-up scan; see
    /// [`RecordStore::for_each_fact`]).
    pub fn rebuild(store: &dyn RecordStore) -> Result<Rollups, StoreError> {
        let mut r = Rollups::new();
        store.for_each_fact(&mut |f| r.apply(f, 1))?;
        Ok(r)
    }

    /// Empty rollups with the cube layout described in the module docs.
    pub fn new() -> Rollups {
        let by_type = RecordType::ALL
            .iter()
            .map(|t| {
                let dims = Dim::applicable(*t);
                let mut cubes: Vec<Vec<Dim>> = vec![vec![]];
                for (i, a) in dims.iter().enumerate() {
                    cubes.push(vec![*a]);
                    for (j, b) in dims.iter().enumerate().skip(i + 1) {
                        cubes.push(vec![*a, *b]);
                        for c in dims.iter().skip(j + 1) {
                            let dims = [*a, *b, *c];
                            if dims.contains(&Dim::Status)
                                && (county_triples(*t) || !dims.contains(&Dim::County))
                            {
                                cubes.push(vec![*a, *b, *c]);
                            }
                        }
                    }
                }
                cubes
                    .into_iter()
                    .map(|dims| Cube {
                        dims,
                        cells: FxHashMap::default(),
                    })
                    .collect()
            })
            .collect();
        Rollups { by_type }
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) one record's facts.
    pub fn apply(&mut self, f: &Facts, sign: i64) {
        let measure = i64::from(f.measure) * sign;
        for cube in &mut self.by_type[f.rtype as usize] {
            let kg_pos = cube.dims.iter().position(|d| *d == Dim::KeyGroup);
            let mut key = [0u32; MAX_CUBE_DIMS];
            for (i, d) in cube.dims.iter().enumerate() {
                key[i] = f.vals[d.index()];
            }
            match kg_pos {
                None => add(&mut cube.cells, key, sign, measure),
                Some(p) => {
                    // A person counts once in each key group they belong to.
                    for g in 0..8u32 {
                        if f.key_groups & (1 << g) != 0 {
                            key[p] = g + 1;
                            add(&mut cube.cells, key, sign, measure);
                        }
                    }
                }
            }
        }
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

/// Whether a record type gets three-dimension cubes over `county`: the station types, whose
/// records are few and whose dashboard queries group by county within a status.
fn county_triples(t: RecordType) -> bool {
    matches!(t, RecordType::ServiceEvent | RecordType::ServiceStation)
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
