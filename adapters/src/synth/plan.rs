//! Running a mapping backwards: choose national values, invert the transforms into raw values,
//! plant defects, and check every row with the real engine before it is written.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use chrono::{Datelike, Duration, NaiveDate};
use pes_schemas::RecordType;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::item::{Item, Raw, Unit};
use super::values::{self, EmployerProfile, Profile};
use super::write::Writer;
use super::{DefectKind, ExpectedError, PlantedDefect, SynthError, SynthOptions, SynthReport};
use crate::adapter::DecodeContext;
use crate::encoding::encoding_of;
use crate::engine::{Emitter, Frame, FrameCache};
use crate::mapping::{
    CondTest, Field, Format, JsonLayout, Mapping, OnUnknown, RecordSpec, SourceRef,
};
use crate::national::PersonKeyer;
use crate::target::{fields_of, FieldDef, V};
use crate::transform::{DateFormat, Step};

/// Batch hash stamped on expected records.
pub const EXPECTED_RAW_SHA256: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";
/// Ingest time stamped on expected records.
pub const EXPECTED_INGESTED_AT: &str = "2024-06-30T00:00:00Z";
/// Linkage key of expected records' person keys.
pub const EXPECTED_LINKAGE_KEY: &[u8] = b"pes-synth-linkage-key";

/// Which unit of an item a record is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitRef {
    Item,
    Elem(usize, usize),
}

/// A national value before inversion.
#[derive(Debug, Clone)]
enum Nat {
    Text(String),
    Date(NaiveDate),
    List(Vec<String>),
    Null,
}

struct SynthFrame<'a> {
    unit: &'a Unit,
    parent: Option<&'a Unit>,
    row: u64,
    index: usize,
    location: String,
}

impl Frame for SynthFrame<'_> {
    fn path(&self, idx: usize, item: bool) -> V<'_> {
        let map = if item {
            self.parent.unwrap_or(self.unit)
        } else {
            self.unit
        };
        match map.get(&idx) {
            Some(Raw::Text(t)) => V::Text(Cow::Borrowed(t)),
            Some(Raw::List(l)) => V::List(l.iter().map(|s| Cow::Borrowed(s.as_str())).collect()),
            Some(Raw::Null) | None => V::Absent,
        }
    }
    fn row(&self) -> u64 {
        self.row
    }
    fn index(&self) -> usize {
        self.index
    }
    fn location(&self) -> String {
        self.location.clone()
    }
    fn line(&self) -> Option<u64> {
        None
    }
    fn raw(&self) -> String {
        String::new()
    }
}

/// Per-row state: the person and employer the row is about, and the values chosen so far for
/// the record being built (later fields depend on earlier ones).
struct RowCtx {
    profile: Profile,
    employer: EmployerProfile,
    row: u64,
    index: usize,
    /// Filling a nested element rather than the item.
    elem: bool,
    record: BTreeMap<&'static str, String>,
    occupation: Option<String>,
}

const DATE_FIELDS: &[&str] = &[
    "birth_date",
    "registered_on",
    "valid_until",
    "posted_on",
    "valid_through",
    "date",
    "start_on",
    "end_on",
    "opened_on",
];
const DIVISION_FIELDS: &[&str] = &[
    "hukou_division",
    "residence_division",
    "desired_division",
    "reg_division",
    "work_division",
    "city_division",
    "division",
];
const NUMBER_FIELDS: &[&str] = &[
    "record_version",
    "graduation_year",
    "openings",
    "salary_min",
    "salary_max",
    "certificate_level",
    "subsidy_cny",
    "active_days",
];

pub(crate) struct Planner<'m> {
    m: &'m Mapping,
    opts: SynthOptions,
    rng: ChaCha8Rng,
    emitter: Emitter<'m>,
    keyer: PersonKeyer,
    counties: Vec<&'static str>,
    prefectures: Vec<&'static str>,
    employers: Vec<EmployerProfile>,
    providers: Vec<String>,
    platforms: Vec<String>,
    abbr: String,
    /// Groups of items: XML item paths, or one group for other formats.
    groups: Vec<Option<Vec<String>>>,
    condition_sources: BTreeSet<usize>,
    /// The mapping declares service stations (schema 1.1): service events then name one of
    /// [`STATION_POOL`] stations and carry its division and kind.
    stations: bool,
}

fn abbreviation(region: &str) -> String {
    match &region[..2] {
        "11" => "BJ".into(),
        "31" => "SH".into(),
        "33" => "ZJ".into(),
        "44" => "GD".into(),
        "51" => "SC".into(),
        "32" => "JS".into(),
        other => format!("R{other}"),
    }
}

