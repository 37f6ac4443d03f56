//! Plausible national values: people, employers, occupations and divisions with regional
//! distributions. Everything is drawn from one seeded RNG, so a seed fixes every value.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{Datelike, Duration, NaiveDate};
use pes_schemas::codes::{self, DivisionLevel, OccupationLevel};
use pes_schemas::{id_number, uscc, KeyGroup, RecordType};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The fixed reference day of [`SynthOptions::default`](super::SynthOptions): tests that need
/// the same bytes on every day generate "as of" this day; demos pass today instead.
pub fn reference_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 30).unwrap_or_default()
}

/// Months of history the generated data covers, up to and including the month of the day it
/// is generated "as of".
pub const WINDOW_MONTHS: u32 = 24;

/// First day of the data window: the first of the month [`WINDOW_MONTHS`] − 1 months before
/// `as_of`'s month.
pub fn window_start(as_of: NaiveDate) -> NaiveDate {
    let first = as_of.with_day(1).unwrap_or(as_of);
    first
        .checked_sub_months(chrono::Months::new(WINDOW_MONTHS - 1))
        .unwrap_or(first)
}

/// A day in the data window (from [`window_start`] up to `as_of`, never after it), given
/// `x`, any well-spread number.
pub fn window_day(as_of: NaiveDate, x: u64) -> NaiveDate {
    let start = window_start(as_of);
    let days = (as_of - start).num_days().max(0) as u64 + 1;
    start + Duration::days((x % days) as i64)
}

/// Where a province lies in the NBS's four economic regions; migrant work differs by region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EconomicRegion {
    East,
    Central,
    West,
    Northeast,
}

fn economic_region(region: &str) -> EconomicRegion {
    match region.get(..2).unwrap_or("") {
        "11" | "12" | "13" | "31" | "32" | "33" | "35" | "37" | "44" | "46" => EconomicRegion::East,
        "14" | "34" | "36" | "41" | "42" | "43" => EconomicRegion::Central,
        "21" | "22" | "23" => EconomicRegion::Northeast,
        _ => EconomicRegion::West,
    }
}

/// Share of a region's registrants in each key group; each group is drawn on its own, so a
/// person may be in several or none. Derived from published national statistics; the sources
/// and the arithmetic are in adapters/README.md, "Demo data: sources of the shares".
pub fn key_group_shares(region: &str) -> [(KeyGroup, f64); 7] {
    // Migrant workers (29,753万) over employed persons (74,041万) is 40.2% nationally, scaled
    // by where they work (NBS 2023 migrant report) against where people live (2020 census).
    let migrant = match economic_region(region) {
        EconomicRegion::East => 0.52,
        EconomicRegion::Central => 0.37,
        EconomicRegion::West => 0.33,
        EconomicRegion::Northeast => 0.17,
    };
    [
        (KeyGroup::MigrantWorker, migrant),
        (KeyGroup::CollegeGraduate, 0.15),
        (KeyGroup::FlexibleWorker, 0.27),
        (KeyGroup::OutOfPoverty, 0.046),
        (KeyGroup::Disabled, 0.012),
        (KeyGroup::Veteran, 0.02),
        (KeyGroup::LongTermUnemployed, 0.07),
    ]
}

/// Picks by weight; `items` must not be empty.
pub(crate) fn weighted<'a, T>(rng: &mut ChaCha8Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| *w).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    &items[items.len() - 1].0
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "潘", "袁", "蔡", "蒋", "余", "于", "杜", "叶", "程", "欧阳", "司马",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "志强", "建华", "晓燕", "子涵", "浩然", "欣怡", "梓萱",
    "宇轩", "雨桐", "俊杰", "思远", "佳琪", "嘉怡", "德明", "秀兰", "建国", "海燕", "文博", "𠮷",
    "堃", "喆", "昇",
];

/// A Chinese name; now and then with a rare character outside the BMP or GB2312.
pub(crate) fn name(rng: &mut ChaCha8Rng) -> String {
    let mut s = SURNAMES.choose(rng).copied().unwrap_or("王").to_string();
    s.push_str(GIVEN.choose(rng).copied().unwrap_or("伟"));
    if rng.gen_bool(0.4) {
        s.push_str(
            GIVEN[..GIVEN.len() - 4]
                .choose(rng)
                .copied()
                .unwrap_or("明"),
        );
    }
    s
}

