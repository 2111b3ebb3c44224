"""R6: Xero Contacts with overdue balances → members of a Salesforce Campaign (dunning from finance data).

Who is overdue: a Xero Contact (not archived) owing at least `recipes.R6.min_overdue_amount` on
AUTHORISED ACCREC invoices that are at least `min_days_overdue` days past their due date, in the
organisation's base currency (AmountDue / CurrencyRate). Days count to the day the Xero invoices
were last extracted, not to the wall clock: the plan depends on staging alone, so the same staging
gives the same plan.

Who that is in Salesforce (docs/architecture.md §5: link table → Contact email):
- linked (sync_link R1, else Account.Xero_Contact_Id__c) to an Account → the Account's primary
  Contact (the earliest-created Contact with an email, else the earliest: as R1 reads it);
- not linked → the Contact with the Xero Contact's email, else the unconverted Lead with it.
Two candidates (two Accounts, two Contacts or two Leads with the email) are a conflict, never a guess.

R6 runs on the declared-recipe engine (config/r6_declared.py: `recipes.R6` as a declaration of Xero
Contacts → CampaignMember). This module is its read and match, what no declaration expresses: who
owes (`Overdue`) and who that is (`Person.ContactId` / `Person.LeadId`), handed to the engine as a pass
(`engine_pass`). The engine's steps (declared_sf.plan_sf_pass) pair and plan, in R6's words (its rules
and reasons: the ledger keys are those of the code planner this replaced). Rows (all `xero_to_sf`,
source_id = Xero ContactID, target_object CampaignMember):
- create: overdue, and the person is not a member → payload {"CampaignMember": {CampaignId,
  ContactId|LeadId, Status}}, the Status (`member_status`) on the add only;
- skip: overdue and already a member (target_id = the member);
- delete: a member who belongs to Xero Contacts none of which is overdue any more (paid), as
  `recipes.R6.deletes` says (archive: removed; hold_for_approval: waits for `sfxero approve ROW_ID`;
  ignore: kept) → payload {"CampaignMember": {"Id"}}. A member belongs to a Xero Contact when it is a
  Contact of the linked Account, or (no link) has its email. Members belonging to no Xero Contact are
  not R6's and are left alone;
- conflict: two candidates; held: nobody to add, or a held/invalid record on either side.
Several Xero Contacts resolving to one person give one row (the smallest ContactID, all listed).

Steps: `read_inputs` → `match_people` → `pair_people` / `memberships` → `engine_pass` → the engine's
pair, compare and emit (`plan_campaigns`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..config import SfxeroConfig
from ..config.declared import DeclaredRecipe
from ..config.r6_declared import OVERDUE, PERSON_CONTACT, PERSON_LEAD, r6_declaration, r6_wording
from ..errors import ConfigError
from ..recipes import R1, R6
from ..staging.state import links
from . import load, normalize, plan, primary_contact
from .declared import staged_describe
from .declared_sf import (SfPass, field_values, filtered, match_sf, place_values, plan_sf_pass,
                          planned_pairs)

_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


@dataclass(frozen=True)
class Overdue:
    amount: float
    invoices: int
    oldest_days: int


# ---- reading -----------------------------------------------------------------------------------

def resolve_campaign(conn: sa.Connection, wanted: str) -> tuple[str, str]:
    """(Id, Name) of the configured Campaign, given by Id (15 or 18 characters) or exact Name."""
    key = f"recipes.{R6}.campaign"
    if not load.has_table(conn, "sf_campaign"):
        raise ConfigError(key, "Campaigns are not staged yet (sf_campaign): add Campaign to extract.salesforce.objects "
                               "and run `sfxero sync --stage extract`")
    df = load.frame(conn, "SELECT id, name FROM sf_campaign WHERE NOT is_deleted ORDER BY id", ["id", "name"])
    wanted = wanted.strip()
    if _SF_ID.match(wanted):
        hit = df[(df.id == wanted) | ((len(wanted) == 15) & (df.id.str.slice(0, 15) == wanted))]
        if len(hit) == 1:
            return hit.id.iloc[0], hit.name.iloc[0]
    hit = df[df.name == wanted]
    if hit.empty:
        hit = df[df.name.fillna("").str.strip().str.casefold() == wanted.casefold()]
    if len(hit) > 1:
        raise ConfigError(key, f"{len(hit)} Campaigns are named '{wanted}' ({', '.join(hit.id)}): give the Id")
    if hit.empty:
        raise ConfigError(key, f"no live Campaign with the Id or Name '{wanted}' in staging (sf_campaign)")
    return hit.id.iloc[0], hit.name.iloc[0]


def as_of_date(conn: sa.Connection) -> dt.date:
    """The day ages are counted to: when the Xero invoices were last extracted."""
    stamps = []
    if load.has_table(conn, "extract_state"):
        stamps += [r[0] for r in conn.exec_driver_sql(
            "SELECT updated_at FROM extract_state WHERE table_name = 'xero_invoice'").fetchall()]
    stamps += [conn.exec_driver_sql("SELECT max(extracted_at) FROM xero_invoice").scalar()]
    parsed = [pd.to_datetime(str(s), utc=True, format="mixed") for s in stamps if s is not None]
    return max(parsed).date() if parsed else dt.datetime.now(dt.timezone.utc).date()


def overdue_contacts(conn: sa.Connection, rc, as_of: dt.date) -> dict[str, Overdue]:
    """Xero ContactID → what it owes past the configured age, for those at or over the threshold."""
    inv = load.frame(conn, "SELECT contact_id, due_date, amount_due, currency_rate FROM xero_invoice "
                        "WHERE NOT is_deleted AND status = 'AUTHORISED' AND amount_due > 0 AND due_date IS NOT NULL",
                  ["contact_id", "due_date", "amount_due", "currency_rate"])
    if inv.empty:
        return {}
    due = pd.to_datetime(inv.due_date.str.slice(0, 10), format="%Y-%m-%d", errors="coerce").dt.date
    age = pd.Series([(as_of - d).days if isinstance(d, dt.date) else -1 for d in due], index=inv.index)
    inv = inv.assign(age=age)[age >= rc.min_days_overdue]
    rate = pd.to_numeric(inv.currency_rate, errors="coerce")
    rate = rate.where(rate > 0, 1.0).fillna(1.0)
    inv = inv.assign(base=pd.to_numeric(inv.amount_due, errors="coerce").fillna(0.0) / rate)
    out: dict[str, Overdue] = {}
    for cid, g in inv.groupby("contact_id", sort=True):
        amount = round(float(g.base.sum()), 2)
        if amount >= rc.min_overdue_amount and amount > 0:
            out[cid] = Overdue(amount, len(g), int(g.age.max()))
    return out


def _flag(v) -> bool:
    return v is not None and str(v).strip().lower() in ("t", "true", "1")


def read_links(conn: sa.Connection, planned: pd.DataFrame | None = None) -> pd.DataFrame:
    """Live Account → linked Xero ContactID: sync_link R1, else the Xero_Contact_Id__c written back, else
    the pair R1's plan makes (this pass's `planned`, else its latest stored: the push links it), so a
    customer R1 matches is found in the cycle that matches it."""
    if not load.has_table(conn, "sf_account"):
        return pd.DataFrame({"account_id": pd.Series([], dtype="object"), "xero_id": pd.Series([], dtype="object")})
    have = load.table_columns(conn, "sf_account")
    exprs = []
    join = ""
    if links.has_links_table(conn):
        join = links.link_join_sql("l", R1, "a.id")
        exprs.append("l.xero_id")
    if "xero_contact_id__c" in have:
        exprs.append("nullif(trim(a.xero_contact_id__c), '')")
    x = f"coalesce({', '.join(exprs)})" if len(exprs) > 1 else exprs[0] if exprs else "NULL"
    out = load.frame(conn, f"SELECT a.id, {x} FROM sf_account a{join} WHERE NOT a.is_deleted", ["account_id", "xero_id"])
    planned_links = {s: x for x, s in planned_pairs(conn, R1, planned).items()}
    if planned_links:
        out["xero_id"] = out.xero_id.where(out.xero_id.notna(), out.account_id.map(planned_links))
    return out[out.xero_id.notna().to_numpy()].reset_index(drop=True)


def read_people(conn: sa.Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Contacts: id, accountid, email, invalid_reason, rn = 1 for the Account's primary Contact;
    unconverted Leads: id, email, invalid_reason); emails normalised in `key`."""
    contacts = pd.DataFrame({c: pd.Series([], dtype="object") for c in ("id", "accountid", "email", "invalid_reason", "rn")})
    if load.has_table(conn, "sf_contact"):
        email = "email" if "email" in load.table_columns(conn, "sf_contact") else "NULL"
        contacts = load.frame(conn, f"SELECT id, accountid, {email}, invalid_reason, {primary_contact.rank_sql(conn)} "
                                    "FROM sf_contact WHERE NOT is_deleted",
                              ["id", "accountid", "email", "invalid_reason", "rn"])
    leads = pd.DataFrame({c: pd.Series([], dtype="object") for c in ("id", "email", "invalid_reason")})
    if load.has_table(conn, "sf_lead"):
        have = load.table_columns(conn, "sf_lead")
        conv = "isconverted" if "isconverted" in have else "NULL"
        email = "email" if "email" in have else "NULL"
        leads = load.frame(conn, f"SELECT id, {email}, invalid_reason, {conv} FROM sf_lead WHERE NOT is_deleted",
                           ["id", "email", "invalid_reason", "converted"])
        unconverted = np.array([not _flag(v) for v in leads.converted], dtype=bool)
        leads = leads.loc[unconverted, ["id", "email", "invalid_reason"]]
    contacts = contacts.assign(key=normalize.v_email(contacts.email), primary=contacts.rn.astype(str).eq("1"))
    leads = leads.assign(key=normalize.v_email(leads.email))
    return contacts.reset_index(drop=True), leads.reset_index(drop=True)


