"""Held records a person can act on: every hold reason the code produces, as a sentence saying what is
wrong and how to fix it, with links that open the record in Salesforce and in Xero.

Three sources of holds, one entry point each, and `explain_hold` for a `held_record` row:
- check holds (`explain_check`): a failed expectation of `checks/suites/<suite>.json` on a column, with
  the suite's own `why`; the sentence names the object, the field and the value;
- reconcile holds (`explain_reason`): the `held` reasons the planners write (a held or invalid record on
  either side, a broken link, a line without a Xero Item, a Campaign member nobody can be found for);
- push holds (`explain_reason` too): the target's own message after "Xero rejected …" / "Salesforce
  rejected …", with known messages turned into a fix.
The raw rule is kept as `rule`; `kind` groups holds for counts by reason. Anything not recognised is
still shown, as the raw reason (`kind` "unrecognised"): a test enumerates every reason the code can
produce and asserts none lands there.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..checks.suites import load_suite

FALLBACK_KIND = "unrecognised"
#: Salesforce key prefixes -> object, for links to a record we only know by id.
SF_PREFIXES = {"001": "Account", "003": "Contact", "006": "Opportunity", "00Q": "Lead", "701": "Campaign",
               "00v": "CampaignMember", "801": "Order", "802": "OrderItem", "00k": "OpportunityLineItem",
               "01t": "Product2", "01s": "Pricebook2", "01u": "PricebookEntry"}
#: Staged table -> (system, object as a person calls it).
TABLE_OBJECTS = {
    "sf_account": ("Salesforce", "Account"), "sf_contact": ("Salesforce", "Contact"),
    "sf_opportunity": ("Salesforce", "Opportunity"), "sf_opportunity_line_item": ("Salesforce", "Opportunity line"),
    "sf_order": ("Salesforce", "Order"), "sf_order_item": ("Salesforce", "Order line"),
    "sf_lead": ("Salesforce", "Lead"), "sf_campaign": ("Salesforce", "Campaign"),
    "sf_campaign_member": ("Salesforce", "Campaign member"), "sf_product2": ("Salesforce", "Product"),
    "sf_pricebook2": ("Salesforce", "Price book"), "sf_pricebook_entry": ("Salesforce", "Price book entry"),
    "xero_contact": ("Xero", "Contact"), "xero_invoice": ("Xero", "invoice"), "xero_bill": ("Xero", "bill"),
    "xero_credit_note": ("Xero", "credit note"), "xero_payment": ("Xero", "payment"), "xero_item": ("Xero", "Item"),
    "xero_account": ("Xero", "account code"), "xero_tax_rate": ("Xero", "tax rate"),
    "xero_currency": ("Xero", "currency"), "xero_bank_transaction": ("Xero", "bank transaction"),
}
_SF_ID = re.compile(r"\b(?:" + "|".join(SF_PREFIXES) + r")[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_XERO_KIND = re.compile(r"(invoice|Contact)\s+(?=[0-9a-f]{8}-)", re.I)


@dataclass(frozen=True)
class Explained:
    sentence: str
    rule: str
    kind: str
    links: tuple[tuple[str, str], ...] = field(default=())

    @property
    def recognised(self) -> bool:
        return self.kind != FALLBACK_KIND


# -- links ------------------------------------------------------------------------------------------

def salesforce_web_url(environ: Mapping[str, str]) -> str | None:
    """Where Lightning pages open: SALESFORCE_INSTANCE_URL, else the My Domain login URL."""
    url = environ.get("SALESFORCE_INSTANCE_URL") or environ.get("SALESFORCE_LOGIN_URL")
    return url.rstrip("/") if url else None


def salesforce_link(record_id: str, sf_url: str | None) -> tuple[str, str] | None:
    obj = SF_PREFIXES.get(record_id[:3]) if record_id else None
    if not obj or not sf_url:
        return None
    return f"Salesforce {obj} {record_id}", f"{sf_url}/lightning/r/{obj}/{record_id}/view"


def xero_link(record_id: str, kind: str) -> tuple[str, str] | None:
    if not _UUID.fullmatch(record_id or ""):
        return None
    if kind.lower() == "invoice":
        return f"Xero invoice {record_id}", f"https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={record_id}"
    return f"Xero Contact {record_id}", f"https://go.xero.com/Contacts/View/{record_id}"


def links_for(table_name: str, record_id: str, text: str, sf_url: str | None) -> tuple[tuple[str, str], ...]:
    """The held record's own page, then the pages of every other record its reason names."""
    out: list[tuple[str, str]] = []
    own_kind = "invoice" if table_name in ("xero_invoice",) else "contact"
    for link in (salesforce_link(record_id, sf_url), xero_link(record_id, own_kind)):
        if link:
            out.append(link)
    for match in _SF_ID.finditer(text):
        link = salesforce_link(match.group(0), sf_url)
        if link and link not in out:
            out.append(link)
    for match in _UUID.finditer(text):
        before = _XERO_KIND.findall(text[max(0, match.start() - 20):match.end()])
        link = xero_link(match.group(0), before[-1] if before else "contact")
        if link and link not in out:
            out.append(link)
    return tuple(out)