/// An 11-digit mainland mobile number.
pub(crate) fn phone(rng: &mut ChaCha8Rng) -> String {
    let second = *[3u8, 5, 7, 8, 9].choose(rng).unwrap_or(&3);
    let mut s = format!("1{second}");
    for _ in 0..9 {
        s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    s
}

/// Current county-level divisions of a province (by its 2-digit prefix).
pub(crate) fn counties(province: &str) -> &'static [&'static str] {
    static BY_PROVINCE: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    let map = BY_PROVINCE.get_or_init(|| {
        let mut m: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for d in codes::all_divisions() {
            if d.level == DivisionLevel::County && !d.retired {
                m.entry(&d.code[..2]).or_default().push(d.code);
            }
        }
        m
    });
    map.get(&province[..2.min(province.len())])
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Current prefecture-level divisions of a province.
pub(crate) fn prefectures(province: &str) -> Vec<&'static str> {
    let p = &province[..2.min(province.len())];
    codes::all_divisions()
        .iter()
        .filter(|d| d.level == DivisionLevel::Prefecture && !d.retired && d.code.starts_with(p))
        .map(|d| d.code)
        .collect()
}

/// Provinces that send migrant workers, with weights (by outflow).
const ORIGINS: &[(&str, u32)] = &[
    ("51", 18),
    ("41", 16),
    ("43", 12),
    ("36", 9),
    ("45", 8),
    ("52", 8),
    ("42", 7),
    ("34", 7),
    ("50", 5),
    ("53", 4),
];

/// Occupation weights by region; codes are 2022 occupations.
fn occupation_weights(region: &str) -> &'static [(&'static str, u32)] {
    match &region[..2] {
        // Manufacturing and logistics.
        "44" => &[
            ("6-20-01-01", 14),
            ("6-18-02-04", 8),
            ("6-05-01-03", 10),
            ("4-02-07-08", 10),
            ("4-01-02-03", 8),
            ("4-02-06-01", 6),
            ("2-02-10-03", 6),
            ("4-03-02-01", 5),
            ("4-07-05-01", 6),
            ("4-09-08-01", 5),
            ("4-01-06-02", 5),
            ("4-02-02-01", 5),
            ("4-10-01-06", 4),
            ("6-29-01-01", 3),
        ],
        // Professionals and services.
        "11" => &[
            ("2-02-10-03", 18),
            ("2-06-03-00", 8),
            ("2-06-07-02", 7),
            ("4-01-06-01", 6),
            ("4-03-02-01", 8),
            ("4-07-05-01", 7),
            ("4-09-08-01", 6),
            ("4-10-01-05", 6),
            ("4-10-01-06", 6),
            ("4-02-07-08", 8),
            ("4-02-02-01", 6),
            ("2-08-01-01", 3),
            ("4-01-02-04", 5),
        ],
        // Commerce and e-commerce.
        "33" => &[
            ("4-01-06-01", 12),
            ("4-01-06-02", 10),
            ("4-01-02-01", 8),
            ("4-01-02-03", 8),
            ("6-05-01-03", 8),
            ("2-02-10-03", 9),
            ("4-02-07-08", 9),
            ("4-02-06-01", 6),
            ("6-20-01-01", 6),
            ("4-03-02-01", 5),
            ("4-07-05-01", 4),
            ("4-02-02-01", 5),
        ],
        // Construction, catering, platform work.
        _ => &[
            ("6-29-01-01", 10),
            ("4-03-02-01", 10),
            ("4-02-07-08", 10),
            ("4-02-02-01", 9),
            ("4-01-02-03", 8),
            ("4-07-05-01", 7),
            ("4-09-08-01", 7),
            ("4-10-01-06", 6),
            ("4-10-01-05", 6),
            ("6-18-02-04", 5),
            ("2-02-10-03", 5),
            ("4-02-05-01", 6),
        ],
    }
}

/// An occupation code with the region's distribution.
pub(crate) fn occupation(rng: &mut ChaCha8Rng, region: &str) -> String {
    weighted(rng, occupation_weights(region)).to_string()
}

/// Education weights (GB/T 4658 codes) by region: Beijing and Zhejiang skew higher.
fn education_weights(region: &str) -> &'static [(&'static str, u32)] {
    match &region[..2] {
        "11" => &[
            ("11", 3),
            ("14", 10),
            ("21", 32),
            ("31", 20),
            ("41", 8),
            ("61", 12),
            ("71", 13),
            ("81", 2),
        ],
        "33" => &[
            ("14", 5),
            ("21", 22),
            ("31", 22),
            ("41", 10),
            ("47", 5),
            ("61", 14),
            ("71", 19),
            ("81", 3),
        ],
        _ => &[
            ("14", 2),
            ("21", 14),
            ("31", 18),
            ("41", 10),
            ("47", 6),
            ("61", 16),
            ("71", 28),
            ("81", 6),
        ],
    }
}

