"""R1's settings written as a declaration for the declared-recipe engine (docs/architecture.md §5.3):
`mapping.contact_fields`, `recipes.R1`'s match rules, filters and policy for a deleted Account, as one
two-way recipe of Account ↔ Xero Contacts, and the words R1's and R5's rows are said in.

The contacts family plans `r1_declaration` on R1's pass (reconcile/contacts.py), in `r1_wording`: R1's
rows towards Xero and for the ContactID written back, R5's for the fields brought back, with the rules
and reasons of the code planner they replaced, so their ledger keys are the same. `r1_as_declared` is
also what `sfxero recipes show R1` prints and what `sfxero bench reconcile --engine` plans on the
engine's own read, under its own code (CODE) on a copy of R1's links.
"""

from __future__ import annotations

from ..recipes import R1, R5
from .declared import DeclaredRecipe
from .mapping import MappingConfig
from .wording import Wording

#: The code the declaration is planned under (its links are R1's, copied).
CODE = "R1DECL"
#: The words of R1's rows that no mapping names (their ledger keys hash the rules).
KEY_RULE = f"{R1} deterministic key: Account Id"
WRITE_BACK_RULE = f"{R1} write-back of the Xero ContactID"
WRITE_BACK_REASON = "write the Xero ContactID back to the Account"
CREATE_REASON = "no Xero Contact matches (link, ContactNumber, email, name)"
#: R1's match rules after `link`, as declared match rules.
MATCH = {"contact_number": {"ContactNumber": "Id"}, "email": {"email": {"EmailAddress": "Contact.Email"}},
         "name": {"name": {"Name": "Name"}}}
#: R1's filter operators as `where:` conditions. `ne` and `not_in` keep an Account whose field is empty,
#: which `!=` does not: they have no translation yet.
WHERE = {"eq": "{f} = {v}", "in": "{f} IN ({v})", "gte": "{f} >= {v}", "lte": "{f} <= {v}", "is_null": "{f} = null",
         "not_null": "{f} != null"}


def _literal(v) -> str:
    if isinstance(v, list):
        return ", ".join(map(_literal, v))
    return str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, str) else str(v)


def r1_as_declared(mapping: MappingConfig, r1, with_where: bool = True) -> dict:
    """The declaration of R1's mapping and `recipes.R1` (a `ContactRecipe`), as sfxero.yaml would hold it;
    without its filters as `where:` unless `with_where`."""
    filters = r1.filters if with_where else []
    unwritable = [f"{f.field} {f.op}" for f in filters if f.op not in WHERE]
    if unwritable:
        raise ValueError(f"{R1}'s filters {', '.join(unwritable)} have no where: translation")
    where = " AND ".join(WHERE[f.op].format(f=f.field, v=_literal(f.value)) for f in filters)
    fields = {}
    for f in mapping.contact_fields:
        chain = [f"map({f.value_map})"] if f.value_map else []
        if f.transform != "text":
            # R1 reads an Account's phone in its own country.
            chain.append("phone({BillingCountry})" if f.transform == "phone" else f.transform)
        fields[f.xero] = {"from": f.sf, "owner": f.owner, **({"transform": chain} if chain else {}),
                          **({"default": f.default} if f.default is not None else {})}
    return {"from": {"salesforce": "Account", **({"where": where} if where else {})}, "to": {"xero": "Contacts"},
            "sync": "two_way", "match": [MATCH.get(rule, rule) for rule in r1.match], "fields": fields,
            # R1 sends the Account Id as ContactNumber on a create (its first key pair), and never updates it.
            "write_back": {"Xero_Contact_Id__c": "ContactID"},
            # R1's defaults filled in: a declaration has none of its own.
            "deletes": r1.deletes.effective(R1)}


def r1_wording(mapping: MappingConfig) -> Wording:
    """R1's and R5's words for the declaration's rows: R1's code one way and for the ContactID written
    back, R5's for the fields brought back, each mapping's rule as R1 names it, R1's match rule names and
    reasons, and none of the engine's marks (R1's rows go through R1's own push)."""
    return Wording(code=R1, back_code=R5, rules={**{f.xero: f.rule for f in mapping.contact_fields},
                                                 "ContactNumber": KEY_RULE},
                   match_names={next(iter(MATCH["contact_number"])): "contact_number"},
                   write_back=(WRITE_BACK_RULE, WRITE_BACK_REASON), create_reason=CREATE_REASON, marks=False)


def r1_declaration(mapping: MappingConfig, r1) -> DeclaredRecipe:
    """R1's declaration as the contacts family plans it, on R1's pass (reconcile/contacts.py), whose read
    applies R1's filters: no `where:`."""
    return DeclaredRecipe.model_validate(r1_as_declared(mapping, r1, with_where=False))
