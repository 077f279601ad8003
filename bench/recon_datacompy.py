#!/usr/bin/env python3
"""The datacompy side of bench/recon.sh: one comparison in a fresh process.

    recon_datacompy.py pandas|polars OURS.csv[.gz] THEIRS.csv ABS_TOL REL_TOL

Reads our positions extract (only the columns compared) and the counterparty's file made by
recon_counterparty.py, renames theirs to our names, joins on account_id + instrument_id and
compares quantity and market_value with datacompy's isclose rule
(|ours - theirs| <= abs_tol + rel_tol * |theirs|). Prints one JSON line: rows only in ours, only
in theirs, rows in both with a column beyond tolerance, and rows in both that match.
Needs datacompy, pandas and polars (`pip install datacompy pandas polars`): benchmark only.
"""

import json
import sys

import datacompy

KEYS = ["account_id", "instrument_id"]
THEIRS = {"Portfolio": "account_id", "Security": "instrument_id", "Units": "quantity",
          "Value": "market_value"}
COLUMNS = KEYS + ["quantity", "market_value"]


def compare_pandas(ours_path, theirs_path, abs_tol, rel_tol):
    import pandas as pd

    dtypes = {"account_id": str, "instrument_id": str, "quantity": "float64", "market_value": "float64"}
    ours = pd.read_csv(ours_path, usecols=COLUMNS, dtype=dtypes)
    theirs = pd.read_csv(theirs_path, usecols=list(THEIRS), dtype={"Portfolio": str, "Security": str,
                                                                    "Units": "float64", "Value": "float64"})
    theirs = theirs.rename(columns=THEIRS)[COLUMNS]
    cls = getattr(datacompy, "PandasCompare", None) or datacompy.Compare
    return cls(ours, theirs, join_columns=KEYS, abs_tol=abs_tol, rel_tol=rel_tol,
               df1_name="ours", df2_name="theirs")


def compare_polars(ours_path, theirs_path, abs_tol, rel_tol):
    import polars as pl

    ours = pl.read_csv(ours_path, columns=COLUMNS,
                       schema_overrides={"account_id": pl.Utf8, "instrument_id": pl.Utf8,
                                         "quantity": pl.Float64, "market_value": pl.Float64})
    theirs = pl.read_csv(theirs_path, columns=list(THEIRS),
                         schema_overrides={"Portfolio": pl.Utf8, "Security": pl.Utf8,
                                           "Units": pl.Float64, "Value": pl.Float64})
    theirs = theirs.rename(THEIRS).select(COLUMNS)
    return datacompy.PolarsCompare(ours, theirs, join_columns=KEYS, abs_tol=abs_tol, rel_tol=rel_tol,
                                   df1_name="ours", df2_name="theirs")


def main(argv):
    engine, ours_path, theirs_path, abs_tol, rel_tol = argv
    run = compare_pandas if engine == "pandas" else compare_polars
    cmp = run(ours_path, theirs_path, float(abs_tol), float(rel_tol))
    mismatch = len(cmp.all_mismatch())
    both = cmp.intersect_rows.shape[0]
    print(json.dumps({
        "engine": engine,
        "datacompy": datacompy.__version__,
        "rows_ours": cmp.df1.shape[0],
        "rows_theirs": cmp.df2.shape[0],
        "only_ours": cmp.df1_unq_rows.shape[0],
        "only_theirs": cmp.df2_unq_rows.shape[0],
        "mismatch_rows": mismatch,
        "matched_rows": both - mismatch,
    }, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