# -- check holds ------------------------------------------------------------------------------------

def _label(column: str | None) -> str:
    return (column or "value").removesuffix("__c").replace("_", " ")


def _value(value) -> str:
    if value is None:
        return "empty"
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


#: (table, column) of a uniqueness rule -> the sentence (Xero refuses duplicates of these).
_UNIQUE_SPECIAL = {
    ("sf_account", "name"): "Two Salesforce Accounts are named {value}; Xero needs unique contact names. "
                            "Rename one, or map Name to include the city.",
    ("xero_contact", "name"): "Two Xero Contacts are named {value}; Xero needs unique contact names. "
                              "Rename or archive one in Xero.",
}
_CHECK_TEMPLATES = {
    "expect_column_values_to_be_unique":
        "Another {system} {object} has the same {label} {value} ({why}). Make it unique in {system}, or merge the "
        "duplicates.",
    "expect_column_values_to_not_be_null":
        "The {system} {object} has no {label} ({why}). Fill in {label} in {system}.",
    "expect_column_values_to_be_null":
        "The {system} {object} has {label} set to {value} ({why}). Clear {label} in {system}.",
    "expect_column_values_to_be_in_set":
        "The {system} {object}'s {label} is {value}, which is not accepted ({why}). Correct {label} in {system}.",
    "expect_column_values_to_be_between":
        "The {system} {object}'s {label} is {value}, outside the allowed range ({why}). Correct {label} in {system}.",
    "expect_column_values_to_match_regex":
        "The {system} {object}'s {label} {value} is not in a valid form ({why}). Correct {label} in {system}.",
}


def _suite_why(suite: str, expectation: str, column: str | None) -> str:
    try:
        exps = load_suite(suite)["expectations"]
    except (OSError, ValueError, KeyError):
        return ""
    for exp in exps:
        if exp["type"] == expectation and exp["kwargs"].get("column") == column:
            return exp.get("meta", {}).get("why", "")
    return ""


def explain_check(suite: str, table_name: str, expectation: str, column: str | None, value, why: str | None = None,
                  *, record_id: str = "", sf_url: str | None = None) -> Explained:
    rule = f"{expectation}({column}): {json.dumps(value, ensure_ascii=False, default=str)}"
    template = _CHECK_TEMPLATES.get(expectation)
    if template is None:
        return _fallback(rule, table_name, record_id, sf_url)
    system, obj = TABLE_OBJECTS.get(table_name, ("Salesforce" if table_name.startswith("sf_") else "Xero",
                                                 table_name.split("_", 1)[-1]))
    why = why or _suite_why(suite, expectation, column) or "the sync relies on it"
    special = _UNIQUE_SPECIAL.get((table_name, column)) if expectation.endswith("_unique") else None
    sentence = (special or template).format(system=system, object=obj, label=_label(column), value=_value(value),
                                            why=why)
    return Explained(sentence, rule, f"check {suite}: {expectation.removeprefix('expect_column_values_to_')}({column})",
                     links_for(table_name, record_id, "", sf_url))


