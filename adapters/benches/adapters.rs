//! Adapter throughput beside its floor, in one run, on one core.
//!
//! `cargo bench -p pes-adapters --bench adapters`
//!
//! Input: synthetic exports from the shipped mappings (Guangdong GB18030 CSV, Zhejiang nested
//! JSON), generated in memory. Each adapter run decodes the bytes into validated national records
//! (person keys, code-table lookups, schema validation included) and hands them to a sink.
//!
//! The floor is the hand-written equivalent with no mapping engine and no validation: the same
//! bytes decoded from GB18030 with encoding_rs and parsed with `csv` + serde into a row struct
//! (or with `serde_json` into typed item structs), then moved into the same national `Record`
//! structs with the same envelope. Targets: CSV >= 300,000 rows/s and JSON >= 200,000 records/s,
//! each at least half of its floor.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use pes_adapters::national::PersonKeyer;
use pes_adapters::synth::{self, SynthOptions};
use pes_adapters::{build_adapter, DecodeContext, Decoded, Mapping};
use pes_schemas::*;
use serde::Deserialize;

const RUNS: usize = 7;

/// The product's allocator (the `pesgw` binary uses jemalloc), for adapter and floor alike;
/// `--features bench-system-alloc` measures both under the system allocator.
#[cfg(not(feature = "bench-system-alloc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Which allocator this run uses, for the report.
const ALLOCATOR: &str = if cfg!(feature = "bench-system-alloc") {
    "system allocator"
} else {
    "jemalloc"
};

fn mapping(name: &str) -> Mapping {
    Mapping::from_path(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("mappings")
            .join(name),
    )
    .expect("shipped mapping")
}

fn export(m: &Mapping, rows: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let opts = SynthOptions {
        rows,
        seed: 2024,
        defect_rate: 0.0,
        keep_expected: false,
        ..Default::default()
    };
    synth::write_export(m, &opts, &mut out).expect("synth");
    out
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (Linux). Other processes
/// on the machine then do not count against the adapter, so the figure is per core even when
/// the machine is busy. `None` elsewhere.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Median time of `RUNS` runs (after one warm-up): thread CPU time where available, else wall
/// time. Returns (median cpu-or-wall, median wall, count).
fn measure(mut f: impl FnMut() -> u64) -> (Duration, Duration, u64) {
    let n = f();
    let mut cpu = Vec::with_capacity(RUNS);
    let mut wall = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (c0, t0) = (thread_cpu(), Instant::now());
        black_box(f());
        let w = t0.elapsed();
        wall.push(w);
        cpu.push(match (c0, thread_cpu()) {
            (Some(a), Some(b)) => b - a,
            _ => w,
        });
    }
    cpu.sort();
    wall.sort();
    (cpu[RUNS / 2], wall[RUNS / 2], n)
}

fn adapter_run(m: &Mapping, bytes: &[u8]) -> (u64, u64) {
    let keyer = PersonKeyer::new(b"bench-linkage-key");
    let ctx = DecodeContext {
        region: &m.region,
        source: &m.id,
        raw_sha256: "0000000000000000000000000000000000000000000000000000000000000000",
        ingested_at: "2024-06-30T00:00:00Z",
        keyer: &keyer,
    };
    let adapter = build_adapter(m);
    let mut records = 0u64;
    let mut errors = 0u64;
    let summary = adapter
        .decode(&mut &bytes[..], &ctx, &mut |d| {
            match d {
                Decoded::Record(r) => {
                    black_box(&r);
                    records += 1
                }
                Decoded::RowError(_) | Decoded::FailedRow(_) => errors += 1,
            }
            Ok(())
        })
        .expect("decode");
    assert_eq!(
        errors, 0,
        "clean synthetic input decodes without row errors"
    );
    (summary.rows, records)
}

