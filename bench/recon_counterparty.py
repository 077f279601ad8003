#!/usr/bin/env python3
"""Makes a counterparty's positions file from our positions extract, for bench/recon.sh.

    recon_counterparty.py OURS.csv[.gz] THEIRS.csv EXPECTED.json [--seed N]

Standard library only; the same input and seed give the same file, byte for byte.

Their layout: other column names and another order (Security, Units, Portfolio, Ccy, Value),
comma-separated, "." decimals, LF line ends, rows in random order. From our rows:
  - 0.5 % dropped (only in ours: MISSING_THEIRS),
  - 0.5 % added: an account of ours with an instrument it does not hold (only in theirs:
    MISSING_OURS),
  - 1 % changed: half beyond the tolerance (quantity or market_value moved by 0.02 to 500: one
    FIELD_MISMATCH row each), half within it (market_value moved by 0.001 to 0.005 against a
    tolerance of 0.01 absolute; so is quantity in a quarter of them: matched within tolerance).
Changes stay clear of the tolerance's bound, so floating point (datacompy) and exact decimals
(eod-extract) must agree. EXPECTED.json holds the planted counts.
"""

import csv
import decimal
import gzip
import json
import random
import sys

D = decimal.Decimal


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    seed = 14
    if "--seed" in argv:
        seed = int(argv[argv.index("--seed") + 1])
        args.remove(str(seed))
    ours_path, theirs_path, expected_path = args
    rng = random.Random(seed)

    opener = gzip.open if ours_path.endswith(".gz") else open
    with opener(ours_path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        ix = {name: header.index(name) for name in
              ("account_id", "instrument_id", "quantity", "market_value", "account_currency")}
        rows = [[r[ix["instrument_id"]], r[ix["quantity"]], r[ix["account_id"]],
                 r[ix["account_currency"]], r[ix["market_value"]]] for r in reader]

    keys = {(r[2], r[0]) for r in rows}
    if len(keys) != len(rows):
        sys.exit(f"recon_counterparty.py: account_id + instrument_id is not unique in {ours_path}")
    n = len(rows)
    order = list(range(n))
    rng.shuffle(order)
    n_drop = n * 5 // 1000
    n_add = n * 5 // 1000
    n_change = n // 100
    n_beyond = n_change // 2
    dropped = set(order[:n_drop])
    beyond = order[n_drop:n_drop + n_beyond]
    within = order[n_drop + n_beyond:n_drop + n_change]

    def moved(value, delta):
        return str(D(value) + delta) if value != "" else value

    for i in beyond:
        r = rows[i]
        sign = rng.choice((-1, 1))
        delta = D(rng.randint(2, 50000)) / 100 * sign  # 0.02 .. 500.00
        if (rng.random() < 0.5 or r[4] == "") and r[1] != "":
            r[1] = moved(r[1], delta)  # quantity
        else:
            r[4] = moved(r[4], delta)  # market_value
    for k, i in enumerate(within):
        r = rows[i]
        r[4] = moved(r[4], D(rng.randint(1, 5)) / 1000 * rng.choice((-1, 1)))
        if k % 4 == 0:
            r[1] = moved(r[1], D(rng.randint(1, 5)) / 1000 * rng.choice((-1, 1)))

    out = [r for i, r in enumerate(rows) if i not in dropped]
    accounts = sorted({(r[2], r[3]) for r in rows})
    instruments = sorted({r[0] for r in rows})
    added = 0
    while added < n_add:
        account, currency = rng.choice(accounts)
        instrument = rng.choice(instruments)
        if (account, instrument) in keys:
            continue
        keys.add((account, instrument))
        quantity = D(rng.randint(1, 10_000_000)) / 100
        value = D(rng.randint(1, 100_000_000)) / 100
        out.append([instrument, str(quantity), account, currency, str(value)])
        added += 1
    rng.shuffle(out)

    with open(theirs_path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["Security", "Units", "Portfolio", "Ccy", "Value"])
        w.writerows(out)

    expected = {
        "rows_ours": n,
        "rows_theirs": len(out),
        "only_ours": n_drop,
        "only_theirs": n_add,
        "mismatch_rows": n_beyond,
        "changed_within_tolerance": n_change - n_beyond,
        "seed": seed,
    }
    with open(expected_path, "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
