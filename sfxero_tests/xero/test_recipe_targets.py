"""What declared recipes write to in Xero, through xero-python's AccountingApi with every response
validated against Xero's OpenAPI spec: Items created and updated by Code (and read by id or code),
TrackingCategories and their options (at most two active), and ContactGroups with members added and
removed one at a time."""

from __future__ import annotations

import pytest
from xero_python.accounting import (Contact, ContactGroup, ContactGroups, Contacts, Item, Items, Purchase,
                                    TrackingCategory, TrackingOption)
from xero_python.exceptions import AccountingBadRequestException, NotFoundException

from sfxero_tests.conftest import sandbox_call
from sfxero_tests.xero.sdk import accounting, cc_client

C1, C2 = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
FIXTURES = {"salesforce": {}, "xero": {
    "Contacts": [{"ContactID": C1, "Name": "One Ltd"}, {"ContactID": C2, "Name": "Two Ltd"}],
    "TrackingCategories": [{"Name": "Region", "Options": [{"Name": "North"}, {"Name": "South"}]}],
}}


@pytest.fixture
def api(xero_sandbox, monkeypatch):
    server = xero_sandbox(fixtures=FIXTURES)
    client, _ = cc_client(server, monkeypatch)
    return accounting(server, client), server.env["XERO_TENANT_ID"], server


def test_items_created_updated_by_code_and_read_by_id_or_code(api):
    accounting_api, tenant, server = api
    [made] = accounting_api.create_items(tenant, Items(items=[Item(
        code="SKU-1", name="Seat licence", description="Per seat", sales_details=Purchase(unit_price=25.0,
                                                                                         account_code="200"))])).items
    assert made.item_id and made.code == "SKU-1" and made.sales_details.unit_price == 25.0
    # POST with only the Code updates the item that has it (what a recipe matching by code sends).
    [updated] = accounting_api.update_or_create_items(tenant, Items(items=[
        Item(code="SKU-1", name="Seat licence (annual)", sales_details=Purchase(unit_price=30.0))])).items
    assert updated.item_id == made.item_id and updated.name == "Seat licence (annual)"
    assert updated.sales_details.unit_price == 30.0
    assert accounting_api.get_item(tenant, made.item_id).items[0].name == "Seat licence (annual)"
    assert accounting_api.get_item(tenant, "SKU-1").items[0].item_id == made.item_id
    [renamed] = accounting_api.update_item(tenant, made.item_id, Items(items=[Item(code="SKU-1A", name="Seat")])).items
    listed = [i.code for i in accounting_api.get_items(tenant).items]
    assert renamed.code == "SKU-1A" and "SKU-1A" in listed and "SKU-1" not in listed
    assert [i.item_id for i in accounting_api.get_items(tenant, where='Code=="SKU-1A"').items] == [made.item_id]
    with pytest.raises(AccountingBadRequestException, match="already exists"):
        accounting_api.create_items(tenant, Items(items=[Item(code="SKU-1A", name="Again")]))
    codes = [i["Code"] for i in sandbox_call(server, "xero", "GET", "/__sandbox/records/Items")]
    assert codes.count("SKU-1A") == 1 and "SKU-1" not in codes


def test_tracking_categories_and_options(api):
    accounting_api, tenant, server = api
    [region] = accounting_api.get_tracking_categories(tenant).tracking_categories
    assert [o.name for o in region.options] == ["North", "South"]
    [dept] = accounting_api.create_tracking_category(tenant, TrackingCategory(name="Department")).tracking_categories
    assert dept.status == "ACTIVE" and dept.options == []
    with pytest.raises(AccountingBadRequestException, match="at most 2 active tracking categories"):
        accounting_api.create_tracking_category(tenant, TrackingCategory(name="Project"))
    with pytest.raises(AccountingBadRequestException, match="already exists"):
        accounting_api.create_tracking_category(tenant, TrackingCategory(name="department"))
    [archived] = accounting_api.update_tracking_category(tenant, dept.tracking_category_id,
                                                         TrackingCategory(status="ARCHIVED")).tracking_categories
    assert archived.status == "ARCHIVED" and archived.name == "Department"
    [project] = accounting_api.create_tracking_category(tenant, TrackingCategory(name="Project")).tracking_categories

    [opt] = accounting_api.create_tracking_options(tenant, project.tracking_category_id,
                                                   TrackingOption(name="Apollo")).options
    assert opt.tracking_option_id and opt.tracking_category_id == project.tracking_category_id
    with pytest.raises(AccountingBadRequestException, match="already exists"):
        accounting_api.create_tracking_options(tenant, project.tracking_category_id, TrackingOption(name="apollo"))
    [renamed] = accounting_api.update_tracking_options(tenant, project.tracking_category_id, opt.tracking_option_id,
                                                       TrackingOption(name="Artemis")).options
    assert renamed.name == "Artemis" and renamed.tracking_option_id == opt.tracking_option_id
    got = accounting_api.get_tracking_category(tenant, project.tracking_category_id).tracking_categories[0]
    assert [o.name for o in got.options] == ["Artemis"]
    [gone] = accounting_api.delete_tracking_options(tenant, project.tracking_category_id, opt.tracking_option_id).options
    assert gone.status == "DELETED"
    assert accounting_api.get_tracking_category(tenant, project.tracking_category_id).tracking_categories[0].options == []

    [deleted] = accounting_api.delete_tracking_category(tenant, project.tracking_category_id).tracking_categories
    assert deleted.status == "DELETED"
    assert {c.name for c in accounting_api.get_tracking_categories(tenant).tracking_categories} == {"Region"}
    assert {c.name for c in accounting_api.get_tracking_categories(tenant, include_archived=True).tracking_categories} \
        == {"Region", "Department"}
    with pytest.raises(NotFoundException):
        accounting_api.delete_tracking_category(tenant, project.tracking_category_id)


def test_contact_groups_members_added_and_removed_one_at_a_time(api):
    accounting_api, tenant, server = api
    [group] = accounting_api.create_contact_group(tenant, ContactGroups(contact_groups=[
        ContactGroup(name="Key accounts")])).contact_groups
    added = accounting_api.create_contact_group_contacts(tenant, group.contact_group_id, Contacts(contacts=[
        Contact(contact_id=C1), Contact(contact_id=C2)])).contacts
    assert {c.contact_id for c in added} == {C1, C2}
    # Adding a member twice keeps one.
    accounting_api.create_contact_group_contacts(tenant, group.contact_group_id, Contacts(contacts=[Contact(contact_id=C1)]))
    members = accounting_api.get_contact_group(tenant, group.contact_group_id).contact_groups[0].contacts
    assert sorted(c.contact_id for c in members) == [C1, C2]
    accounting_api.delete_contact_group_contact(tenant, group.contact_group_id, C1)
    members = accounting_api.get_contact_group(tenant, group.contact_group_id).contact_groups[0].contacts
    assert [c.contact_id for c in members] == [C2]
    with pytest.raises(NotFoundException):
        accounting_api.delete_contact_group_contact(tenant, group.contact_group_id, C1)
    with pytest.raises(AccountingBadRequestException, match="could not be found"):
        accounting_api.create_contact_group_contacts(tenant, group.contact_group_id, Contacts(contacts=[
            Contact(contact_id="bbbbbbbb-0000-4000-8000-000000000009")]))
