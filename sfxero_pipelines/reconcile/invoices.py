"""R2 (won Opportunity + line items → Xero ACCREC invoice) and R3 (invoice status/payments → Opportunity).

Matching: link (sync_link R2, or Xero_Invoice_Id__c written back) → invoice Reference = Opportunity Id.
Creates carry the full invoice body; a line whose ProductCode has no Xero Item, or a won
Opportunity without lines, is held with the reason. An approved (AUTHORISED/PAID) invoice whose
amount or currency no longer matches is a conflict: Xero does not allow editing it, a person decides.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..staging.schema import column_name
from . import load as L
from . import normalize as N
from . import plan as P
from .contacts import apply_filters
from .fields import FieldRule, compare, value_mapper
from .match import match

EDITABLE = {"DRAFT", "SUBMITTED"}
R3_FIELDS = [("Xero_Invoice_Status__c", "status", N.v_text), ("Xero_Amount_Paid__c", "amount_paid", N.v_money),
             ("Xero_Amount_Due__c", "amount_due", N.v_money), ("Xero_Fully_Paid_On__c", "fully_paid_on_date",
                                                                 lambda s: N.v_text(s).str.slice(0, 10).astype("object"))]
BACK_FIELDS = [("Xero_Invoice_Id__c", "id"), ("Xero_Invoice_Number__c", "invoice_number")]


@dataclass
class InvoicePlan:
    rows: pd.DataFrame
    stats: dict = field(default_factory=dict)


def _col(have: set[str], alias: str, c: str, conn) -> str:
    return f"{alias}.{L.q(conn, c)}" if c in have else "NULL"


def read_opportunities(conn: sa.Connection, extra: list[str]) -> pd.DataFrame:
    L.require_table(conn, "sf_opportunity")
    have = L.table_columns(conn, "sf_opportunity")
    cols = ["id", "modified_at", "invalid_reason", "name", "accountid", "stagename", "closedate", "amount",
            "currencyisocode", *[column_name(f) for f, _, _ in R3_FIELDS], *[column_name(f) for f, _ in BACK_FIELDS],
            *extra]
    cols = list(dict.fromkeys(cols))
    sel = [_col(have, "o", c, conn) for c in cols]
    names = list(cols)
    joins = ""
    for alias, recipe, on in (("l", "R2", "o.id"), ("al", "R1", "o.accountid")):
        if L.has_table(conn, "sync_link"):
            joins += f" LEFT JOIN sync_link {alias} ON {alias}.recipe = '{recipe}' AND {alias}.sf_id = {on}"
            sel.append(f"{alias}.xero_id")
        else:
            sel.append("NULL")
    names += ["link_id", "contact_link"]
    if L.has_table(conn, "sf_account"):
        ahave = L.table_columns(conn, "sf_account")
        joins += " LEFT JOIN sf_account a ON a.id = o.accountid"
        sel.append(_col(ahave, "a", "xero_contact_id__c", conn))
    else:
        sel.append("NULL")
    names.append("contact_field")
    won = L.bool_true(conn, "o.iswon") if "iswon" in have else "(1 = 0)"
    return L.frame(conn, f"SELECT {', '.join(sel)} FROM sf_opportunity o{joins} WHERE NOT o.is_deleted AND {won}", names)


def read_invoices(conn: sa.Connection) -> pd.DataFrame:
    cols = ["id", "modified_at", "invalid_reason", "invoice_number", "reference", "contact_id", "status", "sub_total",
            "total", "amount_due", "amount_paid", "currency_code", "fully_paid_on_date", "line_amount_types"]
    if not L.has_table(conn, "xero_invoice"):
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in cols})
    have = L.table_columns(conn, "xero_invoice")
    return L.frame(conn, f"SELECT {', '.join(_col(have, 'x', c, conn) for c in cols)} FROM xero_invoice x", cols)


def read_lines(conn: sa.Connection) -> pd.DataFrame:
    cols = ["id", "opportunityid", "product2id", "productcode", "name", "quantity", "unitprice", "discount",
            "description", "sortorder"]
    if not L.has_table(conn, "sf_opportunity_line_item"):
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in cols + ["p_code"]})
    have = L.table_columns(conn, "sf_opportunity_line_item")
    sel = [_col(have, "li", c, conn) for c in cols]
    join = ""
    if L.has_table(conn, "sf_product2"):
        join = " LEFT JOIN sf_product2 p ON p.id = li.product2id"
        sel.append("p.productcode")
    else:
        sel.append("NULL")
    return L.frame(conn, f"SELECT {', '.join(sel)} FROM sf_opportunity_line_item li{join} WHERE NOT li.is_deleted",
                   cols + ["p_code"])


def read_items(conn: sa.Connection) -> dict[str, dict]:
    if not L.has_table(conn, "xero_item"):
        return {}
    df = L.frame(conn, "SELECT code, sales_account_code, sales_tax_type FROM xero_item WHERE NOT is_deleted",
                 ["code", "account", "tax"])
    return {r.code: {"account": r.account, "tax": r.tax} for r in df.itertuples()}


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def _line_items(lines: pd.DataFrame, items: dict, rc) -> tuple[dict[str, list], dict[str, str]]:
    """Opportunity id → Xero LineItems, and Opportunity id → hold reason for unmappable lines."""
    out: dict[str, list] = {}
    bad: dict[str, str] = {}
    lines = lines.sort_values(["opportunityid", "sortorder", "id"], kind="mergesort", na_position="last")
    for r in lines.itertuples(index=False):
        code = r.productcode or r.p_code
        item = items.get(code) if code else None
        if item is None:
            bad.setdefault(r.opportunityid, f"line {r.id}: ProductCode {code!r} has no Xero Item" if code else
                           f"line {r.id} has no ProductCode to map to a Xero Item")
            continue
        line = {"ItemCode": code, "Description": r.description or r.name or code, "Quantity": _num(r.quantity),
                "UnitAmount": round(_num(r.unitprice), 2), "AccountCode": item["account"] or rc.default_account_code}
        if r.discount is not None and _num(r.discount):
            line["DiscountRate"] = _num(r.discount)
        tax = item["tax"] or rc.default_tax_type
        if tax:
            line["TaxType"] = tax
        out.setdefault(r.opportunityid, []).append(line)
    return out, bad


def plan_invoices(conn: sa.Connection, cfg: SfxeroConfig) -> InvoicePlan:
    rc, r3 = cfg.recipes.R2, cfg.recipes.R3
    filter_cols = [column_name(f.field) for f in rc.filters]
    opp = read_opportunities(conn, filter_cols)
    opp = opp[apply_filters(opp, rc.filters, "recipes.R2")].reset_index(drop=True)
    inv = read_invoices(conn)
    holds = L.open_holds(conn, ["sf_opportunity", "xero_invoice"])
    active = ~inv.status.isin(["DELETED", "VOIDED"])
    links = opp.loc[opp.link_id.notna(), ["id", "link_id"]].rename(columns={"id": "sf_id", "link_id": "xero_id"})
    m = match(opp, inv, links=links, sf_link_col="xero_invoice_id__c", active=active,
              keys=[("reference", lambda d: d.id, lambda d: N.v_text(d.reference))], target_label="Xero invoice")
    oi, xi = opp.set_index("id"), inv.set_index("id")
    pairs = m.pairs.reset_index(drop=True)
    s, x = oi.loc[pairs.sf_id], xi.loc[pairs.xero_id]
    pf = pd.DataFrame({"sf_id": pairs.sf_id.values, "xero_id": pairs.xero_id.values, "match": pairs["match"].values,
                       "link": pairs.link.values, "s_modified_at": s.modified_at.values,
                       "x_modified_at": x.modified_at.values, "amount": s.amount.values, "s_cur": s.currencyisocode.values,
                       "status": x.status.values, "sub_total": x.sub_total.values, "total": x.total.values,
                       "x_cur": x.currency_code.values, "s_invalid": s.invalid_reason.values,
                       "x_invalid": x.invalid_reason.values}, dtype="object")
    for sf_name, x_col, _ in R3_FIELDS:
        pf[f"s_{sf_name}"], pf[f"x_{sf_name}"] = s[column_name(sf_name)].values, x[x_col].values
    for sf_name, x_col in BACK_FIELDS:
        pf[f"s_{sf_name}"] = s[column_name(sf_name)].values
        pf[f"x_{sf_name}"] = pairs.xero_id.values if x_col == "id" else x[x_col].values
    h_o, h_x = holds["sf_opportunity"], holds["xero_invoice"]
    reason = pf.sf_id.map(lambda i: f"Opportunity {i} {h_o[i]}" if i in h_o else None).astype("object")
    reason = reason.fillna(pf.xero_id.map(lambda i: f"Xero invoice {i} {h_x[i]}" if i in h_x else None))
    reason = reason.fillna(pf.s_invalid.map(lambda r: f"Opportunity staged invalid: {r}" if isinstance(r, str) else None))
    held = reason.notna().to_numpy()
    ok = pf[~held].reset_index(drop=True)

    parts: list[pd.DataFrame] = []
    if rc.enabled:
        # Amount: the Opportunity amount against the invoice subtotal (Exclusive) or total (Inclusive).
        basis = ok.total if rc.line_amount_types == "Inclusive" else ok.sub_total
        amt_s, amt_x = N.v_money(ok.amount), N.v_money(basis)
        cur_s, cur_x = N.v_text(ok.s_cur).str.upper(), N.v_text(ok.x_cur).str.upper()
        amt_diff = ~((amt_s == amt_x) | (amt_s.isna() & amt_x.isna())).to_numpy()
        cur_diff = (cur_s.notna() & cur_x.notna() & (cur_s != cur_x)).to_numpy()
        changed = amt_diff | cur_diff
        editable = ok.status.isin(list(EDITABLE)).to_numpy()
        for action, mask in (("update", changed & editable), ("conflict", changed & ~editable)):
            idx = np.flatnonzero(mask)
            diffs, reasons = [], []
            for i in idx:
                fields = {}
                if amt_diff[i]:
                    fields["SubTotal" if rc.line_amount_types != "Inclusive" else "Total"] = {
                        "old": amt_x.iloc[i], "new": amt_s.iloc[i], "rule": "R2: Opportunity.Amount → invoice amount"}
                if cur_diff[i]:
                    fields["CurrencyCode"] = {"old": cur_x.iloc[i], "new": cur_s.iloc[i],
                                              "rule": "R2: Opportunity.CurrencyIsoCode → CurrencyCode"}
                d = {"match": ok["match"].iloc[i], "link": bool(ok.link.iloc[i]), "target_object": "Invoice", "fields": fields}
                if action == "update":
                    d["payload"] = {"InvoiceID": ok.xero_id.iloc[i], "LineItems": None}  # filled below
                diffs.append(d)
                reasons.append("amount or currency changed; invoice is still editable" if action == "update" else
                               f"invoice is {ok.status.iloc[i]} in Xero and can no longer be edited; "
                               "amount or currency differs — raise a credit note or correct by hand")
            parts.append(P.rows("R2", "sf_to_xero", action, ok.sf_id.iloc[idx], ok.xero_id.iloc[idx], diffs, reasons))
        sk = np.flatnonzero(~changed)
        parts.append(P.rows("R2", "sf_to_xero", "skip", ok.sf_id.iloc[sk], ok.xero_id.iloc[sk],
                            [{"match": ok["match"].iloc[i], "link": True} if ok.link.iloc[i] else None for i in sk],
                            [f"in sync (matched by {ok['match'].iloc[i]})" for i in sk]))
        # Write-back of the invoice id and number onto the Opportunity.
        back_rules = [FieldRule(key=n, sf_field=n, s_col=f"s_{n}", x_col=f"x_{n}", to_xero=N.v_text, compare=N.v_text,
                                to_sf=N.v_text, owner="xero", label=f"R2 write-back of the invoice {c}")
                      for n, c in BACK_FIELDS]
        back, _ = compare(ok, back_rules, written_xero={}, written_sf={})
        parts.append(_sf_rows("R2", ok, back, "write the Xero invoice id/number back to the Opportunity"))
    if r3.enabled:
        rules = [FieldRule(key=n, sf_field=n, s_col=f"s_{n}", x_col=f"x_{n}", to_xero=t, compare=t, to_sf=t,
                           owner="xero", label=f"R3: invoice {c} → {n}") for n, c, t in R3_FIELDS]
        entries, _ = compare(ok, rules, written_xero={}, written_sf=L.last_written(conn, "salesforce"))
        parts.append(_sf_rows("R3", ok, entries, "invoice status or payments changed in Xero"))
    if rc.enabled:
        hp = pf[held]
        parts.append(P.rows("R2", "sf_to_xero", "held", hp.sf_id, hp.xero_id, [{"match": v} for v in hp["match"]],
                            reason[held].tolist()))
        if len(m.broken):
            parts.append(P.rows("R2", "sf_to_xero", "held", m.broken.sf_id, m.broken.xero_id, None, m.broken.reason.tolist()))
        if len(m.conflicts):
            c = m.conflicts
            parts.append(P.rows("R2", "sf_to_xero", "conflict", c.sf_id, None,
                                [{"match": r, "candidates": list(k), "other_sf": list(o)} for r, k, o in
                                 zip(c.rule, c.candidates, c.other_sf)],
                                [f"ambiguous {r} match: Xero invoices {', '.join(k)}" for r, k in zip(c.rule, c.candidates)]))
        parts.append(_creates(conn, cfg, oi.loc[m.unmatched].reset_index(), holds["sf_opportunity"]))
    # Line items for updates: the full replacement lines, as for creates.
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else P.empty()
    upd = (rows.recipe == "R2") & (rows.action == "update") & (rows.direction == "sf_to_xero")
    if upd.any():
        lines, bad = _line_items(read_lines(conn), read_items(conn), rc)
        import json as _j
        for i in np.flatnonzero(upd.to_numpy()):
            d = _j.loads(rows.at[i, "diff"])
            d["payload"]["LineItems"] = lines.get(rows.at[i, "source_id"], [])
            rows.at[i, "diff"] = P.dumps(d)
    return InvoicePlan(rows=rows, stats={"matched_by": m.by_rule, "won_opportunities": len(opp), "xero_invoices": len(inv)})


def _sf_rows(recipe: str, ok: pd.DataFrame, entries, reason: str) -> pd.DataFrame:
    by: dict[int, dict] = {}
    for e in entries:
        by.setdefault(e.row, {})[e.field] = {"old": e.old, "new": e.new, "rule": e.rule}
    rr = sorted(by)
    return P.rows(recipe, "xero_to_sf", "update", [ok.xero_id.iloc[r] for r in rr], [ok.sf_id.iloc[r] for r in rr],
                  [{"match": ok["match"].iloc[r], "target_object": "Opportunity", "fields": by[r],
                    "payload": {"Opportunity": {"Id": ok.sf_id.iloc[r], **{k: v["new"] for k, v in by[r].items()}}}}
                   for r in rr], reason)


def write_back_fields(cfg: SfxeroConfig) -> dict[str, str]:
    """Opportunity field → path in Xero's answer to the invoice create, written back in the same
    push step (R2's id and number; R3's status and amounts so the next plan has nothing to add)."""
    fields = {"Xero_Invoice_Id__c": "InvoiceID", "Xero_Invoice_Number__c": "InvoiceNumber"}
    if cfg.recipes.R3.enabled:
        fields.update({"Xero_Invoice_Status__c": "Status", "Xero_Amount_Paid__c": "AmountPaid",
                       "Xero_Amount_Due__c": "AmountDue"})
    return fields


def _creates(conn: sa.Connection, cfg: SfxeroConfig, opp: pd.DataFrame, holds: dict) -> pd.DataFrame:
    if opp.empty:
        return P.empty()
    rc = cfg.recipes.R2
    lines, bad = _line_items(read_lines(conn), read_items(conn), rc)
    status_map = value_mapper(cfg.mapping.value_maps.get(rc.status_map)) if rc.status_map else None
    statuses = status_map(opp.stagename).tolist() if status_map else [None] * len(opp)
    back = write_back_fields(cfg)
    created, held = [], []
    for j, r in enumerate(opp.itertuples(index=False)):
        contact_id = r.contact_link or r.contact_field
        why = (f"Opportunity {r.id} {holds[r.id]}" if r.id in holds else
               f"Opportunity staged invalid: {r.invalid_reason}" if isinstance(r.invalid_reason, str) else
               bad.get(r.id) or (None if r.id in lines else "won Opportunity has no line items to invoice") or
               (None if r.accountid else "Opportunity has no Account, so no Xero Contact to invoice"))
        if why:
            held.append((r.id, why))
            continue
        close = dt.date.fromisoformat(str(r.closedate)[:10]) if r.closedate else None
        status = statuses[j] if statuses[j] in ("DRAFT", "SUBMITTED", "AUTHORISED") else rc.status
        body = {"Type": "ACCREC", "Reference": r.id, "Status": status, "LineAmountTypes": rc.line_amount_types,
                # Contact by ContactID when linked; else by ContactNumber = Account Id (R1 creates it first).
                "Contact": {"ContactID": contact_id} if contact_id else {"ContactNumber": r.accountid},
                "LineItems": lines[r.id]}
        if close:
            body["Date"] = close.isoformat()
            body["DueDate"] = (close + dt.timedelta(days=rc.due_days)).isoformat()
        if r.currencyisocode:
            body["CurrencyCode"] = r.currencyisocode
        created.append((r.id, {"match": None, "link": True, "target_object": "Invoice",
                               "depends_on": None if contact_id else {"recipe": "R1", "source_id": r.accountid},
                               "fields": {k: {"old": None, "new": v, "rule": "R2 mapping"} for k, v in sorted(body.items())},
                               "payload": body, "write_back": {"sobject": "Opportunity", "id": r.id, "fields": back}}))
    out = [P.rows("R2", "sf_to_xero", "create", [c[0] for c in created], None, [c[1] for c in created],
                  "won Opportunity has no Xero invoice (link, Reference)")]
    if held:
        out.append(P.rows("R2", "sf_to_xero", "held", [h[0] for h in held], None, None, [h[1] for h in held]))
    return pd.concat(out, ignore_index=True)