_CHECK_REASON = re.compile(r"^(?P<exp>expect_[a-z_]+)\((?P<col>[^)]*)\): (?P<value>.*)$", re.S)


# -- reconcile and push holds -----------------------------------------------------------------------

_OBJ = r"(?P<obj>Account|Opportunity|Order|Contact|Lead|Xero Contact|Xero invoice|primary Contact|Campaign membership " \
       r"for Xero Contact|[A-Z][A-Za-z0-9_ ]*?)"
#: (kind, pattern, sentence template or builder). Order matters: the first match explains.
_REASONS: list[tuple[str, re.Pattern, object]] = []


def _template(kind: str, pattern: str, sentence: str) -> None:
    """A reason whose sentence is `sentence` filled with the pattern's named groups."""
    _REASONS.append((kind, re.compile(pattern, re.S), sentence))


def _reason(kind: str, pattern: str):
    def register(build):
        _REASONS.append((kind, re.compile(pattern, re.S), build))
        return build
    return register


@_reason("push: Xero rejected", r"^Xero rejected the (?P<recipe>\w+) (?P<action>\w+) of (?P<target>\w+): (?P<msg>.*)$")
def _xero_rejected(m, explain):
    return f"Xero refused to {m['action']} the {m['target']} ({m['recipe']}): {_xero_fix(m['msg'])}"


_template("push: not sent", r"^(?P<recipe>\w+) (?P<action>\w+) of (?P<target>\w+) not sent: (?P<msg>.*)$",
          ("The {target} {action} ({recipe}) was not sent: {msg}. Fix what it names, then run "
           "`sfxero replay`."))
_template("push: Salesforce rejected",
          r"^Salesforce rejected the (?P<recipe>\w+) (?P<action>\w+) of (?P<target>\w+): (?P<msg>.*)$",
          ("Salesforce refused to {action} the {target} ({recipe}): {msg}. Correct the record "
           "(or the field's validation rule or permissions) in Salesforce, then run `sfxero replay`."))


_XERO_MESSAGES = [
    (re.compile(r"Item code '(?P<code>[^']*)' is not valid"),
     "Xero has no Item with code '{code}'. Create the Item '{code}' in Xero (or restore its old code), or change "
     "the product code in Salesforce, then run `sfxero replay`."),
    (re.compile(r"(?i)contact name .*already|already .*contact name|must be unique"),
     "Xero already has a Contact with this name, and contact names must be unique. Rename one of them, then run "
     "`sfxero replay`."),
    (re.compile(r"(?i)contact group could not be found|no such contact group"),
     "The Xero contact group is gone (deleted in Xero since the plan). Restore or recreate it in Xero, or take it "
     "out of the recipe's ContactGroups fields in sfxero.yaml, then run `sfxero replay`."),
    (re.compile(r"(?i)account code '?(?P<code>[^' ]*)'? is not a valid"),
     "Xero has no account code '{code}'. Add it to Xero's chart of accounts or fix the mapping, then run "
     "`sfxero replay`."),
]


def _xero_fix(message: str) -> str:
    for pattern, fix in _XERO_MESSAGES:
        found = pattern.search(message)
        if found:
            return f"{message}. {fix.format(**found.groupdict())}"
    return f"{message}. Correct the record so Xero accepts it, then run `sfxero replay`."


@_reason("reconcile: related record held", r"^" + _OBJ + r" (?P<id>\S+) held at (?P<stage>\w+): (?P<inner>.*)$")
def _related_held(m, explain):
    inner = explain(m["inner"])
    return f"Waiting for {m['obj']} {m['id']}, held at {m['stage']}: {inner.sentence}"


