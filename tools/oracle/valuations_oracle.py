#!/usr/bin/env python3
"""Independent oracle for the `valuations` extract (docs/extracts.md, template
version 1), written from the contract's text alone, without the project's code:
exact `decimal` values, Double returns, its own XIRR (in ln(1 + x)).

    valuations_oracle.py SNAPDIR OUTDIR
Processes SNAPDIR/ledger-*.sqlite in business-date order, keeping the
performance history in memory, and writes OUTDIR/FIRM/DATE/valuations.csv.
stdlib only.
"""
import csv
import datetime as dt
import glob
import math
import os
import sqlite3
import sys
from decimal import Decimal, ROUND_HALF_EVEN, getcontext

getcontext().prec = 60
Q2 = Decimal("0.01")
Q8 = Decimal("0.00000001")

COLS = ["business_date", "firm_id", "client_id", "client_external_ref", "account_id",
        "account_external_ref", "wrapper", "account_currency", "positions_value", "cash_value",
        "total_value", "unpriced_positions", "net_external_flow", "return_1d", "return_mtd",
        "return_qtd", "return_ytd", "return_1y", "return_itd", "return_itd_annualised",
        "mwr_itd", "mwr_itd_annualised", "performance_start_date"]
FLOW_TYPES = {"DEPOSIT", "WITHDRAWAL", "TRANSFER_IN", "TRANSFER_OUT"}
REF_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_")


def r2(x):
    return x.quantize(Q2, rounding=ROUND_HALF_EVEN)


def fmt_ret(x):
    if x is None:
        return ""
    if isinstance(x, float) and not math.isfinite(x):
        return ""
    return str(Decimal(x).quantize(Q8, rounding=ROUND_HALF_EVEN))


def valid_ref(s):
    if s is None:
        return ""
    if 1 <= len(s) <= 256 and all(c in REF_OK for c in s):
        return s
    return ""


def D(s):
    return Decimal(s)


def one_year_back(d):
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # Feb 29 -> Feb 28
        return d.replace(year=d.year - 1, day=28)


class Snapshot:
    def __init__(self, path):
        db = sqlite3.connect(path)
        self.info = dict(db.execute("select key, value from snapshot_info"))
        self.date = dt.date.fromisoformat(self.info["business_date"])
        self.firms = [r[0] for r in db.execute("select firm_id from firms order by firm_id")]
        self.clients = {r[0]: r for r in db.execute("select client_id, firm_id, client_type, external_ref from clients")}
        self.accounts = list(db.execute(
            "select account_id, firm_id, client_id, wrapper, currency, opened_on, closed_on, external_ref from accounts"))
        self.instruments = {r[0]: r for r in db.execute(
            "select instrument_id, currency, quote_factor from instruments")}
        ds = self.date.isoformat()
        self.price = {}
        for iid, pdate, px in db.execute(
                "select instrument_id, price_date, price from prices where price_date <= ? order by price_date", (ds,)):
            self.price[iid] = (dt.date.fromisoformat(pdate), D(px))  # latest wins
        self.fx = {}
        for rdate, b, q, rate in db.execute(
                "select rate_date, base_currency, quote_currency, rate from fx_rates where rate_date <= ? order by rate_date", (ds,)):
            self.fx[(b, q)] = D(rate)
        self.positions = {}
        for aid, iid, qty, bc in db.execute("select account_id, instrument_id, quantity, book_cost from positions"):
            self.positions.setdefault(aid, []).append((iid, D(qty)))
        self.cash = {}
        for aid, ccy, bal in db.execute("select account_id, currency, balance from cash_balances"):
            self.cash.setdefault(aid, []).append((ccy, D(bal)))
        self.txns = {}
        for tid, aid, typ, status, amt, ccy in db.execute(
                "select transaction_id, account_id, type, status, amount, currency from transactions"):
            self.txns.setdefault(aid, []).append((tid, typ, status, D(amt), ccy))
        db.close()

    def convert(self, amount, ccy, acc_ccy):
        """amount in ccy -> acc_ccy, exact (unrounded) or None when no FX."""
        if ccy == "GBX":
            amount = amount * Decimal("0.01")
            ccy = "GBP"
        if ccy == acc_ccy:
            return amount
        # Contract 1.1: a latest rate of zero or below counts as no rate for its direction.
        if self.fx.get((ccy, acc_ccy), 0) > 0:
            return amount * self.fx[(ccy, acc_ccy)]
        if self.fx.get((acc_ccy, ccy), 0) > 0:
            return amount / self.fx[(acc_ccy, ccy)]
        return None