impl<'m> Planner<'m> {
    pub(crate) fn new(m: &'m Mapping, opts: &SynthOptions) -> Result<Self, SynthError> {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        let counties = values::counties(&m.region).to_vec();
        let prefectures = values::prefectures(&m.region);
        if counties.is_empty() {
            return Err(SynthError::Unsupported(format!(
                "no county divisions known for region {}",
                m.region
            )));
        }
        let employers = values::employer_pool(&mut rng, &m.region, &counties, 300);
        let providers = (0..12)
            .map(|_| values::uscc_for(&mut rng, counties[0]))
            .collect();
        let platforms = (0..6)
            .map(|_| values::uscc_for(&mut rng, counties[counties.len() / 2]))
            .collect();
        let mut groups: Vec<Option<Vec<String>>> = Vec::new();
        for r in &m.records {
            if !groups.contains(&r.item) {
                groups.push(r.item.clone());
            }
        }
        let condition_sources = m
            .records
            .iter()
            .filter_map(|r| r.when.as_ref())
            .filter_map(|c| match c.source {
                SourceRef::Path { idx, .. } => Some(idx),
                _ => None,
            })
            .collect();
        Ok(Planner {
            m,
            opts: opts.clone(),
            rng,
            emitter: Emitter::new(m),
            keyer: PersonKeyer::new(EXPECTED_LINKAGE_KEY),
            counties,
            prefectures,
            employers,
            providers,
            platforms,
            abbr: abbreviation(&m.region),
            groups,
            condition_sources,
            stations: declares_stations(m),
        })
    }

    pub(crate) fn run(mut self, out: &mut dyn Write) -> Result<SynthReport, SynthError> {
        let mut report = SynthReport::default();
        let mut writer = Writer::new(self.m, out)?;
        let groups = self.groups.clone();
        let per_group = self.opts.rows / groups.len().max(1) as u64;
        let mut row = 0u64;
        for (g, group) in groups.iter().enumerate() {
            let count = if g == 0 {
                self.opts.rows - per_group * (groups.len() as u64 - 1)
            } else {
                per_group
            };
            writer.begin_group(group.as_deref())?;
            for k in 1..=count {
                row += 1;
                let base = self.base_location(group.as_deref(), row, k);
                let mut item = Item::default();
                let mut applied = Vec::new();
                let mut ctx = self.row_ctx(row);
                self.generate(group.as_ref(), &mut item, &mut applied, &mut ctx)?;
                let defect = if self.opts.defect_rate > 0.0
                    && self.rng.gen_bool(self.opts.defect_rate.min(1.0))
                {
                    self.plant(&mut item, &applied, row, &base)
                } else {
                    None
                };
                if self.opts.keep_expected || defect.is_some() {
                    let built = self.build_all(&item, &applied, row, &base);
                    // With atomic rows a row with a planted defect yields no record at all.
                    let withheld = self.m.atomic_rows && built.iter().any(|(r, _)| r.is_err());
                    for (rec, _) in built {
                        match rec {
                            Ok(_) if withheld => {}
                            Ok(r) => {
                                *report.records.entry(r.record_type()).or_insert(0) += 1;
                                if self.opts.keep_expected {
                                    report.expected.push(r);
                                }
                            }
                            Err(e) if defect.is_none() => {
                                return Err(SynthError::Unsupported(format!(
                                    "generated row {row} does not decode cleanly: {e}"
                                )))
                            }
                            Err(_) => {}
                        }
                    }
                } else {
                    for (spec_idx, _) in &applied {
                        *report
                            .records
                            .entry(self.m.records[*spec_idx].record_type)
                            .or_insert(0) += 1;
                    }
                }
                if let Some(d) = defect {
                    report.defects.push(d);
                }
                writer.item(&item)?;
            }
        }
        writer.finish()?;
        report.rows = row;
        Ok(report)
    }

    /// The location an adapter reports for the `k`-th item of a group (row `row` overall).
    fn base_location(&self, group: Option<&[String]>, row: u64, k: u64) -> String {
        match &self.m.format {
            Format::Csv { .. } => format!("row:{row}"),
            Format::FixedWidth { skip_lines, .. } => format!("line:{}", row + *skip_lines as u64),
            Format::Json {
                layout: JsonLayout::Array,
            } => format!("/{}", row - 1),
            Format::Json {
                layout: JsonLayout::Ndjson,
            } => format!("line:{row}"),
            Format::Xml { .. } => format!("/{}[{k}]", group.unwrap_or_default().join("/")),
        }
    }

    fn elem_location(&self, base: &str, each: usize, j: usize) -> String {
        match self.m.format {
            Format::Xml { .. } => format!("{base}/{}[{}]", self.m.paths[each], j + 1),
            _ => format!("{base}{}/{j}", self.m.paths[each]),
        }
    }

    fn row_ctx(&mut self, row: u64) -> RowCtx {
        let profile = values::profile(
            &mut self.rng,
            &self.m.region,
            &self.counties,
            self.opts.as_of,
        );
        let employer = self
            .employers
            .choose(&mut self.rng)
            .cloned()
            .unwrap_or_else(|| self.employers[0].clone());
        RowCtx {
            profile,
            employer,
            row,
            index: 0,
            elem: false,
            record: BTreeMap::new(),
            occupation: None,
        }
    }

