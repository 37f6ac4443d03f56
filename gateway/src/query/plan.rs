//! Plans and runs an aggregate query: from the smallest rollup cube that holds every dimension
//! the query groups or filters by, or else by scanning the record type's key range and reading
//! only the fixed-size facts at the front of each value.

use std::collections::BTreeMap;

use pes_schemas::RecordType;
use rustc_hash::FxHashMap;

use crate::query::rollup::{Counters, Rollups, MAX_CUBE_DIMS};
use crate::query::{Cell, QueryError, QueryRequest};
use crate::store::facts::{sum_measure, Dim, Facts, KEY_GROUPS};
use crate::store::RecordStore;

/// Group-by or filter dimension as named in requests: a stored [`Dim`] or `province`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QDim {
    Province,
    Stored(Dim),
}

fn parse_dim(name: &str, rtype: RecordType) -> Result<QDim, QueryError> {
    if name == "province" {
        return Ok(QDim::Province);
    }
    let bad = || QueryError::BadDimension {
        dim: name.to_string(),
        dataset: rtype.as_str().to_string(),
    };
    let d: Dim =
        serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| bad())?;
    if !Dim::applicable(rtype).contains(&d) {
        return Err(bad());
    }
    Ok(QDim::Stored(d))
}

/// A parsed query.
#[derive(Debug)]
pub struct Plan {
    rtype: RecordType,
    group_by: Vec<QDim>,
    /// Stored dimension to accepted values.
    filters: Vec<(Dim, Vec<u32>)>,
    /// A province filter that excludes this region: the answer is empty.
    excluded: bool,
    want_sum: bool,
}

/// The result of running a plan, before suppression.
pub struct Answer {
    /// Cells, sorted by group.
    pub cells: Vec<Cell>,
    /// Whether a rollup answered.
    pub from_rollup: bool,
    /// Name of the summed measure, if summed.
    pub sum_measure: Option<&'static str>,
}

impl Plan {
    /// Parses and checks a request for this region.
    pub fn new(req: &QueryRequest, region: &str) -> Result<Plan, QueryError> {
        let rtype = RecordType::parse(&req.dataset)
            .ok_or_else(|| QueryError::UnknownDataset(req.dataset.clone()))?;
        let mut want_sum = false;
        for m in &req.measures {
            match m.as_str() {
                "count" => {}
                "sum" if sum_measure(rtype).is_some() => want_sum = true,
                _ => return Err(QueryError::BadMeasure(m.clone())),
            }
        }
        let group_by = req
            .group_by
            .iter()
            .map(|g| parse_dim(g, rtype))
            .collect::<Result<Vec<_>, _>>()?;
        let mut filters = Vec::new();
        let mut excluded = false;
        for (name, values) in &req.filters {
            match parse_dim(name, rtype)? {
                QDim::Province => excluded |= !values.iter().any(|v| v == region),
                QDim::Stored(d) => {
                    let mut vs: Vec<u32> =
                        values.iter().filter_map(|v| d.parse(rtype, v)).collect();
                    vs.sort_unstable();
                    vs.dedup();
                    filters.push((d, vs));
                }
            }
        }
        let month = |s: &Option<String>| -> Result<Option<u32>, QueryError> {
            match s {
                None => Ok(None),
                Some(m) => Dim::Month
                    .parse(rtype, m)
                    .filter(|v| *v != 0)
                    .map(Some)
                    .ok_or_else(|| QueryError::BadMonth(m.clone())),
            }
        };
        let (from, to) = (month(&req.date_from)?, month(&req.date_to)?);
        if from.is_some() || to.is_some() {
            if !Dim::applicable(rtype).contains(&Dim::Month) {
                return Err(QueryError::BadDimension {
                    dim: "month".into(),
                    dataset: rtype.as_str().into(),
                });
            }
            let (lo, hi) = (from.unwrap_or(1), to.unwrap_or(u32::MAX));
            // A month range becomes a filter on the month dimension; the rollups hold months.
            filters.push((Dim::Month, RangeSet::months(lo, hi)));
        }
        Ok(Plan {
            rtype,
            group_by,
            filters,
            excluded,
            want_sum,
        })
    }

    fn needed(&self) -> Vec<Dim> {
        let mut v: Vec<Dim> = self
            .group_by
            .iter()
            .filter_map(|g| match g {
                QDim::Stored(d) => Some(*d),
                QDim::Province => None,
            })
            .collect();
        v.extend(self.filters.iter().map(|f| f.0));
        v.sort();
        v.dedup();
        v
    }

    /// Runs the plan against the rollups, or the store when no cube fits.
    pub fn run(
        &self,
        rollups: &Rollups,
        store: &dyn RecordStore,
        region: &str,
    ) -> Result<Answer, QueryError> {
        match self.from_rollup(rollups, region) {
            Some(a) => Ok(a),
            None => self.by_scan(store, region),
        }
    }

