"""The emulated org's schema: objects, fields and the flags describe reports.

Field lists follow the standard objects' API names (as the real API documents it) plus the custom
fields the recipes write (docs/architecture.md §5). The org has multi-currency enabled, so objects that carry money
have `CurrencyIsoCode`. Compound address fields (`BillingAddress`...) are read-only and computed
from their parts, as in a real org.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CURRENCIES = ["USD", "GBP", "EUR", "AUD", "NZD", "JPY"]

# StageName -> (Probability, ForecastCategoryName, IsClosed, IsWon): the org's OpportunityStage table.
STAGES = {
    "Prospecting": (10, "Pipeline", False, False),
    "Qualification": (10, "Pipeline", False, False),
    "Needs Analysis": (20, "Pipeline", False, False),
    "Value Proposition": (50, "Pipeline", False, False),
    "Id. Decision Makers": (60, "Pipeline", False, False),
    "Perception Analysis": (70, "Pipeline", False, False),
    "Proposal/Price Quote": (75, "Pipeline", False, False),
    "Negotiation/Review": (90, "Commit", False, False),
    "Closed Won": (100, "Closed", True, True),
    "Closed Lost": (0, "Omitted", True, False),
}

_SOAP = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime", "address": "urn:address",
}
_EXTRA_TYPE = {"textarea": "plaintextarea"}
STRING_TYPES = {"string", "textarea", "picklist", "email", "phone", "url", "id", "reference", "combobox"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}


@dataclass
class Field:
    name: str
    type: str
    length: int = 0
    required: bool = False
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    calculated: bool = False
    compound_of: str | None = None  # for address parts: the compound field name
    label: str = ""

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def describe(self) -> dict:
        nillable = not self.required and self.type not in ("boolean", "id")
        is_num = self.type in NUMBER_TYPES
        return {
            "name": self.name,
            "label": self.label or self.name.replace("__c", "").replace("_", " "),
            "type": self.type,
            "soapType": _SOAP.get(self.type, "xsd:string"),
            "length": self.length if self.type in STRING_TYPES and self.type not in ("id", "reference") else 0,
            "byteLength": self.length * 3 if self.type in STRING_TYPES else 0,
            "precision": 18 if is_num and self.type != "int" else 0,
            "scale": 2 if self.type in ("currency", "percent") else 0,
            "digits": 9 if self.type == "int" else 0,
            "custom": self.custom,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": nillable,
            "defaultedOnCreate": self.name in ("OwnerId", "IsDeleted", "CurrencyIsoCode", "CreatedDate",
                                               "CreatedById", "LastModifiedDate", "LastModifiedById",
                                               "SystemModstamp") or (self.type == "boolean" and self.createable),
            "externalId": self.external_id,
            "idLookup": self.name == "Id" or self.external_id,
            "unique": self.unique,
            "caseSensitive": False,
            "calculated": self.calculated,
            "calculatedFormula": None,
            "compoundFieldName": self.compound_of,
            "autoNumber": self.name in ("OrderNumber", "OrderItemNumber", "QuoteNumber", "LineNumber"),
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": False, "validFor": None}
                for v in self.picklist
            ],
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
            "filterable": self.type != "address",
            "sortable": self.type not in ("address", "textarea"),
            "groupable": self.type not in ("address", "textarea", "double", "currency", "percent", "datetime"),
            "deprecatedAndHidden": False,
            "htmlFormatted": False,
            "nameField": self.name == "Name",
            # The rest of a real Field answer: features the sandbox org does not use, at their real defaults.
            "aggregatable": self.type not in ("textarea", "address", "boolean"),
            "aiPredictionField": False,
            "cascadeDelete": False,
            "controllerName": None,
            "defaultValue": False if self.type == "boolean" else None,
            "defaultValueFormula": None,
            "dependentPicklist": False,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "extraTypeInfo": _EXTRA_TYPE.get(self.type) or ("personname" if self.name == "Name" and
                                                            not self.createable else None),
            "filteredLookupInfo": None,
            "formulaTreatNullNumberAsZero": False,
            "highScaleNumber": False,
            "inlineHelpText": None,
            "mask": None,
            "maskType": None,
            "namePointing": False,
            "permissionable": self.custom or (nillable and self.updateable and self.type != "address"),
            "polymorphicForeignKey": False,
            "queryByDistance": False,
            "referenceTargetField": None,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": False,
            "searchPrefilterable": False,
            "writeRequiresMasterRead": False,
        }


@dataclass
class SObject:
    name: str
    key_prefix: str
    fields: list[Field]
    label: str = ""
    recycle_bin: bool = True  # CampaignMember deletes are hard: queryAll never sees them
    by_lower: dict[str, Field] = field(default_factory=dict, init=False)
    relationships: dict[str, Field] = field(default_factory=dict, init=False)
    stored: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.by_lower = {f.name.lower(): f for f in self.fields}
        self.relationships = {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}
        self.stored = [f.name for f in self.fields if f.type != "address"]

    def field(self, name: str) -> Field | None:
        return self.by_lower.get(name.lower())

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def describe_global_entry(self, version: str) -> dict:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "activateable": False, "associateEntityType": None, "associateParentEntity": None,
            "createable": True, "custom": self.custom, "customSetting": False, "deepCloneable": False,
            "deletable": True, "deprecatedAndHidden": False, "feedEnabled": self.name in _FEED_ENABLED,
            "hasSubtypes": False, "isInterface": False, "isSubtype": False,
            "keyPrefix": self.key_prefix, "label": self.label or self.name, "labelPlural": self.plural,
            "layoutable": True, "mergeable": self.name in _MERGEABLE, "mruEnabled": True,
            "name": self.name, "queryable": True, "replicateable": True, "retrieveable": True,
            "searchable": True, "triggerable": True, "undeletable": self.recycle_bin, "updateable": True,
            "urls": {"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}",
                     "defaultValues": base + "/defaultValues?recordTypeId&fields"},
        }

    @property
    def plural(self) -> str:
        return _PLURALS.get(self.name, (self.label or self.name) + "s")

    def describe(self, version: str, children: list[dict], instance_url: str) -> dict:
        entry = self.describe_global_entry(version)
        base = entry["urls"]["sobject"]
        scopes = [{"label": f"All {self.plural.lower()}", "name": "everything"}]
        if self.field("OwnerId"):
            scopes.append({"label": f"My {self.plural.lower()}", "name": "mine"})
        entry.update({
            "actionOverrides": [], "compactLayoutable": True, "defaultImplementation": None, "extendedBy": None,
            "extendsInterfaces": None, "implementedBy": None, "implementsInterfaces": None,
            "listviewable": None, "lookupLayoutable": None, "namedLayoutInfos": [], "networkScopeFieldName": None,
            "searchLayoutable": True, "sobjectDescribeOption": "FULL", "supportedScopes": scopes,
            "fields": [f.describe() for f in self.fields],
            "childRelationships": children,
            "recordTypeInfos": [{"active": True, "available": True, "defaultRecordTypeMapping": True,
                                 "developerName": "Master", "master": True, "name": "Master",
                                 "recordTypeId": "012000000000000AAA",
                                 "urls": {"layout": base + "/describe/layouts/012000000000000AAA"}}],
        })
        entry["urls"].update({
            "compactLayouts": base + "/describe/compactLayouts", "approvalLayouts": base + "/describe/approvalLayouts",
            "uiDetailTemplate": instance_url + "/{ID}", "uiEditTemplate": instance_url + "/{ID}/e",
            "listviews": base + "/listviews", "uiNewRecord": f"{instance_url}/{self.key_prefix}/e",
            "quickActions": base + "/quickActions", "layouts": base + "/describe/layouts",
        })
        return entry


_FEED_ENABLED = {"Account", "Contact", "Opportunity", "Lead", "Campaign", "Order", "Product2", "User"}
_MERGEABLE = {"Account", "Contact", "Lead"}
_PLURALS = {"Opportunity": "Opportunities", "OpportunityLineItem": "Opportunity Products", "QuoteLineItem": "Quote Line Items",
            "PricebookEntry": "Price Book Entries", "Pricebook2": "Price Books", "Product2": "Products"}


def _f(name, type_="string", length=0, **kw) -> Field:
    if type_ in ("string", "textarea") and not length:
        length = 255 if type_ == "string" else 32000
    if type_ in ("phone",):
        length = 40
    if type_ in ("email", "url"):
        length = 80 if type_ == "email" else 255
    if type_ == "picklist" and not length:
        length = 255
    return Field(name, type_, length, **kw)


def _ro(name, type_="string", length=0, **kw) -> Field:
    return _f(name, type_, length, createable=False, updateable=False, **kw)


def _ref(name, to, rel, required=False, updateable=True, createable=True) -> Field:
    return Field(name, "reference", 18, required=required, reference_to=to, relationship_name=rel,
                 updateable=updateable, createable=createable)


def _system(owner: bool = True, currency: bool = True) -> tuple[list[Field], list[Field]]:
    head = [Field("Id", "id", 18, createable=False, updateable=False),
            _ro("IsDeleted", "boolean")]
    tail = []
    if owner:
        tail.append(_ref("OwnerId", "User", "Owner"))
    if currency:
        tail.append(_f("CurrencyIsoCode", "picklist", 3, picklist=tuple(CURRENCIES)))
    tail += [
        _ro("CreatedDate", "datetime"),
        Field("CreatedById", "reference", 18, createable=False, updateable=False, reference_to="User",
              relationship_name="CreatedBy"),
        _ro("LastModifiedDate", "datetime"),
        Field("LastModifiedById", "reference", 18, createable=False, updateable=False, reference_to="User",
              relationship_name="LastModifiedBy"),
        _ro("SystemModstamp", "datetime"),
    ]
    return head, tail


def _address(prefix: str, compound: str) -> list[Field]:
    parts = [("Street", "textarea", 255), ("City", "string", 40), ("State", "string", 80),
             ("PostalCode", "string", 20), ("Country", "string", 80)]
    fields = [Field(f"{prefix}{p}", t, n, compound_of=compound) for p, t, n in parts]
    fields.append(Field(compound, "address", 0, createable=False, updateable=False))
    return fields


def _obj(name, prefix, body, *, owner=True, currency=True, **kw) -> SObject:
    head, tail = _system(owner, currency)
    return SObject(name, prefix, head + body + tail, **kw)


QUOTE_STATUSES = ("Draft", "Needs Review", "In Review", "Approved", "Rejected", "Presented", "Accepted",
                  "Denied")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")

OBJECTS: dict[str, SObject] = {o.name: o for o in [
    _obj("Account", "001", [
        _f("Name", required=True), _f("Type", "picklist", picklist=("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")),
        _f("Industry", "picklist", picklist=("Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Energy", "Media")),
        _f("AccountNumber", length=40), _f("Phone", "phone"), _f("Fax", "phone"), _f("Website", "url"),
        _ref("ParentId", "Account", "Parent"), *_address("Billing", "BillingAddress"),
        *_address("Shipping", "ShippingAddress"), _f("AnnualRevenue", "currency"),
        _f("NumberOfEmployees", "int"), _f("Description", "textarea"),
        _f("Xero_Contact_Id__c", length=255, external_id=True, label="Xero Contact Id"),
        _f("Xero_Outstanding__c", "currency", label="Xero Outstanding"),
        _f("Xero_Overdue__c", "currency", label="Xero Overdue"),
    ]),
    _obj("Contact", "003", [
        _f("FirstName", length=40), _f("LastName", length=80, required=True), _ro("Name", length=121),
        _f("Salutation", "picklist", picklist=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        _f("Title", length=128), _f("Email", "email"), _f("Phone", "phone"), _f("MobilePhone", "phone"),
        _ref("AccountId", "Account", "Account"), *_address("Mailing", "MailingAddress"),
        _f("LeadSource", "picklist", picklist=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")),
        _f("Description", "textarea"),
    ]),
    _obj("Opportunity", "006", [
        _f("Name", length=120, required=True), _ref("AccountId", "Account", "Account"),
        _f("StageName", "picklist", required=True, picklist=tuple(STAGES)),
        _f("CloseDate", "date", required=True), _f("Amount", "currency"), _f("Probability", "percent"),
        _ro("IsClosed", "boolean"), _ro("IsWon", "boolean"),
        _f("ForecastCategoryName", "picklist", picklist=("Omitted", "Pipeline", "Best Case", "Commit", "Closed")),
        _ro("ForecastCategory", "picklist", picklist=("Omitted", "Pipeline", "BestCase", "Forecast", "Closed")),
        _f("Type", "picklist", picklist=("New Customer", "Existing Customer - Upgrade", "Existing Customer - Renewal")),
        _f("LeadSource", "picklist", picklist=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")),
        _ref("Pricebook2Id", "Pricebook2", "Pricebook2"), _ro("HasOpportunityLineItem", "boolean"),
        _ref("CampaignId", "Campaign", "Campaign"), _f("NextStep"), _f("Description", "textarea"),
        _ro("FiscalYear", "int"), _ro("FiscalQuarter", "int"), _ro("Fiscal", length=6),
        _f("Xero_Invoice_Id__c", length=255, label="Xero Invoice Id"),
        _f("Xero_Invoice_Number__c", length=255, label="Xero Invoice Number"),
        _f("Xero_Invoice_Status__c", "picklist", picklist=("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"),
           label="Xero Invoice Status"),
        _f("Xero_Amount_Paid__c", "currency", label="Xero Amount Paid"),
        _f("Xero_Amount_Due__c", "currency", label="Xero Amount Due"),
        _f("Xero_Fully_Paid_On__c", "date", label="Xero Fully Paid On"),
    ]),
    _obj("OpportunityLineItem", "00k", [
        _ref("OpportunityId", "Opportunity", "Opportunity", required=True, updateable=False),
        _ref("PricebookEntryId", "PricebookEntry", "PricebookEntry", updateable=False),
        Field("Product2Id", "reference", 18, updateable=False, reference_to="Product2", relationship_name="Product2"),
        _ro("ProductCode"), _ro("Name", length=376), _f("Quantity", "double", required=True),
        _f("UnitPrice", "currency"), _ro("ListPrice", "currency"), _f("TotalPrice", "currency"),
        _f("Discount", "percent"), _f("ServiceDate", "date"), _f("Description", "textarea"),
        _f("SortOrder", "int"),
    ], owner=False),
    _obj("Product2", "01t", [
        _f("Name", required=True), _f("ProductCode"), _f("Family", "picklist",
                                                        picklist=("Subscription", "Services", "Support", "Hardware", "Other")),
        _f("IsActive", "boolean"), _f("Description", "textarea"), _f("QuantityUnitOfMeasure", "picklist", picklist=("Each",)),
    ], owner=False),
    _obj("Pricebook2", "01s", [
        _f("Name", required=True), _f("IsActive", "boolean"), _ro("IsStandard", "boolean"),
        _f("Description", "textarea"),
    ], owner=False, currency=False),
    _obj("PricebookEntry", "01u", [
        _ref("Pricebook2Id", "Pricebook2", "Pricebook2", required=True, updateable=False),
        _ref("Product2Id", "Product2", "Product2", required=True, updateable=False),
        _ro("Name"), _ro("ProductCode"), _f("UnitPrice", "currency", required=True),
        _f("IsActive", "boolean"), _f("UseStandardPrice", "boolean"),
    ], owner=False),
    _obj("Lead", "00Q", [
        _f("FirstName", length=40), _f("LastName", length=80, required=True), _ro("Name", length=121),
        _f("Company", required=True), _f("Title", length=128), _f("Email", "email"), _f("Phone", "phone"),
        _f("Street", "textarea", 255, compound_of="Address"), _f("City", length=40, compound_of="Address"),
        _f("State", length=80, compound_of="Address"), _f("PostalCode", length=20, compound_of="Address"),
        _f("Country", length=80, compound_of="Address"), Field("Address", "address", createable=False, updateable=False),
        _f("Status", "picklist", required=True, picklist=LEAD_STATUSES),
        _f("LeadSource", "picklist", picklist=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")),
        _f("Industry", "picklist", picklist=("Technology", "Manufacturing", "Retail", "Finance", "Healthcare", "Energy", "Media")),
        _ro("IsConverted", "boolean"), _ro("ConvertedDate", "date"),
        Field("ConvertedAccountId", "reference", 18, createable=False, updateable=False, reference_to="Account",
              relationship_name="ConvertedAccount"),
        Field("ConvertedContactId", "reference", 18, createable=False, updateable=False, reference_to="Contact",
              relationship_name="ConvertedContact"),
        Field("ConvertedOpportunityId", "reference", 18, createable=False, updateable=False,
              reference_to="Opportunity", relationship_name="ConvertedOpportunity"),
    ]),
    _obj("Campaign", "701", [
        _f("Name", length=80, required=True),
        _f("Type", "picklist", picklist=("Email", "Webinar", "Conference", "Advertisement", "Other")),
        _f("Status", "picklist", picklist=("Planned", "In Progress", "Completed", "Aborted")),
        _f("IsActive", "boolean"), _f("StartDate", "date"), _f("EndDate", "date"),
        _ref("ParentId", "Campaign", "Parent"), _f("Description", "textarea"),
    ]),
    _obj("CampaignMember", "00v", [
        _ref("CampaignId", "Campaign", "Campaign", required=True, updateable=False),
        _ref("LeadId", "Lead", "Lead", updateable=False), _ref("ContactId", "Contact", "Contact", updateable=False),
        _f("Status", "picklist", picklist=("Sent", "Responded")), _ro("HasResponded", "boolean"),
        _ro("FirstRespondedDate", "date"),
    ], owner=False, currency=False, recycle_bin=False),
    _obj("User", "005", [
        _f("Username", length=80, required=True), _f("FirstName", length=40), _f("LastName", length=80, required=True),
        _ro("Name", length=121), _f("Email", "email", required=True), _f("Alias", length=8, required=True),
        _f("IsActive", "boolean"), _f("TimeZoneSidKey", "picklist", picklist=("America/Los_Angeles", "Europe/London", "GMT")),
        _f("UserType", "picklist", picklist=("Standard",), createable=False, updateable=False),
    ], owner=False, currency=True),
    _obj("Order", "801", [
        _ref("AccountId", "Account", "Account", required=True), _ref("OpportunityId", "Opportunity", "Opportunity"),
        _ref("Pricebook2Id", "Pricebook2", "Pricebook2"), _f("Status", "picklist", required=True, picklist=("Draft", "Activated")),
        _ro("StatusCode", "picklist", picklist=("Draft", "Activated")), _f("EffectiveDate", "date", required=True),
        _f("EndDate", "date"), _ro("OrderNumber", length=30), _ro("TotalAmount", "currency"),
        _f("Type", "picklist", picklist=("New", "Renewal")), _f("Description", "textarea"),
        _ro("ActivatedDate", "datetime"), *_address("Billing", "BillingAddress"),
        _f("Xero_Invoice_Id__c", length=255, label="Xero Invoice Id"),
        _f("Xero_Invoice_Number__c", length=255, label="Xero Invoice Number"),
    ]),
    _obj("OrderItem", "802", [
        _ref("OrderId", "Order", "Order", required=True, updateable=False),
        _ref("PricebookEntryId", "PricebookEntry", "PricebookEntry", required=True, updateable=False),
        Field("Product2Id", "reference", 18, updateable=False, reference_to="Product2", relationship_name="Product2"),
        _ro("OrderItemNumber", length=10), _f("Quantity", "double", required=True), _f("UnitPrice", "currency", required=True),
        _ro("ListPrice", "currency"), _ro("TotalPrice", "currency"), _f("ServiceDate", "date"),
        _f("Description", "textarea"),
    ], owner=False),
    _obj("Quote", "0Q0", [
        _f("Name", required=True), _ref("OpportunityId", "Opportunity", "Opportunity", required=True, updateable=False),
        _ref("AccountId", "Account", "Account"), _ref("Pricebook2Id", "Pricebook2", "Pricebook2"),
        _ref("ContactId", "Contact", "Contact"), _ro("QuoteNumber", length=30),
        _f("Status", "picklist", picklist=QUOTE_STATUSES), _f("ExpirationDate", "date"),
        _f("Description", "textarea"), _ro("Subtotal", "currency"), _ro("TotalPrice", "currency"),
        _ro("GrandTotal", "currency"), _f("Tax", "currency"), _f("Discount", "percent"),
        _f("Xero_Quote_Id__c", length=255, label="Xero Quote Id"),
    ], owner=True),
    _obj("QuoteLineItem", "0QL", [
        _ref("QuoteId", "Quote", "Quote", required=True, updateable=False),
        _ref("PricebookEntryId", "PricebookEntry", "PricebookEntry", required=True, updateable=False),
        Field("Product2Id", "reference", 18, updateable=False, reference_to="Product2", relationship_name="Product2"),
        _ro("LineNumber", length=10), _f("Quantity", "double", required=True), _f("UnitPrice", "currency", required=True),
        _ro("ListPrice", "currency"), _ro("Subtotal", "currency"), _ro("TotalPrice", "currency"),
        _f("Discount", "percent"), _f("ServiceDate", "date"), _f("Description", "textarea"),
    ], owner=False),
]}



# -- custom objects ------------------------------------------------------------------------------------
# Objects a recipe writes that a real org would have as custom objects (docs/architecture.md "Sandbox
# schema file"): shipped so the example recipes run on the default sandbox. Key prefixes a00.. as a
# real org's first custom objects get.

def _custom(name: str, prefix: str, body: list[Field], label: str) -> SObject:
    return _obj(name, prefix, [_f("Name", length=80, required=True), *body], label=label)


DEFAULT_CUSTOM = [
    _custom("Xero_Credit_Note__c", "a00", [
        _ref("Account__c", "Account", "Account__r"),
        _f("Xero_Credit_Note_Id__c", length=36, external_id=True, unique=True, label="Xero Credit Note Id"),
        _f("Credit_Note_Number__c", length=255, label="Credit Note Number"),
        _f("Type__c", "picklist", picklist=("ACCRECCREDIT", "ACCPAYCREDIT"), label="Type"),
        _f("Status__c", "picklist", picklist=("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"),
           label="Status"),
        _f("Date__c", "date", label="Date"), _f("Total__c", "currency", label="Total"),
        _f("Remaining_Credit__c", "currency", label="Remaining Credit"), _f("Reference__c", label="Reference"),
    ], "Xero Credit Note"),
    _custom("Xero_Transaction__c", "a01", [
        _ref("Account__c", "Account", "Account__r"),
        _f("Xero_Id__c", length=36, external_id=True, unique=True, label="Xero Id"),
        _f("Kind__c", "picklist", picklist=("ACCPAY", "RECEIVE", "SPEND"), label="Kind"),
        _f("Number__c", length=255, label="Number"),
        _f("Status__c", "picklist", picklist=("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"),
           label="Status"),
        _f("Date__c", "date", label="Date"), _f("Due_Date__c", "date", label="Due Date"),
        _f("Total__c", "currency", label="Total"), _f("Amount_Due__c", "currency", label="Amount Due"),
        _f("Reference__c", label="Reference"),
    ], "Xero Transaction"),
]

_CHILD_PLURALS = {"Opportunity": "Opportunities", "OpportunityLineItem": "OpportunityLineItems",
                  "PricebookEntry": "PricebookEntries", "OrderItem": "OrderItems", "QuoteLineItem": "QuoteLineItems"}


class Schema:
    """The org's objects: the standard ones plus custom objects and fields (one per emulator, so two
    sandboxes in one process can serve different schemas)."""

    def __init__(self, objects) -> None:
        self.objects: dict[str, SObject] = {o.name: o for o in objects}
        self.by_lower = {name.lower(): obj for name, obj in self.objects.items()}
        self.prefixes = {obj.key_prefix: name for name, obj in self.objects.items()}

    def sobject(self, name: str) -> SObject | None:
        return self.by_lower.get(name.lower())

    def child_relationships(self, name: str) -> list[dict]:
        out = []
        for child in self.objects.values():
            for f in child.fields:
                if f.reference_to == name and f.name not in ("CreatedById", "LastModifiedById", "OwnerId"):
                    if f.custom:
                        rel = child.plural.replace(" ", "_") + "__r"
                    elif f.name == "ParentId":
                        rel = "ChildAccounts"
                    else:
                        rel = _CHILD_PLURALS.get(child.name, child.name + "s")
                    out.append({"childSObject": child.name, "field": f.name, "cascadeDelete": f.required,
                                "deprecatedAndHidden": False, "junctionIdListNames": [], "junctionReferenceTo": [],
                                "restrictedDelete": False, "relationshipName": rel})
        return out

    def extended(self, spec: dict, source: str = "schema") -> Schema:
        """This schema plus the objects and fields of a schema file (`parse_schema`'s format)."""
        return Schema(parse_schema(spec, self, source))


# -- the schema file -------------------------------------------------------------------------------------
_TYPES = {"string", "textarea", "picklist", "email", "phone", "url", "boolean", "int", "double", "currency",
          "percent", "date", "datetime", "reference"}
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c$")
_FIELD_KEYS = {"type", "length", "required", "to", "values", "label", "external_id", "unique", "relationship"}


def _field_from_spec(name: str, spec, known: dict[str, SObject], where: str) -> Field:
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected a type name or a mapping")
    extra = sorted(set(spec) - _FIELD_KEYS)
    if extra:
        raise ValueError(f"{where}.{extra[0]}: unknown key (known: {', '.join(sorted(_FIELD_KEYS))})")
    if not _API_NAME.match(name):
        raise ValueError(f"{where}: '{name}' is not a custom field API name (letters, digits, single underscores, "
                         "ending __c)")
    ftype = spec.get("type", "string")
    if ftype not in _TYPES:
        raise ValueError(f"{where}.type: unknown field type '{ftype}' (one of {', '.join(sorted(_TYPES))})")
    label = str(spec.get("label") or name[:-3].replace("_", " "))
    kw = dict(required=bool(spec.get("required", False)), label=label,
              external_id=bool(spec.get("external_id", False)), unique=bool(spec.get("unique", False)))
    if ftype == "reference":
        target = spec.get("to")
        obj = known.get(str(target or "").lower())
        if obj is None:
            raise ValueError(f"{where}.to: a lookup needs an existing object to point at, not {target!r}")
        rel = spec.get("relationship") or name[:-3] + "__r"
        return Field(name, "reference", 18, reference_to=obj.name, relationship_name=rel, **kw)
    if ftype == "picklist":
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}.values: a picklist needs a list of values")
        return _f(name, "picklist", picklist=tuple(str(v) for v in values), **kw)
    length = spec.get("length", 0)
    if not isinstance(length, int) or length < 0 or length > 131072:
        raise ValueError(f"{where}.length: must be a whole number up to 131072")
    return _f(name, ftype, length, **kw)


