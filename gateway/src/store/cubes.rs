//! The rollup cube layout: which cubes each record type has and which cells a record's facts
//! fall in. The in-memory rollups (`query::rollup`) and a backend that keeps the cells with the
//! records (the PostgreSQL store) both use it, so they can never disagree on a cell.
//!
//! For each record type there is a set of cubes, each over at most three of its dimensions: every
//! subset of one or two dimensions, and every three-dimension subset that includes `status`
//! (the filter almost every dashboard query carries) and, except for the station types, not
//! `county`: a county has ten times the values of a prefecture, so county triples of the big
//! types would hold most of a cell per record; such queries scan the facts instead.

use std::sync::OnceLock;

use pes_schemas::RecordType;

use super::facts::{Dim, Facts};

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

/// The dimensions of every cube of `rtype`, in a fixed order (a cube's position in it is its
/// number); the first cube has no dimensions (the type's total).
pub fn layout(rtype: RecordType) -> &'static [Vec<Dim>] {
    static LAYOUT: OnceLock<Vec<Vec<Vec<Dim>>>> = OnceLock::new();
    let all = LAYOUT.get_or_init(|| RecordType::ALL.iter().map(|t| build(*t)).collect());
    &all[rtype as usize]
}

fn build(t: RecordType) -> Vec<Vec<Dim>> {
    let dims = Dim::applicable(t);
    let mut cubes: Vec<Vec<Dim>> = vec![vec![]];
    for (i, a) in dims.iter().enumerate() {
        cubes.push(vec![*a]);
        for (j, b) in dims.iter().enumerate().skip(i + 1) {
            cubes.push(vec![*a, *b]);
            for c in dims.iter().skip(j + 1) {
                let dims = [*a, *b, *c];
                if dims.contains(&Dim::Status)
                    && (county_triples(t) || !dims.contains(&Dim::County))
                {
                    cubes.push(vec![*a, *b, *c]);
                }
            }
        }
    }
    cubes
}

/// Whether a record type gets three-dimension cubes over `county`: the station types, whose
/// records are few and whose dashboard queries group by county within a status.
fn county_triples(t: RecordType) -> bool {
    matches!(t, RecordType::ServiceEvent | RecordType::ServiceStation)
}

/// Calls `each(cube number, cell key)` for every cell one record's facts count in: one per cube,
/// or, for a cube over `key_group`, one per key group the record is in (none if it is in none).
pub fn for_each_cell(f: &Facts, mut each: impl FnMut(usize, [u32; MAX_CUBE_DIMS])) {
    for (n, dims) in layout(f.rtype).iter().enumerate() {
        let mut key = [0u32; MAX_CUBE_DIMS];
        for (i, d) in dims.iter().enumerate() {
            key[i] = f.vals[d.index()];
        }
        match dims.iter().position(|d| *d == Dim::KeyGroup) {
            None => each(n, key),
            Some(p) => {
                // A person counts once in each key group they belong to.
                for g in 0..8u32 {
                    if f.key_groups & (1 << g) != 0 {
                        key[p] = g + 1;
                        each(n, key);
                    }
                }
            }
        }
    }
}

/// A short text naming the whole layout: a backend that keeps cells stores it beside them and
/// rebuilds its cells when the layout it finds is not this one (after an upgrade changed it).
pub fn fingerprint() -> String {
    let mut text = String::new();
    for t in RecordType::ALL {
        for dims in layout(t) {
            text.push_str(t.as_str());
            for d in dims {
                text.push(':');
                text.push_str(&d.index().to_string());
            }
            text.push(';');
        }
    }
    let d = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    format!("cubes-v1-{}", hex::encode(&d.as_ref()[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_total_cube_first_and_no_cube_over_four_dims() {
        for t in RecordType::ALL {
            let l = layout(t);
            assert!(l[0].is_empty(), "{t:?}");
            assert!(l.iter().all(|c| c.len() <= MAX_CUBE_DIMS));
        }
        assert_eq!(fingerprint(), fingerprint());
    }
}