/// A person as a provincial system knows them.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub id_number: String,
    pub name: String,
    pub phone: Option<String>,
    pub sex: &'static str,
    pub birth: NaiveDate,
    pub education: &'static str,
    pub hukou_division: String,
    pub hukou_nature: &'static str,
    pub residence_division: String,
    pub graduation_year: Option<u16>,
    pub key_groups: Vec<&'static str>,
}

/// A valid ID number for a division, birth date and sex.
pub(crate) fn id_for(rng: &mut ChaCha8Rng, division: &str, birth: NaiveDate, male: bool) -> String {
    let mut order = rng.gen_range(0..500u32) * 2;
    if male {
        order += 1;
    }
    let first17 = format!("{division}{}{order:03}", birth.format("%Y%m%d"));
    let check = id_number::check_char(first17.as_bytes());
    format!("{first17}{}", char::from(check))
}

/// The wire name of a key group.
fn key_group_name(g: KeyGroup) -> &'static str {
    match g {
        KeyGroup::CollegeGraduate => "college_graduate",
        KeyGroup::MigrantWorker => "migrant_worker",
        KeyGroup::OutOfPoverty => "out_of_poverty",
        KeyGroup::FlexibleWorker => "flexible_worker",
        KeyGroup::Disabled => "disabled",
        KeyGroup::Veteran => "veteran",
        KeyGroup::LongTermUnemployed => "long_term_unemployed",
    }
}