    /// Fills the item's values and nested elements, recording which specs apply to which unit.
    fn generate(
        &mut self,
        group: Option<&Vec<String>>,
        item: &mut Item,
        applied: &mut Vec<(usize, UnitRef)>,
        ctx: &mut RowCtx,
    ) -> Result<(), SynthError> {
        let specs: Vec<usize> = (0..self.m.records.len())
            .filter(|i| self.m.records[*i].item.as_ref() == group)
            .collect();
        let flat: Vec<usize> = specs
            .iter()
            .copied()
            .filter(|i| self.m.records[*i].each.is_none())
            .collect();
        let mut item_specs = Vec::new();
        self.fill(&flat, &mut item.values, None, ctx, &mut item_specs)?;
        let mut each_paths: Vec<usize> = specs
            .iter()
            .filter_map(|i| self.m.records[*i].each)
            .collect();
        each_paths.dedup();
        let mut elem_specs: Vec<(usize, usize, usize)> = Vec::new();
        for each in each_paths {
            let nested: Vec<usize> = specs
                .iter()
                .copied()
                .filter(|i| self.m.records[*i].each == Some(each))
                .collect();
            let n = *values::weighted(&mut self.rng, &[(0usize, 3), (1, 5), (2, 3), (3, 1)]);
            let mut units = Vec::with_capacity(n);
            for j in 0..n {
                let mut unit = Unit::new();
                ctx.index = j;
                ctx.elem = true;
                let mut which = Vec::new();
                self.fill(&nested, &mut unit, Some(&mut item.values), ctx, &mut which)?;
                elem_specs.extend(which.into_iter().map(|s| (s, each, j)));
                units.push(unit);
            }
            ctx.index = 0;
            ctx.elem = false;
            item.elements.push((each, units));
        }
        // Adapter order: records in mapping order; nested ones element by element.
        for &s in &specs {
            match self.m.records[s].each {
                None if item_specs.contains(&s) => applied.push((s, UnitRef::Item)),
                None => {}
                Some(each) => {
                    let mut js: Vec<usize> = elem_specs
                        .iter()
                        .filter(|(es, e, _)| *es == s && *e == each)
                        .map(|(_, _, j)| *j)
                        .collect();
                    js.sort_unstable();
                    applied.extend(js.into_iter().map(|j| (s, UnitRef::Elem(each, j))));
                }
            }
        }
        Ok(())
    }

    /// Chooses condition values, then fills every field of every applicable spec.
    fn fill(
        &mut self,
        specs: &[usize],
        unit: &mut Unit,
        mut parent: Option<&mut Unit>,
        ctx: &mut RowCtx,
        applicable: &mut Vec<usize>,
    ) -> Result<(), SynthError> {
        // Condition sources: choose one value per source so the specs agree.
        let mut sources: Vec<usize> = Vec::new();
        for &s in specs {
            if let Some(SourceRef::Path { idx, item: false }) =
                self.m.records[s].when.as_ref().map(|c| &c.source)
            {
                if !sources.contains(idx) {
                    sources.push(*idx);
                }
            }
        }
        for src in sources {
            let mut options: Vec<String> = Vec::new();
            let mut allow_none = specs.iter().any(|s| self.m.records[*s].when.is_none());
            for &s in specs {
                if let Some(c) = &self.m.records[s].when {
                    if c.source
                        == (SourceRef::Path {
                            idx: src,
                            item: false,
                        })
                    {
                        match &c.test {
                            CondTest::OneOf(vs) => options.extend(vs.iter().cloned()),
                            CondTest::Present(true) => options.push("Y".into()),
                            CondTest::Present(false) => allow_none = true,
                        }
                    }
                }
            }
            options.sort();
            options.dedup();
            if allow_none {
                options.push(String::new());
            }
            let pick = options.choose(&mut self.rng).cloned().unwrap_or_default();
            let raw = self.fit(src, Raw::Text(pick));
            unit.insert(src, raw);
        }
        for &s in specs {
            let spec = &self.m.records[s];
            let holds = {
                let frame = SynthFrame {
                    unit,
                    parent: parent.as_deref(),
                    row: ctx.row,
                    index: ctx.index,
                    location: String::new(),
                };
                self.emitter.applies(spec, &frame)
            };
            if !holds {
                continue;
            }
            applicable.push(s);
            ctx.record.clear();
            ctx.occupation = None;
            let defs = fields_of(spec.record_type);
            for (slot, field) in spec.fields.iter().enumerate() {
                let Some(f) = field else { continue };
                let def = defs[slot];
                for src in &f.sources {
                    let SourceRef::Path { idx, item } = *src else {
                        continue;
                    };
                    let target: &mut Unit = match (item, parent.as_deref_mut()) {
                        (true, Some(p)) => p,
                        _ => unit,
                    };
                    if target.contains_key(&idx) {
                        continue;
                    }
                    let raw = if f.sources.len() > 1 {
                        Raw::Text(format!("{}{}", self.abbr, ctx.row))
                    } else if f
                        .steps
                        .iter()
                        .any(|s| matches!(s, Step::SexFromId | Step::BirthDateFromId))
                    {
                        Raw::Text(ctx.profile.id_number.clone())
                    } else {
                        let nat = self.choose(spec.record_type, def, f, ctx);
                        self.invert(f, nat)
                    };
                    let raw = self.fit(idx, raw);
                    target.insert(idx, raw);
                }
                // What the engine makes of the raw value, for fields that depend on this one.
                let frame = SynthFrame {
                    unit,
                    parent: parent.as_deref(),
                    row: ctx.row,
                    index: ctx.index,
                    location: String::new(),
                };
                let v = self.emitter.value(f, &frame).map_err(|e| {
                    SynthError::Unsupported(format!(
                        "field {}.{}: {}",
                        spec.record_type, def.name, e.message
                    ))
                })?;
                ctx.record.insert(def.name, v.display());
            }
        }
        Ok(())
    }

