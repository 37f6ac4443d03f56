//! Validator throughput. Target (issue 2): at least 5,000,000 ID numbers and 5,000,000 USCCs
//! per second on one core.
//!
//! Run: `cargo bench -p pes-schemas --bench validators`. Each benchmark checks a batch of 1,000
//! distinct valid values, so the reported time per iteration divided by 1,000 is the time per
//! value; the throughput line gives values per second directly (criterion prints the median
//! in the middle of each `[low median high]` triple).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pes_schemas::id_number::{self, IdNumber};
use pes_schemas::uscc::{self, Uscc, CHARSET};

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
            for _ in 0..9 {
                s.push(CHARSET[(rng.next() % 31) as usize]);
            }
            s.push(uscc::check_char(&s));
            String::from_utf8(s).unwrap()
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
