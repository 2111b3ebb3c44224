"""`/limits` and describe answers carry every key the real ones carry (real key sets written out here)."""

from __future__ import annotations

import pytest

from .conftest import raw_sf

# The keys of a real v59+ answer (Enterprise Edition org; DescribeSObjectResult / Field / ChildRelationship).
LIMIT_KEYS = {
    "ActiveScratchOrgs", "AnalyticsExternalDataSizeMB", "ConcurrentAsyncGetReportInstances",
    "ConcurrentEinsteinDataInsightsStoryCreation", "ConcurrentEinsteinDiscoveryStoryCreation",
    "ConcurrentSyncReportRuns", "DailyAnalyticsDataflowJobExecutions", "DailyAnalyticsUploadedFilesSizeMB",
    "DailyApiRequests", "DailyAsyncApexExecutions", "DailyAsyncApexTests", "DailyBulkApiBatches",
    "DailyBulkV2QueryFileStorageMB", "DailyBulkV2QueryJobs", "DailyDeliveredPlatformEvents",
    "DailyDurableGenericStreamingApiEvents", "DailyDurableStreamingApiEvents",
    "DailyEinsteinDataInsightsStoryCreation", "DailyEinsteinDiscoveryPredictAPICalls",
    "DailyEinsteinDiscoveryPredictionsByCDC", "DailyEinsteinDiscoveryStoryCreation", "DailyFunctionsApiCallLimit",
    "DailyGenericStreamingApiEvents", "DailyScratchOrgs", "DailyStandardVolumePlatformEvents",
    "DailyStreamingApiEvents", "DailyWorkflowEmails", "DataStorageMB", "DurableStreamingApiConcurrentClients",
    "FileStorageMB", "HourlyAsyncReportRuns", "HourlyDashboardRefreshes", "HourlyDashboardResults",
    "HourlyDashboardStatuses", "HourlyLongTermIdMapping", "HourlyManagedContentPublicRequests",
    "HourlyODataCallout", "HourlyPublishedPlatformEvents", "HourlyPublishedStandardVolumePlatformEvents",
    "HourlyShortTermIdMapping", "HourlySyncReportRuns", "HourlyTimeBasedWorkflow", "MassEmail",
    "MonthlyEinsteinDiscoveryStoryCreation", "MonthlyPlatformEventsUsageEntitlement", "Package2VersionCreates",
    "Package2VersionCreatesWithoutValidation", "PermissionSetsAssigned",
    "PrivateConnectOutboundCalloutHourlyLimitMB", "PublishCallbackUsageInApex", "SingleEmail",
    "StreamingApiConcurrentClients",
}
GLOBAL_ENTRY_KEYS = {
    "activateable", "associateEntityType", "associateParentEntity", "createable", "custom", "customSetting",
    "deepCloneable", "deletable", "deprecatedAndHidden", "feedEnabled", "hasSubtypes", "isInterface", "isSubtype",
    "keyPrefix", "label", "labelPlural", "layoutable", "mergeable", "mruEnabled", "name", "queryable",
    "replicateable", "retrieveable", "searchable", "triggerable", "undeletable", "updateable", "urls",
}
SOBJECT_KEYS = GLOBAL_ENTRY_KEYS | {
    "actionOverrides", "childRelationships", "compactLayoutable", "defaultImplementation", "extendedBy",
    "extendsInterfaces", "fields", "implementedBy", "implementsInterfaces", "listviewable", "lookupLayoutable",
    "namedLayoutInfos", "networkScopeFieldName", "recordTypeInfos", "searchLayoutable", "sobjectDescribeOption",
    "supportedScopes",
}
SOBJECT_URL_KEYS = {"compactLayouts", "rowTemplate", "approvalLayouts", "uiDetailTemplate", "uiEditTemplate",
                    "defaultValues", "listviews", "describe", "uiNewRecord", "quickActions", "layouts", "sobject"}
FIELD_KEYS = {
    "aggregatable", "aiPredictionField", "autoNumber", "byteLength", "calculated", "calculatedFormula",
    "cascadeDelete", "caseSensitive", "compoundFieldName", "controllerName", "createable", "custom", "defaultValue",
    "defaultValueFormula", "defaultedOnCreate", "dependentPicklist", "deprecatedAndHidden", "digits",
    "displayLocationInDecimal", "encrypted", "externalId", "extraTypeInfo", "filterable", "filteredLookupInfo",
    "formulaTreatNullNumberAsZero", "groupable", "highScaleNumber", "htmlFormatted", "idLookup", "inlineHelpText",
    "label", "length", "mask", "maskType", "name", "nameField", "namePointing", "nillable", "permissionable",
    "picklistValues", "polymorphicForeignKey", "precision", "queryByDistance", "referenceTargetField",
    "referenceTo", "relationshipName", "relationshipOrder", "restrictedDelete", "restrictedPicklist", "scale",
    "searchPrefilterable", "soapType", "sortable", "type", "unique", "updateable", "writeRequiresMasterRead",
}
CHILD_KEYS = {"cascadeDelete", "childSObject", "deprecatedAndHidden", "field", "junctionIdListNames",
              "junctionReferenceTo", "relationshipName", "restrictedDelete"}
RECORD_TYPE_KEYS = {"active", "available", "defaultRecordTypeMapping", "developerName", "master", "name",
                    "recordTypeId", "urls"}
PICKLIST_KEYS = {"active", "defaultValue", "label", "validFor", "value"}


@pytest.fixture(scope="module")
def sf(sandbox):
    return raw_sf(sandbox)


def test_limits_carry_every_real_key(sf):
    limits = sf.limits()
    assert set(limits) == LIMIT_KEYS
    assert all({"Max", "Remaining"} <= set(v) and v["Remaining"] <= v["Max"] for v in limits.values())
    assert limits["DailyApiRequests"]["Max"] == 100_000 and limits["DailyBulkApiBatches"]["Max"] == 15_000


def test_global_describe_entries_carry_every_real_key(sf):
    glob = sf.describe()
    assert {"encoding", "maxBatchSize", "sobjects"} == set(glob)
    for entry in glob["sobjects"]:
        assert set(entry) == GLOBAL_ENTRY_KEYS, entry["name"]
        assert set(entry["urls"]) == {"sobject", "describe", "rowTemplate", "defaultValues"}


@pytest.mark.parametrize("name", ["Account", "Contact", "Opportunity", "OpportunityLineItem", "Lead",
                                  "CampaignMember", "Order", "User"])
def test_sobject_describe_carries_every_real_key(sf, name):
    d = getattr(sf, name).describe()
    assert set(d) == SOBJECT_KEYS
    assert set(d["urls"]) == SOBJECT_URL_KEYS
    assert d["urls"]["uiDetailTemplate"].startswith("https://") and d["sobjectDescribeOption"] == "FULL"
    for f in d["fields"]:
        assert set(f) == FIELD_KEYS, f["name"]
        for p in f["picklistValues"]:
            assert set(p) == PICKLIST_KEYS
    for child in d["childRelationships"]:
        assert set(child) == CHILD_KEYS
    for rt in d["recordTypeInfos"]:
        assert set(rt) == RECORD_TYPE_KEYS
