#!/usr/bin/env python3
"""Makes Tests/EODCoreTests/Fixtures/xirr-pyxirr.json: randomized dated cash flows and the XIRR
that pyxirr (an independent implementation, `pip install pyxirr`) gives for them. The Swift test
checks EODCore's XIRR against these values to 1e-6. Re-run only to extend the fixture."""
import json, random, datetime as dt, sys
from pyxirr import xirr

r = random.Random(20261129)
cases = []
while len(cases) < 300:
    start = dt.date(2020, 1, 1) + dt.timedelta(days=r.randint(0, 2000))
    n = r.randint(2, 12)
    days = sorted({0} | {r.randint(1, 900) for _ in range(n - 1)})
    flows = [-round(r.uniform(1000, 500000), 2)]
    for _ in days[1:-1]:
        flows.append(round(r.choice([-1, -1, 1]) * r.uniform(10, 50000), 2))
    growth = r.uniform(0.5, 1.6)
    flows.append(round(max(1.0, -sum(flows) * growth), 2))
    flows = flows[:len(days)]
    if len(flows) < 2:
        continue
    dates = [start + dt.timedelta(days=d) for d in days]
    try:
        x = xirr(dates, flows)
    except Exception:
        x = None
    if x is not None and (x != x or abs(x) > 1e6):
        x = None
    cases.append({"days": [d.toordinal() - dt.date(1970, 1, 1).toordinal() for d in dates],
                  "amounts": flows, "xirr": x})
# No root: every flow of one sign, and flows on one date.
cases.append({"days": [20000, 20100], "amounts": [-100.0, -50.0], "xirr": None})
cases.append({"days": [20000, 20000], "amounts": [-100.0, 150.0], "xirr": None})
json.dump(cases, open(sys.argv[1], "w"), indent=0)
print(len(cases), "cases,", sum(c["xirr"] is None for c in cases), "without a root")
