//! Deterministic grassroots records for `pesgw demo`: a province's service stations, the
//! services given at them, vocational training and platform work, dated up to a given day.
//!
//! Every current county-level division of the province gets stations by its kind: urban
//! districts have street windows and community points (and industrial-cluster stations or gig
//! markets in some), county-level cities fewer, and about one rural county in five none at all,
//! so the coverage page has real gaps to show. About one station in ten has been quiet for the
//! last 90 days. The same region and day always give the same records.

use chrono::{Datelike, Duration, NaiveDate};
use pes_schemas::codes::{self, DivisionLevel};
use pes_schemas::*;

use crate::api::divisions::{county_kind, CountyKind};
use crate::native_sample::{envelope, make_uscc, mix};

/// Months of service events before `today` (the dashboard's 24-month window).
const MONTHS: u32 = 24;

/// A number from `code`'s digits and a salt, so each county varies the same way on every run.
fn seed(code: &str, salt: u64) -> u64 {
    mix(code.parse::<u64>().unwrap_or(0) ^ salt.wrapping_mul(0x1000_0000_01B3))
}

/// The current county-level divisions of `region`, and prefecture-level cities without
/// counties (such as 东莞市), which hold stations themselves.
fn counties(region: &str) -> Vec<&'static codes::Division> {
    let prefix = region.get(..2).unwrap_or("");
    let all = codes::all_divisions();
    let current = |d: &&codes::Division| !d.retired && d.code.starts_with(prefix);
    let has_children = |p: &str| {
        all.iter()
            .any(|c| !c.retired && c.level == DivisionLevel::County && c.parent == Some(p))
    };
    all.iter()
        .filter(current)
        .filter(|d| match d.level {
            // xx01xx-style "市辖区" placeholders are not places.
            DivisionLevel::County => d.name != "市辖区",
            DivisionLevel::Prefecture => !has_children(d.code),
            DivisionLevel::Province => false,
        })
        .collect()
}

/// The station kinds a county has, by its kind (see the module docs).
fn kinds_of(d: &codes::Division) -> Vec<StationKind> {
    let h = seed(d.code, 1);
    let kind = if d.level == DivisionLevel::Prefecture {
        CountyKind::District
    } else {
        county_kind(d.code, d.name)
    };
    let mut out = Vec::new();
    match kind {
        CountyKind::District => {
            out.push(StationKind::StreetTownWindow);
            if !h.is_multiple_of(3) {
                out.push(StationKind::CommunityVillagePoint);
            }
            if (h >> 8).is_multiple_of(4) {
                out.push(StationKind::IndustrialClusterStation);
            }
            if (h >> 16).is_multiple_of(3) {
                out.push(StationKind::GigMarket);
            }
            if (h >> 24).is_multiple_of(6) {
                out.push(StationKind::MarketHrOrg);
            }
        }
        CountyKind::CountyCity => {
            out.push(StationKind::StreetTownWindow);
            if h.is_multiple_of(2) {
                out.push(StationKind::GigMarket);
            }
            if (h >> 8).is_multiple_of(3) {
                out.push(StationKind::IndustrialClusterStation);
            }
        }
        CountyKind::County => {
            // One rural county in five has no station yet.
            if !h.is_multiple_of(5) {
                out.push(StationKind::CommunityVillagePoint);
                if (h >> 8).is_multiple_of(3) {
                    out.push(StationKind::StreetTownWindow);
                }
                if (h >> 16).is_multiple_of(5) {
                    out.push(StationKind::GigMarket);
                }
            }
        }
    }
    out
}

fn kind_name(k: StationKind) -> &'static str {
    match k {
        StationKind::StreetTownWindow => "街道就业服务窗口",
        StationKind::CommunityVillagePoint => "社区（村）就业服务点",
        StationKind::IndustrialClusterStation => "园区就业服务站",
        StationKind::GigMarket => "零工市场",
        StationKind::Online => "网上就业服务平台",
        StationKind::MarketHrOrg => "人力资源服务机构",
    }
}

fn services_of(k: StationKind) -> Vec<ServiceKind> {
    use ServiceKind::*;
    match k {
        StationKind::StreetTownWindow => {
            vec![Referral, Counselling, PolicyConsultation, TrainingReferral]
        }
        StationKind::CommunityVillagePoint => vec![Referral, PolicyConsultation],
        StationKind::IndustrialClusterStation => vec![Referral, TrainingReferral, Counselling],
        StationKind::GigMarket => vec![GigMatch, PolicyConsultation],
        StationKind::Online => vec![Referral, GigMatch, PolicyConsultation],
        StationKind::MarketHrOrg => vec![Referral, Counselling],
    }
}

/// The first day of the month `back` months before `today`'s.
fn month_start(today: NaiveDate, back: u32) -> NaiveDate {
    let m = today.year() * 12 + today.month0() as i32 - back as i32;
    NaiveDate::from_ymd_opt(m.div_euclid(12), m.rem_euclid(12) as u32 + 1, 1).unwrap_or(today)
}

