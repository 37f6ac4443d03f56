//! Vacancies worth searching: a Chinese title and description from a small vocabulary per
//! occupation major group, an employer name, a monthly wage by region and occupation, a mix of
//! full-time, part-time and gig work, and the key groups a posting is flagged for.
//!
//! Every function takes the bits it draws from (`x`, a hash of the record index), so the same
//! record is always the same vacancy.

use pes_schemas::{EmploymentType, KeyGroup};

/// Words of one occupation major group: what the work is, what the employer asks, what it
/// offers, and the trade of the employers that post it.
struct Vocabulary {
    duties: &'static [&'static str],
    asks: &'static [&'static str],
    offers: &'static [&'static str],
    trades: &'static [&'static str],
    /// Median monthly wage of the group in a middle-income province, CNY.
    wage: u32,
}

const MANAGERS: Vocabulary = Vocabulary {
    duties: &[
        "负责部门日常管理与团队建设",
        "制定年度经营计划并组织实施",
        "统筹协调各项业务工作",
    ],
    asks: &[
        "五年以上管理经验",
        "本科及以上学历",
        "具备良好的沟通协调能力",
    ],
    offers: &["五险一金", "年终奖金", "带薪年假", "周末双休"],
    trades: &["实业", "控股", "集团"],
    wage: 11_000,
};
const PROFESSIONALS: Vocabulary = Vocabulary {
    duties: &[
        "负责软件系统的设计与开发",
        "参与项目方案编制和技术评审",
        "开展检测化验与数据分析",
        "承担课程教学与学生管理",
        "负责病人诊疗与护理工作",
    ],
    asks: &[
        "相关专业本科及以上学历",
        "熟悉Java或Python开发",
        "持有相应职业资格证书",
        "应届毕业生亦可",
    ],
    offers: &[
        "五险一金",
        "定期培训",
        "项目奖金",
        "弹性工作",
        "提供人才公寓",
    ],
    trades: &["科技", "信息技术", "医药", "教育咨询", "工程设计"],
    wage: 9_000,
};
const CLERKS: Vocabulary = Vocabulary {
    duties: &[
        "负责文件收发与档案整理",
        "处理日常行政事务",
        "协助做好客户接待工作",
        "负责数据录入与报表统计",
    ],
    asks: &["熟练使用办公软件", "大专及以上学历", "工作细心有责任心"],
    offers: &["五险一金", "周末双休", "节日福利"],
    trades: &["商务服务", "物业管理", "人力资源"],
    wage: 5_000,
};
const SERVICES: Vocabulary = Vocabulary {
    duties: &[
        "负责餐厅点餐传菜与顾客服务",
        "负责中餐热菜烹饪与菜品出品",
        "负责门店商品陈列与收银",
        "负责片区外卖订单配送",
        "负责仓库货物收发与盘点",
        "负责客房清洁与布草更换",
        "负责小区安保巡逻",
    ],
    asks: &[
        "吃苦耐劳",
        "有相关工作经验者优先",
        "能适应倒班",
        "持健康证",
        "会骑电动车",
    ],
    offers: &[
        "包吃住",
        "多劳多得",
        "日结工资",
        "提供员工宿舍",
        "工作时间灵活",
    ],
    trades: &[
        "餐饮管理",
        "商贸",
        "物流",
        "酒店管理",
        "家政服务",
        "保安服务",
    ],
    wage: 5_200,
};
const FARMING: Vocabulary = Vocabulary {
    duties: &[
        "负责大棚蔬菜种植与管理",
        "负责果园修剪施肥",
        "负责畜禽饲养与防疫",
        "负责农机操作与维护",
    ],
    asks: &["能吃苦", "有种植或养殖经验优先", "身体健康"],
    offers: &["包吃住", "按季节结算", "提供技术培训"],
    trades: &["农业开发", "生态农业", "种养殖专业合作社"],
    wage: 4_200,
};
const PRODUCTION: Vocabulary = Vocabulary {
    duties: &[
        "负责生产线设备操作",
        "负责产品质量检验",
        "负责电焊与钣金加工",
        "负责数控机床编程与操作",
        "负责建筑工地钢筋绑扎",
        "负责电子元件组装",
    ],
    asks: &[
        "持焊工证或电工证优先",
        "能适应两班倒",
        "初中及以上学历",
        "有工厂经验者优先",
    ],
    offers: &["五险一金", "包吃住", "加班另计", "满勤奖", "免费技能培训"],
    trades: &["制造", "电子", "机械", "建筑工程", "汽车零部件"],
    wage: 5_800,
};
const OTHERS: Vocabulary = Vocabulary {
    duties: &["协助完成各项临时性工作", "负责现场秩序维护"],
    asks: &["身体健康", "服从安排"],
    offers: &["日结工资", "工作时间灵活"],
    trades: &["劳务服务", "综合服务"],
    wage: 4_000,
};

fn vocabulary(occupation: &str) -> &'static Vocabulary {
    match occupation.as_bytes().first() {
        Some(b'1') => &MANAGERS,
        Some(b'2') => &PROFESSIONALS,
        Some(b'3') => &CLERKS,
        Some(b'4') => &SERVICES,
        Some(b'5') => &FARMING,
        Some(b'6') => &PRODUCTION,
        _ => &OTHERS,
    }
}

fn pick<'a>(items: &[&'a str], x: u64) -> &'a str {
    items
        .get((x % items.len().max(1) as u64) as usize)
        .copied()
        .unwrap_or("")
}