@_reason("reconcile: staged invalid", r"^" + _OBJ + r" staged invalid: (?P<why>.*)$")
def _staged_invalid(m, explain):
    system = "Xero" if m["obj"].startswith("Xero") else "Salesforce"
    return (f"The {m['obj']} could not be read cleanly from {system} ({m['why']}). Fix it in {system}; the next "
            "extract reads it again.")


_template("reconcile: delete waits for approval", r"^waits for approval to (?P<what>.+?): run `sfxero approve (?P<id>\S+)`$",
          ("A delete policy holds this change for a person: sfxero would {what}. Nothing is written until it is "
           "approved: run `sfxero approve {id}` (or change the recipe's `deletes` policy in sfxero.yaml)."))
_template("reconcile: paid invoice of a deleted record",
          r"^Xero invoice (?P<number>.+?) of the deleted (?P<what>\w+) has payments, so Xero cannot void it",
          ("The {what} was deleted, but its Xero invoice {number} has payments, and Xero voids an invoice only once "
           "its payments are removed. Remove the payments in Xero (or restore the {what} in Salesforce); the next "
           "cycle plans the void."))
_template("reconcile: no Xero organisation",
          r"^no routing rule matches the Account \((?P<seen>.*)\) and routing has no default$",
          ("The Account matches no rule under routing: in sfxero.yaml ({seen}), and there is no routing.default, "
           "so no Xero organisation takes it (nor its Opportunities and Orders). Set the field to a routed value in "
           "Salesforce, or add a rule or a default under routing:; the next cycle plans it."))
_template("reconcile: Account has no name", r"^Name is required by Xero and the Account has none$",
          "The Account has no Name, and Xero needs a name for every contact. Give the Account a Name in Salesforce.")
_template("reconcile: a field Xero requires is empty", r"^(?P<field>\S+) is required by Xero and the (?P<obj>\S+) has none$",
          ("The {obj} gives no value to {field}, which Xero needs to create the record. Fill the field the recipe "
           "maps {field} from in Salesforce (or give it a default: in sfxero.yaml); the next cycle plans it."))
_template("reconcile: new Contact named like one in Xero",
          r"^Xero already has a Contact named '(?P<name>.*)' \((?P<id>\S+)\); Xero would update it instead of creating "
          r"one for (?P<what>\S+) (?P<sf>\S+): ",
          ("Xero already has a Contact named '{name}' ({id}), and Xero contact names are unique: creating one for "
           "this {what} would update that Contact instead. If it is the same customer, add a name rule to the "
           "recipe's match ({{name: {{Name: Name}}}}) so they are paired; if not, rename one, or map Name so it "
           "differs (for example with the city)."))
_template("reconcile: two new Contacts share a name",
          r"^another new Xero Contact of this plan is named '(?P<name>.*)' \((?P<what>\S+) (?P<sf>\S+)\); ",
          ("Another {what} ({sf}) becomes a new Xero Contact named '{name}' in the same plan, and Xero contact "
           "names are unique. Rename one in Salesforce, or map Name so they differ (for example with the city)."))
_template("reconcile: link shared", r"^linked to (?P<what>.+?) (?P<id>\S+), which is also linked from another "
                                   r"Salesforce record$",
          ("Two Salesforce records point at the same {what} {id} (a copied Xero id field). Clear the Xero "
           "id field on the record that is not the real owner."))
_template("reconcile: link to archived", r"^linked (?P<what>.+?) (?P<id>\S+) is archived or deleted$",
          ("The linked {what} {id} is archived or deleted in Xero. Restore it in Xero, or clear the Xero id "
           "field in Salesforce so a new one is created."))
_template("reconcile: link not found", r"^linked (?P<what>.+?) (?P<id>\S+) not found in staging$",
          ("The linked {what} {id} is not in Xero's data. Check the id in Salesforce (clear it to create "
           "a new one), or run an extract if it was created just now."))