/// One station of the sample, before it becomes a record.
struct Station {
    id: String,
    kind: StationKind,
    division: &'static str,
    /// Quiet for the last 90 days.
    quiet: bool,
    record: ServiceStation,
}

fn stations(region: &str, today: NaiveDate) -> Vec<Station> {
    let mut out = Vec::new();
    let province = codes::division(region).map_or("", |d| d.name);
    for d in counties(region) {
        for (n, kind) in kinds_of(d).into_iter().enumerate() {
            let h = seed(d.code, 100 + n as u64);
            let id = format!("st-{}-{n:02}", d.code);
            let opened_on = today - Duration::days(200 + (h % (365 * 8)) as i64);
            let status = match (h >> 20) % 25 {
                0 => StationStatus::Closed,
                1 | 2 => StationStatus::Suspended,
                _ => StationStatus::Operating,
            };
            let quiet = status != StationStatus::Operating || (h >> 30).is_multiple_of(10);
            let record = ServiceStation {
                station_id: id.clone(),
                name: format!("{province}{}{}", d.name, kind_name(kind)),
                kind,
                division: d.code.to_string(),
                township: None,
                opened_on,
                status,
                services: services_of(kind),
            };
            out.push(Station {
                id,
                kind,
                division: d.code,
                quiet,
                record,
            });
        }
    }
    // Every province runs one online platform, at its capital's first district.
    if let Some(first) = out.first().map(|s| s.division) {
        let id = format!("st-{region}-online");
        out.push(Station {
            id: id.clone(),
            kind: StationKind::Online,
            division: first,
            quiet: false,
            record: ServiceStation {
                station_id: id,
                name: format!("{province}网上就业服务平台"),
                kind: StationKind::Online,
                division: first.to_string(),
                township: None,
                opened_on: month_start(today, 60),
                status: StationStatus::Operating,
                services: services_of(StationKind::Online),
            },
        });
    }
    out
}

fn wrap(region: &str, source: &str, sid: String, body: RecordBody) -> Record {
    let location = format!("grassroots:{sid}");
    envelope(region, source, sid, 1, location, body)
}

/// A person_key-shaped pseudonym (never a real person's).
fn pseudonym(h: u64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &h.to_le_bytes()).as_ref())
}