/// A job seeker with the region's key group shares and age, education and origin
/// distributions, as of `as_of`.
pub(crate) fn profile(
    rng: &mut ChaCha8Rng,
    region: &str,
    local: &[&'static str],
    as_of: NaiveDate,
) -> Profile {
    // Each key group is its own draw; the rest of the profile is then made to fit them (a
    // graduate is young and has a college degree, a migrant worker an agricultural hukou).
    let key_groups: Vec<&'static str> = key_group_shares(region)
        .into_iter()
        .filter(|(_, p)| rng.gen_bool(*p))
        .map(|(g, _)| key_group_name(g))
        .collect();
    let graduate = key_groups.contains(&"college_graduate");
    let migrant = key_groups.contains(&"migrant_worker");
    // Ages 16-60, most between 22 and 40; graduates of the last two years 21-26.
    let (lo, hi) = if graduate {
        (21, 26)
    } else {
        *weighted(
            rng,
            &[
                ((16u32, 21u32), 12),
                ((22, 30), 36),
                ((31, 40), 28),
                ((41, 50), 16),
                ((51, 60), 8),
            ],
        )
    };
    let age = rng.gen_range(lo..=hi);
    let birth = as_of - Duration::days(i64::from(age) * 365 + rng.gen_range(0..365));
    let male = rng.gen_bool(0.52);
    // Of all migrant workers 22.7% work in another province (6,751万 of 29,753万, NBS 2023),
    // most of them in the east: there half the migrant workers come from elsewhere (an
    // illustrative split), in other regions few.
    let cross_province = match economic_region(region) {
        EconomicRegion::East => 0.5,
        _ => 0.15,
    };
    let hukou_division = if migrant && rng.gen_bool(cross_province) {
        let origin = weighted(rng, ORIGINS);
        let cs = counties(origin);
        cs.choose(rng)
            .map(|c| c.to_string())
            .unwrap_or_else(|| format!("{origin}0000"))
    } else {
        local
            .choose(rng)
            .map(|c| c.to_string())
            .unwrap_or_else(|| region.to_string())
    };
    let residence_division = local
        .choose(rng)
        .map(|c| c.to_string())
        .unwrap_or_else(|| region.to_string());
    let college = |e: &&str| matches!(*e, "11" | "14" | "21" | "31");
    let education = if graduate {
        let degrees: Vec<(&'static str, u32)> = education_weights(region)
            .iter()
            .copied()
            .filter(|(e, _)| college(e))
            .collect();
        *weighted(rng, &degrees)
    } else {
        *weighted(rng, education_weights(region))
    };
    let graduation_year = if graduate {
        Some((as_of.year() - rng.gen_range(0..2)) as u16)
    } else if college(&education) {
        let years = if education == "31" { 21 } else { 22 };
        let y = birth.year() + years + rng.gen_range(0..2);
        (y <= as_of.year()).then_some(y as u16)
    } else {
        None
    };
    let hukou_nature = if migrant {
        "agricultural"
    } else {
        *weighted(
            rng,
            &[
                ("agricultural", 3),
                ("non_agricultural", 4),
                ("resident", 5),
            ],
        )
    };
    Profile {
        id_number: id_for(rng, &hukou_division, birth, male),
        name: name(rng),
        phone: rng.gen_bool(0.9).then(|| phone(rng)),
        sex: if male { "1" } else { "2" },
        birth,
        education,
        hukou_division,
        hukou_nature,
        residence_division,
        graduation_year,
        key_groups,
    }
}

/// An employing unit.
#[derive(Debug, Clone)]
pub(crate) struct EmployerProfile {
    pub uscc: String,
    pub name: String,
    pub industry: &'static str,
    pub division: String,
    pub size_class: &'static str,
    pub ownership: &'static str,
}

const INDUSTRIES: &[(&str, &str, u32)] = &[
    ("C39", "电子科技", 14),
    ("C18", "服装", 10),
    ("I65", "软件信息", 12),
    ("F52", "商贸", 12),
    ("H62", "餐饮管理", 10),
    ("G60", "快递物流", 8),
    ("E47", "建设工程", 8),
    ("O80", "家政服务", 6),
    ("L72", "企业管理咨询", 5),
    ("C34", "机械设备", 8),
];

/// A valid USCC for an enterprise registered in `division`.
pub(crate) fn uscc_for(rng: &mut ChaCha8Rng, division: &str) -> String {
    const ORG: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let mut s = format!("91{division}MA");
    // Seven draws, as before the organisation code's own check character was enforced, so a
    // seed still yields the data it always did; the seventh position is now that check.
    for i in 0..7 {
        let c = char::from(ORG[rng.gen_range(0..ORG.len())]);
        if i < 6 {
            s.push(c);
        }
    }
    // `division` is six digits, so the 16 characters are always in the set.
    uscc::complete(&s).unwrap_or(s)
}

const SIZES: &[(&str, u32)] = &[("micro", 30), ("small", 40), ("medium", 20), ("large", 10)];
const OWNERSHIPS: &[(&str, u32)] = &[
    ("private", 70),
    ("state_owned", 8),
    ("collective", 2),
    ("hk_mo_tw_invested", 6),
    ("foreign_invested", 6),
    ("public_institution", 4),
    ("other", 4),
];

/// A pool of employers of a region, so that the same units recur across rows.
pub(crate) fn employer_pool(
    rng: &mut ChaCha8Rng,
    region: &str,
    local: &[&'static str],
    n: usize,
) -> Vec<EmployerProfile> {
    let city = codes::division(region)
        .map(|d| d.name.trim_end_matches(['省', '市']))
        .unwrap_or("");
    (0..n)
        .map(|i| {
            let division = local
                .choose(rng)
                .map(|c| c.to_string())
                .unwrap_or_else(|| region.to_string());
            let (industry, trade, _) = *INDUSTRIES.choose(rng).unwrap_or(&INDUSTRIES[0]);
            let words = [
                "华", "信", "达", "盛", "鑫", "宏", "远", "恒", "泰", "嘉", "瑞", "丰",
            ];
            let a = words.choose(rng).copied().unwrap_or("华");
            let b = words.choose(rng).copied().unwrap_or("信");
            let size_class = *weighted(rng, SIZES);
            let ownership = *weighted(rng, OWNERSHIPS);
            EmployerProfile {
                uscc: uscc_for(rng, &division),
                name: format!(
                    "{city}{a}{b}{trade}有限公司{}",
                    if i % 7 == 0 { "分公司" } else { "" }
                ),
                industry,
                division,
                size_class,
                ownership,
            }
        })
        .collect()
}

/// Allowed values of schema enumerations, with weights, by record type and field.
pub(crate) fn enum_domain(t: RecordType, field: &str) -> Option<&'static [(&'static str, u32)]> {
    Some(match (t, field) {
        (_, "hukou_nature") => &[
            ("agricultural", 3),
            ("non_agricultural", 4),
            ("resident", 5),
        ],
        (_, "seeker_category") => &[
            ("unemployed", 30),
            ("new_entrant", 25),
            ("employed_seeking_change", 15),
            ("rural_labour", 20),
            ("retired", 3),
            ("other", 7),
        ],
        (RecordType::JobSeekerRegistration, "status") => &[
            ("active", 60),
            ("matched", 25),
            ("expired", 10),
            ("withdrawn", 5),
        ],
        (RecordType::Vacancy, "status") => &[
            ("open", 60),
            ("filled", 20),
            ("closed", 10),
            ("expired", 10),
        ],
        (_, "kind") => &[
            ("hired", 40),
            ("separated", 25),
            ("unemployment_registered", 20),
            ("unemployment_deregistered", 15),
        ],
        (_, "employment_form") => &[
            ("unit", 65),
            ("self_employed", 10),
            ("flexible", 15),
            ("platform", 10),
        ],
        (_, "training_type") => &[
            ("employment_skills", 50),
            ("skills_upgrading", 30),
            ("entrepreneurship", 10),
            ("apprenticeship", 7),
            ("other", 3),
        ],
        (RecordType::TrainingRecord, "outcome") => &[
            ("in_progress", 20),
            ("completed", 25),
            ("certified", 45),
            ("dropped_out", 10),
        ],
        (RecordType::ServiceEvent, "outcome") => &[
            ("completed", 50),
            ("placed", 20),
            ("pending", 20),
            ("no_result", 10),
        ],
        (_, "platform_type") => &[
            ("food_delivery", 40),
            ("ride_hailing", 25),
            ("courier", 20),
            ("freight", 5),
            ("domestic_services", 7),
            ("other", 3),
        ],
        (_, "service") => &[
            ("referral", 30),
            ("counselling", 25),
            ("policy_consultation", 20),
            ("training_referral", 10),
            ("gig_match", 15),
        ],
        (_, "size_class") => &[("micro", 30), ("small", 40), ("medium", 20), ("large", 10)],
        (_, "ownership") => &[
            ("private", 70),
            ("state_owned", 8),
            ("collective", 2),
            ("hk_mo_tw_invested", 6),
            ("foreign_invested", 6),
            ("public_institution", 4),
            ("other", 4),
        ],
        (_, "employment_type") => &[
            ("full_time", 60),
            ("part_time", 12),
            ("flexible", 10),
            ("platform", 10),
            ("internship", 8),
        ],
        _ => return None,
    })
}

/// A date in the data window up to `as_of` ([`window_day`]).
pub(crate) fn window_date(rng: &mut ChaCha8Rng, as_of: NaiveDate) -> NaiveDate {
    window_day(as_of, rng.gen())
}

/// Name of an occupation, for vacancy titles.
pub(crate) fn occupation_name(code: &str) -> &'static str {
    codes::occupation(code)
        .filter(|o| o.level == OccupationLevel::Occupation)
        .map(|o| o.name)
        .unwrap_or("普工")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_window_is_the_24_months_up_to_the_day() {
        assert_eq!(window_start(day(2026, 12, 3)), day(2025, 1, 1));
        assert_eq!(window_start(day(2024, 6, 30)), day(2022, 7, 1));
        let as_of = day(2026, 3, 31);
        let days: Vec<NaiveDate> = (0..5000u64)
            .map(|x| window_day(as_of, x.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .collect();
        assert!(days.iter().all(|d| (day(2024, 4, 1)..=as_of).contains(d)));
        assert!(days.iter().any(|d| d.year() == 2026 && d.month() == 3));
        assert!(days.iter().any(|d| d.year() == 2024 && d.month() == 4));
    }

    #[test]
    fn profiles_draw_each_key_group_with_its_share_and_fit_the_profile_to_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let as_of = day(2026, 6, 30);
        let local = counties("440000");
        let n = 20_000;
        let profiles: Vec<Profile> = (0..n)
            .map(|_| profile(&mut rng, "440000", local, as_of))
            .collect();
        for (g, p) in key_group_shares("440000") {
            let name = key_group_name(g);
            let got = profiles
                .iter()
                .filter(|p| p.key_groups.contains(&name))
                .count() as f64
                / n as f64;
            let tolerance = 4.0 * (p * (1.0 - p) / n as f64).sqrt();
            assert!((got - p).abs() < tolerance, "{name}: {got} against {p}");
        }
        for p in profiles
            .iter()
            .filter(|p| p.key_groups.contains(&"college_graduate"))
        {
            assert!(p.graduation_year.is_some_and(|y| i32::from(y) >= 2025));
            assert!(matches!(p.education, "11" | "14" | "21" | "31"));
            assert!(p.birth < as_of);
        }
    }
}