_template("reconcile: R2 and R7 both invoice", r"^its Opportunity (?P<id>\S+) is invoiced by R2 ",
          ("This Order's Opportunity {id} is already invoiced by R2, and R7 would invoice it again. Turn off R2 "
           "or R7, or link this Order to that invoice."))
_template("reconcile: no such contact group",
          r"^Xero has no active contact group '(?P<group>.+?)' \(active: (?P<active>.*?)\); create it in Xero or map "
          r"another name$",
          ("The recipe puts this contact in the Xero contact group '{group}', which Xero does not have (its groups: "
           "{active}). Create the group in Xero, or change the group named in the recipe's ContactGroups field in "
           "sfxero.yaml; the next cycle plans it."))
_template("reconcile: no key to find the record by",
          r"^(?P<key>\S+) is required to find the Xero record again; the (?P<obj>\S+) has none$",
          ("The {obj} has no {key}, and sfxero needs it to create the Xero record safely: it is the recipe's first "
           "match key, what the record is looked up by after a crash so it is never created twice. Fill {key} in "
           "Salesforce; the next cycle plans it."))
_template("reconcile: no key to upsert by",
          r"^(?P<key>\S+) is what a create is upserted by; the Xero record gives it no value$",
          ("The Xero record gives no value to {key}, the Salesforce field a create is upserted by (so a retried "
           "create never makes a second record). Fill the field it is mapped from in Xero, or map {key} from a "
           "field every Xero record has; the next cycle plans it."))
_template("reconcile: product without Xero Item", r"^line (?P<line>\S+): ProductCode (?P<code>.+) has no Xero Item$",
          ("Line {line} uses product code {code}, which has no Item in Xero. Create the Item in Xero, or "
           "correct the product code in Salesforce."))
_template("reconcile: line without ProductCode", r"^line (?P<line>\S+) has no ProductCode to map to a Xero Item$",
          "Line {line} has no product code, so it cannot become a Xero invoice line. Set its Product's code.")
_template("reconcile: no line items", r"^(?P<what>.+?) has no line items to invoice$",
          "The {what} has no line items, so there is nothing to invoice. Add its products in Salesforce.")
_template("reconcile: no Account", r"^(?P<what>\S+) has no Account, so no Xero Contact to invoice$",
          "The {what} has no Account, so there is no Xero Contact to invoice. Set its Account in Salesforce.")
_template("reconcile: line Xero cannot take", r"^line (?P<line>\S+): (?P<problem>.+)$",
          ("Line {line} cannot become a Xero invoice line: {problem}. Correct the line's quantity or price in "
           "Salesforce, or split it into several lines."))
_template("reconcile: invoice beyond Xero's limits", r"^invoice (?P<problem>.+)$",
          ("The invoice cannot be written to Xero: {problem}. Correct the amounts in Salesforce, or invoice the "
           "deal in several parts."))
_template("reconcile: amount its lines cannot make",
          r"^(?P<field>\S+) (?P<amount>\S+) differs from its lines, which make (?P<made>\S+) as Xero rounds them",
          ("{field} is {amount}, but its lines come to {made} once Xero rounds them, and the Xero invoice already "
           "holds {made}. Correct the amount or the lines in Salesforce."))


@_reason("reconcile: Campaign member unreachable", r"^(?P<owes>owes .+?|no longer overdue), but (?P<why>.*)$")
def _campaign(m, explain):
    inner = explain(m["why"])
    return f"This Xero customer {m['owes']}, but {inner.sentence[0].lower()}{inner.sentence[1:]}"


_template("reconcile: Account without Contact", r"^linked Account (?P<id>\S+) has no Contact to add to the Campaign$",
          ("The linked Account {id} has no Contact to add to the dunning Campaign. Add a Contact to the Account "
           "in Salesforce."))
_template("reconcile: nobody to add", r"^no linked Account and no email to find a Contact or Lead by$",
          ("Nobody in Salesforce can be found for it: it is not linked to an Account and has no email. Link it to "
           "an Account (sync it with R1) or give the Xero Contact an email."))