def xirr_v(flows):
    """flows: list of (t_days_from_first, amount). Returns v = ln(1+x) of the XIRR
    (Actual/365), or None when all flows are on one date or there is no root.
    Works in log space with normalised exponents, so no bound on x."""
    ts = {t for t, _ in flows}
    if len(ts) < 2:
        return None
    tmax = max(ts)

    def g(v):  # sign(g) == sign(XNPV); all exponents <= 0
        tc = 0.0 if v >= 0 else tmax
        s = 0.0
        sa = 0.0
        for t, cf in flows:
            e = math.exp(-v * (t - tc) / 365.0)
            s += cf * e
            sa += abs(cf) * e
        return s, sa

    def gp(v):
        tc = 0.0 if v >= 0 else tmax
        return sum(-cf * (t - tc) / 365.0 * math.exp(-v * (t - tc) / 365.0) for t, cf in flows)
    # Newton from v=0 (fast path)
    v = 0.0
    for _ in range(60):
        s, sa = g(v)
        if sa > 0 and abs(s) <= 1e-13 * sa:
            return v
        d = gp(v)
        if d == 0 or not math.isfinite(d):
            break
        nv = v - s / d
        if not math.isfinite(nv) or abs(nv) > 1e6:
            break
        # keep the normalisation centre fixed across a sign change
        if (nv >= 0) != (v >= 0) and v != 0:
            nv = v / 2 if abs(nv) > 2 * abs(v) else nv
        v = nv
    # fallback: bracket on a grid, take the root nearest 0, bisect
    grid = sorted({0.0} | {sg * 1e-4 * 1.25 ** k for k in range(0, 100) for sg in (1, -1)})
    best, pv, ps = None, None, None
    for x in grid:
        s, sa = g(x)
        if sa == 0:  # every term underflowed: no information here
            continue
        cand = None
        if s == 0:
            cand = (x, x)
        elif ps is not None and (ps < 0) != (s < 0):
            cand = (pv, x)
        if cand and (best is None or min(abs(cand[0]), abs(cand[1])) < min(abs(best[0]), abs(best[1]))):
            best = cand
        pv, ps = x, s
    if best is None:
        return None
    lo, hi = best
    slo = g(lo)[0]
    for _ in range(300):
        mid = (lo + hi) / 2
        sm = g(mid)[0]
        if sm == 0:
            return mid
        if (sm < 0) == (slo < 0):
            lo, slo = mid, sm
        else:
            hi = mid
    return (lo + hi) / 2


class AccountHistory:
    def __init__(self):
        self.start = None          # performance_start_date
        self.first_hist = None     # first date the account is in the history
        self.baseline = None       # (date, V) or None
        self.last_v = None
        self.returns = []          # (date, r or None)
        self.flows = []            # (date, F) non-zero, since performance started


