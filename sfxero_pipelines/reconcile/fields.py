"""Field-level comparison of matched pairs: mapping, ownership, last-writer-wins and echo suppression.

For each mapped field, both sides are normalised the same way (so "+44 20 7946 0000" and
"+442079460000" are equal, as are "United Kingdom" and "GB"); only real differences become diff
entries. Who wins a difference:
- owner `salesforce` → Salesforce's value is planned to Xero; `xero` → Xero's value to Salesforce;
- `last_writer` → the record modified last wins.
Echo suppression: a value equal to what we last wrote to that system (the ledger) is ours, not a
user's change. It is never planned back the other way; under `last_writer` the other side wins instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import normalize


@dataclass(frozen=True)
class FieldRule:
    key: str              # plan field name on the target of the forward direction (Xero field)
    sf_field: str         # Salesforce field name (back direction key)
    s_col: str            # column in the pair frame holding the Salesforce value
    x_col: str            # column holding the Xero value
    to_xero: Callable[[pd.Series], pd.Series]    # Salesforce value → value to write to Xero (mapped)
    compare: Callable[[pd.Series], pd.Series]    # Xero value → comparable form (same space as to_xero)
    to_sf: Callable[[pd.Series], pd.Series]      # Xero value → value to write to Salesforce
    owner: str            # salesforce | xero | last_writer
    label: str            # "Phone→Phones.DEFAULT (phone E.164)"
    #: What two transformed values compare by, when not themselves (phones: a number kept as the
    #: source gave it compares by its digits, see normalize.phone_key).
    same_key: Callable[[pd.Series], pd.Series] | None = None
    #: The column holding the Salesforce value as Salesforce holds it, when `s_col` holds it already
    #: mapped (a declared recipe maps every record up front): a change brought back shows it as `old`.
    s_old: str | None = None


def eq(a: pd.Series, b: pd.Series) -> np.ndarray:
    an, bn = a.isna().to_numpy(), b.isna().to_numpy()
    same = (a.astype("object").to_numpy() == b.astype("object").to_numpy())
    return np.where(an | bn, an & bn, same).astype(bool)


def _ts(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True, errors="coerce", format="mixed")


@dataclass
class Entry:
    row: int          # position in the pair frame
    direction: str    # sf_to_xero | xero_to_sf
    field: str        # field name on the written side
    old: object
    new: object
    rule: str


def compare(pairs: pd.DataFrame, rules: list[FieldRule], *, written_xero: dict, written_sf: dict,
            sf_id_col: str = "sf_id", xero_id_col: str = "xero_id", s_mod: str = "s_modified_at",
            x_mod: str = "x_modified_at") -> tuple[list[Entry], dict[int, dict[str, str]]]:
    """Diff entries for every differing field of every pair, and suppressed echoes per row."""
    entries: list[Entry] = []
    suppressed: dict[int, dict[str, str]] = {}
    for rule in rules:
        # Identical raw values normalise identically: only rows whose raw values differ are
        # transformed (most pairs are in sync; this keeps 1M pairs to a few vectorised passes).
        cand = np.flatnonzero(~eq(pairs[rule.s_col], pairs[rule.x_col]))
        if not len(cand):
            continue
        s_val = rule.to_xero(pairs[rule.s_col].iloc[cand])
        x_cmp = rule.compare(pairs[rule.x_col].iloc[cand])
        key = rule.same_key or _itself
        differ = cand[~eq(key(s_val), key(x_cmp))]
        if not len(differ):
            continue
        s_val = s_val.loc[pairs.index[differ]]
        x_cmp = x_cmp.loc[pairs.index[differ]]
        sub_s, sub_x = s_val, x_cmp
        if rule.owner == "salesforce":
            to_x = np.ones(len(differ), bool)
            why = np.array([f"{rule.label}; owner salesforce"] * len(differ), dtype=object)
        elif rule.owner == "xero":
            to_x = np.zeros(len(differ), bool)
            why = np.array([f"{rule.label}; owner xero"] * len(differ), dtype=object)
        else:
            sm, xm = _ts(pairs[s_mod].iloc[differ]), _ts(pairs[x_mod].iloc[differ])
            # Ties (and unknown times) go to Salesforce, the system of record for accounts.
            to_x = ~(xm > sm).fillna(False).to_numpy()
            why = np.array([f"{rule.label}; last writer: {'salesforce' if t else 'xero'} modified {s if t else x}"
                            for t, s, x in zip(to_x, pairs[s_mod].iloc[differ], pairs[x_mod].iloc[differ])], dtype=object)
        # Echo suppression: compare the side that would win with what we last wrote to it.
        xero_ids = pairs[xero_id_col].iloc[differ].tolist()
        sf_ids = pairs[sf_id_col].iloc[differ].tolist()
        ours_x = [written_xero.get((x, rule.key), _MISSING) for x in xero_ids]
        ours_s = [written_sf.get((s, rule.sf_field), _MISSING) for s in sf_ids]
        echo_x = _is_echo(sub_x, ours_x, rule.compare, key)   # Xero's value is our own write
        echo_s = _is_echo(sub_s, ours_s, rule.to_xero, key)   # Salesforce's value is our own write
        # Arrays, not .iloc per element: the loop below runs once per differing field of every pair.
        x_for_sf = rule.to_sf(pairs[rule.x_col].iloc[differ]).to_numpy()
        s_raw, x_raw = pairs[rule.s_old or rule.s_col].iloc[differ].to_numpy(), pairs[rule.x_col].iloc[differ].to_numpy()
        sub_s = sub_s.to_numpy()
        for j, row in enumerate(differ):
            forward = bool(to_x[j])
            if forward and echo_s[j] or not forward and echo_x[j]:
                if rule.owner == "last_writer" and not (echo_s[j] and echo_x[j]):
                    forward = not forward
                    why[j] = f"{rule.label}; last writer: {'salesforce' if forward else 'xero'} " \
                             f"(the other side's newer value is our own write)"
                else:
                    side = "Salesforce" if forward else "Xero"
                    suppressed.setdefault(int(row), {})[rule.key] = (
                        f"{side} holds the value we wrote ({rule.label}); not planned back")
                    continue
            new = _plain(sub_s[j]) if forward else _plain(x_for_sf[j])
            if new is None or new == "":
                # An empty value on the winning side is not an instruction to erase the other side's
                # value (a Xero contact without an email must not wipe the Salesforce Contact's).
                continue
            if forward:
                entries.append(Entry(int(row), "sf_to_xero", rule.key, _plain(x_raw[j]), new, str(why[j])))
            else:
                entries.append(Entry(int(row), "xero_to_sf", rule.sf_field, _plain(s_raw[j]), new, str(why[j])))
    return entries, suppressed


_MISSING = object()


def _itself(s: pd.Series) -> pd.Series:
    return s


def _is_echo(values: pd.Series, ours: list, norm: Callable[[pd.Series], pd.Series],
             key: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    have = np.array([o is not _MISSING for o in ours])
    if not have.any():
        return have
    ours_norm = norm(pd.Series([None if o is _MISSING else o for o in ours], index=values.index, dtype="object"))
    return have & eq(key(values), key(ours_norm))


def _plain(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


# ---- transforms from config ----------------------------------------------------------------------

def value_mapper(table: dict[str, str] | None) -> Callable[[pd.Series], pd.Series]:
    if not table:
        return lambda s: s
    lower = {k.strip().casefold(): v for k, v in table.items()}

    def apply(s: pd.Series) -> pd.Series:
        t = s.astype("object")
        mapped = t.map(lambda v: lower.get(v.strip().casefold(), v) if isinstance(v, str) else v)
        return mapped
    return apply


def inverse_mapper(table: dict[str, str] | None) -> Callable[[pd.Series], pd.Series]:
    if not table:
        return lambda s: s
    inv: dict[str, str] = {}
    for k, v in sorted(table.items()):
        inv.setdefault(v.strip().casefold(), k)  # first (sorted) name wins: deterministic
    return lambda s: s.astype("object").map(lambda v: inv.get(v.strip().casefold(), v) if isinstance(v, str) else v)


def same_key(kind: str) -> Callable[[pd.Series], pd.Series] | None:
    """What values of a transform compare by, when not themselves (FieldRule.same_key)."""
    return normalize.v_phone_key if kind == "phone" else None
