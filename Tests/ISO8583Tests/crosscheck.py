#!/usr/bin/env python3
"""Cross-check for tapd's ISO 8583 codec with pyiso8583 (an independent implementation, MIT).

  crosscheck.py decode PROFILE HEX      → JSON {"t": MTI, "fields": {"2": "...", "55": "<hex>"}}
  crosscheck.py encode PROFILE < JSON   → HEX of the encoded message
PROFILE is iso87-ascii or iso87-bcd; the pyiso8583 specs below mirror tapd's (Sources/ISO8583/Profiles.swift).
"""
import json, sys
import iso8583

# (number, type, length, length digits 0/2/3)
FIELDS = [
    (2, "n", 19, 2), (3, "n", 6, 0), (4, "n", 12, 0), (5, "n", 12, 0), (6, "n", 12, 0), (7, "n", 10, 0), (11, "n", 6, 0),
    (12, "n", 6, 0), (13, "n", 4, 0), (14, "n", 4, 0), (15, "n", 4, 0), (18, "n", 4, 0), (22, "n", 3, 0), (23, "n", 3, 0),
    (24, "n", 3, 0), (25, "n", 2, 0), (26, "n", 2, 0), (32, "n", 11, 2), (35, "z", 37, 2), (37, "an", 12, 0), (38, "an", 6, 0),
    (39, "an", 2, 0), (41, "ans", 8, 0), (42, "ans", 15, 0), (43, "ans", 40, 0), (44, "ans", 25, 2), (45, "ans", 76, 2),
    (48, "ans", 999, 3), (49, "n", 3, 0), (52, "b", 8, 0), (53, "n", 16, 0), (54, "ans", 120, 3), (55, "b", 999, 3),
    (60, "ans", 999, 3), (61, "ans", 999, 3), (62, "ans", 999, 3), (63, "ans", 999, 3), (64, "b", 8, 0), (66, "n", 1, 0),
    (70, "n", 3, 0), (74, "n", 10, 0), (75, "n", 10, 0), (76, "n", 10, 0), (77, "n", 10, 0), (81, "n", 10, 0),
    (86, "n", 16, 0), (87, "n", 16, 0), (88, "n", 16, 0), (89, "n", 16, 0), (90, "n", 42, 0), (95, "an", 42, 0),
    (97, "an", 17, 0), (128, "b", 8, 0),
]
BINARY = {52, 55, 64, 128}

def spec(profile):
    bcd = profile == "iso87-bcd"
    s = {
        "h": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 0, "desc": ""},
        "t": {"data_enc": "b" if bcd else "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 2 if bcd else 4, "desc": ""},
        "p": {"data_enc": "b", "len_enc": "ascii", "len_type": 0, "max_len": 8, "desc": ""},
        "1": {"data_enc": "b", "len_enc": "ascii", "len_type": 0, "max_len": 8, "desc": ""},
    }
    for n, t, length, lt in FIELDS:
        f = {"len_enc": "b" if bcd and lt else "ascii", "len_type": (lt + 1) // 2 if bcd and lt else lt, "max_len": length, "desc": ""}
        if n in BINARY:
            f["data_enc"] = "b"
            if bcd and lt: f["len_enc"] = "bcd"
        elif bcd and t in ("n", "z"):
            f["data_enc"] = "b"
            f["len_count"] = "nibbles"
            if t == "n": f["left_pad"] = "0"
            else: f["right_pad"] = "F"
            if lt: f["len_enc"] = "bcd"
        else:
            f["data_enc"] = "ascii"
            if bcd and lt: f["len_enc"] = "bcd"
        s[str(n)] = f
    return s

def main():
    mode, profile = sys.argv[1], sys.argv[2]
    sp = spec(profile)
    if mode == "decode":
        doc, _ = iso8583.decode(bytes.fromhex(sys.argv[3]), sp)
        out = {"t": doc["t"], "fields": {}}
        for k, v in doc.items():
            if k.isdigit() and k != "1":
                out["fields"][k] = v
        print(json.dumps(out, sort_keys=True))
    else:
        src = json.load(sys.stdin)
        doc = {"t": src["t"]}
        doc.update(src["fields"])
        raw, _ = iso8583.encode(doc, sp)
        print(bytes(raw).hex().upper())

main()