/// The grassroots records of `region` for source `source`, dated up to `today`: stations, then
/// service events, training records and platform work.
pub fn records(region: &str, source: &str, today: NaiveDate) -> Vec<Record> {
    let stations = stations(region, today);
    let mut out: Vec<Record> = stations
        .iter()
        .map(|s| {
            wrap(
                region,
                source,
                s.id.clone(),
                RecordBody::ServiceStation(s.record.clone()),
            )
        })
        .collect();
    let quiet_since = today - Duration::days(90);
    for s in &stations {
        let services = services_of(s.kind);
        let base = seed(&s.id.replace(|c: char| !c.is_ascii_digit(), ""), 7);
        let busy = match s.kind {
            StationKind::Online => 40,
            StationKind::GigMarket => 14,
            StationKind::StreetTownWindow => 8,
            _ => 4,
        };
        for back in 0..MONTHS {
            let start = month_start(today, back);
            if start < s.record.opened_on {
                break;
            }
            let n = mix(base ^ back as u64) % busy;
            for j in 0..n {
                let h = mix(base ^ ((back as u64) << 20) ^ j);
                let days = (month_start(today, back.saturating_sub(1)) - start)
                    .num_days()
                    .max(1);
                let date = (start + Duration::days((h % days as u64) as i64)).min(today);
                if s.quiet && date >= quiet_since {
                    continue;
                }
                let service = services[((h >> 8) % services.len() as u64) as usize];
                let outcome = match (service, (h >> 16) % 10) {
                    (ServiceKind::GigMatch | ServiceKind::Referral, 0..=3) => {
                        ServiceOutcome::Placed
                    }
                    (_, 0..=5) => ServiceOutcome::Completed,
                    (_, 6 | 7) => ServiceOutcome::Pending,
                    _ => ServiceOutcome::NoResult,
                };
                out.push(wrap(
                    region,
                    source,
                    format!("SE-{}-{back:02}-{j:03}", s.id),
                    RecordBody::ServiceEvent(ServiceEvent {
                        // Gig markets serve walk-ins; the others know whom they served.
                        person_key: (s.kind != StationKind::GigMarket).then(|| pseudonym(h)),
                        station_id: s.id.clone(),
                        division: s.division.to_string(),
                        service,
                        date,
                        outcome,
                        station_kind: Some(s.kind),
                    }),
                ));
            }
        }
    }
    let prefectures: Vec<&str> = codes::all_divisions()
        .iter()
        .filter(|d| {
            !d.retired
                && d.level == DivisionLevel::Prefecture
                && d.code.starts_with(region.get(..2).unwrap_or(""))
        })
        .map(|d| d.code)
        .collect();
    // 焊工, 家政服务员, 中式烹调师, 汽车生产线操作工, 快递员.
    let occupations = [
        "6-18-02-04",
        "4-10-01-06",
        "4-03-02-01",
        "6-22-01-01",
        "4-02-07-08",
    ];
    let size = prefectures.len() as u64 * 40;
    for i in 0..size {
        let h = mix(seed(region, 9) ^ i);
        let start_on = today - Duration::days((h % (MONTHS as u64 * 30)) as i64);
        let elapsed = (today - start_on).num_days();
        let outcome = if elapsed < 30 {
            TrainingOutcome::InProgress
        } else {
            match (h >> 12) % 10 {
                0 => TrainingOutcome::DroppedOut,
                1..=4 => TrainingOutcome::Certified,
                _ => TrainingOutcome::Completed,
            }
        };
        let div = prefectures[((h >> 20) % prefectures.len().max(1) as u64) as usize];
        out.push(wrap(
            region,
            source,
            format!("TR-{region}-{i:06}"),
            RecordBody::TrainingRecord(TrainingRecord {
                person_key: pseudonym(h ^ 0x7472),
                provider_uscc: make_uscc(div, h >> 24),
                target_occupation: occupations[((h >> 28) % 5) as usize].into(),
                training_type: match (h >> 32) % 4 {
                    0 => TrainingType::SkillsUpgrading,
                    1 => TrainingType::Entrepreneurship,
                    _ => TrainingType::EmploymentSkills,
                },
                start_on,
                end_on: (elapsed >= 30).then(|| start_on + Duration::days(30)),
                certificate_level: (outcome == TrainingOutcome::Certified)
                    .then_some(3 + ((h >> 36) % 3) as u8),
                subsidy_cny: Some(800 + ((h >> 40) % 12) as u32 * 100),
                outcome,
            }),
        ));
        let platform = match (h >> 44) % 10 {
            0..=3 => PlatformType::FoodDelivery,
            4 | 5 => PlatformType::RideHailing,
            6 | 7 => PlatformType::Courier,
            8 => PlatformType::Freight,
            _ => PlatformType::DomesticServices,
        };
        let month = month_start(today, ((h >> 48) % MONTHS as u64) as u32);
        out.push(wrap(
            region,
            source,
            format!("PW-{region}-{i:06}"),
            RecordBody::PlatformWork(PlatformWork {
                person_key: pseudonym(h ^ 0x7077),
                platform_uscc: make_uscc(div, h >> 8),
                platform_type: platform,
                occupation: match platform {
                    PlatformType::RideHailing => "4-02-02-01",
                    PlatformType::Freight => "4-02-02-02",
                    PlatformType::DomesticServices => "4-10-01-06",
                    _ => "4-02-07-08",
                }
                .into(),
                city_division: div.into(),
                period_month: month.format("%Y-%m").to_string(),
                active_days: 8 + ((h >> 52) % 20) as u8,
                injury_insurance: !(h >> 58).is_multiple_of(3),
            }),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn grassroots_records_are_valid_and_dated_up_to_today() {
        let today = day(2026, 12, 3);
        for region in ["440000", "510000", "110000"] {
            let recs = records(region, "native", today);
            assert!(recs.len() > 1000, "{region}: {}", recs.len());
            for r in &recs {
                if let Err(e) = validate::validate_record(r) {
                    panic!("{region}: {} invalid: {e:?}", r.record_id);
                }
                let date = match &r.body {
                    RecordBody::ServiceEvent(e) => e.date,
                    RecordBody::ServiceStation(s) => s.opened_on,
                    RecordBody::TrainingRecord(t) => t.start_on,
                    _ => continue,
                };
                assert!(date <= today && date > today - Duration::days(365 * 9));
            }
            assert_eq!(records(region, "native", today), recs, "deterministic");
        }
    }

    #[test]
    fn some_rural_counties_have_no_station_and_some_stations_are_quiet() {
        let today = day(2026, 12, 3);
        let recs = records("440000", "native", today);
        let mut with_station = std::collections::BTreeSet::new();
        let mut recent = std::collections::BTreeSet::new();
        for r in &recs {
            match &r.body {
                RecordBody::ServiceStation(s) => {
                    with_station.insert(s.division.clone());
                }
                RecordBody::ServiceEvent(e) if e.date >= today - Duration::days(90) => {
                    recent.insert(e.station_id.clone());
                }
                _ => {}
            }
        }
        let all = counties("440000");
        let gaps: Vec<_> = all
            .iter()
            .filter(|d| !with_station.contains(d.code))
            .collect();
        assert!(
            !gaps.is_empty() && gaps.len() < all.len() / 2,
            "{}",
            gaps.len()
        );
        assert!(gaps
            .iter()
            .all(|d| county_kind(d.code, d.name) == CountyKind::County));
        let stations = stations("440000", today);
        let quiet = stations.iter().filter(|s| !recent.contains(&s.id)).count();
        assert!(quiet > 0 && quiet < stations.len() / 3, "{quiet}");
        // Every station kind appears somewhere in the province.
        for k in [
            StationKind::StreetTownWindow,
            StationKind::CommunityVillagePoint,
            StationKind::IndustrialClusterStation,
            StationKind::GigMarket,
            StationKind::Online,
            StationKind::MarketHrOrg,
        ] {
            assert!(stations.iter().any(|s| s.kind == k), "{k:?}");
        }
    }
}