    /// A plausible national value for a target field.
    fn choose(&mut self, t: RecordType, def: FieldDef, f: &Field, ctx: &mut RowCtx) -> Nat {
        if let Some(nat) = self.choose_station(t, def, ctx) {
            return self.restrict_to_table(t, def, f, nat);
        }
        let rng = &mut self.rng;
        let nat = match def.name {
            "source_record_id" => Nat::Text(if !ctx.elem {
                format!("{}{:08}", self.abbr, ctx.row)
            } else {
                format!(
                    "{}{:08}-{}{}",
                    self.abbr,
                    ctx.row,
                    t.as_str()
                        .chars()
                        .next()
                        .unwrap_or('x')
                        .to_ascii_uppercase(),
                    ctx.index + 1
                )
            }),
            "record_version" => {
                Nat::Text(values::weighted(rng, &[(1, 6), (2, 3), (3, 1)]).to_string())
            }
            "id_number" => Nat::Text(ctx.profile.id_number.clone()),
            "name" if t == RecordType::Employer => Nat::Text(ctx.employer.name.clone()),
            "name" => Nat::Text(ctx.profile.name.clone()),
            "phone" => ctx
                .profile
                .phone
                .clone()
                .map(Nat::Text)
                .unwrap_or(Nat::Null),
            "sex" => Nat::Text(ctx.profile.sex.to_string()),
            "birth_date" => Nat::Date(ctx.profile.birth),
            "education" => Nat::Text(ctx.profile.education.to_string()),
            "min_education" => {
                if rng.gen_bool(0.7) {
                    Nat::Text(
                        values::weighted(
                            rng,
                            &[("21", 4), ("31", 4), ("41", 2), ("61", 3), ("71", 2)],
                        )
                        .to_string(),
                    )
                } else {
                    Nat::Null
                }
            }
            "hukou_division" => Nat::Text(ctx.profile.hukou_division.clone()),
            "residence_division" => Nat::Text(ctx.profile.residence_division.clone()),
            "hukou_nature" => Nat::Text(ctx.profile.hukou_nature.to_string()),
            "graduation_year" => ctx
                .profile
                .graduation_year
                .map(|y| Nat::Text(y.to_string()))
                .unwrap_or(Nat::Null),
            "key_groups" => Nat::List(
                ctx.profile
                    .key_groups
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            "seeker_category" => Nat::Text(
                if ctx.profile.key_groups.contains(&"college_graduate") {
                    "new_entrant"
                } else if ctx.profile.key_groups.contains(&"migrant_worker") && rng.gen_bool(0.6) {
                    "rural_labour"
                } else {
                    values::weighted(
                        rng,
                        values::enum_domain(t, "seeker_category").unwrap_or(&[("other", 1)]),
                    )
                }
                .to_string(),
            ),
            "desired_occupations" => {
                let a = values::occupation(rng, &self.m.region);
                let b = values::occupation(rng, &self.m.region);
                Nat::List(if a != b && rng.gen_bool(0.4) {
                    vec![a, b]
                } else {
                    vec![a]
                })
            }
            "desired_division" | "work_division" | "city_division" | "division" => {
                let pool = if rng.gen_bool(0.5) && !self.prefectures.is_empty() {
                    &self.prefectures
                } else {
                    &self.counties
                };
                Nat::Text(
                    pool.choose(rng)
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| self.m.region.clone()),
                )
            }
            "reg_division" => Nat::Text(ctx.employer.division.clone()),
            "registered_on" | "date" => Nat::Date(values::window_date(rng, self.opts.as_of)),
            "posted_on" => Nat::Date(values::window_date(rng, self.opts.as_of)),
            "start_on" => Nat::Date(values::window_date(rng, self.opts.as_of)),
            "valid_until" => after(rng, ctx, "registered_on", 180, 180, 0.75),
            "valid_through" => after(rng, ctx, "posted_on", 30, 90, 0.7),
            "end_on" => after(rng, ctx, "start_on", 14, 60, 0.8),
            "uscc" => Nat::Text(ctx.employer.uscc.clone()),
            "employer_uscc" => {
                let kind = ctx.record.get("kind").map(String::as_str);
                if t == RecordType::EmploymentEvent && !matches!(kind, Some("hired" | "separated"))
                {
                    Nat::Null
                } else {
                    Nat::Text(ctx.employer.uscc.clone())
                }
            }
            "provider_uscc" => Nat::Text(self.providers.choose(rng).cloned().unwrap_or_default()),
            "platform_uscc" => Nat::Text(self.platforms.choose(rng).cloned().unwrap_or_default()),
            "industry" => Nat::Text(ctx.employer.industry.to_string()),
            "size_class" => Nat::Text(ctx.employer.size_class.to_string()),
            "ownership" => Nat::Text(ctx.employer.ownership.to_string()),
            "occupation" | "target_occupation" | "title" => {
                let occ = ctx
                    .occupation
                    .get_or_insert_with(|| values::occupation(rng, &self.m.region))
                    .clone();
                if def.name == "title" {
                    let suffix = ["", "（急招）", "（五险一金）", "（包食宿）", "助理", "主管"];
                    Nat::Text(format!(
                        "{}{}",
                        values::occupation_name(&occ),
                        suffix.choose(rng).copied().unwrap_or("")
                    ))
                } else if t == RecordType::EmploymentEvent && rng.gen_bool(0.2) {
                    Nat::Null
                } else {
                    Nat::Text(occ)
                }
            }
            "openings" => Nat::Text(
                values::weighted(
                    rng,
                    &[(1, 30), (2, 25), (3, 15), (5, 12), (10, 10), (20, 8)],
                )
                .to_string(),
            ),
            "salary_min" => {
                if rng.gen_bool(0.85) {
                    Nat::Text((rng.gen_range(6..=30) * 500).to_string())
                } else {
                    Nat::Null
                }
            }
            "salary_max" => match ctx
                .record
                .get("salary_min")
                .and_then(|s| s.parse::<u32>().ok())
            {
                Some(min) => Nat::Text((min + rng.gen_range(2..=16) * 500).to_string()),
                None => Nat::Null,
            },
            "reason" => {
                if ctx.record.get("kind").map(String::as_str) == Some("separated") {
                    Nat::Text(
                        ["合同到期", "个人原因", "单位裁员", "协商解除"]
                            .choose(rng)
                            .copied()
                            .unwrap_or("个人原因")
                            .to_string(),
                    )
                } else {
                    Nat::Null
                }
            }
            "certificate_level" => {
                if rng.gen_bool(0.6) {
                    Nat::Text(values::weighted(rng, &[(5, 4), (4, 4), (3, 2), (2, 1)]).to_string())
                } else {
                    Nat::Null
                }
            }
            "subsidy_cny" => {
                if rng.gen_bool(0.8) {
                    Nat::Text((rng.gen_range(5..=30) * 100).to_string())
                } else {
                    Nat::Null
                }
            }
            "period_month" => {
                let d = values::window_date(rng, self.opts.as_of);
                Nat::Text(format!("{:04}-{:02}", d.year(), d.month()))
            }
            "active_days" => {
                let max = ctx
                    .record
                    .get("period_month")
                    .and_then(|m| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok())
                    .map(days_in_month)
                    .unwrap_or(28);
                Nat::Text(rng.gen_range(max / 3..=max).to_string())
            }
            "injury_insurance" => Nat::Text(if rng.gen_bool(0.75) { "Y" } else { "N" }.to_string()),
            "station_id" => Nat::Text(format!(
                "{}-st-{:03}",
                self.abbr.to_ascii_lowercase(),
                rng.gen_range(1..=40)
            )),
            other => match values::enum_domain(t, other) {
                Some(domain) => Nat::Text(values::weighted(rng, domain).to_string()),
                None => Nat::Text("x".into()),
            },
        };
        self.restrict_to_table(t, def, f, nat)
    }

