"""Staging changed records by id (extract/by_id.py), as the real-time lane does after a webhook or a
poll: through the real clients against the sandbox, into both staging backends. The rows are the
cycle's rows (the next incremental extract leaves them as they are), and no extract cursor moves."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from sfxero_pipelines.extract.by_id import stage_salesforce_by_id, stage_xero_by_id
from sfxero_pipelines.extract.xero_objects import XERO_OBJECTS
from sfxero_pipelines.staging.schema import extract_state

from .conftest import FAST_XERO, salesforce_resource, staged, today, xero_resource
from .test_salesforce_extract import _run as run_salesforce
from .test_salesforce_extract import simple_salesforce
from .test_xero_extract import _run as run_xero

#: Columns that say when and by which run a row was staged, not what it holds.
_STAMPS = ("extracted_at", "run_id", "staged_at", "updated_at")


def _content(rows: dict[str, dict]) -> dict[str, dict]:
    return {i: {k: v for k, v in r.items() if k not in _STAMPS} for i, r in rows.items()}


def _states(staging) -> list[dict]:
    with staging.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(extract_state).order_by(extract_state.c.table_name)).mappings()]


def test_changed_records_staged_by_id_are_the_rows_the_cycle_stages(make_sandbox, staging):
    server = make_sandbox(xero_limits=FAST_XERO)
    assert run_salesforce(server, staging, ["Account"], partition=today()).success
    assert run_xero(server, staging, ["contacts", "invoices"], partition=today()).success
    accounts, contacts = staged(staging, "sf_account"), staged(staging, "xero_contact")
    changed, doomed = sorted(accounts)[:2]
    sf = simple_salesforce(server)
    sf.Account.update(changed, {"Phone": "+44 20 7946 0001"})
    sf.Account.delete(doomed)
    live_contact = next(c for c in contacts.values() if not c["is_deleted"])
    with xero_resource(server).get_client() as client:
        client.write("Contacts", [{"ContactID": live_contact["id"], "EmailAddress": "by-id@example.com"}],
                     idempotency_key=str(uuid.uuid4()))
    states_before = _states(staging)

    with salesforce_resource(server).get_client() as client:
        report = stage_salesforce_by_id(client, staging.engine, "Account", "sf_account", [changed, doomed, changed],
                                        run_id="lane")
    assert (report.rows, report.deleted) == (2, 1)
    with xero_resource(server).get_client() as client:
        report = stage_xero_by_id(client, staging.engine, XERO_OBJECTS["contacts"], [live_contact["id"]], run_id="lane")
        assert report.rows == 1 and client.api_calls["GET Contacts"] == 1
    after_lane = {"sf_account": staged(staging, "sf_account"), "xero_contact": staged(staging, "xero_contact")}
    assert after_lane["sf_account"][changed]["phone"] == "+44 20 7946 0001"
    assert after_lane["sf_account"][doomed]["is_deleted"]
    assert after_lane["xero_contact"][live_contact["id"]]["email_address"] == "by-id@example.com"
    # Only the records asked for changed; no extract cursor or saved state moved.
    untouched = set(accounts) - {changed, doomed}
    assert _content({i: after_lane["sf_account"][i] for i in untouched}) == _content({i: accounts[i] for i in untouched})
    assert _states(staging) == states_before

    # The cycle's next extract reads the same changes and stages the very same rows.
    assert run_salesforce(server, staging, ["Account"], partition=today()).success
    assert run_xero(server, staging, ["contacts"], partition=today()).success
    assert _content(staged(staging, "sf_account")) == _content(after_lane["sf_account"])
    assert _content(staged(staging, "xero_contact")) == _content(after_lane["xero_contact"])


def test_a_malformed_id_is_refused_before_any_call(make_sandbox, staging):
    import pytest

    server = make_sandbox()
    with salesforce_resource(server).get_client() as client, pytest.raises(ValueError, match="not a Salesforce record id"):
        stage_salesforce_by_id(client, staging.engine, "Account", "sf_account", ["001' OR Name != '"], run_id="lane")


def test_sales_invoices_and_bills_read_by_id_land_in_their_own_tables(make_sandbox, staging):
    """Xero's INVOICE events name sales invoices and bills alike: the lane reads each id once per staged
    object of Invoices, and the object's Type filter keeps a bill out of xero_invoice and a sale out of xero_bill."""
    from sfxero_pipelines.realtime.lane import Changes

    server = make_sandbox(xero_limits=FAST_XERO)
    assert run_xero(server, staging, ["contacts"], partition=today()).success
    live = [i for i in server.xero.records("Invoices") if i["Status"] not in ("DELETED", "VOIDED")]
    sale = next(i["InvoiceID"] for i in live if i["Type"] == "ACCREC")
    bill = next(i["InvoiceID"] for i in live if i["Type"] == "ACCPAY")
    assert Changes(xero={"Invoices": [sale, bill]}).tables() == {"xero_invoice", "xero_bill"}
    with xero_resource(server).get_client() as client:
        for key in ("invoices", "bills"):
            report = stage_xero_by_id(client, staging.engine, XERO_OBJECTS[key], [sale, bill], run_id="lane")
            assert report.rows == 1
    assert set(staged(staging, "xero_invoice")) == {sale}
    assert set(staged(staging, "xero_bill")) == {bill}
