#!/usr/bin/env python3
"""Regenerates divisions.csv from ../shared/data/divisions (china-division 2.7.0, NBS 2023).

Run from anywhere: python3 schemas/codes/build_divisions.py
Current codes come from the source data; retired codes are the hand-checked list below.
"""
import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "..", "shared", "data", "divisions")
VERSION = "2023"

# Provincial-level divisions absent from the source's CSV files (they sit in HK-MO-TW.json
# without codes); their GB/T 2260 codes are fixed.
EXTRA_PROVINCES = [("710000", "台湾省"), ("810000", "香港特别行政区"), ("820000", "澳门特别行政区")]

# Retired codes that still appear inside valid ID numbers: (code, name, level, parent, successor).
RETIRED = [
    ("110103", "崇文区", "county", "110100", "110101"),
    ("110104", "宣武区", "county", "110100", "110102"),
    ("110228", "密云县", "county", "110100", "110118"),
    ("110229", "延庆县", "county", "110100", "110119"),
    ("120221", "宁河县", "county", "120100", "120117"),
    ("120223", "静海县", "county", "120100", "120118"),
    ("120225", "蓟县", "county", "120100", "120119"),
    ("310103", "卢湾区", "county", "310100", "310101"),
    ("310108", "闸北区", "county", "310100", "310106"),
    ("310119", "南汇区", "county", "310100", "310115"),
    ("310230", "崇明县", "county", "310100", "310151"),
    ("320103", "白下区", "county", "320100", "320104"),
    ("320107", "下关区", "county", "320100", "320106"),
    ("320124", "溧水县", "county", "320100", "320117"),
    ("320125", "高淳县", "county", "320100", "320118"),
    ("330103", "下城区", "county", "330100", "330105"),
    ("330104", "江干区", "county", "330100", "330102"),
    ("330183", "富阳市", "county", "330100", "330111"),
    ("330185", "临安市", "county", "330100", "330112"),
    ("370282", "即墨市", "county", "370200", "370215"),
    ("370284", "胶南市", "county", "370200", "370211"),
    ("412700", "周口地区", "prefecture", "410000", "411600"),
    ("412723", "商水县", "county", "412700", "411623"),
]


def read(name):
    with open(os.path.join(SRC, name), encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def main():
    rows = []
    for p in read("provinces.csv"):
        rows.append((p["code"] + "0000", p["name"], "province", "", "current", ""))
    for code, name in EXTRA_PROVINCES:
        rows.append((code, name, "province", "", "current", ""))
    prefectures = set()
    for c in read("cities.csv"):
        code = c["code"] + "00"
        prefectures.add(code)
        rows.append((code, c["name"], "prefecture", c["provinceCode"] + "0000", "current", ""))
    for a in read("areas.csv"):
        # Prefecture-level cities without counties (e.g. 441900 东莞市) repeat their own code
        # as an area; keep the prefecture row only.
        if a["code"] in prefectures:
            continue
        rows.append((a["code"], a["name"], "county", a["cityCode"] + "00", "current", ""))
    current = {r[0] for r in rows}
    for code, name, level, parent, successor in RETIRED:
        assert code not in current, code
        assert successor in current, successor
        rows.append((code, name, level, parent, "retired", successor))
    rows.sort()
    codes = [r[0] for r in rows]
    assert len(codes) == len(set(codes))
    with open(os.path.join(HERE, "divisions.csv"), "w", encoding="utf-8", newline="") as f:
        f.write("code,name,level,parent,status,successor,version\n")
        for r in rows:
            assert all("," not in x and '"' not in x for x in r)
            f.write(",".join(r + (VERSION,)) + "\n")
    print(f"{len(rows)} rows")


if __name__ == "__main__":
    main()
