#!/usr/bin/env python3
"""Writes the four small sample exports in adapters/samples/ (run from anywhere).

The samples are hand-written rows; this script only computes valid check characters and writes
each file in its legacy encoding, so that the bytes on disk are reproducible. Each sample plants
one or two faulty rows on purpose (named in the comments) so that `pesgw adapters check` and the
golden tests show row errors as well as records.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
USCC_SET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def idn(div, birth, order):
    s = f"{div}{birth}{order:03d}"
    return s + "10X98765432"[sum(int(c) * w for c, w in zip(s, ID_W)) % 11]


def uscc(div, org):
    s = f"91{div}{org}"
    total = sum(USCC_SET.index(c) * pow(3, i, 31) for i, c in enumerate(s))
    return s + USCC_SET[(31 - total % 31) % 31]


def bad_check(id_number):
    last = id_number[-1]
    return id_number[:-1] + ("0" if last != "0" else "1")


def guangdong():
    header = ["记录编号", "身份证号码", "姓名", "联系电话", "文化程度", "户籍地区划", "户口性质", "现居住地区划",
              "毕业年份", "人员类别", "求职类别", "求职意向工种", "意向工作地区", "登记日期", "有效期至", "登记状态",
              "就业状态", "就业单位代码", "就业日期", "就业工种"]
    factory = uscc("440306", "MA5DXK7Q0")
    rows = [
        ["GD2024000101", idn("440106", "19980412", 23), "陈志强", "13800138000", "本科", "440106", "非农业", "440106",
         "2020", "高校毕业生", "失业人员", "GD0301;GD0302", "440100", "2024年3月5日", "2024年9月5日", "有效", "未就业", "", "", ""],
        # Full-width digits in the ID number and phone, as typed at a service window.
        ["GD2024000102", idn("511623", "19850307", 41).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
         "王秀兰", "１３９２２２２３３３３", "初中", "511623", "农业", "440306", "", "农民工、脱贫人口", "农村劳动力",
         "GD0701", "440300", "2024/3/6", "", "已就业", "已就业", factory, "2024年3月18日", "GD0701"],
        # A name with U+20BB7, outside the BMP: four bytes in GB18030.
        ["GD2024000103", idn("440304", "20010921", 18), "𠮷田雅", "13511112222", "大专", "440304", "居民", "440304",
         "2022", "高校毕业生、灵活就业", "新成长劳动力", "GD0501", "440300", "45356", "45540", "有效", "未就业", "", "", ""],
        # Planted: the ID number's check character is wrong.
        ["GD2024000104", bad_check(idn("440111", "19790101", 55)), "李建国", "13700001111", "高中", "440111", "非农业",
         "440111", "", "长期失业", "失业人员", "GD0601", "440100", "2024-03-08", "", "有效", "未就业", "", "", ""],
        # Planted: GD9999 is not in the local occupation table.
        ["GD2024000105", idn("440883", "19920630", 67), "黄丽娟", "", "中专", "440883", "农业", "440106", "", "",
         "在职转岗", "GD9999", "440100", "2024年3月9日", "", "有效", "未就业", "", "", ""],
    ]
    lines = [",".join(header)] + [",".join(r) for r in rows]
    data = ("\r\n".join(lines) + "\r\n").encode("gb18030")
    with open(os.path.join(HERE, "gd_440000_persons.csv"), "wb") as f:
        f.write(data)


def fixed(fields):
    """fields: list of (text, width); pads each to its byte width in GB18030."""
    out = b""
    for text, width in fields:
        b = text.encode("gb18030")
        assert len(b) <= width, (text, width)
        out += b + b" " * (width - len(b))
    return out


def sichuan():
    train_org = uscc("510104", "MA61Q8R20")
    platform = uscc("510107", "MA6CT4W31")
    factory = uscc("510116", "MA68K2H92")
    def row(kind, seq, id_number, org, occ, d1, d2, div, c1, c2, num, level, note):
        return fixed([(kind, 1), (seq, 12), (id_number, 18), (org, 18), (occ, 10), (d1, 8), (d2, 8), (div, 6),
                      (c1, 2), (c2, 2), (num, 6), (level, 1), (note, 20)])
    p1 = idn("511702", "19900815", 31)
    p2 = idn("510823", "19960220", 12)
    p3 = idn("513401", "19880505", 77)
    lines = [
        b"SCLDJY EXPORT 20240331 V2.1",
        row("U", "SC0000000001", p1, "", "", "20240301", "", "510104", "01", "", "", "", "合同到期"),
        row("H", "SC0000000002", p1, factory, "6-18-02-04", "20240320", "", "510116", "01", "", "", "", ""),
        row("T", "SC0000000003", p2, train_org, "4-03-02-01", "20240105", "20240229", "510104", "01", "03", "001500", "4", "中式烹调师培训"),
        row("P", "SC0000000004", p3, platform, "4-02-07-08", "202403", "", "510100", "01", "Y", "000026", "", ""),
        row("P", "SC0000000005", p2, platform, "4-02-02-01", "202402", "", "510100", "02", "N", "000018", "", ""),
        # Planted: 20240231 is not a date.
        row("T", "SC0000000006", p3, train_org, "4-10-01-05", "20240231", "", "510104", "02", "01", "", "", ""),
        row("D", "SC0000000007", p1, "", "", "20240320", "", "510104", "01", "", "", "", "已就业"),
    ]
    with open(os.path.join(HERE, "sc_510000_legacy.txt"), "wb") as f:
        f.write(b"\r\n".join(lines) + b"\r\n")


def zhejiang():
    shop = uscc("330106", "MA2H7L3K5")
    soft = uscc("330108", "MA27WXC66")
    people = [
        {
            "personId": "ZJP-000001", "version": 3, "idCard": idn("330106", "20000303", 15), "name": "周晓雯",
            "mobile": "15858585858", "education": {"code": "21", "name": "大学本科毕业"},
            "hukou": {"division": "330106", "nature": "NON_AGRI"}, "residence": {"division": "330106"},
            "graduationYear": 2023, "tags": ["COLLEGE_GRADUATE"],
            "registrations": [
                {"regNo": "ZJR-1001", "category": "NEW_ENTRANT", "desiredOccupations": ["2-02-10-03", "4-01-06-01"],
                 "desiredDivision": "330100", "registeredAt": "2024/3/5", "validUntil": "2024/9/5", "status": "MATCHED"}
            ],
            "employmentHistory": [
                {"eventId": "ZJE-2001", "type": "HIRE", "employer": {"uscc": soft}, "form": "UNIT",
                 "occupation": "2-02-10-03", "division": "330108", "date": "2024-04-01", "reason": None}
            ],
            "services": [
                {"serviceId": "ZJS-3001", "stationId": "zj-hz-xh-001", "division": "330106", "kind": "COUNSELLING",
                 "date": "20240306", "result": "PLACED"}
            ],
        },
        {
            "personId": "ZJP-000002", "version": 1, "idCard": idn("522422", "19830612", 53), "name": "吴德明",
            "mobile": None, "education": {"code": "71", "name": "初中毕业"},
            "hukou": {"division": "520521", "nature": "AGRI"}, "residence": {"division": "330109"},
            "graduationYear": None, "tags": ["MIGRANT_WORKER", "FLEXIBLE_WORKER"],
            "registrations": [],
            "employmentHistory": [
                {"eventId": "ZJE-2002", "type": "SEPARATION", "employer": {"uscc": shop}, "form": "UNIT",
                 "occupation": "4-01-02-03", "division": "330106", "date": "2024-01-31", "reason": "合同到期"},
                {"eventId": "ZJE-2003", "type": "UNEMP_REG", "employer": None, "form": "FLEXIBLE",
                 "occupation": None, "division": "330109", "date": "2024-02-05", "reason": None},
                # Planted: an event type the mapping does not know.
                {"eventId": "ZJE-2004", "type": "TRANSFER", "employer": None, "form": "UNIT",
                 "occupation": None, "division": "330109", "date": "2024-02-06", "reason": None},
            ],
            "services": [],
        },
        # Planted: residence division 339999 does not exist.
        {
            "personId": "ZJP-000003", "version": 2, "idCard": idn("330382", "19971111", 28), "name": "林嘉怡",
            "mobile": "18767676767", "education": {"code": "31", "name": "大学专科毕业"},
            "hukou": {"division": "330382", "nature": "RESIDENT"}, "residence": {"division": "339999"},
            "graduationYear": 2019, "tags": [],
            "registrations": [
                {"regNo": "ZJR-1003", "category": "EMPLOYED_SEEKING_CHANGE", "desiredOccupations": ["4-01-06-02"],
                 "desiredDivision": "330300", "registeredAt": "2024/3/10", "validUntil": None, "status": "ACTIVE"}
            ],
            "employmentHistory": [],
            "services": [
                {"serviceId": "ZJS-3002", "stationId": "zj-wz-ra-002", "division": "330382", "kind": "POLICY",
                 "date": "20240311", "result": "COMPLETED"}
            ],
        },
    ]
    with open(os.path.join(HERE, "zj_330000_persons.json"), "w", encoding="utf-8") as f:
        json.dump(people, f, ensure_ascii=False, indent=2)
        f.write("\n")


def beijing():
    e1 = uscc("110108", "MA01ABCD5")
    e2 = uscc("110105", "MA00XYN13")
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- 北京市公共就业服务平台 数据交换 -->
<Export system="bj-ggjy" generated="2024-03-31T12:00:00+08:00">
  <Employers>
    <Employer id="BJE-0001" version="2">
      <USCC>{e1}</USCC>
      <Name>北京星河软件科技有限公司</Name>
      <Industry>I65</Industry>
      <Division>110108</Division>
      <Size>中型</Size>
      <Ownership>私营</Ownership>
    </Employer>
    <Employer id="BJE-0002" version="1">
      <USCC>{e2}</USCC>
      <Name>北京朝阳餐饮管理有限公司 &amp; 分店</Name>
      <Industry>H62</Industry>
      <Division>110105</Division>
      <Size>小型</Size>
      <Ownership>港澳台</Ownership>
    </Employer>
  </Employers>
  <Vacancies>
    <Vacancy id="BJV-0001">
      <EmployerUSCC>{e1}</EmployerUSCC>
      <Title>Rust 后端开发工程师</Title>
      <Occupation>2-02-10-03</Occupation>
      <Industry>I65</Industry>
      <WorkPlace>110108</WorkPlace>
      <Openings>３</Openings>
      <MinEducation>本科</MinEducation>
      <Type>全职</Type>
      <Salary min="25000" max="40000"/>
      <PostedOn>2024年3月1日</PostedOn>
      <ValidThrough>2024年5月31日</ValidThrough>
      <Status>招聘中</Status>
    </Vacancy>
    <Vacancy id="BJV-0002">
      <EmployerUSCC>{e2}</EmployerUSCC>
      <Title><![CDATA[中式烹调师（川菜）]]></Title>
      <Occupation>4-03-02-01</Occupation>
      <Industry>H62</Industry>
      <WorkPlace>110105</WorkPlace>
      <Openings>2</Openings>
      <Type>全职</Type>
      <Salary min="7000" max="9000"/>
      <PostedOn>2024年3月12日</PostedOn>
      <Status>已招满</Status>
    </Vacancy>
    <!-- Planted: salary range out of order. -->
    <Vacancy id="BJV-0003">
      <EmployerUSCC>{e2}</EmployerUSCC>
      <Title>收银员（兼职）</Title>
      <Occupation>4-01-02-04</Occupation>
      <Industry>H62</Industry>
      <WorkPlace>110105</WorkPlace>
      <Openings>1</Openings>
      <Type>兼职</Type>
      <Salary min="5000" max="3000"/>
      <PostedOn>2024年3月15日</PostedOn>
      <Status>招聘中</Status>
    </Vacancy>
  </Vacancies>
  <GigMarket>
    <Service id="BJS-0001" station="bj-cy-lgsc-01" stationKind="零工市场" division="110105" kind="零工匹配" date="2024-03-02" result="已上岗"/>
    <Service id="BJS-0002" station="bj-cy-lgsc-01" stationKind="零工市场" division="110105" kind="政策咨询" date="2024-03-02" result="已办结"/>
    <Service id="BJS-0003" station="bj-hd-zgc-01" stationKind="街道(乡镇)就业服务窗口" division="110108" kind="职业指导" date="2024-03-05" result="待跟进"/>
  </GigMarket>
  <ServiceStations>
    <Station id="BJST-0001" code="bj-cy-lgsc-01" kind="零工市场" division="110105" opened="2021-09-15" status="运营中">
      <Name>朝阳区零工市场</Name>
      <Services>零工匹配;政策咨询;职业介绍</Services>
    </Station>
    <Station id="BJST-0002" code="bj-hd-zgc-01" kind="街道(乡镇)就业服务窗口" division="110108" township="110108013" opened="2018-04-02" status="运营中">
      <Name>海淀区中关村街道就业服务窗口</Name>
      <Services>职业介绍;职业指导;政策咨询;培训推荐</Services>
    </Station>
    <Station id="BJST-0003" code="bj-mtg-cun-07" kind="社区(村)服务点" division="110109" township="110109104201" opened="2022-06-20" status="暂停">
      <Name>门头沟区清水镇村级就业服务点</Name>
      <Services>政策咨询</Services>
    </Station>
    <!-- Planted: a station opened in the future (2099). -->
    <Station id="BJST-0004" code="bj-dc-xs-01" kind="线上平台" division="110101" opened="2099-01-01" status="运营中">
      <Name>东城区线上就业服务平台</Name>
      <Services></Services>
    </Station>
    <!-- Planted: a prefecture (市辖区) where the station's county belongs. -->
    <Station id="BJST-0005" code="bj-sx-01" kind="人力资源服务机构" division="110100" opened="2020-01-01" status="已关闭">
      <Name>北京某人力资源服务有限公司</Name>
      <Services>职业介绍</Services>
    </Station>
  </ServiceStations>
</Export>
"""
    with open(os.path.join(HERE, "bj_110000_export.xml"), "w", encoding="utf-8") as f:
        f.write(xml)


if __name__ == "__main__":
    guangdong()
    sichuan()
    zhejiang()
    beijing()