    /// Answers from a rollup cube, if one holds every dimension needed.
    pub fn from_rollup(&self, rollups: &Rollups, region: &str) -> Option<Answer> {
        if self.excluded {
            return Some(self.finish(FxHashMap::default(), true, region));
        }
        let needed = self.needed();
        if needed.len() > MAX_CUBE_DIMS {
            return None;
        }
        let cube = rollups.fitting_cube(self.rtype, &needed)?;
        let pos = |d: Dim| cube.dims.iter().position(|x| *x == d);
        let filters: Vec<(usize, &Vec<u32>)> = self
            .filters
            .iter()
            .filter_map(|(d, vs)| pos(*d).map(|p| (p, vs)))
            .collect();
        let gpos: Vec<Option<usize>> = self
            .group_by
            .iter()
            .map(|g| match g {
                QDim::Stored(d) => pos(*d),
                QDim::Province => None,
            })
            .collect();
        let mut groups: FxHashMap<Vec<u32>, Counters> = FxHashMap::default();
        for (key, c) in &cube.cells {
            if filters
                .iter()
                .all(|(p, vs)| vs.binary_search(&key[*p]).is_ok())
            {
                let g: Vec<u32> = gpos
                    .iter()
                    .map(|p| p.map(|p| key[p]).unwrap_or(0))
                    .collect();
                let e = groups.entry(g).or_default();
                e.count += c.count;
                e.sum += c.sum;
            }
        }
        Some(self.finish(groups, true, region))
    }

    /// Answers by scanning the record type's key range (reads only each value's facts).
    pub fn by_scan(&self, store: &dyn RecordStore, region: &str) -> Result<Answer, QueryError> {
        let mut groups: FxHashMap<Vec<u32>, Counters> = FxHashMap::default();
        if !self.excluded {
            store.scan_facts(self.rtype, &mut |f| self.scan_one(f, &mut groups))?;
        }
        Ok(self.finish(groups, false, region))
    }

    fn finish(
        &self,
        groups: FxHashMap<Vec<u32>, Counters>,
        from_rollup: bool,
        region: &str,
    ) -> Answer {
        let sum_measure = if self.want_sum {
            sum_measure(self.rtype)
        } else {
            None
        };
        let mut cells: Vec<Cell> = groups
            .into_iter()
            .filter(|(_, c)| c.count != 0)
            .map(|(g, c)| Cell {
                group: self
                    .group_by
                    .iter()
                    .zip(&g)
                    .map(|(d, v)| match d {
                        QDim::Province => ("province".to_string(), region.to_string()),
                        QDim::Stored(d) => (dim_name(*d), d.render(self.rtype, *v)),
                    })
                    .collect::<BTreeMap<_, _>>(),
                count: Some(c.count),
                sum: sum_measure.map(|_| c.sum),
                suppressed: false,
            })
            .collect();
        cells.sort_by(|a, b| a.group.cmp(&b.group));
        Answer {
            cells,
            from_rollup,
            sum_measure,
        }
    }

    /// Adds one record's facts to the groups (the scan path), expanding key groups.
    fn scan_one(&self, f: &Facts, groups: &mut FxHashMap<Vec<u32>, Counters>) {
        let kg_used = self.group_by.contains(&QDim::Stored(Dim::KeyGroup))
            || self.filters.iter().any(|x| x.0 == Dim::KeyGroup);
        let kgs: Vec<u32> = if kg_used {
            (0..KEY_GROUPS.len() as u32)
                .filter(|g| f.key_groups & (1 << g) != 0)
                .map(|g| g + 1)
                .collect()
        } else {
            vec![0]
        };
        for kg in kgs {
            let val = |d: Dim| if d == Dim::KeyGroup { kg } else { f.get(d) };
            if !self
                .filters
                .iter()
                .all(|(d, vs)| vs.binary_search(&val(*d)).is_ok())
            {
                continue;
            }
            let g: Vec<u32> = self
                .group_by
                .iter()
                .map(|d| match d {
                    QDim::Stored(d) => val(*d),
                    QDim::Province => 0,
                })
                .collect();
            let e = groups.entry(g).or_default();
            e.count += 1;
            e.sum += i64::from(f.measure);
        }
    }
}

fn dim_name(d: Dim) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Month ranges as explicit value sets (a few hundred months at most in practice).
struct RangeSet;

impl RangeSet {
    fn months(lo: u32, hi: u32) -> Vec<u32> {
        let (lo, hi) = (lo.max(190001), hi.min(210012));
        let mut out = Vec::new();
        let mut m = lo;
        while m <= hi {
            if (1..=12).contains(&(m % 100)) {
                out.push(m);
            }
            m = if m % 100 >= 12 {
                (m / 100 + 1) * 100 + 1
            } else {
                m + 1
            };
        }
        out
    }
}