def read_members(conn: sa.Connection, campaign_id: str) -> pd.DataFrame:
    if not load.has_table(conn, "sf_campaign_member"):
        raise ConfigError(f"recipes.{R6}", "Campaign members are not staged yet (sf_campaign_member): add CampaignMember "
                                        "to extract.salesforce.objects and run `sfxero sync --stage extract`")
    have = load.table_columns(conn, "sf_campaign_member")
    cols = [c if c in have else "NULL" for c in ("contactid", "leadid")]
    return load.frame(conn, f"SELECT id, {cols[0]}, {cols[1]} FROM sf_campaign_member WHERE NOT is_deleted "
                         f"AND campaignid = '{campaign_id}' ORDER BY id", ["id", "contactid", "leadid"])


# ---- planning ------------------------------------------------------------------------------------

def _lists(keys: pd.Series, values: pd.Series) -> dict[str, list[str]]:
    """key → sorted distinct values (None keys left out)."""
    out: dict[str, set[str]] = {}
    for k, v in zip(keys, values):
        if k is not None and v is not None:
            out.setdefault(k, set()).add(v)
    return {k: sorted(v) for k, v in out.items()}


@dataclass
class CampaignInputs:
    """What R6 reads: the Campaign, who owes what, both systems' people and the current members."""

    campaign_id: str
    campaign_name: str
    as_of: dt.date
    #: Xero ContactID → what it owes, for those at or over the threshold.
    owing: dict[str, Overdue]
    #: Xero Contacts: id, email, invalid_reason, deleted (bool), key (normalised email).
    xero: pd.DataFrame
    #: Live Account → linked Xero ContactID.
    links: pd.DataFrame
    contacts: pd.DataFrame
    leads: pd.DataFrame
    members: pd.DataFrame
    #: Open holds on xero_contact, sf_contact, sf_lead and sf_campaign_member (table → id → reason).
    holds: dict[str, dict[str, str]]


