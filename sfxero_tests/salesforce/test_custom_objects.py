"""Custom objects and fields on the Salesforce emulator (sandbox schema file, docs/architecture.md), through
unmodified simple-salesforce over HTTPS: describe, SOQL with a lookup, REST CRUD, composite and Bulk 2.0
serve them through the same store and query code as standard objects."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sfxero_pipelines.cli.sandbox_cmd import load_schema_file
from sfxero_pipelines.errors import ConfigError
from sfxero_pipelines.sandbox.runner import SandboxServer
from sfxero_pipelines.sandbox.salesforce.schema import DEFAULT

from .conftest import raw_sf, sfid

SCHEMA = """
objects:
  Invoice_Run__c:
    label: Invoice Run
    fields:
      Account__c: {type: reference, to: Account}
      Amount__c: currency
      Stage__c: {type: picklist, values: [Open, Done]}
      Run_Key__c: {type: string, length: 20, external_id: true, unique: true}
      Ran_On__c: date
  Account:
    fields:
      Region__c: {type: string, length: 40}
"""


@pytest.fixture(scope="module")
def server(sandbox_state_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    path.write_text(SCHEMA)
    fixtures = {"salesforce": {
        "Account": [{"Id": sfid("001", 1), "Name": "Acme"}],
        "Product2": [{"Id": sfid("01t", 1), "Name": "Seat", "ProductCode": "SEAT", "IsActive": True}],
        "Pricebook2": [{"Id": sfid("01s", 1), "Name": "Standard Price Book", "IsStandard": True, "IsActive": True}],
        "PricebookEntry": [{"Id": sfid("01u", 1), "Pricebook2Id": sfid("01s", 1), "Product2Id": sfid("01t", 1),
                            "UnitPrice": 40, "IsActive": True}],
        "Opportunity": [{"Id": sfid("006", 1), "Name": "Deal", "AccountId": sfid("001", 1), "StageName": "Prospecting",
                         "CloseDate": "2026-06-30", "Pricebook2Id": sfid("01s", 1), "CurrencyIsoCode": "EUR"}],
        "Xero_Credit_Note__c": [{"Name": "CN-0001", "Account__c": sfid("001", 1), "Total__c": 50.0,
                                 "Xero_Credit_Note_Id__c": "7c4a0f0e-0000-4000-8000-000000000001"}],
    }}
    with SandboxServer(size="small", fixtures=fixtures, schema=load_schema_file(str(path)),
                       state_dir=sandbox_state_dir) as s:
        yield s


@pytest.fixture(scope="module")
def sf(server):
    return raw_sf(server)


def test_describe_serves_custom_objects_fields_and_lookups(sf):
    names = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert {"Invoice_Run__c", "Xero_Credit_Note__c", "Xero_Transaction__c", "Quote", "QuoteLineItem", "Product2",
            "PricebookEntry", "Pricebook2", "Lead"} <= set(names)
    assert names["Invoice_Run__c"]["custom"] is True and names["Account"]["custom"] is False
    run = sf.Invoice_Run__c.describe()
    fields = {f["name"]: f for f in run["fields"]}
    assert fields["Account__c"]["referenceTo"] == ["Account"] and fields["Account__c"]["relationshipName"] == "Account__r"
    assert fields["Amount__c"]["type"] == "currency" and fields["Run_Key__c"]["externalId"] is True
    assert [p["value"] for p in fields["Stage__c"]["picklistValues"]] == ["Open", "Done"]
    assert {"Id", "Name", "OwnerId", "CreatedDate", "SystemModstamp", "IsDeleted"} <= set(fields)
    account = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert account["Region__c"]["custom"] is True and account["Region__c"]["length"] == 40
    children = {c["childSObject"]: c["relationshipName"] for c in sf.Account.describe()["childRelationships"]}
    assert children["Invoice_Run__c"] == "Invoice_Runs__r" and children["Xero_Credit_Note__c"] == "Xero_Credit_Notes__r"


def test_rest_crud_and_soql_through_the_lookup(sf):
    acc = sf.Account.create({"Name": "Globex", "Region__c": "EMEA"})["id"]
    run = sf.Invoice_Run__c.create({"Name": "Run 1", "Account__c": acc, "Amount__c": 12.5, "Stage__c": "Open",
                                    "Run_Key__c": "K-1", "Ran_On__c": "2026-03-01"})["id"]
    got = sf.Invoice_Run__c.get(run)
    assert got["Amount__c"] == 12.5 and got["Account__c"] == acc and got["attributes"]["type"] == "Invoice_Run__c"
    sf.Invoice_Run__c.update(run, {"Stage__c": "Done"})
    rows = sf.query("SELECT Id, Name, Stage__c, Account__r.Name, Account__r.Region__c FROM Invoice_Run__c "
                    "WHERE Account__r.Name = 'Globex'")["records"]
    assert [(r["Stage__c"], r["Account__r"]["Name"], r["Account__r"]["Region__c"]) for r in rows] == [("Done", "Globex", "EMEA")]
    # Upsert by the external id, as a recipe's write-back would.
    sf.Invoice_Run__c.upsert("Run_Key__c/K-1", {"Amount__c": 20.0})
    assert sf.Invoice_Run__c.get(run)["Amount__c"] == 20.0
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD"):
        sf.Invoice_Run__c.create({"Name": "bad", "Nope__c": 1})
    with pytest.raises(SalesforceMalformedRequest, match="FIELD_INTEGRITY_EXCEPTION"):
        sf.Invoice_Run__c.create({"Name": "bad", "Account__c": sfid("006", 1)})
    sf.Invoice_Run__c.delete(run)
    assert sf.query_all("SELECT Id FROM Invoice_Run__c WHERE Id = '%s'" % run)["totalSize"] == 0
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Invoice_Run__c WHERE Id = '%s'" % run, include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True


def test_shipped_custom_objects_load_from_fixtures_and_query(sf):
    rows = sf.query("SELECT Name, Total__c, Account__r.Name FROM Xero_Credit_Note__c")["records"]
    assert [(r["Name"], r["Total__c"], r["Account__r"]["Name"]) for r in rows] == [("CN-0001", 50.0, "Acme")]
    tx = sf.Xero_Transaction__c.create({"Name": "BILL-1", "Kind__c": "ACCPAY", "Account__c": sfid("001", 1),
                                        "Xero_Id__c": "b1", "Total__c": 99.0})["id"]
    assert tx.startswith(DEFAULT.sobject("Xero_Transaction__c").key_prefix)


def test_composite_and_bulk_ingest_write_custom_objects(sf, server):
    out = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Invoice_Run__c"}, "Name": "C1", "Run_Key__c": "C-1", "Amount__c": 1.0},
        {"attributes": {"type": "Invoice_Run__c"}, "Name": "C2", "Run_Key__c": "C-2", "Amount__c": 2.0}]})
    assert [r["success"] for r in out] == [True, True]
    results = sf.bulk2.Invoice_Run__c.upsert(records=[{"Run_Key__c": "C-2", "Amount__c": "7"},
                                                      {"Run_Key__c": "B-3", "Name": "B3", "Amount__c": "3"}],
                                             external_id_field="Run_Key__c", wait=0)
    assert sum(r["numberRecordsProcessed"] for r in results) == 2 and sum(r["numberRecordsFailed"] for r in results) == 0
    rows = sf.query("SELECT Run_Key__c, Amount__c FROM Invoice_Run__c WHERE Run_Key__c IN ('C-1','C-2','B-3') "
                    "ORDER BY Run_Key__c")["records"]
    assert [(r["Run_Key__c"], r["Amount__c"]) for r in rows] == [("B-3", 3.0), ("C-1", 1.0), ("C-2", 7.0)]
    pages = list(sf.bulk2.Invoice_Run__c.query("SELECT Run_Key__c FROM Invoice_Run__c WHERE Run_Key__c = 'B-3'",
                                                 wait=0))
    assert "B-3" in "".join(pages)


@pytest.mark.parametrize("spec,problem", [
    ({"objects": {"Bad Name": {"fields": {}}}}, "--schema.objects.Bad Name: 'Bad Name' is not a standard object"),
    ({"objects": {"X__c": {"fields": {"Y__c": "money"}}}}, "--schema.objects.X__c.fields.Y__c.type: unknown field type 'money'"),
    ({"objects": {"X__c": {"fields": {"Y__c": {"type": "reference", "to": "Nope"}}}}},
     "--schema.objects.X__c.fields.Y__c.to: a lookup needs an existing object"),
    ({"objects": {"Account": {"fields": {"Name__x": "string"}}}}, "--schema.objects.Account.fields.Name__x: 'Name__x' is not a custom field"),
    ({"tables": {}}, "--schema: expected a mapping with one key, 'objects'"),
])
def test_a_bad_schema_is_refused_naming_the_key(spec, problem):
    with pytest.raises(ValueError) as exc:
        DEFAULT.extended(spec, "--schema")
    assert str(exc.value).startswith(problem)


def test_the_cli_refuses_a_bad_schema_file_with_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("objects: [1, 2")
    with pytest.raises(ConfigError, match="not valid YAML/JSON"):
        load_schema_file(str(path))


def test_quotes_take_their_opportunitys_account_and_roll_up_their_lines(sf):
    quote = sf.Quote.create({"Name": "Q1", "OpportunityId": sfid("006", 1), "ExpirationDate": "2026-07-31"})["id"]
    line = sf.QuoteLineItem.create({"QuoteId": quote, "PricebookEntryId": sfid("01u", 1), "Quantity": 3,
                                    "UnitPrice": 50, "Discount": 10})["id"]
    got = sf.Quote.get(quote)
    assert (got["AccountId"], got["Pricebook2Id"], got["CurrencyIsoCode"], got["Status"]) == \
        (sfid("001", 1), sfid("01s", 1), "EUR", "Draft")
    assert (got["Subtotal"], got["TotalPrice"], got["GrandTotal"]) == (150.0, 135.0, 135.0) and got["QuoteNumber"]
    rows = sf.query(f"SELECT Product2.ProductCode, ListPrice, TotalPrice, Quote.Name FROM QuoteLineItem "
                    f"WHERE QuoteId = '{quote}'")["records"]
    assert [(r["Product2"]["ProductCode"], r["ListPrice"], r["TotalPrice"], r["Quote"]["Name"]) for r in rows] == \
        [("SEAT", 40.0, 135.0, "Q1")]
    sf.QuoteLineItem.delete(line)
    assert sf.Quote.get(quote)["TotalPrice"] == 0.0
    with pytest.raises(SalesforceMalformedRequest, match="REQUIRED_FIELD_MISSING"):
        sf.Quote.create({"Name": "No opportunity"})