_template("reconcile: email not in Salesforce",
          r"^no linked Account, and no Salesforce Contact or Lead has the email (?P<email>.*)$",
          ("It is not linked to an Account, and no Salesforce Contact or Lead has the email {email}. Add that "
           "email to the right Contact, or link the Xero Contact to its Account."))


@_reason("reconcile: related record held", r"^" + _OBJ + r" (?P<id>\S+) (?P<inner>held at .*|\S.*)$")
def _related_any(m, explain):
    inner = explain(m["inner"])
    if inner.recognised:
        return f"Waiting for {m['obj']} {m['id']}: {inner.sentence}"
    return f"Waiting for {m['obj']} {m['id']}, which is held ({m['inner']}). Fix that record first."


def _fallback(rule: str, table_name: str, record_id: str, sf_url: str | None) -> Explained:
    return Explained(f"Held: {rule}", rule, FALLBACK_KIND, links_for(table_name, record_id, rule, sf_url))


def explain_reason(reason: str, *, table_name: str = "", record_id: str = "", sf_url: str | None = None) -> Explained:
    """A reconcile or push hold reason (or a check hold's `expectation(column): value`) as a sentence."""
    text = str(reason or "")
    check = _CHECK_REASON.match(text)
    if check and table_name:
        try:
            value = json.loads(check["value"])
        except ValueError:
            value = check["value"]
        return explain_check(table_name, table_name, check["exp"], check["col"] or None, value,
                             record_id=record_id, sf_url=sf_url)

    def inner(part: str) -> Explained:
        return explain_reason(part, table_name=table_name, sf_url=sf_url)

    for kind, pattern, build in _REASONS:
        found = pattern.match(text)
        if found:
            sentence = build.format(**found.groupdict()) if isinstance(build, str) else build(found, inner)
            return Explained(sentence, text, kind, links_for(table_name, record_id, text, sf_url))
    return _fallback(text, table_name, record_id, sf_url)


def explain_hold(hold: Mapping, sf_url: str | None = None) -> Explained:
    """One `held_record` row (stage, table_name, record_id, reason, detail) as a sentence with links."""
    detail = hold.get("detail") or {}
    if isinstance(detail, str):
        detail = json.loads(detail)
    table, record = hold.get("table_name", ""), hold.get("record_id", "")
    if hold.get("stage") == "check" and detail.get("expectation"):
        return explain_check(detail.get("suite") or table, table, detail["expectation"], detail.get("column"),
                             detail.get("value"), detail.get("why"), record_id=record, sf_url=sf_url)
    return explain_reason(hold.get("reason", ""), table_name=table, record_id=record, sf_url=sf_url)


def counts_by_kind(explained: Iterable[Explained]) -> list[tuple[str, int]]:
    """(kind, holds) most frequent first."""
    return sorted(Counter(e.kind for e in explained).items(), key=lambda kv: (-kv[1], kv[0]))


def markdown(holds: list[Mapping], sf_url: str | None, limit: int = 200) -> str:
    """Every held record (up to `limit` listed) with its sentence, links and raw rule, and counts by reason."""
    explained = [(h, explain_hold(h, sf_url)) for h in holds]
    out = [f"**{len(holds)} held record(s).** Fix them, then run `sfxero replay` (push holds) or the next sync "
           "(check and plan holds).", "", "| reason | held |", "|---|---:|"]
    out += [f"| {kind} | {n} |" for kind, n in counts_by_kind(e for _, e in explained)]
    out.append("")
    for h, e in explained[:limit]:
        links = " · ".join(f"[{label}]({url})" for label, url in e.links)
        out.append(f"- **{h.get('stage')}** `{h.get('table_name')}` `{h.get('record_id')}`: {e.sentence}"
                   + (f" {links}" if links else ""))
        out.append(f"    - rule: `{e.rule.replace('`', chr(39))}`")
    if len(holds) > limit:
        out.append(f"- … and {len(holds) - limit} more (`sfxero status --json` lists all)")
    return "\n".join(out) + "\n"
