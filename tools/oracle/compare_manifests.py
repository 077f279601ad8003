#!/usr/bin/env python3
"""Compare the job's manifests with control figures computed from the oracles' rows.

compare_manifests.py SNAPSHOT_DIR EXTRACTS_DIR VALUATIONS_DIR JOB_OUT_DIR

For every firm and date the oracles made: each file's control total (positions market_value, cash
value, transactions amount_account_currency, valuations total_value: the sum of the rows' values,
empty ones counting as nothing), and from manifest schema 1.1 the same total and the row count per
account currency, the number of distinct accounts with rows, and the key columns (the contract's
sort keys). Exact decimals at any size. Prints what differs; exit status 1 if anything does.
"""
import csv
import json
import os
import sqlite3
import sys
from decimal import Decimal, getcontext

getcontext().prec = 200  # sums of 38-digit amounts stay exact

COLUMN = {"positions": "market_value", "cash": "value", "transactions": "amount_account_currency",
          "valuations": "total_value"}
KEYS = {"positions": ["account_id", "instrument_id"], "cash": ["account_id", "currency"],
        "transactions": ["account_id", "trade_date", "transaction_id"], "valuations": ["account_id"],
        "data_quality": ["severity", "code", "resource_type", "resource_id"]}

diffs = []


def rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def figures(records, column, currency_of):
    """(total, {currency: (total, rows)}, distinct accounts)."""
    total, by, accounts = Decimal(0), {}, set()
    for r in records:
        ccy = currency_of(r)
        t, n = by.get(ccy, (Decimal(0), 0))
        value = Decimal(r[column]) if r[column] else Decimal(0)
        by[ccy] = (t + value, n + 1)
        total += value
        accounts.add(r["account_id"])
    return total, by, len(accounts)


def main():
    snapdir, extracts, valuations, job = sys.argv[1:5]
    manifests = 0
    for firm in sorted(os.listdir(extracts)):
        for date in sorted(os.listdir(os.path.join(extracts, firm))):
            compact = date.replace("-", "")
            where = f"{firm} {date}"
            path = os.path.join(job, firm, date, f"{firm}_manifest_{compact}.json")
            if not os.path.exists(path):
                diffs.append(f"{where}: no manifest")
                continue
            manifests += 1
            manifest = json.load(open(path, encoding="utf-8"))
            version = tuple(int(p) for p in manifest["schema_version"].split("."))
            db = sqlite3.connect(f"file:{os.path.join(snapdir, f'ledger-{date}.sqlite')}?mode=ro", uri=True)
            account_ccy = dict(db.execute("select account_id, currency from accounts"))
            db.close()
            for entry in manifest["files"]:
                kind = entry["extract"]
                if version >= (1, 1) and entry.get("key_columns") != KEYS[kind]:
                    diffs.append(f"{where} {kind}: key_columns {entry.get('key_columns')} != {KEYS[kind]}")
                column = COLUMN.get(kind)
                if column is None:
                    continue
                source = os.path.join(valuations if kind == "valuations" else extracts, firm, date, f"{kind}.csv")
                records = rows(source)
                total, by, accounts = figures(records, column, lambda r: account_ccy.get(r["account_id"], "?"))
                stated = entry["control_totals"].get(column)
                if stated is None or Decimal(stated) != total:
                    diffs.append(f"{where} {kind}: control total {stated} != oracle {total}")
                if version < (1, 1):
                    continue
                got = entry.get("control_totals_by_currency", {})
                for ccy in sorted(set(got) | set(by)):
                    want_total, want_rows = by.get(ccy, (Decimal(0), 0))
                    have = got.get(ccy, {})
                    if Decimal(have.get(column, "0")) != want_total or have.get("rows", 0) != want_rows:
                        diffs.append(f"{where} {kind} {ccy}: manifest {have} != oracle {want_total} in {want_rows} rows")
                if entry.get("accounts") != accounts:
                    diffs.append(f"{where} {kind}: accounts {entry.get('accounts')} != oracle {accounts}")
    for line in diffs:
        print("DIFF", line)
    print(f"MANIFESTS {manifests} checked, {len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