def main():
    snapdir, outdir = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(snapdir, "ledger-*.sqlite")))
    snaps = []
    for p in files:
        con = sqlite3.connect(p)
        bd = dict(con.execute("select key,value from snapshot_info"))["business_date"]
        con.close()
        snaps.append((bd, p))
    snaps.sort()
    hist = {}
    for bd, path in snaps:
        s = Snapshot(path)
        d = s.date
        rows_by_firm = {f: [] for f in s.firms}
        for (aid, firm, cid, wrapper, accy, opened, closed, aref) in sorted(s.accounts):
            opened_d = dt.date.fromisoformat(opened)
            if opened_d > d:
                continue
            if closed is not None and dt.date.fromisoformat(closed) < d:
                continue
            pv = Decimal(0)
            unpriced = 0
            for iid, qty in s.positions.get(aid, []):
                inst = s.instruments.get(iid)
                if inst is None or iid not in s.price:
                    unpriced += 1
                    continue
                _, px = s.price[iid]
                if px < 0:  # contract 1.1: a negative price is INVALID, not valued
                    unpriced += 1
                    continue
                mv = s.convert(qty * px * D(inst[2]), inst[1], accy)
                if mv is None:
                    unpriced += 1
                    continue
                pv += r2(mv)
            cv = Decimal(0)
            for ccy, bal in s.cash.get(aid, []):
                v = s.convert(bal, ccy, accy)
                if v is None:
                    continue
                cv += r2(v)
            tv = pv + cv
            F = Decimal(0)
            Fin = Decimal(0)
            for tid, typ, status, amt, ccy in s.txns.get(aid, []):
                if typ in FLOW_TYPES and status != "CANCELLED":
                    a = s.convert(amt, ccy, accy)
                    if a is None:
                        continue  # no FX: cannot convert (not generated)
                    a = r2(a)
                    F += a
                    if a > 0:
                        Fin += a
            h = hist.get(aid)
            ret = dict.fromkeys(COLS[13:], "")
            if h is None:
                h = hist[aid] = AccountHistory()
                if opened_d == d:
                    h.start = d
                    h.first_hist = d
                    V0 = Decimal(0)
                else:
                    h.baseline = (d, tv)
                    h.start = d + dt.timedelta(days=1)
                    h.first_hist = d
                    V0 = None
            else:
                V0 = h.last_v
            if V0 is not None:
                den = V0 + Fin
                num = tv - V0 - F
                if den == 0:
                    r = 0.0 if num == 0 else None
                else:
                    r = float(num / den)
                h.returns.append((d, r))
                if F != 0:
                    h.flows.append((d, F))

                def link(pred):
                    p = 1.0
                    for dd, rr in h.returns:
                        if pred(dd):
                            p *= 1.0 + (rr if rr is not None else 0.0)
                    return p - 1.0
                q = (d.month - 1) // 3
                ret["return_1d"] = fmt_ret(r)
                ret["return_mtd"] = fmt_ret(link(lambda x: x.year == d.year and x.month == d.month))
                ret["return_qtd"] = fmt_ret(link(lambda x: x.year == d.year and (x.month - 1) // 3 == q))
                ret["return_ytd"] = fmt_ret(link(lambda x: x.year == d.year))
                yb = one_year_back(d)
                covered = (h.baseline is not None and h.baseline[0] <= yb) or \
                          (h.baseline is None and h.start <= yb + dt.timedelta(days=1))
                if covered:
                    ret["return_1y"] = fmt_ret(link(lambda x: yb < x <= d))
                itd = link(lambda x: True)
                ret["return_itd"] = fmt_ret(itd)
                days = (d - h.start).days + 1
                if days >= 365:
                    ret["return_itd_annualised"] = fmt_ret((1.0 + itd) ** (365.0 / days) - 1.0) if 1.0 + itd > 0 else ""
                cfs = []
                if h.baseline is not None:
                    cfs.append((h.baseline[0], -float(h.baseline[1])))
                for fd, fF in h.flows:
                    cfs.append((fd, -float(fF)))
                cfs.append((d, float(tv)))
                t0 = min(c[0] for c in cfs)
                v = xirr_v([((c[0] - t0).days, c[1]) for c in cfs])
                if v is not None:
                    T = (d - t0).days
                    ret["mwr_itd"] = fmt_ret(math.expm1(v * T / 365.0))
                    if days >= 365:
                        try:
                            ret["mwr_itd_annualised"] = fmt_ret(math.expm1(v))
                        except OverflowError:
                            ret["mwr_itd_annualised"] = ""
                ret["performance_start_date"] = h.start.isoformat()
            h.last_v = tv
            cl = s.clients.get(cid)
            row = {
                "business_date": d.isoformat(), "firm_id": firm, "client_id": cid,
                "client_external_ref": valid_ref(cl[3]) if cl else "",
                "account_id": aid, "account_external_ref": valid_ref(aref),
                "wrapper": wrapper, "account_currency": accy,
                "positions_value": str(pv), "cash_value": str(cv), "total_value": str(tv),
                "unpriced_positions": str(unpriced), "net_external_flow": str(F),
            }
            row.update(ret)
            rows_by_firm.setdefault(firm, []).append(row)
        for firm, rows in rows_by_firm.items():
            od = os.path.join(outdir, firm, d.isoformat())
            os.makedirs(od, exist_ok=True)
            with open(os.path.join(od, "valuations.csv"), "w", newline="", encoding="utf-8") as fh:
                w = csv.DictWriter(fh, COLS, lineterminator="\r\n")
                w.writeheader()
                w.writerows(rows)


if __name__ == "__main__":
    main()