/// Title and description of a vacancy for `occupation` (its classification name, then a
/// variation), e.g. `中式烹调师（包吃住）` and `负责中餐热菜烹饪与菜品出品；持健康证；包吃住，多劳多得。`
pub fn vacancy_text(occupation: &str, occupation_name: &str, x: u64) -> (String, String) {
    let v = vocabulary(occupation);
    const SUFFIX: [&str; 7] = [
        "",
        "",
        "（急招）",
        "（五险一金）",
        "（包吃住）",
        "助理",
        "主管",
    ];
    let title = format!("{occupation_name}{}", SUFFIX[(x % 7) as usize]);
    let offer_a = pick(v.offers, x >> 20);
    let offer_b = pick(v.offers, (x >> 24) + 1);
    let offers = if offer_a == offer_b {
        offer_a.to_string()
    } else {
        format!("{offer_a}，{offer_b}")
    };
    let description = format!(
        "{}；{}；{}。",
        pick(v.duties, x >> 8),
        pick(v.asks, x >> 14),
        offers
    );
    (title, description)
}

/// A plausible employer name in `region`, e.g. `广州市恒达餐饮管理有限公司`.
pub fn employer_name(region: &str, occupation: &str, x: u64) -> String {
    const NAMES: [&str; 16] = [
        "恒达", "鑫源", "华诚", "宏远", "新锐", "联创", "嘉禾", "顺安", "瑞丰", "天成", "博雅",
        "金桥", "汇通", "东升", "永信", "启航",
    ];
    let city = match region.get(..2) {
        Some("11") => "北京",
        Some("31") => "上海",
        Some("44") => "广州",
        Some("33") => "杭州",
        Some("32") => "南京",
        Some("51") => "成都",
        Some("42") => "武汉",
        Some("61") => "西安",
        Some("35") => "福州",
        Some("37") => "济南",
        Some("41") => "郑州",
        Some("50") => "重庆",
        _ => "华夏",
    };
    let v = vocabulary(occupation);
    format!(
        "{city}{}{}有限公司",
        NAMES[(x % 16) as usize],
        pick(v.trades, x >> 4)
    )
}

/// Monthly wage range (min, max) in CNY: the group's median scaled by the province's wage
/// level, spread by `x`, rounded to 100.
pub fn wage_range(region: &str, occupation: &str, x: u64) -> (u32, u32) {
    // Relative wage levels of urban non-private units by province (national = 100), rounded
    // from the published 2023 statistics; provinces not listed take 90.
    let level: u32 = match region.get(..2) {
        Some("11") => 180,
        Some("31") => 175,
        Some("44") => 115,
        Some("33") => 120,
        Some("32") => 115,
        Some("12") => 115,
        Some("51") => 95,
        Some("42") => 95,
        _ => 90,
    };
    let base = vocabulary(occupation).wage * level / 100;
    // 75% .. 125% of the base, then a range 10% .. 50% wide.
    let min = base * (75 + (x % 51) as u32) / 100;
    let max = min * (110 + ((x >> 6) % 41) as u32) / 100;
    (min / 100 * 100, max / 100 * 100)
}

/// Kind of employment: mostly full time; services and others post part-time and gig work
/// (flexible, platform) more often, professionals internships.
pub fn employment_type(occupation: &str, x: u64) -> EmploymentType {
    let r = x % 100;
    let (part, gig, intern) = match occupation.as_bytes().first() {
        Some(b'4') => (15, 20, 3),
        Some(b'2') => (5, 3, 10),
        Some(b'8') => (20, 30, 0),
        _ => (8, 5, 4),
    };
    if r < part {
        EmploymentType::PartTime
    } else if r < part + gig / 2 {
        EmploymentType::Flexible
    } else if r < part + gig {
        EmploymentType::Platform
    } else if r < part + gig + intern {
        EmploymentType::Internship
    } else {
        EmploymentType::FullTime
    }
}

/// Key groups a posting is flagged for (often none).
pub fn key_groups(occupation: &str, t: EmploymentType, x: u64) -> Vec<KeyGroup> {
    let mut out = Vec::new();
    let first = occupation.as_bytes().first().copied();
    if t == EmploymentType::Internship || (first == Some(b'2') && x.is_multiple_of(3)) {
        out.push(KeyGroup::CollegeGraduate);
    }
    if matches!(first, Some(b'4' | b'5' | b'6')) && (x >> 3).is_multiple_of(3) {
        out.push(KeyGroup::MigrantWorker);
    }
    if (x >> 7).is_multiple_of(25) {
        out.push(KeyGroup::Disabled);
    }
    if (x >> 12).is_multiple_of(30) {
        out.push(KeyGroup::Veteran);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cook_is_a_service_posting_with_a_chinese_text_and_a_regional_wage() {
        let (title, description) = vacancy_text("4-03-02-01", "中式烹调师", 4);
        assert!(title.starts_with("中式烹调师"), "{title}");
        assert!(
            description.ends_with('。') && description.contains('；'),
            "{description}"
        );
        let beijing = wage_range("110000", "4-03-02-01", 7);
        let sichuan = wage_range("510000", "4-03-02-01", 7);
        assert!(
            beijing.0 > sichuan.0 && beijing.0 <= beijing.1,
            "{beijing:?} {sichuan:?}"
        );
        assert!(employer_name("440000", "4-03-02-01", 3).starts_with("广州"));
    }

    #[test]
    fn services_post_part_time_and_gig_work() {
        let kinds: Vec<EmploymentType> = (0..100).map(|x| employment_type("4-02", x)).collect();
        for t in [
            EmploymentType::FullTime,
            EmploymentType::PartTime,
            EmploymentType::Flexible,
            EmploymentType::Platform,
        ] {
            assert!(kinds.contains(&t), "{t:?}");
        }
    }
}