def parse_schema(spec: dict, base: Schema, source: str = "schema") -> list[SObject]:
    """The objects of `base` plus a schema file's: `{objects: {Name__c: {label, fields: {F__c: type | {type,
    length, required, to, values, label, external_id, unique}}}, Account: {fields: {...}}}}`. Custom objects
    get Id, Name, owner, currency and system fields as in a real org; a standard object listed gets the
    custom fields given. Raises ValueError naming the key of the first problem."""
    if not isinstance(spec, dict) or set(spec) - {"objects"}:
        raise ValueError(f"{source}: expected a mapping with one key, 'objects'")
    objects = spec.get("objects") or {}
    if not isinstance(objects, dict):
        raise ValueError(f"{source}.objects: expected a mapping of object API names")
    out = dict(base.objects)
    known = {n.lower(): o for n, o in out.items()}
    # Custom objects first (fieldless), so lookups can point at one another in any order.
    used = {o.key_prefix for o in out.values()}
    for name, body in objects.items():
        where = f"{source}.objects.{name}"
        if not isinstance(body, dict) or set(body) - {"label", "fields"}:
            raise ValueError(f"{where}: expected a mapping with 'label' and 'fields'")
        if name.lower() in known and not known[name.lower()].custom:
            continue
        if not _API_NAME.match(str(name)):
            raise ValueError(f"{where}: '{name}' is not a standard object nor a custom object API name ending __c")
        old = known.get(name.lower())
        prefix = old.key_prefix if old else next(f"a{i:02X}" for i in range(256) if f"a{i:02X}" not in used)
        used.add(prefix)
        stub = _custom(name, prefix, [], str(body.get("label") or name[:-3].replace("_", " ")))
        out[name] = known[name.lower()] = stub
    for name, body in objects.items():
        where = f"{source}.objects.{name}"
        obj = known[name.lower()]
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            raise ValueError(f"{where}.fields: expected a mapping of field API names")
        added = []
        for fname, fspec in fields.items():
            if obj.field(fname) is not None and not obj.custom:
                raise ValueError(f"{where}.fields.{fname}: {obj.name} already has this field")
            added.append(_field_from_spec(str(fname), fspec, known, f"{where}.fields.{fname}"))
        if obj.custom:
            kept = [f for f in obj.fields if f.name.lower() not in {a.name.lower() for a in added}]
            head, tail = kept[:3], kept[3:]  # Id, IsDeleted, Name first, as describe lists them
        else:
            tail_start = next(i for i, f in enumerate(obj.fields) if f.name in ("OwnerId", "CurrencyIsoCode",
                                                                                  "CreatedDate"))
            head, tail = obj.fields[:tail_start], obj.fields[tail_start:]
        new = SObject(obj.name, obj.key_prefix, head + added + tail, label=obj.label, recycle_bin=obj.recycle_bin)
        out[obj.name] = known[name.lower()] = new
    # A lookup resolved against a stub above still names the right object (by name): nothing to re-point.
    return list(out.values())


STANDARD = Schema(OBJECTS.values())
DEFAULT = Schema([*OBJECTS.values(), *DEFAULT_CUSTOM])
OBJECTS = DEFAULT.objects
BY_LOWER = DEFAULT.by_lower
PREFIXES = DEFAULT.prefixes


def sobject(name: str) -> SObject | None:
    return DEFAULT.sobject(name)


def child_relationships(name: str) -> list[dict]:
    return DEFAULT.child_relationships(name)
