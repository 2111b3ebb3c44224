"""The daily budget planner's choice (`push/budget.py`, pure logic): what fits is the highest amounts,
each invoice with the Contact create it needs, counted in the writer's batches."""

from __future__ import annotations

from sfxero_pipelines.push.budget import amount, calls_for, fit
from sfxero_pipelines.push.rows import PushRow


def _invoice(i: int, total: float, account: str | None = None) -> PushRow:
    diff = {"target_object": "Invoice", "payload": {"LineItems": [{"Quantity": 2, "UnitAmount": total / 2}]}}
    if account:
        diff["depends_on"] = {"recipe": "R1", "source_id": account}
    return PushRow(plan_id="R2-x", row_no=i, recipe="R2", direction="sf_to_xero", action="create",
                   source_id=f"o{i}", target_id=None, diff=diff)


def _contact(account: str) -> PushRow:
    return PushRow(plan_id="R1-x", row_no=1, recipe="R1", direction="sf_to_xero", action="create",
                   source_id=account, target_id=None, diff={"target_object": "Contact", "payload": {"Name": account}})


def test_everything_fits_or_the_budget_is_unknown():
    rows = [_invoice(i, 10.0 * i) for i in range(4)]
    assert fit(rows, 4, 1) == (rows, [])
    assert fit(rows, None, 1) == (rows, [])


def test_highest_amounts_first_the_rest_waits_in_amount_order():
    rows = [_invoice(i, t) for i, t in enumerate([5.0, 500.0, 50.0, 5000.0, 0.5])]
    now, later = fit(rows, 2, 1)
    assert [r.source_id for r in now] == ["o1", "o3"]  # push order kept
    assert [r.source_id for r in later] == ["o2", "o0", "o4"]
    assert amount(rows[3]) == 5000.0


def test_an_invoice_brings_the_contact_it_needs_and_batches_are_counted():
    rows = [_contact("a1"), _invoice(1, 100.0, "a1"), _invoice(2, 90.0), _invoice(3, 80.0)]
    now, later = fit(rows, 2, 1)
    assert [r.source_id for r in now] == ["a1", "o1"] and [r.source_id for r in later] == ["o2", "o3"]
    # Batches of 2: Contacts 1 call, invoices 2 calls.
    assert calls_for(rows, 2, lambda r: r.target_object) == 3
    now, later = fit(rows, 2, 2)
    assert [r.source_id for r in now] == ["a1", "o1", "o2"] and [r.source_id for r in later] == ["o3"]


def _joins(i: int, groups: list[tuple[str, bool]], only: bool = False) -> PushRow:
    """A declared Contacts row: a contact write (unless `only` membership changes) and its groups."""
    fields = {f"ContactGroups.{g}": {"old": not m, "new": m} for g, m in groups}
    if not only:
        fields["Name"] = {"old": "a", "new": "b"}
    return PushRow(plan_id="L-x", row_no=i, recipe="LEADS", direction="sf_to_xero", action="update",
                   source_id=f"q{i}", target_id=f"c{i}",
                   diff={"target_object": "Contact", "fields": fields, "payload": {"ContactID": f"c{i}"},
                         "groups": [{"ContactGroupID": g, "Name": g, "member": m} for g, m in groups]})


def test_group_memberships_are_counted_as_the_writer_makes_the_calls():
    from sfxero_pipelines.push.to_xero import _batches

    rows = [_joins(1, [("g1", True)]), _joins(2, [("g1", True), ("g2", False)]),
            _joins(3, [("g1", True)], only=True), _joins(4, [("g2", False)], only=True)]
    # One POST for the two contact writes, one PUT adding three members to g1, two DELETEs from g2.
    assert calls_for(rows, 50, _batches) == 4
    assert calls_for(rows[2:], 50, _batches) == 2, "membership-only rows write no contact"
    now, later = fit(rows, 3, 50, _batches)
    assert [r.source_id for r in now] == ["q1", "q2", "q3"] and [r.source_id for r in later] == ["q4"]
