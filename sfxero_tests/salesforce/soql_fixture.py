"""A small org for the SOQL table: known values, edge cases (case, unicode, escapes, nulls, deletes)."""

from __future__ import annotations

import datetime as dt

from sfxero_pipelines.sandbox.salesforce.store import id18


def _id(prefix: str, n: int) -> str:
    return id18(f"{prefix}5Hs{n:09d}")


A1, A2, A3, A4, A5, A6 = (_id("001", i) for i in range(1, 7))


def soql_fixtures() -> dict:
    today = dt.datetime.now(dt.timezone.utc).date()

    def day(delta: int) -> str:
        return (today + dt.timedelta(days=delta)).isoformat()

    return {
        "Account": [
            {"Id": A1, "Name": "Acme Corp", "Industry": "Technology", "BillingCountry": "United States",
             "AnnualRevenue": 1_000_000, "NumberOfEmployees": 50, "CurrencyIsoCode": "USD",
             "Xero_Contact_Id__c": "X-1", "CreatedDate": "2024-01-15T10:00:00.000+0000"},
            {"Id": A2, "Name": "acme corp", "Industry": "Retail", "BillingCountry": "United Kingdom",
             "AnnualRevenue": 250000.5, "NumberOfEmployees": 10, "CurrencyIsoCode": "GBP",
             "CreatedDate": "2024-06-01T00:00:00.000+0000"},
            {"Id": A3, "Name": "Zürich Präzision AG", "Industry": "Manufacturing", "BillingCountry": "Germany",
             "NumberOfEmployees": 500, "CurrencyIsoCode": "EUR", "CreatedDate": "2025-01-01T00:00:00Z"},
            {"Id": A4, "Name": "株式会社テスト", "BillingCountry": "Japan", "AnnualRevenue": 0,
             "NumberOfEmployees": 3, "CurrencyIsoCode": "JPY"},
            {"Id": A5, "Name": "O'Brien & Sons", "Industry": "Finance", "BillingCountry": "Ireland",
             "AnnualRevenue": 5_000_000, "CurrencyIsoCode": "USD", "IsDeleted": True,
             "CreatedDate": "2023-12-31T23:59:59.000+0000"},
            {"Id": A6, "Name": "Beta_Labs 100%", "Industry": "Technology", "BillingCountry": "Australia",
             "AnnualRevenue": 75000, "CurrencyIsoCode": "AUD", "ParentId": A1,
             "CreatedDate": "2024-06-01T00:00:00.000+0000"},
        ],
        "Contact": [
            {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@acme.example.com", "AccountId": A1},
            {"FirstName": "Alan", "LastName": "Turing", "AccountId": A1},
            {"FirstName": "Grace", "LastName": "Hopper", "Email": "grace@acme.example.co.uk", "AccountId": A2},
            {"FirstName": "Jürgen", "LastName": "Müller", "Email": "j@zp.example.de", "AccountId": A3},
            {"FirstName": "Orphan", "LastName": "Person", "Email": "o@x.example.com"},
        ],
        "Opportunity": [
            {"Name": "Acme - Renewal", "AccountId": A1, "StageName": "Closed Won", "Amount": 1200,
             "CloseDate": day(-10), "CurrencyIsoCode": "USD"},
            {"Name": "Acme - Upsell", "AccountId": A1, "StageName": "Prospecting", "Amount": 5000,
             "CloseDate": day(30), "CurrencyIsoCode": "USD"},
            {"Name": "Acme UK - New", "AccountId": A2, "StageName": "Closed Lost", "Amount": 0,
             "CloseDate": day(-100), "CurrencyIsoCode": "GBP"},
            {"Name": "ZP - Big deal", "AccountId": A3, "StageName": "Closed Won", "Amount": 250000,
             "CloseDate": day(-3), "CurrencyIsoCode": "EUR"},
            {"Name": "JP - Zero", "AccountId": A4, "StageName": "Negotiation/Review", "CloseDate": day(5),
             "CurrencyIsoCode": "JPY"},
        ],
    }
