"""The reconciliation report as one self-contained HTML page (what finance emails around).

`render` takes plain data and returns the page: no script, no stylesheet or font from the network,
charts as inline SVG: the in-sync share per recipe over the last 30 days, amounts per currency on both
sides, held records by reason; then the tables behind them (per recipe counts, why the amounts differ).
Every text from the data is escaped. Nothing here reads a database or calls an API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape

from .amount_causes import CAUSE_TITLES, CAUSES, CurrencyCauses

#: One colour per series (colour-blind safe, Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SALESFORCE, XERO = "#00A1E0", "#13B5EA"


@dataclass
class ReportData:
    generated_at: dt.datetime
    #: recipe → [(day, share of rows in sync, 0..1)], oldest first.
    history: dict[str, list[tuple[dt.date, float]]] = field(default_factory=dict)
    counts: list[dict] = field(default_factory=list)
    totals: list[dict] = field(default_factory=list)
    causes: list[CurrencyCauses] = field(default_factory=list)
    #: (reason, records held), most first.
    held_by_reason: list[tuple[str, int]] = field(default_factory=list)


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _text(x: float, y: float, s: str, anchor: str = "start", size: int = 11) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">{escape(s)}</text>'


def in_sync_chart(history: dict[str, list[tuple[dt.date, float]]], today: dt.date, days: int = 30) -> str:
    """One line per recipe: the share of its plan rows in sync, per day over the last `days` days."""
    w, h, left, right, top, bottom = 640, 240, 44, 90, 12, 28
    first = today - dt.timedelta(days=days - 1)
    pw, ph = w - left - right, h - top - bottom

    def x(day: dt.date) -> float:
        return left + pw * (day - first).days / max(days - 1, 1)

    def y(share: float) -> float:
        return top + ph * (1 - share)

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>']
    for share in (0, 0.5, 1):
        body += [f'<line x1="{left}" x2="{left + pw}" y1="{y(share):.1f}" y2="{y(share):.1f}" stroke="#e0e0e0"/>',
                 _text(left - 4, y(share) + 4, f"{share:.0%}", "end")]
    body += [_text(left, h - 8, first.isoformat()), _text(left + pw, h - 8, today.isoformat(), "end")]
    for i, (recipe, points) in enumerate(sorted(history.items())):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(x(d), y(s)) for d, s in points if first <= d <= today]
        if not pts:
            continue
        if len(pts) > 1:
            body.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="'
                        + " ".join(f"{px:.1f},{py:.1f}" for px, py in pts) + '"/>')
        body += [f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in pts]
        body += [f'<rect x="{left + pw + 10}" y="{top + 16 * i}" width="10" height="10" fill="{colour}"/>',
                 _text(left + pw + 24, top + 16 * i + 9, f"{recipe} {points[-1][1]:.0%}")]
    return _svg(w, h, body, f"Share of records in sync per recipe, last {days} days")


def amounts_chart(totals: list[dict]) -> str:
    """Per currency, two bars: what Salesforce invoices from, what Xero has invoiced (each currency to its own scale)."""
    row_h, w, label_w, bar_w = 46, 640, 60, 440
    body = []
    for i, t in enumerate(totals):
        sf = float(t.get("salesforce_won", 0)) + float(t.get("salesforce_orders", 0))
        xero = float(t.get("xero_invoiced", 0))
        top, scale = 8 + row_h * i, max(abs(sf), abs(xero), 1e-9)
        body.append(_text(0, top + 20, str(t["currency"]), size=13))
        for j, (label, value, colour) in enumerate((("Salesforce", sf, SALESFORCE), ("Xero", xero, XERO))):
            length = bar_w * abs(value) / scale
            body += [f'<rect class="bar" x="{label_w}" y="{top + 18 * j}" width="{length:.1f}" height="14" '
                     f'fill="{colour}" opacity="{1 if j == 0 else 0.6}"/>',
                     _text(label_w + length + 6, top + 18 * j + 11, f"{label} {value:,.2f}")]
    return _svg(w, max(row_h * len(totals) + 8, 30), body or [_text(0, 20, "no amounts staged")],
                "Amounts per currency: Salesforce vs Xero")


def held_chart(held: list[tuple[str, int]]) -> str:
    row_h, w, label_w, bar_w = 22, 640, 230, 330
    most = max((n for _, n in held), default=1)
    body = []
    for i, (reason, n) in enumerate(held):
        top, length = 6 + row_h * i, bar_w * n / most
        body += [_text(label_w - 6, top + 12, reason.replace("_", " "), "end"),
                 f'<rect class="bar" x="{label_w}" y="{top}" width="{length:.1f}" height="15" fill="#D55E00"/>',
                 _text(label_w + length + 6, top + 12, str(n))]
    return _svg(w, max(row_h * len(held) + 10, 30), body or [_text(0, 20, "no records held")], "Held records by reason")


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    cols = list(rows[0])
    head = "".join(f"<th>{escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _causes(causes: list[CurrencyCauses], per_cause: int = 25) -> str:
    parts = []
    for cc in causes:
        rows = [{"cause": CAUSE_TITLES[c], "amount": f"{cc.total(c):,.2f}", "records": len(cc.causes[c])}
                for c in CAUSES]
        if abs(cc.unexplained) >= 0.005:
            rows.append({"cause": "Not explained (the staged tables changed after the plan)",
                         "amount": f"{cc.unexplained:,.2f}", "records": ""})
        parts.append(f"<h3>{escape(cc.currency)}: difference {cc.difference:,.2f} (Salesforce − Xero)</h3>"
                     + _table(rows))
        for c in CAUSES:
            recs = sorted(cc.causes[c], key=lambda r: -abs(r.amount))
            if recs:
                items = "".join(f"<li>{escape(r.name)}: {r.amount:,.2f}"
                                + (f" <code>{escape(r.salesforce_id)}</code>" if r.salesforce_id else "")
                                + (f" <code>{escape(r.xero_id)}</code>" if r.xero_id else "") + "</li>"
                                for r in recs[:per_cause])
                more = f"<li>… and {len(recs) - per_cause} more</li>" if len(recs) > per_cause else ""
                parts.append(f"<details><summary>{escape(CAUSE_TITLES[c])} ({len(recs)})</summary>"
                             f"<ul>{items}{more}</ul></details>")
    return "".join(parts) or "<p><em>no amounts staged</em></p>"


STYLE = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
         "td:first-child,th:first-child{text-align:left}h2{margin-top:1.6em}code{font-size:90%}")


def render(data: ReportData) -> str:
    today = data.generated_at.date()
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>sfxero reconciliation report {today.isoformat()}</title><style>{STYLE}</style></head><body>",
        f"<h1>Salesforce ↔ Xero reconciliation, {escape(data.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</h1>",
        "<h2>Records in sync per recipe (last 30 days)</h2>", in_sync_chart(data.history, today),
        "<h2>Amounts per currency</h2>", amounts_chart(data.totals), _table(data.totals),
        "<h2>Why the amounts differ</h2>", _causes(data.causes),
        "<h2>Held records by reason</h2>", held_chart(data.held_by_reason),
        "<h2>Per recipe, today</h2>", _table(data.counts),
        "</body></html>",
    ])
