"""The readable plan: what `sfxero plan` prints and what each plan materialization shows in the UI.

One renderer for both: `row_lines` turns a plan row into a headline (action, both ids, the record's
name, the reason) and detail lines (each field's `old → new` with the rule that decided it, fields not
planned back, a conflict's candidates); `text_lines` and `markdown` only lay those lines out.
Names come from staging (`record_names`): the id is what the systems use, the name is what a person
recognises. Reads only; never writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa

from ..staging.state.plans import row_diff
from .plan import ACTIONS

#: Rows listed per action in the UI preview (the totals count every row).
PREVIEW_ROWS = 100
#: Staged tables that hold named records, and the column(s) that name them (first present wins).
NAME_TABLES = ("sf_account", "sf_opportunity", "sf_order", "sf_contact", "sf_lead", "sf_campaign", "xero_contact",
               "xero_invoice", "sf_campaign_member", "sf_product2", "xero_item")
_NAME_COLUMNS = (("name",), ("first_name", "last_name"), ("invoice_number",), ("order_number",), ("email",),
                 ("email_address",))


def _fmt(value) -> str:
    return "∅" if value is None else repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _name_expr(columns: set[str]) -> list[str] | None:
    for choice in _NAME_COLUMNS:
        if all(c in columns for c in choice):
            return list(choice)
    return None


def record_names(conn: sa.Connection, ids: Iterable[str]) -> dict[str, str]:
    """id -> a person's name for it (Account/Opportunity/Order/Contact name, Xero Contact name, invoice
    number), for the ids found in the staged tables."""
    wanted = sorted({i for i in ids if isinstance(i, str) and i})
    out: dict[str, str] = {}
    if not wanted:
        return out
    inspector = sa.inspect(conn)
    for table_name in NAME_TABLES:
        if not inspector.has_table(table_name):
            continue
        cols = _name_expr({c["name"] for c in inspector.get_columns(table_name)})
        if not cols:
            continue
        table = sa.table(table_name, sa.column("id"), *(sa.column(c) for c in cols))
        missing = [i for i in wanted if i not in out]
        for start in range(0, len(missing), 500):
            query = sa.select(table.c.id, *(table.c[c] for c in cols)).where(table.c.id.in_(missing[start:start + 500]))
            for row in conn.execute(query):
                name = " ".join(str(v) for v in row[1:] if v not in (None, ""))
                if name:
                    out[row[0]] = name
    return out


def row_lines(row, names: dict[str, str]) -> tuple[str, list[str]]:
    """(headline, detail lines) of one plan row (a namedtuple or mapping with the plan columns)."""
    get = row.get if isinstance(row, dict) else lambda k, d=None: getattr(row, k, d)
    source, target = get("source_id"), get("target_id")
    arrow = "→ Xero" if get("direction") == "sf_to_xero" else "→ Salesforce"
    label = f" '{names[source]}'" if source in names else ""
    target_label = f" '{names[target]}'" if target in names else ""
    headline = (f"{get('recipe')} {str(get('action')).upper():<8} {source}{label} {arrow} "
                f"{target or '(new)'}{target_label}: {get('reason')}")
    diff = row_diff(get("diff"))
    details = [f"{name}: {_fmt(change.get('old'))} → {_fmt(change.get('new'))}   [{change.get('rule')}]"
               for name, change in sorted((diff.get("fields") or {}).items())]
    details += [f"{name}: not planned back — {why}" for name, why in sorted((diff.get("suppressed") or {}).items())]
    if diff.get("candidates"):
        details.append("candidates: " + ", ".join(
            f"{c} '{names[c]}'" if c in names else str(c) for c in diff["candidates"]))
    return headline, details


def plan_names(conn: sa.Connection, rows: pd.DataFrame, per_action: int | None = None) -> dict[str, str]:
    """Names of every id a preview of `rows` shows (sources, targets, conflict candidates)."""
    shown = _shown(rows, per_action)
    ids = set(shown.source_id.dropna()) | set(shown.target_id.dropna())
    for diff in shown.loc[shown.action == "conflict", "diff"]:
        ids |= set(row_diff(diff).get("candidates") or [])
    return record_names(conn, ids)


def _shown(rows: pd.DataFrame, per_action: int | None) -> pd.DataFrame:
    rows = rows[rows.action != "skip"]
    return rows if per_action is None else rows.groupby(["recipe", "action"], sort=False).head(per_action)


def text_lines(rows: pd.DataFrame, names: dict[str, str]) -> list[str]:
    """The rows as `sfxero plan` prints them: a headline, then indented details."""
    out = []
    for row in rows.itertuples(index=False):
        headline, details = row_lines(row, names)
        out += [headline, *(f"    {d}" for d in details)]
    return out


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_").replace("<", "&lt;")


def markdown(recipe: str, title: str, rows: pd.DataFrame, names: dict[str, str],
             per_action: int = PREVIEW_ROWS) -> str:
    """One recipe's plan for the UI: totals per action, then up to `per_action` rows of each action."""
    counts = {a: int((rows.action == a).sum()) for a in ACTIONS}
    out = [f"### {recipe}: {_md(title)}", "", "| " + " | ".join(ACTIONS) + " |", "|" + "---:|" * len(ACTIONS),
           "| " + " | ".join(str(counts[a]) for a in ACTIONS) + " |"]
    for action in ACTIONS:
        if action == "skip" or not counts[action]:
            continue
        part = rows[rows.action == action].head(per_action)
        more = counts[action] - len(part)
        out += ["", f"#### {action} ({counts[action]})", ""]
        for row in part.itertuples(index=False):
            headline, details = row_lines(row, names)
            out.append(f"- {_md(headline)}")
            out += [f"    - {_md(d)}" for d in details]
        if more:
            out.append(f"- … and {more} more (`sfxero plan --json` lists all)")
    if not any(counts[a] for a in ACTIONS if a != "skip"):
        out += ["", f"Nothing to do: {counts['skip']} record(s) in sync."]
    return "\n".join(out) + "\n"