def read_inputs(conn: sa.Connection, cfg: SfxeroConfig, planned: pd.DataFrame | None = None) -> CampaignInputs:
    """Read step (`planned`: the plans built before R6's in the same pass, R1's among them)."""
    rc = cfg.recipes.R6
    campaign_id, campaign_name = resolve_campaign(conn, rc.campaign or "")
    if not _SF_ID.match(campaign_id):
        raise ConfigError(f"recipes.{R6}.campaign", f"staged Campaign id {campaign_id!r} is not a Salesforce id")
    load.require_table(conn, "xero_contact")
    load.require_table(conn, "xero_invoice")
    as_of = as_of_date(conn)
    owing = overdue_contacts(conn, rc, as_of)
    xc = load.frame(conn, "SELECT id, email_address, invalid_reason, is_deleted FROM xero_contact ORDER BY id",
                    ["id", "email", "invalid_reason", "deleted"])
    xc = xc.assign(key=normalize.v_email(xc.email), deleted=[_flag(v) for v in xc.deleted])
    contacts, leads = read_people(conn)
    # A membership write Salesforce rejected is held on `sf_campaign_member` under the Xero Contact's
    # id (the push does it), so it holds this recipe's row only, not the Contact's other recipes.
    holds = load.open_holds(conn, ["xero_contact", "sf_contact", "sf_lead", "sf_campaign_member"])
    return CampaignInputs(campaign_id, campaign_name, as_of, owing, xc, read_links(conn, planned), contacts, leads,
                          read_members(conn, campaign_id), holds)


