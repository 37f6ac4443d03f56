//! Validator throughput. Target (issue 2): at least 5,000,000 ID numbers and 5,000,000 USCCs
//! per second on one core.
//!
//! Run: `cargo bench -p pes-schemas --bench validators`. Each benchmark checks a batch of 1,000
//! distinct valid values, so the reported time per iteration divided by 1,000 is the time per
//! value, and criterion's throughput line gives values per second. After criterion's report the
//! bench prints, beside the 5,000,000/s floor, the median of 101 timed samples of each fast path.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, Criterion, Throughput};
use pes_schemas::id_number::{self, IdNumber};
use pes_schemas::uscc::{self, Uscc, CHARSET};
use pes_schemas::validate::validate_record;

const BATCH: usize = 1_000;

/// Deterministic pseudo-random values (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn id_numbers() -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let provinces = [11, 31, 44, 51, 65];
    (0..BATCH)
        .map(|_| {
            let r = rng.next();
            let first17 = format!(
                "{:02}{:04}{:04}{:02}{:02}{:03}",
                provinces[(r % 5) as usize],
                (r >> 8) % 10_000,
                1940 + (r >> 24) % 80,
                1 + (r >> 32) % 12,
                1 + (r >> 40) % 28,
                (r >> 48) % 1000
            );
            let check = id_number::check_char(first17.as_bytes()) as char;
            format!("{first17}{check}")
        })
        .collect()
}

fn usccs() -> Vec<String> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..BATCH)
        .map(|_| {
            let mut s = b"91".to_vec();
            s.extend_from_slice(format!("{:06}", rng.next() % 1_000_000).as_bytes());
            for _ in 0..8 {
                s.push(CHARSET[(rng.next() % 31) as usize]);
            }
            uscc::complete(std::str::from_utf8(&s).unwrap()).unwrap()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let ids = id_numbers();
    let codes = usccs();
    assert!(ids.iter().all(|s| IdNumber::parse(s).is_ok()));
    assert!(codes.iter().all(|s| Uscc::parse(s).is_ok()));

    let mut g = c.benchmark_group("validators");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("id_number_validate_x1000", |b| {
        b.iter(|| {
            for s in &ids {
                black_box(id_number::validate(black_box(s)).is_ok());
            }
        })
    });
    g.bench_function("id_number_parse_x1000", |b| {
        b.iter(|| {
            for s in &ids {
                black_box(IdNumber::parse(black_box(s)).is_ok());
            }
        })
    });
    g.bench_function("uscc_validate_x1000", |b| {
        b.iter(|| {
            for s in &codes {
                black_box(uscc::validate(black_box(s)).is_ok());
            }
        })
    });
    g.bench_function("uscc_parse_x1000", |b| {
        b.iter(|| {
            for s in &codes {
                black_box(Uscc::parse(black_box(s)).is_ok());
            }
        })
    });
    g.finish();

    // Whole-record validation, as ingest runs it on every record.
    let fixture = |name: &str| -> pes_schemas::Record {
        let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let person = fixture("person");
    let vacancy = fixture("vacancy");
    assert!(validate_record(&person).is_ok() && validate_record(&vacancy).is_ok());
    c.bench_function("validate_record_person", |b| {
        b.iter(|| black_box(validate_record(black_box(&person)).is_ok()))
    });
    c.bench_function("validate_record_vacancy", |b| {
        b.iter(|| black_box(validate_record(black_box(&vacancy)).is_ok()))
    });
}

/// Median values per second of `f` over a batch, from 101 samples of 200 batches each.
fn median_rate(values: &[String], f: impl Fn(&str) -> bool) -> f64 {
    let mut rates: Vec<f64> = (0..101)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..200 {
                for s in values {
                    black_box(f(black_box(s)));
                }
            }
            (200 * values.len()) as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn print_medians() {
    const FLOOR: f64 = 5_000_000.0;
    let ids = id_numbers();
    let codes = usccs();
    let id_rate = median_rate(&ids, |s| id_number::validate(s).is_ok());
    let uscc_rate = median_rate(&codes, |s| uscc::validate(s).is_ok());
    for (name, rate) in [
        ("id_number::validate", id_rate),
        ("uscc::validate", uscc_rate),
    ] {
        println!(
            "median {name}: {:.1} M/s (floor {:.1} M/s, {:.1}x)",
            rate / 1e6,
            FLOOR / 1e6,
            rate / FLOOR
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --benches` passes --test: a quick smoke run, no measurement.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        print_medians();
    }
}