/// The envelope every record carries, as the adapter builds it: values shared by the run.
struct Envelope {
    region: Arc<str>,
    source: Arc<str>,
    raw_sha256: Arc<str>,
    adapter_id: Arc<str>,
    adapter_version: Arc<str>,
    ingested_at: Arc<str>,
    schema_version: Arc<str>,
    code_lists: Arc<BTreeMap<String, String>>,
}

impl Envelope {
    fn new(m: &Mapping) -> Self {
        Envelope {
            region: m.region.as_str().into(),
            source: m.id.as_str().into(),
            raw_sha256: "0".repeat(64).into(),
            adapter_id: m.id.as_str().into(),
            adapter_version: m.version.as_str().into(),
            ingested_at: "2024-06-30T00:00:00Z".into(),
            schema_version: SCHEMA_VERSION.into(),
            code_lists: Arc::new(
                [
                    ("gbt2260", "2023"),
                    ("occupations", "2022"),
                    ("gbt4658", "2006"),
                ]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ),
        }
    }

    fn record(&self, srid: String, version: u64, location: String, body: RecordBody) -> Record {
        Record {
            record_id: Record::make_id(&self.region, &self.source, &srid),
            region: Arc::clone(&self.region),
            source: Arc::clone(&self.source),
            source_record_id: srid,
            record_version: version,
            schema_version: Arc::clone(&self.schema_version),
            code_lists: Arc::clone(&self.code_lists),
            provenance: Provenance {
                raw_sha256: Arc::clone(&self.raw_sha256),
                adapter_id: Arc::clone(&self.adapter_id),
                adapter_version: Arc::clone(&self.adapter_version),
                ingested_at: Arc::clone(&self.ingested_at),
                location,
            },
            body,
        }
    }
}

fn date(s: &str, f: &str) -> Option<NaiveDate> {
    if s.is_empty() {
        None
    } else {
        NaiveDate::parse_from_str(s, f).ok()
    }
}