@dataclass
class People:
    """Match step's result: who each Xero Contact is in Salesforce."""

    #: Xero ContactID → the Accounts linked to it.
    accounts_of: dict[str, list[str]]
    #: Person (Contact or Lead id) → the Xero Contacts it belongs to (for removals).
    belongs: dict[str, set[str]]
    #: Overdue Xero ContactID → ("ok", kind, person, match, account) | ("conflict", match, candidates, why)
    #: | ("held", match, why).
    resolved: dict[str, tuple]
    #: Contact or Lead id → why it was staged invalid.
    invalid: dict[str, str]


def match_people(inputs: CampaignInputs) -> People:
    """Match step (docs/architecture.md §5): a linked Account's primary Contact, else the one Contact,
    else the one unconverted Lead, with the Xero Contact's email; two candidates are a conflict."""
    contacts, leads = inputs.contacts, inputs.leads
    accounts_of = _lists(inputs.links.xero_id, inputs.links.account_id)
    primary = contacts[contacts.primary & contacts.accountid.notna()].set_index("accountid").id.to_dict()
    contacts_of_account = _lists(contacts.accountid, contacts.id)
    contacts_by_email = _lists(contacts.key, contacts.id)
    leads_by_email = _lists(leads.key, leads.id)
    invalid = {**contacts.set_index("id").invalid_reason.dropna().to_dict(),
               **leads.set_index("id").invalid_reason.dropna().to_dict()}
    belongs: dict[str, set[str]] = {}
    resolved: dict[str, tuple] = {}
    for x_id, key, deleted in zip(inputs.xero.id, inputs.xero.key, inputs.xero.deleted):
        accounts = accounts_of.get(x_id)
        if accounts:
            for a in accounts:
                for c in contacts_of_account.get(a, []):
                    belongs.setdefault(c, set()).add(x_id)
        elif key:
            for p in (*contacts_by_email.get(key, ()), *leads_by_email.get(key, ())):
                belongs.setdefault(p, set()).add(x_id)
        if x_id not in inputs.owing or deleted:
            continue
        if accounts:
            if len(accounts) > 1:
                resolved[x_id] = ("conflict", "link", accounts,
                                  f"linked to {len(accounts)} Accounts ({', '.join(accounts)}): fix the duplicate link")
            elif accounts[0] in primary:
                resolved[x_id] = ("ok", "ContactId", primary[accounts[0]], "link", accounts[0])
            else:
                resolved[x_id] = ("held", "link", f"linked Account {accounts[0]} has no Contact to add to the Campaign")
        elif not key:
            resolved[x_id] = ("held", None, "no linked Account and no email to find a Contact or Lead by")
        else:
            found = contacts_by_email.get(key, [])
            kind = "ContactId"
            if not found:
                found, kind = leads_by_email.get(key, []), "LeadId"
            if len(found) == 1:
                resolved[x_id] = ("ok", kind, found[0], "email", None)
            elif found:
                what = "Contacts" if kind == "ContactId" else "Leads"
                resolved[x_id] = ("conflict", "email", found, f"{len(found)} {what} have the email {key}")
            else:
                resolved[x_id] = ("held", "email", f"no linked Account, and no Salesforce Contact or Lead has the "
                                                    f"email {key}")
    return People(accounts_of, belongs, resolved, invalid)


