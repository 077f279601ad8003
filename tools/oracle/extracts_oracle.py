#!/usr/bin/env python3
"""Independent oracle for the positions, cash, transactions and data_quality
extracts (docs/extracts.md, template version 1), written from the contract's
text alone, in Python's exact `decimal` arithmetic, without the project's code.

    extracts_oracle.py SNAPSHOT OUTDIR  -> OUTDIR/<firm>/<date>/<extract>.csv (CRLF, minimal quoting)

Stateless: none of these four extracts depends on history. Where the contract
leaves a choice, it follows the project's documented decision (docs/extracts.md).
"""
import datetime as dt
import os
import re
import sqlite3
import sys
from decimal import Decimal, ROUND_HALF_EVEN, getcontext

getcontext().prec = 80

Q2 = Decimal("0.01")
Q6 = Decimal("0.000001")
Q10 = Decimal("0.0000000001")
VALID_REF = re.compile(r"[A-Za-z0-9 _-]{1,256}\Z")


def q(x, e):
    r = x.quantize(e, rounding=ROUND_HALF_EVEN)
    if r == 0:
        r = abs(r)  # no "-0.00"
    return r


def s(x):
    if x is None:
        return ""
    if isinstance(x, Decimal):
        return format(x, "f")
    return str(x)


def csv_field(v):
    v = "" if v is None else str(v)
    if any(c in v for c in ',"\r\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        for r in [header] + rows:
            f.write(",".join(csv_field(v) for v in r) + "\r\n")


POS_H = ["business_date", "firm_id", "client_id", "client_external_ref", "account_id", "account_external_ref",
         "wrapper", "account_currency", "instrument_id", "isin", "sedol", "instrument_name", "asset_class",
         "quantity", "price", "price_currency", "price_date", "price_status", "fx_rate", "market_value",
         "book_cost", "unrealised_gain_loss", "weight", "position_external_ref"]
CASH_H = ["business_date", "firm_id", "client_id", "client_external_ref", "account_id", "account_external_ref",
          "account_currency", "currency", "balance", "fx_rate", "value"]
TXN_H = ["business_date", "firm_id", "client_id", "account_id", "account_external_ref", "transaction_id",
         "transaction_external_ref", "type", "status", "trade_date", "settle_date", "instrument_id", "isin",
         "quantity", "amount", "currency", "amount_account_currency"]
DQ_H = ["business_date", "firm_id", "severity", "code", "resource_type", "resource_id", "field", "message"]


class Snap:
    def __init__(self, path):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.db = db
        info = dict(db.execute("select key, value from snapshot_info"))
        self.date = info["business_date"]
        self.d = dt.date.fromisoformat(self.date)
        self.firms = [r[0] for r in db.execute("select firm_id from firms order by firm_id")]
        self.clients = {r[0]: r for r in db.execute("select client_id, firm_id, client_type, external_ref from clients")}
        self.accounts = {}
        for r in db.execute("select account_id, firm_id, client_id, wrapper, currency, opened_on, closed_on, external_ref from accounts"):
            self.accounts[r[0]] = dict(zip(["id", "firm", "client", "wrapper", "ccy", "opened", "closed", "ref"], r))
        self.instruments = {}
        for r in db.execute("select instrument_id, isin, sedol, name, asset_class, currency, quote_factor from instruments"):
            self.instruments[r[0]] = dict(zip(["id", "isin", "sedol", "name", "cls", "ccy", "qf"], r))
        # latest price on or before the date (string compare is fine for YYYY-MM-DD)
        self.price = {}
        for iid, pd, px in db.execute("select instrument_id, price_date, price from prices where price_date <= ? order by instrument_id, price_date", (self.date,)):
            self.price[iid] = (pd, px)
        self.fx = {}
        for rd, b, qc, rate in db.execute("select rate_date, base_currency, quote_currency, rate from fx_rates where rate_date <= ? order by rate_date", (self.date,)):
            self.fx[(b, qc)] = Decimal(rate)
        self.positions = db.execute("select account_id, instrument_id, quantity, book_cost, external_ref from positions").fetchall()
        self.cash = db.execute("select account_id, currency, balance from cash_balances").fetchall()
        self.txns = db.execute("select transaction_id, account_id, type, status, trade_date, settle_date, instrument_id, quantity, amount, currency, external_ref from transactions").fetchall()

    def rate(self, x, a):
        """(multiplier as exact-ish Decimal, kind) or None. kind: 'same', 'direct', 'inverse'."""
        if x == a:
            return (Decimal(1), "same")
        # Contract 1.1: the latest rate of a direction that is zero or below is unusable; that
        # direction counts as having no rate.
        if (x, a) in self.fx and self.fx[(x, a)] > 0:
            return (self.fx[(x, a)], "direct")
        if (a, x) in self.fx and self.fx[(a, x)] > 0:
            return (self.fx[(a, x)], "inverse")
        return None

    def unusable(self, x, a):
        """Whether an unusable latest rate (<= 0) of either direction is why x->a has no rate."""
        return x != a and any(k in self.fx and self.fx[k] <= 0 for k in ((x, a), (a, x)))

    def missing_fx(self, dq, x, a, rtype, rid, field):
        """MISSING_FX, and INVALID_FX too when an unusable rate left the amount unconverted."""
        dq.add(("WARNING", "MISSING_FX", rtype, rid, field))
        if self.unusable(x, a):
            dq.add(("ERROR", "INVALID_FX", rtype, rid, field))

    def shown(self, acc):
        if acc["opened"] > self.date:
            return False
        return acc["closed"] is None or acc["closed"] >= self.date


def convert(amount, r):
    """round2(amount * rate), exactly; inverse rates are divided."""
    rate, kind = r
    if kind == "inverse":
        return q(amount / rate, Q2)
    return q(amount * rate, Q2)


def fx_display(r):
    rate, kind = r
    if kind == "inverse":
        return q(Decimal(1) / rate, Q10)
    return q(rate, Q10)


def ref(v):
    """(shown value, invalid?)"""
    if v is None:
        return "", False
    if VALID_REF.match(v):
        return v, False
    return "", True


def run(snap_path, outdir):
    S = Snap(snap_path)
    date = S.date
    for firm in S.firms:
        dq = set()  # (severity, code, rtype, rid, field)
        accs = sorted((a for a in S.accounts.values() if a["firm"] == firm and S.shown(a)), key=lambda a: a["id"])
        acc_ids = {a["id"] for a in accs}
        shown_clients = set()
        shown_accounts = set()
        # ---- positions
        pos_rows = []
        cash_rows = []
        pos_value = {}
        cash_value = {}
        pos_calc = []
        for (aid, iid, qty, cost, pref) in sorted(p for p in S.positions if p[0] in acc_ids):
            acc = S.accounts[aid]
            inst = S.instruments.get(iid)
            quantity = Decimal(qty)
            px = S.price.get(iid)
            price = price_date = status = fxd = mv = None
            # Contract 1.1 warnings: valued as they are.
            if quantity < 0:
                dq.add(("WARNING", "NEGATIVE_QUANTITY", "POSITION", f"{aid}/{iid}", "quantity"))
            if px is not None and Decimal(px[1]) == 0:
                dq.add(("WARNING", "ZERO_PRICE", "POSITION", f"{aid}/{iid}", "price"))
            if inst is None:
                status = "MISSING"
                dq.add(("ERROR", "UNKNOWN_INSTRUMENT", "POSITION", f"{aid}/{iid}", "instrument_id"))
            elif px is None:
                status = "MISSING"
                dq.add(("WARNING", "MISSING_PRICE", "POSITION", f"{aid}/{iid}", "price"))
            elif Decimal(px[1]) < 0:
                # A negative price is unusable: INVALID, unvalued; price and date shown as held.
                price_date, price = px
                status = "INVALID"
                dq.add(("ERROR", "INVALID_PRICE", "POSITION", f"{aid}/{iid}", "price"))
            else:
                price_date, price = px
                age = (S.d - dt.date.fromisoformat(price_date)).days
                status = "OK" if age <= 5 else "STALE"
                if status == "STALE":
                    dq.add(("WARNING", "STALE_PRICE", "POSITION", f"{aid}/{iid}", "price_date"))
                pccy = inst["ccy"]
                p = Decimal(price)
                if pccy == "GBX":
                    p = p * Decimal("0.01")
                    pccy = "GBP"
                r = S.rate(pccy, acc["ccy"])
                if r is None:
                    S.missing_fx(dq, pccy, acc["ccy"], "POSITION", f"{aid}/{iid}", "fx_rate")
                else:
                    fxd = fx_display(r)
                    mv = convert(quantity * p * Decimal(inst["qf"]), r)
                    pos_value[aid] = pos_value.get(aid, Decimal(0)) + mv
            pos_calc.append((aid, iid, qty, cost, pref, inst, price, price_date, status, fxd, mv))
        for (aid, ccy, bal) in sorted(c for c in S.cash if c[0] in acc_ids):
            acc = S.accounts[aid]
            r = S.rate(ccy if ccy != "GBX" else "GBP", acc["ccy"])
            b = Decimal(bal) * (Decimal("0.01") if ccy == "GBX" else 1)
            if r is None:
                S.missing_fx(dq, ccy if ccy != "GBX" else "GBP", acc["ccy"], "CASH", f"{aid}/{ccy}", "fx_rate")
                fxd = val = None
            else:
                fxd = fx_display(r)
                val = convert(b, r)
                cash_value[aid] = cash_value.get(aid, Decimal(0)) + val
            cl = S.clients.get(acc["client"])
            cref, cbad = ref(cl[3] if cl else None)
            aref, abad = ref(acc["ref"])
            cash_rows.append([date, firm, acc["client"], cref, aid, aref, acc["ccy"], ccy, bal, s(fxd), s(val)])
        for (aid, iid, qty, cost, pref, inst, price, price_date, status, fxd, mv) in pos_calc:
            acc = S.accounts[aid]
            total = pos_value.get(aid, Decimal(0)) + cash_value.get(aid, Decimal(0))
            weight = None
            if mv is not None and total != 0:
                weight = q(mv / total, Q6)
            ugl = None if mv is None else q(mv - Decimal(cost), Q2)
            pr, pbad = ref(pref)
            if pbad:
                dq.add(("WARNING", "INVALID_EXTERNAL_REF", "POSITION", f"{aid}/{iid}", "external_ref"))
            cl = S.clients.get(acc["client"])
            cref, _ = ref(cl[3] if cl else None)
            aref, _ = ref(acc["ref"])
            inst = inst or {"isin": None, "sedol": None, "name": None, "cls": None, "ccy": None}
            pos_rows.append([date, firm, acc["client"], cref, aid, aref, acc["wrapper"], acc["ccy"], iid,
                             s(inst["isin"]), s(inst["sedol"]), s(inst["name"]), s(inst["cls"]), qty, s(price),
                             s(inst["ccy"]), s(price_date), status, s(fxd), s(mv), cost, s(ugl), s(weight), pr])
        for a in accs:
            shown_accounts.add(a["id"])
            shown_clients.add(a["client"])
        # ---- transactions
        txn_rows = []
        ftx = [t for t in S.txns if t[1] in S.accounts and S.accounts[t[1]]["firm"] == firm]
        ftx.sort(key=lambda t: (t[1], t[4], t[0]))
        for (tid, aid, typ, status, td, sd, iid, qty, amt, ccy, tref) in ftx:
            acc = S.accounts[aid]
            shown_accounts.add(aid)
            # The project's decision: a client whose account appears only through its
            # transactions counts as shown (its id is in the transactions file).
            shown_clients.add(acc["client"])
            r = S.rate(ccy if ccy != "GBX" else "GBP", acc["ccy"])
            if r is None:
                aac = None
                S.missing_fx(dq, ccy if ccy != "GBX" else "GBP", acc["ccy"], "TRANSACTION", tid, "fx_rate")
            else:
                aac = convert(Decimal(amt) * (Decimal("0.01") if ccy == "GBX" else 1), r)
            tr, tbad = ref(tref)
            if tbad:
                dq.add(("WARNING", "INVALID_EXTERNAL_REF", "TRANSACTION", tid, "external_ref"))
            aref, _ = ref(acc["ref"])
            inst = S.instruments.get(iid) if iid else None
            txn_rows.append([date, firm, acc["client"], aid, aref, tid, tr, typ, status, td, sd, s(iid),
                             s(inst["isin"]) if inst else "", s(qty), amt, ccy, s(aac)])
        for aid in shown_accounts:
            if ref(S.accounts[aid]["ref"])[1]:
                dq.add(("WARNING", "INVALID_EXTERNAL_REF", "ACCOUNT", aid, "external_ref"))
        for cid in shown_clients:
            cl = S.clients.get(cid)
            if cl and ref(cl[3])[1]:
                dq.add(("WARNING", "INVALID_EXTERNAL_REF", "CLIENT", cid, "external_ref"))
        dq_rows = [[date, firm, sev, code, rt, rid, fld, ""] for (sev, code, rt, rid, fld) in
                   sorted(dq, key=lambda x: (x[0], x[1], x[2], x[3]))]
        d = os.path.join(outdir, firm, date)
        os.makedirs(d, exist_ok=True)
        write_csv(os.path.join(d, "positions.csv"), POS_H, pos_rows)
        write_csv(os.path.join(d, "cash.csv"), CASH_H, cash_rows)
        write_csv(os.path.join(d, "transactions.csv"), TXN_H, txn_rows)
        write_csv(os.path.join(d, "data_quality.csv"), DQ_H, dq_rows)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
