#!/usr/bin/env python3
"""Checks the job's extracts of a snapshot series against the independent oracles.

    check.py SNAPSHOT_DIR JOB_OUT_DIR

SNAPSHOT_DIR holds ledger-*.sqlite; JOB_OUT_DIR is where `eod-extract backfill` (or `run`, date
by date, one state store, CSV) wrote that series' extracts. Every firm and date the oracles make
is compared: positions, cash, transactions (every column; decimals exactly, fx_rate to 1e-10),
data_quality (the set of code and resource_id), valuations (returns to 1e-8, mwr to 1e-6), and
each manifest's control totals (overall, and per account currency with rows and accounts from
schema 1.1).
Prints what differs; exit status 0 when nothing does, 1 otherwise. Python 3 standard library only.
"""
import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args):
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if result.returncode not in (0, 1):
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"{os.path.basename(args[0])} failed ({result.returncode})")
    return result.returncode, result.stdout


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    snapshots, job_out = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(snapshots, "ledger-*.sqlite")))
    if not files:
        raise SystemExit(f"no ledger-*.sqlite in {snapshots}")
    failed = False
    with tempfile.TemporaryDirectory(prefix="eod-oracle-") as work:
        extracts, valuations = os.path.join(work, "extracts"), os.path.join(work, "valuations")
        for path in files:
            run(os.path.join(HERE, "extracts_oracle.py"), path, extracts)
        run(os.path.join(HERE, "valuations_oracle.py"), snapshots, valuations)
        code, text = run(os.path.join(HERE, "compare_extracts.py"), "binary", extracts, job_out)
        print(text, end="")
        failed |= code != 0
        code, text = run(os.path.join(HERE, "compare_valuations.py"), valuations, job_out, "--binary")
        print(text, end="")
        failed |= code != 0
        code, text = run(os.path.join(HERE, "compare_manifests.py"), snapshots, extracts, valuations, job_out)
        print(text, end="")
        failed |= code != 0
    print("oracle check:", "DIFFERENCES" if failed else "agrees", f"({len(files)} snapshots)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
