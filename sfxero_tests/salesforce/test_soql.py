"""The SOQL table: real simple-salesforce queries against a fixture org, with expected rows or error codes."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from .conftest import raw_sf
from .soql_fixture import A1, A6

ACME, ACME_L, ZP, JP, OB, BETA = "Acme Corp", "acme corp", "Zürich Präzision AG", "株式会社テスト", "O'Brien & Sons", "Beta_Labs 100%"

# (soql, expected): a set = these Names in any order; a list = in this order; an int = COUNT() total.
# Queries marked ALL run through queryAll.
VALID = [
    ("SELECT Id, Name FROM Account", {ACME, ACME_L, ZP, JP, BETA}),
    ("ALL SELECT Id, Name FROM Account", {ACME, ACME_L, ZP, JP, BETA, OB}),
    ("ALL SELECT Name FROM Account WHERE IsDeleted = true", {OB}),
    ("SELECT Name FROM Account WHERE Name = 'ACME CORP'", {ACME, ACME_L}),
    ("SELECT Name FROM Account WHERE Name != 'acme corp'", {ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE Name <> 'acme corp'", {ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE Name LIKE 'acme%'", {ACME, ACME_L}),
    ("SELECT Name FROM Account WHERE Name LIKE '%\\_Labs%'", {BETA}),
    ("SELECT Name FROM Account WHERE Name LIKE '%100\\%'", {BETA}),
    ("SELECT Name FROM Account WHERE Name LIKE 'Z_rich%'", {ZP}),
    ("select name from account where name like 'zü%'", {ZP}),
    ("ALL SELECT Name FROM Account WHERE Name = 'O\\'Brien & Sons'", {OB}),
    ("SELECT Name FROM Account WHERE Industry IN ('Technology', 'retail')", {ACME, ACME_L, BETA}),
    ("SELECT Name FROM Account WHERE Industry NOT IN ('Technology')", {ACME_L, ZP, JP}),
    ("SELECT Name FROM Account WHERE Industry = null", {JP}),
    ("SELECT Name FROM Account WHERE Industry != null", {ACME, ACME_L, ZP, BETA}),
    ("SELECT Name FROM Account WHERE Industry <> 'Technology' AND Industry != null", {ACME_L, ZP}),
    ("SELECT Name FROM Account WHERE AnnualRevenue > 100000", {ACME, ACME_L}),
    ("SELECT Name FROM Account WHERE AnnualRevenue >= 250000.5", {ACME, ACME_L}),
    ("SELECT Name FROM Account WHERE AnnualRevenue < 75000", {JP}),
    ("SELECT Name FROM Account WHERE AnnualRevenue <= 75000", {JP, BETA}),
    ("SELECT Name FROM Account WHERE NumberOfEmployees = 50", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate > 2024-06-01T00:00:00Z", {ZP, JP}),
    ("SELECT Name FROM Account WHERE CreatedDate >= 2024-06-01T00:00:00Z", {ACME_L, ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate < 2024-06-01T02:00:00+02:00", {ACME}),
    # Datetime literal forms: any number of fractional digits, Z or an offset (compared as the UTC instant).
    ("SELECT Name FROM Account WHERE SystemModstamp >= 2000-12-02T23:49:18.511000Z", {ACME, ACME_L, ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-06-01T00:00:00Z", {ACME_L, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-06-01T00:00:00.0Z", {ACME_L, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-06-01T00:00:00.000Z", {ACME_L, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-06-01T00:00:00.000000Z", {ACME_L, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate >= 2024-06-01T00:00:00.000000000Z", {ACME_L, ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate >= 2024-01-15T10:00:00.000001Z", {ACME_L, ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate > 2024-01-15T09:59:59.9999999Z", {ACME, ACME_L, ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate < 2024-01-15T10:00:00.0005Z", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate <= 2024-01-15T10:00:00.0005Z", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-01-15T10:00:00.0005Z", set()),
    ("SELECT Name FROM Account WHERE CreatedDate != 2024-01-15T10:00:00.0005Z", {ACME, ACME_L, ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate IN (2024-01-15T10:00:00.0005Z, 2025-01-01T00:00:00Z)", {ZP}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-01-15T04:00:00-06:00", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-01-15T15:30:00+05:30", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-01-15T15:30:00+0530", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-01-15T04:00:00.000-06:00", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate = 2024-01-15T15:30:00.000000+05:30", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate < 2024-05-31T20:00:00-04:00", {ACME}),
    ("SELECT Name FROM Account WHERE CreatedDate <= 2024-05-31T20:00:00-04:00", {ACME, ACME_L, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate > 2024-06-01T05:29:59.999999+05:30", {ACME_L, ZP, JP, BETA}),
    ("SELECT Name FROM Account WHERE SystemModstamp = LAST_N_DAYS:1", {JP}),
    ("SELECT Name FROM Account WHERE CreatedDate < LAST_N_DAYS:30", {ACME, ACME_L, ZP, BETA}),
    ("SELECT Name FROM Account WHERE CreatedDate = TODAY", {JP}),
    ("SELECT Name FROM Account WHERE Id = '" + A1[:15] + "'", {ACME}),
    ("SELECT Name FROM Account WHERE ParentId = '" + A1 + "'", {BETA}),
    ("SELECT Name, Parent.Name FROM Account WHERE Parent.Name != null", {BETA}),
    ("SELECT Name FROM Account WHERE (Industry = 'Technology' OR Industry = 'Retail') AND NumberOfEmployees < 20",
     {ACME_L}),
    ("SELECT Name FROM Account WHERE NOT Name LIKE 'acme%'", {ZP, JP, BETA}),
    ("SELECT Name FROM Account ORDER BY AnnualRevenue DESC NULLS LAST, Name", [ACME, ACME_L, BETA, JP, ZP]),
    ("SELECT Name FROM Account ORDER BY AnnualRevenue ASC", [ZP, JP, BETA, ACME_L, ACME]),
    ("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC NULLS LAST LIMIT 2", [ZP, ACME]),
    ("SELECT Name FROM Account ORDER BY NumberOfEmployees ASC NULLS LAST LIMIT 2 OFFSET 1", [ACME_L, ACME]),
    ("SELECT COUNT() FROM Account", 5),
    ("SELECT COUNT() FROM Account WHERE Name LIKE 'acme%'", 2),
    ("ALL SELECT COUNT() FROM Account", 6),
    ("SELECT Name FROM Opportunity WHERE CloseDate = LAST_N_DAYS:30", {"Acme - Renewal", "ZP - Big deal"}),
    ("SELECT Name FROM Opportunity WHERE CloseDate > TODAY", {"Acme - Upsell", "JP - Zero"}),
    ("SELECT Name FROM Opportunity WHERE CloseDate = NEXT_N_DAYS:7", {"JP - Zero"}),
    ("SELECT Name FROM Opportunity WHERE CloseDate < 2000-01-01", set()),
    ("SELECT Name FROM Opportunity WHERE IsWon = true", {"Acme - Renewal", "ZP - Big deal"}),
    ("SELECT Name FROM Opportunity WHERE IsClosed = false AND Amount > 0", {"Acme - Upsell"}),
    ("SELECT Name FROM Opportunity WHERE (StageName = 'Closed Won' OR StageName = 'Closed Lost') "
     "AND CurrencyIsoCode = 'GBP'", {"Acme UK - New"}),
    ("SELECT Name FROM Opportunity WHERE NOT (IsWon = true)", {"Acme - Upsell", "Acme UK - New", "JP - Zero"}),
    ("SELECT Name FROM Opportunity WHERE Amount = 0", {"Acme UK - New"}),
    ("SELECT Name, Account.Name FROM Opportunity WHERE Account.Name = 'acme corp'",
     {"Acme - Renewal", "Acme - Upsell", "Acme UK - New"}),
    ("SELECT Name FROM Opportunity WHERE Account.BillingCountry = 'Germany'", {"ZP - Big deal"}),
    ("SELECT Name FROM Contact WHERE Email = null", {"Alan Turing"}),
    ("SELECT Name FROM Contact WHERE AccountId = null", {"Orphan Person"}),
    ("SELECT Name FROM Contact WHERE LastName = 'MÜLLER'", {"Jürgen Müller"}),
    ("SELECT Name FROM Contact WHERE Account.Industry = 'Technology' ORDER BY LastName", ["Ada Lovelace", "Alan Turing"]),
]

INVALID = [
    ("SELECT Id FROM Foo__c", "INVALID_TYPE"),
    ("SELECT Id, Nonexistent FROM Account", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE Nonexistent = 'x'", "INVALID_FIELD"),
    ("SELECT Id, Foo.Name FROM Contact", "INVALID_FIELD"),
    ("SELECT Id FROM Account ORDER BY Nope", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE AnnualRevenue = '5'", "INVALID_FIELD"),
    ("SELECT Id FROM Opportunity WHERE CloseDate > 2024-01-01T00:00:00Z", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE CreatedDate > '2024-01-01T00:00:00Z'", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01T00:00:00", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-02-30T00:00:00Z", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01T00:00:00.Z", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE IsDeleted = 'true'", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE Description = 'x'", "INVALID_FIELD"),
    ("SELECT Id FROM Account WHERE Name = 'a' AND Industry = 'b' OR Phone = 'c'", "MALFORMED_QUERY"),
    ("SELECT FROM Account", "MALFORMED_QUERY"),
    ("SELECT Id Account", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account LIMIT abc", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account ORDER Name", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE Name IS NULL", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE Name IN ()", "MALFORMED_QUERY"),
    ("SELECT Id FROM Account WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
]


@pytest.fixture(scope="module")
def sf(soql_sandbox):
    return raw_sf(soql_sandbox)


@pytest.mark.parametrize("soql,expected", VALID, ids=[q for q, _ in VALID])
def test_valid_query(sf, soql, expected):
    include_deleted = soql.startswith("ALL ")
    soql = soql.removeprefix("ALL ")
    result = sf.query(soql, include_deleted=include_deleted)
    assert result["done"] is True
    if isinstance(expected, int):
        assert result["totalSize"] == expected and result["records"] == []
        return
    names = [r["Name"] for r in result["records"]]
    assert result["totalSize"] == len(names)
    if isinstance(expected, list):
        assert names == expected
    else:
        assert set(names) == expected and len(names) == len(expected)


@pytest.mark.parametrize("soql,code", INVALID, ids=[q for q, _ in INVALID])
def test_invalid_query(sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query(soql)
    assert info.value.status == 400
    assert isinstance(info.value.content, list)  # Salesforce error bodies are JSON arrays
    assert info.value.content[0]["errorCode"] == code
    assert info.value.content[0]["message"]


def test_relationship_fields_are_nested_like_rest(sf):
    rec = sf.query("SELECT Id, Name, Parent.Name, BillingAddress FROM Account WHERE Id = '" + A6 + "'")["records"][0]
    assert rec["attributes"]["type"] == "Account"
    assert rec["attributes"]["url"].endswith("/sobjects/Account/" + A6)
    assert rec["Parent"]["Name"] == "Acme Corp" and rec["Parent"]["attributes"]["type"] == "Account"
    assert rec["BillingAddress"]["country"] == "Australia"
    orphan = sf.query("SELECT Name, Account.Name FROM Contact WHERE AccountId = null")["records"][0]
    assert orphan["Account"] is None


def test_table_size():
    assert len(VALID) + len(INVALID) >= 40