/// Full-width digits and letters (as typed at service windows) to ASCII.
fn half(s: String) -> String {
    if s.is_ascii() {
        return s;
    }
    s.chars()
        .map(|c| {
            if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn enum_of<T: for<'de> Deserialize<'de>>(s: &str) -> T {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s))
        .expect("enum value")
}

#[derive(Deserialize)]
struct GdRow {
    #[serde(rename = "记录编号")]
    id: String,
    #[serde(rename = "身份证号码")]
    id_number: String,
    #[serde(rename = "姓名")]
    name: String,
    #[serde(rename = "联系电话")]
    phone: String,
    #[serde(rename = "文化程度")]
    education: String,
    #[serde(rename = "户籍地区划")]
    hukou: String,
    #[serde(rename = "户口性质")]
    hukou_nature: String,
    #[serde(rename = "现居住地区划")]
    residence: String,
    #[serde(rename = "毕业年份")]
    graduation: String,
    #[serde(rename = "人员类别")]
    groups: String,
    #[serde(rename = "求职类别")]
    category: String,
    #[serde(rename = "求职意向工种")]
    occupations: String,
    #[serde(rename = "意向工作地区")]
    division: String,
    #[serde(rename = "登记日期")]
    registered: String,
    #[serde(rename = "有效期至")]
    valid_until: String,
    #[serde(rename = "登记状态")]
    status: String,
    #[serde(rename = "就业状态")]
    employed: String,
    #[serde(rename = "就业单位代码")]
    employer: String,
    #[serde(rename = "就业日期")]
    hired_on: String,
    #[serde(rename = "就业工种")]
    occupation: String,
}

/// The hand-written Guangdong CSV reader: decode, parse, move into records. No validation.
fn csv_floor(
    m: &Mapping,
    bytes: &[u8],
    tables: &HashMap<&str, HashMap<String, String>>,
) -> (u64, u64) {
    let env = Envelope::new(m);
    let text = encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .expect("GB18030");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let t = |name: &str, k: &str| tables[name].get(k).cloned().unwrap_or_default();
    let (mut rows, mut records) = (0u64, 0u64);
    for row in rdr.deserialize::<GdRow>() {
        let mut r = row.expect("row");
        r.id_number = half(r.id_number);
        r.phone = half(r.phone);
        rows += 1;
        let loc = format!("row:{rows}");
        let birth = date(&r.id_number[6..14], "%Y%m%d").expect("birth");
        let sex = if (r.id_number.as_bytes()[16] - b'0') % 2 == 1 {
            "1"
        } else {
            "2"
        };
        let person = Person {
            person_key: r.id_number.clone(),
            sex: sex.into(),
            birth_date: birth,
            education: t("gd_education", &r.education),
            hukou_division: r.hukou,
            hukou_nature: enum_of(&t("hukou_nature", &r.hukou_nature)),
            residence_division: r.residence,
            graduation_year: r.graduation.parse().ok(),
            key_groups: r
                .groups
                .split('、')
                .filter(|s| !s.is_empty())
                .map(|g| enum_of(&t("gd_key_groups", g)))
                .collect(),
            protected: Some(PersonProtected {
                name: r.name,
                id_number: r.id_number.clone(),
                phone: opt(&r.phone),
            }),
        };
        black_box(env.record(
            format!("P-{}", r.id),
            1,
            loc.clone(),
            RecordBody::Person(person),
        ));
        let reg = JobSeekerRegistration {
            person_key: r.id_number.clone(),
            seeker_category: enum_of(&t("seeker_category", &r.category)),
            desired_occupations: r
                .occupations
                .split(';')
                .filter(|s| !s.is_empty())
                .map(|o| t("gd_occupation", o))
                .collect(),
            desired_division: r.division.clone(),
            registered_on: date(&r.registered, "%Y年%m月%d日").expect("date"),
            valid_until: date(&r.valid_until, "%Y年%m月%d日"),
            status: enum_of(&t("registration_status", &r.status)),
        };
        black_box(env.record(
            format!("R-{}", r.id),
            1,
            loc.clone(),
            RecordBody::JobSeekerRegistration(reg),
        ));
        records += 2;
        if r.employed == "已就业" {
            let ev = EmploymentEvent {
                person_key: r.id_number,
                kind: EmploymentEventKind::Hired,
                employer_uscc: opt(&r.employer),
                employment_form: EmploymentForm::Unit,
                occupation: (!r.occupation.is_empty()).then(|| t("gd_occupation", &r.occupation)),
                work_division: r.division,
                date: date(&r.hired_on, "%Y年%m月%d日").expect("date"),
                reason: None,
            };
            black_box(env.record(
                format!("E-{}", r.id),
                1,
                loc,
                RecordBody::EmploymentEvent(ev),
            ));
            records += 1;
        }
    }
    (rows, records)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZjPerson {
    person_id: String,
    version: String,
    id_card: String,
    name: String,
    mobile: Option<String>,
    education: ZjCode,
    hukou: ZjHukou,
    residence: ZjDivision,
    graduation_year: Option<String>,
    tags: Vec<String>,
    registrations: Vec<ZjRegistration>,
    employment_history: Vec<ZjEvent>,
    services: Vec<ZjService>,
}
#[derive(Deserialize)]
struct ZjCode {
    code: String,
}
#[derive(Deserialize)]
struct ZjHukou {
    division: String,
    nature: String,
}
#[derive(Deserialize)]
struct ZjDivision {
    division: String,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZjRegistration {
    reg_no: String,
    category: String,
    desired_occupations: Vec<String>,
    desired_division: String,
    registered_at: String,
    valid_until: Option<String>,
    status: String,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZjEvent {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    employer: Option<ZjEmployer>,
    form: String,
    occupation: Option<String>,
    division: String,
    date: String,
    reason: Option<String>,
}
#[derive(Deserialize)]
struct ZjEmployer {
    uscc: Option<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZjService {
    service_id: String,
    station_id: String,
    division: String,
    kind: String,
    date: String,
    result: String,
}

/// The hand-written Zhejiang JSON reader: parse typed structs, move into records. No validation.
fn json_floor(
    m: &Mapping,
    bytes: &[u8],
    tables: &HashMap<&str, HashMap<String, String>>,
) -> (u64, u64) {
    let env = Envelope::new(m);
    let items: Vec<ZjPerson> = serde_json::from_slice(bytes).expect("json");
    let t = |name: &str, k: &str| tables[name].get(k).cloned().unwrap_or_default();
    let mut records = 0u64;
    let rows = items.len() as u64;
    for (i, p) in items.into_iter().enumerate() {
        let version: u64 = p.version.parse().unwrap_or(1);
        let birth = date(&p.id_card[6..14], "%Y%m%d").expect("birth");
        let sex = if (p.id_card.as_bytes()[16] - b'0') % 2 == 1 {
            "1"
        } else {
            "2"
        };
        let person = Person {
            person_key: p.id_card.clone(),
            sex: sex.into(),
            birth_date: birth,
            education: p.education.code,
            hukou_division: p.hukou.division,
            hukou_nature: enum_of(&t("hukou_nature", &p.hukou.nature)),
            residence_division: p.residence.division,
            graduation_year: p.graduation_year.and_then(|y| y.parse().ok()),
            key_groups: p
                .tags
                .iter()
                .map(|g| enum_of(&g.to_ascii_lowercase()))
                .collect(),
            protected: Some(PersonProtected {
                name: p.name,
                id_number: p.id_card.clone(),
                phone: p.mobile,
            }),
        };
        black_box(env.record(
            p.person_id,
            version,
            format!("/{i}"),
            RecordBody::Person(person),
        ));
        records += 1;
        for (j, r) in p.registrations.into_iter().enumerate() {
            let reg = JobSeekerRegistration {
                person_key: p.id_card.clone(),
                seeker_category: enum_of(&r.category.to_ascii_lowercase()),
                desired_occupations: r.desired_occupations,
                desired_division: r.desired_division,
                registered_on: date(&r.registered_at, "%Y/%m/%d").expect("date"),
                valid_until: r.valid_until.and_then(|d| date(&d, "%Y/%m/%d")),
                status: enum_of(&r.status.to_ascii_lowercase()),
            };
            black_box(env.record(
                r.reg_no,
                version,
                format!("/{i}/registrations/{j}"),
                RecordBody::JobSeekerRegistration(reg),
            ));
            records += 1;
        }
        for (j, e) in p.employment_history.into_iter().enumerate() {
            let ev = EmploymentEvent {
                person_key: p.id_card.clone(),
                kind: enum_of(&t("event_kind", &e.kind)),
                employer_uscc: e.employer.and_then(|x| x.uscc),
                employment_form: enum_of(&e.form.to_ascii_lowercase()),
                occupation: e.occupation,
                work_division: e.division,
                date: date(&e.date, "%Y-%m-%d").expect("date"),
                reason: e.reason,
            };
            black_box(env.record(
                e.event_id,
                1,
                format!("/{i}/employmentHistory/{j}"),
                RecordBody::EmploymentEvent(ev),
            ));
            records += 1;
        }
        for (j, s) in p.services.into_iter().enumerate() {
            let sv = ServiceEvent {
                person_key: Some(p.id_card.clone()),
                station_id: s.station_id,
                division: s.division,
                service: enum_of(&t("service_kind", &s.kind)),
                date: date(&s.date, "%Y%m%d").expect("date"),
                outcome: enum_of(&s.result.to_ascii_lowercase()),
                station_kind: None,
            };
            black_box(env.record(
                s.service_id,
                1,
                format!("/{i}/services/{j}"),
                RecordBody::ServiceEvent(sv),
            ));
            records += 1;
        }
    }
    (rows, records)
}

/// The mappings' code tables, read from their TOML (the floor uses plain hash maps).
fn tables(path: &str) -> HashMap<&'static str, HashMap<String, String>> {
    #[derive(Deserialize)]
    struct T {
        #[serde(default)]
        entries: HashMap<String, String>,
        #[serde(default)]
        file: Option<String>,
    }
    #[derive(Deserialize)]
    struct F {
        code_tables: HashMap<String, T>,
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let f: F =
        toml::from_str(&std::fs::read_to_string(dir.join(path)).expect("mapping")).expect("toml");
    f.code_tables
        .into_iter()
        .map(|(name, mut t)| {
            if let Some(file) = &t.file {
                let mut r = csv::Reader::from_path(dir.join(file)).expect("table file");
                for row in r.records() {
                    let row = row.expect("row");
                    t.entries.insert(row[0].to_string(), row[1].to_string());
                }
            }
            (&*Box::leak(name.into_boxed_str()), t.entries)
        })
        .collect()
}

fn report(
    what: &str,
    unit: &str,
    n: u64,
    adapter: (Duration, Duration),
    floor: (Duration, Duration),
    target: f64,
) {
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let (a, f) = (rate(adapter.0), rate(floor.0));
    let ratio = a / f;
    println!(
        "{what:<13} adapter {a:>9.0} {unit}/s   floor {f:>9.0} {unit}/s   adapter/floor {ratio:.2}   (per CPU-second of one thread; wall clock: adapter {:.0}, floor {:.0})",
        rate(adapter.1),
        rate(floor.1)
    );
    println!(
        "{:<13} target >= {target:.0} {unit}/s and >= 0.50 of floor: {}",
        "",
        if a >= target && ratio >= 0.5 {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn main() {
    // `cargo test --benches` runs this too; keep that quick.
    let quick =
        std::env::args().any(|a| a == "--test") || std::env::var_os("PES_BENCH_QUICK").is_some();
    let (csv_rows, json_items) = if quick {
        (2_000, 500)
    } else {
        (200_000, 50_000)
    };

    let only = std::env::var("PES_BENCH_ONLY").unwrap_or_default();
    if only != "json" {
        csv_bench(csv_rows);
    }
    if only != "csv" {
        json_bench(json_items);
    }
}

fn csv_bench(csv_rows: u64) {
    let gd = mapping("gd_440000_csv.toml");
    let gd_bytes = export(&gd, csv_rows);
    let gd_tables = tables("gd_440000_csv.toml");
    let (adapter_t, (rows, records)) = measure_pair(|| adapter_run(&gd, &gd_bytes));
    let (floor_t, (frows, frecords)) = measure_pair(|| csv_floor(&gd, &gd_bytes, &gd_tables));
    assert_eq!(
        (rows, records),
        (frows, frecords),
        "floor and adapter see the same rows and records"
    );
    println!(
        "Guangdong GB18030 CSV: {rows} rows, {records} records, {} bytes (median of {RUNS} runs, {ALLOCATOR})",
        gd_bytes.len()
    );
    report("CSV rows", "rows", rows, adapter_t, floor_t, 300_000.0);
}

fn json_bench(json_items: u64) {
    let zj = mapping("zj_330000_json.toml");
    let zj_bytes = export(&zj, json_items);
    let zj_tables = tables("zj_330000_json.toml");
    let (adapter_t, (items, records)) = measure_pair(|| adapter_run(&zj, &zj_bytes));
    let (floor_t, (fitems, frecords)) = measure_pair(|| json_floor(&zj, &zj_bytes, &zj_tables));
    assert_eq!(
        (items, records),
        (fitems, frecords),
        "floor and adapter see the same items and records"
    );
    println!(
        "Zhejiang nested JSON: {items} items, {records} records, {} bytes (median of {RUNS} runs, {ALLOCATOR})",
        zj_bytes.len()
    );
    report(
        "JSON records",
        "records",
        records,
        adapter_t,
        floor_t,
        200_000.0,
    );
}

fn measure_pair(mut f: impl FnMut() -> (u64, u64)) -> ((Duration, Duration), (u64, u64)) {
    let mut last = (0, 0);
    let (cpu, wall, _) = measure(|| {
        last = f();
        last.0
    });
    ((cpu, wall), last)
}