def memberships(members: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """(person → its membership id, the first if staged twice; person → ContactId | LeadId)."""
    member_of: dict[str, str] = {}
    member_kind: dict[str, str] = {}
    for m_id, c_id, l_id in zip(members.id, members.contactid, members.leadid):
        person = c_id or l_id
        if person and person not in member_of:
            member_of[person] = m_id
            member_kind[person] = "ContactId" if c_id else "LeadId"
    return member_of, member_kind


def xero_hold_check(inputs: CampaignInputs) -> Callable[[str], str | None]:
    """Why a Xero Contact's row is held: its own hold, a rejected membership write, or invalid staging."""
    h_x, h_m = inputs.holds["xero_contact"], inputs.holds["sf_campaign_member"]
    xc_invalid = inputs.xero.set_index("id").invalid_reason.dropna().to_dict()

    def x_hold(x_id: str) -> str | None:
        if x_id in h_x:
            return f"Xero Contact {x_id} {h_x[x_id]}"
        if x_id in h_m:
            return f"Campaign membership for Xero Contact {x_id} {h_m[x_id]}"
        if x_id in xc_invalid:
            return f"Xero Contact staged invalid: {xc_invalid[x_id]}"
        return None

    return x_hold


def pair_people(people: People, x_hold: Callable[[str], str | None]) -> tuple[dict[str, list[str]], list[str]]:
    """Pair step: (person → the overdue Xero Contacts resolving to it, sorted; the overdue Xero
    Contacts that resolve to nobody: conflicts, held, or held by `x_hold`)."""
    by_person: dict[str, list[str]] = {}
    unpaired: list[str] = []
    for x_id in sorted(people.resolved):
        state = people.resolved[x_id]
        if state[0] == "ok" and x_hold(x_id) is None:
            by_person.setdefault(state[2], []).append(x_id)
        else:
            unpaired.append(x_id)
    return by_person, unpaired


class Owing:
    """How a row words (`owes(xs)`) and records (`owes.info(xs)`) what its Xero Contacts owe."""

    def __init__(self, owing: dict[str, Overdue], as_of: dt.date) -> None:
        self.owing, self.as_of = owing, as_of

    def __call__(self, xs: list[str]) -> str:
        owing = self.owing
        amount = round(sum(owing[x].amount for x in xs), 2)
        n = sum(owing[x].invoices for x in xs)
        days = max(owing[x].oldest_days for x in xs)
        return (f"owes {amount:,.2f} overdue ({n} invoice{'s' if n != 1 else ''}, oldest {days} days past due "
                f"on {self.as_of.isoformat()})")

    def info(self, xs: list[str]) -> dict:
        owing = self.owing
        return {"amount": round(sum(owing[x].amount for x in xs), 2), "invoices": sum(owing[x].invoices for x in xs),
                "oldest_days": max(owing[x].oldest_days for x in xs), "as_of": self.as_of.isoformat()}


def _records(rows: list[tuple]) -> pd.DataFrame:
    """Xero Contacts as the engine reads a collection (`declared_sf.SfPass.src`), with the fields R6's pass
    computes: what each owes (`Overdue`), who it is (`Person.ContactId` / `Person.LeadId`), and `_missing`,
    why nothing may be written for it."""
    cols = ["id", f"x:{OVERDUE}", f"x:{PERSON_CONTACT}", f"x:{PERSON_LEAD}", "_missing"]
    df = pd.DataFrame(rows, columns=cols, dtype="object") if rows else \
        pd.DataFrame({c: pd.Series([], dtype="object") for c in cols})
    return df.assign(modified_at=None, invalid_reason=None, is_deleted=False, _active=True,
                     **{"x:Status": None, "x:ContactStatus": None})


def engine_pass(cfg: SfxeroConfig, inputs: CampaignInputs, r: DeclaredRecipe, kinds: dict[str, str]) -> SfPass:
    """R6's read and match as a pass the engine plans R6's declaration on (config/r6_declared.py): one
    record per person owing (the smallest of the Xero ContactIDs resolving to them, all listed), one per
    overdue Xero Contact with nobody to add (held, or a conflict of the pass's), and one per member whose
    Xero Contacts no longer owe, linked to that member (`Overdue` 0: it left the filter). What the pass
    knows of a record is said in its rows (`say`, `extra`); its holds are reasons of its own (`_missing`),
    the pair checks' only one."""
    people = match_people(inputs)
    x_hold = xero_hold_check(inputs)
    owes = Owing(inputs.owing, inputs.as_of)
    by_person, unpaired = pair_people(people, x_hold)
    member_of, member_kind = memberships(inputs.members)
    h_c, h_l = inputs.holds["sf_contact"], inputs.holds["sf_lead"]
    owing, left, conflicts = [], [], []
    say: dict = {}
    extra: dict = {}
    for person, xs in sorted(by_person.items()):
        _, kind, _, how, account = people.resolved[xs[0]]
        label = "Contact" if kind == "ContactId" else "Lead"
        held = (h_c if kind == "ContactId" else h_l).get(person)
        why = (f"{label} {person} {held}" if held else
               f"{label} staged invalid: {people.invalid[person]}" if person in people.invalid else None)
        info = owes.info(xs)
        owing.append((xs[0], info["amount"], person if kind == "ContactId" else None,
                      person if kind == "LeadId" else None, why))
        say[xs[0]] = {"scope": owes(xs), "who": f"{label} {person}"}
        extra[xs[0]] = {"match": how, "overdue": info, **({"account": account} if account else {}),
                        **({"xero_contacts": xs} if len(xs) > 1 else {})}
    for x_id in unpaired:
        state = people.resolved[x_id]
        why = x_hold(x_id)
        say[x_id] = {"scope": owes([x_id])}
        extra[x_id] = {"match": state[1], "overdue": owes.info([x_id])}
        if state[0] == "conflict" and why is None:
            conflicts.append((x_id, state[1], list(state[2]), [], state[3]))
        else:
            owing.append((x_id, owes.info([x_id])["amount"], None, None, why or state[2]))
    links: dict[str, str] = {}
    paid: set[str] = set()  # one record per Xero Contact, however many of its people are members
    for person, m_id in sorted(member_of.items(), key=lambda kv: kv[1]):
        xs = sorted(people.belongs.get(person, ()))
        if not xs or person in by_person or any(x in people.resolved for x in xs):
            continue  # not R6's member, or still owing
        links[m_id] = xs[0]
        if xs[0] not in paid:
            paid.add(xs[0])
            left.append((xs[0], 0.0, None, None, x_hold(xs[0])))
        say[(xs[0], m_id)] = {"who": f"{'Lead' if member_kind[person] == 'LeadId' else 'Contact'} {person}"}
        extra[(xs[0], m_id)] = {"match": "link" if xs[0] in people.accounts_of else "email",
                                **({"xero_contacts": xs} if len(xs) > 1 else {})}

    src, gone, gone_left = filtered(r, pd.concat([_records(owing), _records(left)], ignore_index=True))
    fps = field_values(None, cfg, R6, r, src, kinds, None)
    place_values(src, fps)
    # The members R6 reads, the first of a person staged twice (as `memberships` counts them).
    members = inputs.members[inputs.members.id.isin(set(member_of.values())).to_numpy()]
    tgt = pd.DataFrame({"id": members.id, "modified_at": None, "invalid_reason": None, "is_deleted": False,
                        "campaignid": inputs.campaign_id, "contactid": members.contactid, "leadid": members.leadid},
                       dtype="object").reset_index(drop=True)
    live = np.ones(len(tgt), dtype=bool)
    result = match_sf(r, src, fps, tgt, live, pd.DataFrame(columns=["sf_id", "xero_id"], dtype="object"))
    if conflicts:
        theirs = pd.DataFrame(conflicts, columns=["sf_id", "rule", "candidates", "other_sf", "reason"])
        result.conflicts = pd.concat([result.conflicts, theirs], ignore_index=True)
    stats = {"campaign": inputs.campaign_id, "as_of": inputs.as_of.isoformat(), "overdue_contacts": len(inputs.owing),
             "members": len(inputs.members)}
    return SfPass(src, fps, tgt, live, result, {"xero_contact": {}, "sf_campaign_member": {}}, gone, gone_left, links,
                  checks=[("x_missing", lambda why: why if isinstance(why, str) else None)], say=say, extra=extra,
                  stats=stats)


def plan_campaigns(conn: sa.Connection, cfg: SfxeroConfig, planned: pd.DataFrame | None = None) -> plan.FamilyPlan:
    """R6: its read and match (who owes, who that is) → the engine's pair, compare and emit steps on
    R6's declaration, in R6's words. `planned`: the plans built before it in the same pass."""
    rc = cfg.recipes.R6
    inputs = read_inputs(conn, cfg, planned)
    r = r6_declaration(rc, inputs.campaign_id)
    kinds = staged_describe(conn)(r.to.salesforce) or {}
    return plan_sf_pass(conn, R6, r, r6_wording(rc, inputs.campaign_name), engine_pass(cfg, inputs, r, kinds))
