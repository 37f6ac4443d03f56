#!/usr/bin/env python3
"""Writes the hand-made seeds of the adapter fuzz corpora (tests/fuzz/corpus/<target>/).

The shipped samples (adapters/samples/) are copied in as the valid seeds; the rest are the
tricky shapes each format must refuse or survive. Run from the crate directory:
    python3 tests/fuzz/make_seeds.py
Regression seeds are named regress-<what they caught>.
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def sample(name):
    with open(os.path.join(CRATE, "samples", name), "rb") as f:
        return f.read()


# CSV (gd_440000_csv.toml: GB18030, comma, header).
csv = sample("gd_440000_persons.csv")
put("csv", "sample.csv", csv)
header, _, rest = csv.partition(b"\n")
first_row = rest.split(b"\n")[0]
put("csv", "header-only.csv", header + b"\n")
put("csv", "bom-utf8-header.csv", b"\xef\xbb\xbf" + csv)
put("csv", "crlf.csv", csv.replace(b"\n", b"\r\n"))
put("csv", "cr-only.csv", csv.replace(b"\n", b"\r"))
put("csv", "unterminated-quote.csv", header + b"\n\"" + first_row + b"\n")
put("csv", "quoted-newline.csv", header + b"\n\"GD1\nGD2\"" + first_row[first_row.index(b","):] + b"\n")
put("csv", "too-few-fields.csv", header + b"\nGD2024000101,440106199804120232\n")
put("csv", "too-many-fields.csv", header + b"\n" + first_row + b",,,,extra\n")
put("csv", "invalid-gb18030.csv", header + b"\n" + first_row.replace(b",", b",\x81\x20", 1) + b"\n")
put("csv", "nul-in-field.csv", header + b"\n" + first_row.replace(b",", b",\x00", 2) + b"\n")
put("csv", "empty.csv", b"")
put("csv", "utf16-bom.csv", b"\xff\xfe" + "记录号".encode("utf-16-le"))
# Regression: an invalid first byte used to read as an empty push (no rows, no fault).
put("csv", "regress-invalid-first-byte.csv", b"\x81\x20" + csv)

# JSON array (zj_330000_json.toml).
js = sample("zj_330000_persons.json")
put("json", "sample.json", js)
put("json", "empty-array.json", "[]")
put("json", "empty.json", "")
put("json", "bom.json", b"\xef\xbb\xbf" + js)
put("json", "not-an-array.json", '{"personId": "x"}')
put("json", "truncated.json", js[: len(js) // 2])
put("json", "trailing-data.json", js + b" []")
# serde_json refuses nesting deeper than 128; just under and just over the limit.
put("json", "nesting-at-limit.json", '[{"personId": "D1", "x": ' + "[" * 120 + "]" * 120 + "}]")
put("json", "deep-nesting.json", '[{"personId": "D1", "x": ' + "[" * 200 + "]" * 200 + "}]")
put("json", "deep-nesting-unclosed.json", '[{"personId": "D1", "x": ' + "{\"a\":" * 200)
put("json", "huge-numbers.json",
    '[{"personId": 1e999, "version": 18446744073709551616, "graduationYear": -9223372036854775809,'
    ' "idCard": 330106200003030157, "tags": [1e-999, -0, 0.0000000001]}]')
put("json", "lone-surrogate.json", '[{"personId": "\\ud800", "name": "\\udfff\\u0000"}]')
put("json", "duplicate-keys.json", '[{"personId": "A", "personId": "B", "registrations": {"regNo": "R"}}]')
put("json", "items-not-objects.json", '[1, "x", null, [], true]')
put("json", "each-not-array.json",
    '[{"personId": "E1", "registrations": "x", "employmentHistory": 7, "services": {"a": 1}}]')
put("json", "invalid-utf8.json", b'[{"personId": "\xff\xfe"}]')
put("json", "nul-and-controls.json", b'[{"personId": "a\x00b\x01"}]')

# NDJSON (the zj mapping with layout = "ndjson").
import json as _json
items = _json.loads(js.decode("utf-8"))
put("ndjson", "sample.ndjson", "\n".join(_json.dumps(i, ensure_ascii=False) for i in items) + "\n")
put("ndjson", "crlf-and-blank-lines.ndjson",
    "\r\n\r\n".join(_json.dumps(i, ensure_ascii=False) for i in items) + "\r\n")
put("ndjson", "array-on-one-line.ndjson", js.replace(b"\n", b""))
put("ndjson", "half-object.ndjson", _json.dumps(items[0])[:40] + "\n" + _json.dumps(items[0]) + "\n")

# XML (bj_110000_xml.toml).
xml = sample("bj_110000_export.xml")
put("xml", "sample.xml", xml)
put("xml", "billion-laughs.xml",
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
    "<Export><Employers><Employer id=\"&lol2;\"/></Employers></Export>\n")
put("xml", "external-entity.xml",
    '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    "<Export><Employers><Employer id=\"E\"><Name>&xxe;</Name></Employer></Employers></Export>\n")
put("xml", "undefined-entity.xml",
    '<Export><Employers><Employer id="E"><Name>&nbsp;</Name></Employer></Employers></Export>')
put("xml", "char-refs.xml",
    '<Export><Employers><Employer id="&#x110000;"><Name>&#0;&#xD800;&#65;</Name></Employer></Employers></Export>')
put("xml", "mismatched-end.xml", "<Export><Employers><Employer id=\"E\"></Employers></Employer></Export>")
put("xml", "truncated.xml", xml[: len(xml) // 2])
put("xml", "empty.xml", "")
# The adapter refuses elements nested more than 128 deep; just under and just over the limit.
put("xml", "nesting-at-limit.xml",
    '<Export><Employers><Employer id="D1">' + "<a>" * 120 + "x" + "</a>" * 120
    + "</Employer></Employers></Export>")
put("xml", "deep-nesting-in-item.xml",
    '<Export><Employers><Employer id="D1">' + "<a>" * 200 + "x" + "</a>" * 200
    + "</Employer></Employers></Export>")
put("xml", "deep-nesting-unclosed.xml", "<Export><Employers><Employer id=\"D1\">" + "<a>" * 200)
put("xml", "attrs-unquoted-and-duplicate.xml",
    '<Export><Employers><Employer id=E id="F" version="1" version="2"/></Employers></Export>')
put("xml", "cdata-and-comments.xml",
    "<Export><!-- c --><Employers><?pi x?><Employer id=\"C\"><Name><![CDATA[<&>]]></Name>"
    "<Name>2</Name></Employer></Employers></Export>")
put("xml", "gb18030-declared.xml", '<?xml version="1.0" encoding="GB18030"?>'.encode() + xml[xml.index(b"\n"):])
put("xml", "utf16-bom.xml", b"\xff\xfe" + "<Export/>".encode("utf-16-le"))
put("xml", "bom.xml", b"\xef\xbb\xbf" + xml)

# Fixed width (sc_510000_fixed.toml: GB18030, skip one line, byte columns).
fw = sample("sc_510000_legacy.txt")
put("fixed_width", "sample.txt", fw)
lines = fw.split(b"\r\n")
put("fixed_width", "lf-only.txt", fw.replace(b"\r\n", b"\n"))
put("fixed_width", "header-only.txt", lines[0] + b"\r\n")
put("fixed_width", "short-lines.txt", lines[0] + b"\r\n" + b"\r\n".join(l[:20] for l in lines[1:]))
# A two-byte character straddling a column boundary (NOTE starts at byte 93, 1-based).
straddle = lines[1][:91] + "张".encode("gb18030") + lines[1][93:]
put("fixed_width", "char-across-column.txt", lines[0] + b"\r\n" + straddle + b"\r\n")
put("fixed_width", "invalid-gb18030.txt", lines[0] + b"\r\n" + lines[1].replace(b" ", b"\x81\x20", 1) + b"\r\n")
put("fixed_width", "bom.txt", b"\xef\xbb\xbf" + fw)
put("fixed_width", "blank-and-space-lines.txt", lines[0] + b"\r\n\r\n" + b" " * 120 + b"\r\n" + lines[1] + b"\r\n")
put("fixed_width", "unknown-type.txt", lines[0] + b"\r\nZ" + lines[1][1:] + b"\r\n")
put("fixed_width", "empty.txt", b"")
