#!/usr/bin/env python3
"""Compare oracle output with expected (examples) or binary output.

compare_extracts.py expected ORACLE_DIR EXPECTED_DIR   (EXPECTED_DIR/FIRM/DATE/x.csv)
compare_extracts.py binary   ORACLE_DIR JOB_OUT_DIR    (JOB_OUT_DIR/FIRM/DATE/FIRM_x_YYYYMMDD.csv.gz)
Prints discrepancies and a summary line.
"""
import csv
import gzip
import io
import os
import sys
from decimal import Decimal, InvalidOperation

EXTRACTS = ["positions", "cash", "transactions", "data_quality"]
DEC = {"quantity", "price", "fx_rate", "market_value", "book_cost", "unrealised_gain_loss", "weight",
       "balance", "value", "amount", "amount_account_currency"}
KEYS = {"positions": ["account_id", "instrument_id"], "cash": ["account_id", "currency"],
        "transactions": ["account_id", "trade_date", "transaction_id"]}
IGNORE_DQ_CODES = {"PERFORMANCE_UNDEFINED"}  # valuations-only, not in the oracle's scope

stats = {"files": 0, "rows": 0, "diffs": 0, "textdiffs": 0, "bytediff_files": 0}
out = []


def parse(data):
    return list(csv.reader(io.StringIO(data, newline="")))


def dec_eq(col, a, b):
    if a == "" or b == "":
        return a == b
    try:
        x, y = Decimal(a), Decimal(b)
    except InvalidOperation:
        return a == b
    if col == "fx_rate":
        return abs(x - y) <= Decimal("1e-10")
    return x == y


def report(kind, where, msg):
    stats["diffs" if kind == "DIFF" else "textdiffs"] += 1
    out.append(f"{kind} {where}: {msg}")


def cmp_table(ext, where, mine, theirs, mode):
    stats["files"] += 1
    if ext == "data_quality":
        hm, ht = mine[0], theirs[0]
        im = (hm.index("code"), hm.index("resource_id"))
        it = (ht.index("code"), ht.index("resource_id"))
        sm = {(r[im[0]], r[im[1]]) for r in mine[1:] if r[im[0]] not in IGNORE_DQ_CODES}
        st = {(r[it[0]], r[it[1]]) for r in theirs[1:] if r[it[0]] not in IGNORE_DQ_CODES}
        stats["rows"] += len(sm)
        for k in sorted(st - sm):
            report("DIFF", where, f"data_quality entry in {mode} but not in oracle: {k}")
        for k in sorted(sm - st):
            report("DIFF" if mode == "binary" else "TEXT", where, f"data_quality entry in oracle but not in {mode}: {k}")
        if hm != ht:
            report("DIFF", where, f"header {ht} != oracle {hm}")
        return
    if mine[0] != theirs[0]:
        report("DIFF", where, f"header differs: {mode}={theirs[0]} oracle={mine[0]}")
        return
    h = mine[0]
    kidx = [h.index(k) for k in KEYS[ext]]
    mrows, trows = mine[1:], theirs[1:]
    stats["rows"] += len(mrows)
    mk = [tuple(r[i] for i in kidx) for r in mrows]
    tk = [tuple(r[i] for i in kidx) for r in trows]
    if mk != tk:
        sm, st = set(mk), set(tk)
        for k in sorted(sm - st):
            report("DIFF", where, f"row {k} only in oracle")
        for k in sorted(st - sm):
            report("DIFF", where, f"row {k} only in {mode}")
        common = [k for k in tk if k in sm]
        if [k for k in mk if k in st] != common:
            report("DIFF", where, f"row order differs")
    tmap = dict(zip(tk, trows))
    for k, r in zip(mk, mrows):
        if k not in tmap:
            continue
        t = tmap[k]
        if len(t) != len(r):
            report("DIFF", where, f"{k}: field count {len(t)} vs oracle {len(r)}")
            continue
        for c, a, b in zip(h, r, t):
            if c in DEC:
                if not dec_eq(c, a, b):
                    report("DIFF", where, f"{k} {c}: {mode}={b!r} oracle={a!r}")
                elif a != b and c != "fx_rate":
                    report("TEXT", where, f"{k} {c}: {mode}={b!r} oracle={a!r}")
            elif a != b:
                report("DIFF", where, f"{k} {c}: {mode}={b!r} oracle={a!r}")


def main():
    mode, odir, tdir = sys.argv[1:4]
    for firm in sorted(os.listdir(odir)):
        for date in sorted(os.listdir(os.path.join(odir, firm))):
            for ext in EXTRACTS:
                mp = os.path.join(odir, firm, date, ext + ".csv")
                mbytes = open(mp, "rb").read()
                where = f"{firm} {date} {ext}"
                if mode == "expected":
                    tp = os.path.join(tdir, firm, date, ext + ".csv")
                    if not os.path.exists(tp):
                        report("DIFF", where, "no expected file")
                        continue
                    tbytes = open(tp, "rb").read()
                else:
                    tp = os.path.join(tdir, firm, date, f"{firm}_{ext}_{date.replace('-', '')}.csv.gz")
                    if not os.path.exists(tp):
                        report("DIFF", where, f"binary file missing: {tp}")
                        continue
                    tbytes = gzip.decompress(open(tp, "rb").read())
                    if ext != "data_quality" and tbytes != mbytes:
                        stats["bytediff_files"] += 1
                        if b"\r\n" not in tbytes[:2000]:
                            report("TEXT", where, "binary not CRLF")
                mine = parse(mbytes.decode("utf-8"))
                theirs = parse(tbytes.decode("utf-8"))
                cmp_table(ext, where, mine, theirs, mode)
    # binary firms/dates not produced by the oracle
    if mode == "binary":
        for firm in sorted(os.listdir(tdir)):
            p = os.path.join(tdir, firm)
            if not os.path.isdir(p):
                continue
            for date in sorted(os.listdir(p)):
                if not os.path.isdir(os.path.join(odir, firm, date)):
                    report("DIFF", f"{firm} {date}", "binary produced a firm/date the oracle did not")
    for line in out:
        print(line)
    print("SUMMARY", stats)
    return 1 if stats["diffs"] else 0


if __name__ == "__main__":
    sys.exit(main())
