#!/usr/bin/env python3
"""compare_valuations.py ORACLE_OUT OTHER [--binary] [--common]
ORACLE_OUT/FIRM/DATE/valuations.csv vs
  OTHER/FIRM/DATE/valuations.csv               (expected examples), or
  OTHER/FIRM/DATE/FIRM_valuations_YYYYMMDD.csv.gz  (--binary)
Only dates present on both sides... unless --all: then missing files are errors.
Tolerances: returns 1e-8 (plus float slack), mwr_itd/mwr_itd_annualised 1e-6; decimals exact.
"""
import csv
import gzip
import io
import os
import sys
from decimal import Decimal

RET = {"return_1d", "return_mtd", "return_qtd", "return_ytd", "return_1y", "return_itd",
       "return_itd_annualised"}
MWR = {"mwr_itd", "mwr_itd_annualised"}
DEC = {"positions_value", "cash_value", "total_value", "unpriced_positions", "net_external_flow"}


def load(path):
    if path.endswith(".gz"):
        raw = gzip.open(path, "rb").read()
    else:
        raw = open(path, "rb").read()
    text = raw.decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline=""))), raw


def main():
    a, b = sys.argv[1], sys.argv[2]
    binary = "--binary" in sys.argv
    only_common = "--common" in sys.argv
    ndates = nrows = nfiles = 0
    issues = []
    fmt_notes = {}
    for firm in sorted(os.listdir(a)):
        for date in sorted(os.listdir(os.path.join(a, firm))):
            pa = os.path.join(a, firm, date, "valuations.csv")
            if binary:
                pb = os.path.join(b, firm, date, f"{firm}_valuations_{date.replace('-', '')}.csv.gz")
            else:
                pb = os.path.join(b, firm, date, "valuations.csv")
            if not os.path.exists(pb):
                if not only_common:
                    issues.append(f"MISSING FILE {pb}")
                continue
            nfiles += 1
            ra, _ = load(pa)
            rb, rawb = load(pb)
            if binary and b"\r\n" not in rawb:
                fmt_notes.setdefault("no CRLF", pb)
            if ra[0] != rb[0]:
                issues.append(f"{firm} {date} HEADER differs: {rb[0]}")
                continue
            hdr = ra[0]
            ka = [r[4] for r in ra[1:]]
            kb = [r[4] for r in rb[1:]]
            if ka != kb:
                issues.append(f"{firm} {date} ROWSET differs: only oracle {sorted(set(ka)-set(kb))} only other {sorted(set(kb)-set(ka))} order_same={sorted(ka)==kb}")
            mb = {r[4]: r for r in rb[1:]}
            for r in ra[1:]:
                o = mb.get(r[4])
                if o is None:
                    continue
                nrows += 1
                for i, col in enumerate(hdr):
                    x, y = r[i], o[i]
                    if x == y:
                        continue
                    bad = True
                    if x != "" and y != "":
                        if col in DEC:
                            bad = Decimal(x) != Decimal(y)
                            if not bad:
                                fmt_notes.setdefault(f"format {col}: oracle {x!r} other {y!r}", f"{firm} {date} {r[4]}")
                        elif col in RET:
                            bad = abs(float(x) - float(y)) > 1.01e-8
                        elif col in MWR:
                            bad = abs(float(x) - float(y)) > 1e-6
                    if bad:
                        issues.append(f"{firm} {date} {r[4]} {col}: oracle={x!r} other={y!r}")
    print(f"compared files={nfiles} rows={nrows}")
    for k, v in fmt_notes.items():
        print("NOTE", k, "e.g.", v)
    print(f"issues={len(issues)}")
    for i in issues[:400]:
        print(i)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