    /// Values of service stations, and of the service events that name them, when the mapping
    /// declares stations (`None`: the field is not one of these).
    fn choose_station(&mut self, t: RecordType, def: FieldDef, ctx: &RowCtx) -> Option<Nat> {
        if !self.stations {
            return None;
        }
        let named = || {
            ctx.record
                .get("station_id")
                .and_then(|id| id.rsplit("-st-").next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(1)
        };
        Some(match (t, def.name) {
            (RecordType::ServiceEvent, "station_id") => {
                let n = self.rng.gen_range(1..=STATION_POOL);
                Nat::Text(self.station_id(n))
            }
            (RecordType::ServiceEvent, "division") => Nat::Text(self.station_county(named())),
            (RecordType::ServiceEvent, "station_kind") => {
                Nat::Text(station_kind(named()).0.to_string())
            }
            (RecordType::ServiceStation, "station_id") => {
                Nat::Text(self.station_id((ctx.row - 1) % STATION_POOL + 1))
            }
            (RecordType::ServiceStation, "name") => {
                let n = named();
                let county = self.station_county(n);
                let place = pes_schemas::codes::division(&county)
                    .map(|d| d.name)
                    .unwrap_or("");
                Nat::Text(format!("{place}{}（{n}）", station_kind(n).1))
            }
            (RecordType::ServiceStation, "kind") => Nat::Text(station_kind(named()).0.to_string()),
            (RecordType::ServiceStation, "division") => Nat::Text(self.station_county(named())),
            (RecordType::ServiceStation, "township") => {
                let n = named();
                match station_kind(n).0 {
                    "street_town_window" | "community_village_point" => {
                        Nat::Text(format!("{}{:03}", self.station_county(n), 1 + n % 20))
                    }
                    _ => Nat::Null,
                }
            }
            (RecordType::ServiceStation, "opened_on") => {
                Nat::Date(self.opts.as_of - Duration::days(self.rng.gen_range(0..365 * 8)))
            }
            (RecordType::ServiceStation, "status") => Nat::Text(
                values::weighted(
                    &mut self.rng,
                    &[("operating", 90), ("suspended", 7), ("closed", 3)],
                )
                .to_string(),
            ),
            (RecordType::ServiceStation, "services") => Nat::List(
                station_services(station_kind(named()).0)
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            _ => return None,
        })
    }

    /// Id of the `n`-th station of the pool.
    fn station_id(&self, n: u64) -> String {
        format!("{}-st-{n:03}", self.abbr.to_ascii_lowercase())
    }

    /// County of the `n`-th station of the pool (spread over the region's counties).
    fn station_county(&self, n: u64) -> String {
        self.counties
            .get((n as usize * 7) % self.counties.len().max(1))
            .map(|c| c.to_string())
            .unwrap_or_else(|| self.m.region.clone())
    }

    /// With a code table, the national value must be one the table can produce.
    fn restrict_to_table(&mut self, t: RecordType, def: FieldDef, f: &Field, nat: Nat) -> Nat {
        let Some(Step::Table(ti)) = f.steps.iter().rev().find(|s| matches!(s, Step::Table(_)))
        else {
            return nat;
        };
        let table = &self.m.tables[*ti];
        let mut allowed: Vec<&String> = table.entries.iter().map(|(_, v)| v).collect();
        allowed.sort();
        allowed.dedup();
        if allowed.is_empty() {
            return nat;
        }
        let weights = values::enum_domain(t, def.name);
        let pick = |rng: &mut ChaCha8Rng| -> String {
            if let Some(domain) = weights {
                let w: Vec<(&str, u32)> = domain
                    .iter()
                    .filter(|(v, _)| allowed.iter().any(|a| a.as_str() == *v))
                    .copied()
                    .collect();
                if !w.is_empty() {
                    return values::weighted(rng, &w).to_string();
                }
            }
            allowed
                .choose(rng)
                .map(|s| s.to_string())
                .unwrap_or_default()
        };
        match nat {
            Nat::Text(v) if allowed.iter().any(|a| **a == v) => Nat::Text(v),
            Nat::Text(_) => Nat::Text(pick(&mut self.rng)),
            Nat::List(items) => {
                let kept: Vec<String> =
                    items.into_iter().filter(|i| allowed.contains(&i)).collect();
                if kept.is_empty() && def.name == "desired_occupations" {
                    Nat::List(vec![pick(&mut self.rng)])
                } else {
                    Nat::List(kept)
                }
            }
            other => other,
        }
    }

    /// Turns a national value into the raw value the field's transforms map onto it.
    fn invert(&mut self, f: &Field, nat: Nat) -> Raw {
        let mut v = nat;
        for step in f.steps.iter().rev() {
            v = match (step, v) {
                (Step::Date(formats), Nat::Date(d)) => Nat::Text(format_date(d, &formats[0])),
                (Step::Month(formats), Nat::Text(m)) => {
                    match NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d") {
                        Ok(d) => Nat::Text(d.format(&formats[0]).to_string()),
                        Err(_) => Nat::Text(m),
                    }
                }
                (Step::Table(ti), Nat::Text(n)) => Nat::Text(self.local_code(*ti, &n)),
                (Step::Table(ti), Nat::List(items)) => {
                    Nat::List(items.iter().map(|n| self.local_code(*ti, n)).collect())
                }
                (Step::Split(sep), Nat::List(items)) => Nat::Text(items.join(sep)),
                (Step::Lower, Nat::Text(t)) => Nat::Text(t.to_ascii_uppercase()),
                (Step::Lower, Nat::List(items)) => {
                    Nat::List(items.iter().map(|t| t.to_ascii_uppercase()).collect())
                }
                (Step::Halfwidth, Nat::Text(t)) if self.rng.gen_bool(0.05) => {
                    Nat::Text(to_fullwidth_digits(&t))
                }
                (_, v) => v,
            };
        }
        match v {
            Nat::Text(t) => Raw::Text(t),
            Nat::Date(d) => Raw::Text(d.format("%Y-%m-%d").to_string()),
            Nat::List(l) => Raw::List(l),
            Nat::Null => Raw::Null,
        }
    }

    fn local_code(&mut self, table: usize, national: &str) -> String {
        let mut keys: Vec<&String> = self.m.tables[table]
            .entries
            .iter()
            .filter(|(_, v)| *v == national)
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        keys.choose(&mut self.rng)
            .map(|k| k.to_string())
            .unwrap_or_else(|| national.to_string())
    }

    /// Makes a raw value representable in the format (what the adapter will read back).
    fn fit(&self, idx: usize, raw: Raw) -> Raw {
        match &self.m.format {
            Format::Csv { .. } => flat(raw),
            Format::FixedWidth {
                encoding, columns, ..
            } => {
                let Raw::Text(t) = flat(raw) else {
                    return Raw::Text(String::new());
                };
                let width = columns
                    .get(&self.m.paths[idx])
                    .map(|r| r.len())
                    .unwrap_or(0);
                let enc = encoding_of(*encoding);
                let mut t = t;
                while enc.encode(&t).0.len() > width {
                    t.pop();
                }
                // The adapter reads the padded column; trailing spaces are the mapping's to trim.
                Raw::Text(t)
            }
            Format::Xml { .. } if self.m.paths[idx].contains('@') => match raw {
                Raw::List(l) => l.into_iter().next().map(Raw::Text).unwrap_or(Raw::Null),
                other => other,
            },
            _ => raw,
        }
    }

    /// Builds every applicable record of an item with the real engine.
    fn build_all(
        &self,
        item: &Item,
        applied: &[(usize, UnitRef)],
        row: u64,
        base: &str,
    ) -> Vec<(
        Result<pes_schemas::Record, Box<crate::adapter::RowError>>,
        String,
    )> {
        let ctx = DecodeContext {
            region: &self.m.region,
            source: &self.m.id,
            raw_sha256: EXPECTED_RAW_SHA256,
            ingested_at: EXPECTED_INGESTED_AT,
            keyer: &self.keyer,
        };
        applied
            .iter()
            .map(|(s, u)| {
                let spec: &RecordSpec = &self.m.records[*s];
                let (unit, parent, index, location) = match u {
                    UnitRef::Item => (&item.values, None, 0, base.to_string()),
                    UnitRef::Elem(each, j) => {
                        let units = item
                            .elements
                            .iter()
                            .find(|(e, _)| e == each)
                            .map(|(_, us)| us);
                        let unit = units.and_then(|us| us.get(*j)).unwrap_or(&item.values);
                        (
                            unit,
                            Some(&item.values),
                            *j,
                            self.elem_location(base, *each, *j),
                        )
                    }
                };
                let frame = SynthFrame {
                    unit,
                    parent,
                    row,
                    index,
                    location: location.clone(),
                };
                (
                    self.emitter
                        .build(spec, &frame, &mut FrameCache::default(), &ctx),
                    location,
                )
            })
            .collect()
    }

    /// Plants one defect in the item; returns it with the errors it causes, or `None` when no
    /// candidate produced exactly the intended error.
    fn plant(
        &mut self,
        item: &mut Item,
        applied: &[(usize, UnitRef)],
        row: u64,
        base: &str,
    ) -> Option<PlantedDefect> {
        let mut candidates: Vec<(DefectKind, UnitRef, usize)> = Vec::new();
        for (s, u) in applied {
            let spec = &self.m.records[*s];
            let defs = fields_of(spec.record_type);
            for (slot, f) in spec.fields.iter().enumerate() {
                let Some(f) = f else { continue };
                let [SourceRef::Path {
                    idx,
                    item: from_item,
                }] = f.sources.as_slice()
                else {
                    continue;
                };
                if self.condition_sources.contains(idx) {
                    continue;
                }
                let unit = if *from_item { UnitRef::Item } else { *u };
                let name = defs[slot].name;
                let mut kinds = Vec::new();
                if name == "id_number"
                    || f.steps
                        .iter()
                        .any(|s| matches!(s, Step::SexFromId | Step::BirthDateFromId))
                {
                    kinds.push(DefectKind::BadIdCheck);
                } else if DATE_FIELDS.contains(&name) {
                    kinds.push(DefectKind::BadDate);
                }
                let table = f.steps.iter().find_map(|s| match s {
                    Step::Table(i) => Some(*i),
                    _ => None,
                });
                if table.is_some_and(|t| self.m.tables[t].on_unknown == OnUnknown::Error) {
                    kinds.push(DefectKind::UnknownLocalCode);
                }
                if defs[slot].required && f.default.is_none() && f.constant.is_none() {
                    kinds.push(DefectKind::MissingRequired);
                }
                if DIVISION_FIELDS.contains(&name) && table.is_none() {
                    kinds.push(DefectKind::BadDivision);
                }
                if NUMBER_FIELDS.contains(&name) && table.is_none() {
                    kinds.push(DefectKind::BadNumber);
                }
                candidates.extend(kinds.into_iter().map(|k| (k, unit, *idx)));
            }
        }
        candidates.sort_by_key(|(k, u, i)| (*k, matches!(u, UnitRef::Item), *i));
        candidates.dedup();
        // Kinds first, uniformly, so that kinds with many candidate fields do not dominate.
        let mut kinds: Vec<DefectKind> = candidates.iter().map(|c| c.0).collect();
        kinds.dedup();
        kinds.shuffle(&mut self.rng);
        let mut tries = Vec::new();
        for kind in kinds {
            let of_kind: Vec<_> = candidates.iter().filter(|c| c.0 == kind).copied().collect();
            if let Some(c) = of_kind.choose(&mut self.rng) {
                tries.push(*c);
            }
        }
        for (kind, unit, idx) in tries.into_iter().take(4) {
            let slot = match unit {
                UnitRef::Item => item.values.get_mut(&idx),
                UnitRef::Elem(each, j) => item
                    .elements
                    .iter_mut()
                    .find(|(e, _)| *e == each)
                    .and_then(|(_, us)| us.get_mut(j))
                    .and_then(|u| u.get_mut(&idx)),
            };
            let Some(slot) = slot else { continue };
            let original = slot.clone();
            let spoiled = self.spoil(kind, &original, idx);
            if spoiled == original {
                continue;
            }
            *slot = self.fit(idx, spoiled);
            let errors: Vec<ExpectedError> = self
                .build_all(item, applied, row, base)
                .into_iter()
                .filter_map(|(r, location)| {
                    r.err().map(|e| ExpectedError {
                        location,
                        code: e.code,
                    })
                })
                .collect();
            if !errors.is_empty() && errors.iter().all(|e| e.code == kind.error_code()) {
                return Some(PlantedDefect {
                    row,
                    kind,
                    source: self.m.paths[idx].clone(),
                    errors,
                });
            }
            // Not the intended error (or none): put the value back.
            let slot = match unit {
                UnitRef::Item => item.values.get_mut(&idx),
                UnitRef::Elem(each, j) => item
                    .elements
                    .iter_mut()
                    .find(|(e, _)| *e == each)
                    .and_then(|(_, us)| us.get_mut(j))
                    .and_then(|u| u.get_mut(&idx)),
            };
            if let Some(slot) = slot {
                *slot = original;
            }
        }
        None
    }

    fn spoil(&mut self, kind: DefectKind, raw: &Raw, idx: usize) -> Raw {
        let text = match raw {
            Raw::Text(t) => t.clone(),
            Raw::List(l) => l.first().cloned().unwrap_or_default(),
            Raw::Null => String::new(),
        };
        match kind {
            DefectKind::BadIdCheck => {
                let half: String =
                    crate::transform::halfwidth(Cow::Borrowed(text.as_str())).into_owned();
                let Some(last) = half.chars().last() else {
                    return raw.clone();
                };
                let other = "0123456789X"
                    .chars()
                    .filter(|c| *c != last.to_ascii_uppercase())
                    .nth(self.rng.gen_range(0..10))
                    .unwrap_or('0');
                let mut s: String = half.chars().take(half.chars().count() - 1).collect();
                s.push(other);
                Raw::Text(s)
            }
            DefectKind::BadDate => {
                let pattern = self
                    .date_pattern_for(idx)
                    .unwrap_or_else(|| "%Y-%m-%d".to_string());
                let p = if pattern.contains("%d") {
                    pattern.replace("%d", "31")
                } else {
                    "%Y-%m-31".to_string()
                };
                let d = NaiveDate::from_ymd_opt(2023, 2, 1).unwrap_or_default();
                Raw::Text(d.format(&p).to_string())
            }
            DefectKind::UnknownLocalCode => match raw {
                Raw::List(_) => Raw::List(vec!["ZZ99".into()]),
                _ => Raw::Text("ZZ99".into()),
            },
            DefectKind::MissingRequired => Raw::Null,
            DefectKind::BadDivision => Raw::Text("990101".into()),
            DefectKind::BadNumber => Raw::Text("1O".into()),
        }
    }

    /// The first chrono pattern of a date transform reading this source.
    fn date_pattern_for(&self, idx: usize) -> Option<String> {
        self.m
            .records
            .iter()
            .flat_map(|r| r.fields.iter().flatten())
            .find_map(|f| {
                let reads = f
                    .sources
                    .iter()
                    .any(|s| matches!(s, SourceRef::Path { idx: i, .. } if *i == idx));
                if !reads {
                    return None;
                }
                f.steps.iter().find_map(|s| match s {
                    Step::Date(formats) => formats.iter().find_map(|d| match d {
                        DateFormat::Pattern(p) => Some(p.text.clone()),
                        DateFormat::ExcelSerial => None,
                    }),
                    _ => None,
                })
            })
    }
}

fn flat(raw: Raw) -> Raw {
    match raw {
        Raw::List(l) => Raw::Text(l.into_iter().next().unwrap_or_default()),
        Raw::Null => Raw::Text(String::new()),
        t => t,
    }
}

fn after(rng: &mut ChaCha8Rng, ctx: &RowCtx, field: &str, min: i64, max: i64, p: f64) -> Nat {
    match ctx
        .record
        .get(field)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    {
        Some(d) if rng.gen_bool(p) => Nat::Date(d + Duration::days(rng.gen_range(min..=max))),
        _ => Nat::Null,
    }
}

fn days_in_month(first: NaiveDate) -> u32 {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    next.map(|n| (n - first).num_days() as u32).unwrap_or(28)
}

fn format_date(d: NaiveDate, f: &DateFormat) -> String {
    match f {
        DateFormat::Pattern(p) => d.format(&p.text).to_string(),
        DateFormat::ExcelSerial => {
            let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default();
            (d - epoch).num_days().to_string()
        }
    }
}

fn to_fullwidth_digits(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// Stations a generated export names when its mapping declares stations.
const STATION_POOL: u64 = 40;

/// Station kinds with their Chinese names, for station names; the `n`-th station of the pool
/// has kind `n mod 6`.
const STATION_KINDS: [(&str, &str); 6] = [
    ("street_town_window", "街道就业服务窗口"),
    ("community_village_point", "社区就业服务点"),
    ("industrial_cluster_station", "产业园区就业服务站"),
    ("gig_market", "零工市场"),
    ("online", "线上就业服务平台"),
    ("market_hr_org", "人力资源服务机构"),
];

fn station_kind(n: u64) -> (&'static str, &'static str) {
    STATION_KINDS[(n % STATION_KINDS.len() as u64) as usize]
}

/// Services a station of a kind offers.
fn station_services(kind: &str) -> &'static [&'static str] {
    match kind {
        "gig_market" => &["gig_match", "policy_consultation"],
        "street_town_window" => &[
            "referral",
            "counselling",
            "policy_consultation",
            "training_referral",
        ],
        "community_village_point" => &["referral", "policy_consultation"],
        "industrial_cluster_station" => &["referral", "training_referral", "counselling"],
        "online" => &["referral", "gig_match", "policy_consultation"],
        _ => &["referral", "counselling"],
    }
}

/// Whether a mapping declares service stations: a `service_station` record, or service events
/// that carry their station's kind.
fn declares_stations(m: &Mapping) -> bool {
    m.records.iter().any(|r| match r.record_type {
        RecordType::ServiceStation => true,
        RecordType::ServiceEvent => fields_of(r.record_type)
            .iter()
            .zip(&r.fields)
            .any(|(d, f)| d.name == "station_kind" && f.is_some()),
        _ => false,
    })
}
