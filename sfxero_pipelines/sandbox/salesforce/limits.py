"""The `/limits` answer: every key a real Enterprise Edition org reports (as the real API documents it).

The limits the sandbox meters (DailyApiRequests, DailyBulkApiBatches, DailyBulkV2QueryJobs) carry
live numbers; the others carry an untouched org's typical Max/Remaining so that tools which read
the whole answer (monitors, dashboards) find every key they expect.
"""

from __future__ import annotations

# name -> Max for the limits the sandbox does not meter (Remaining == Max).
_STATIC = {
    "ActiveScratchOrgs": 3,
    "AnalyticsExternalDataSizeMB": 40960,
    "ConcurrentAsyncGetReportInstances": 200,
    "ConcurrentEinsteinDataInsightsStoryCreation": 5,
    "ConcurrentEinsteinDiscoveryStoryCreation": 2,
    "ConcurrentSyncReportRuns": 20,
    "DailyAnalyticsDataflowJobExecutions": 60,
    "DailyAnalyticsUploadedFilesSizeMB": 51200,
    "DailyAsyncApexExecutions": 250000,
    "DailyAsyncApexTests": 500,
    "DailyBulkV2QueryFileStorageMB": 976562,
    "DailyDeliveredPlatformEvents": 50000,
    "DailyDurableGenericStreamingApiEvents": 200000,
    "DailyDurableStreamingApiEvents": 200000,
    "DailyEinsteinDataInsightsStoryCreation": 1000,
    "DailyEinsteinDiscoveryPredictAPICalls": 50000,
    "DailyEinsteinDiscoveryPredictionsByCDC": 500000,
    "DailyEinsteinDiscoveryStoryCreation": 100,
    "DailyFunctionsApiCallLimit": 235000,
    "DailyGenericStreamingApiEvents": 100000,
    "DailyScratchOrgs": 6,
    "DailyStandardVolumePlatformEvents": 25000,
    "DailyStreamingApiEvents": 200000,
    "DailyWorkflowEmails": 1000000,
    "DataStorageMB": 5120,
    "DurableStreamingApiConcurrentClients": 1000,
    "FileStorageMB": 10240,
    "HourlyAsyncReportRuns": 1200,
    "HourlyDashboardRefreshes": 200,
    "HourlyDashboardResults": 5000,
    "HourlyDashboardStatuses": 999999999,
    "HourlyLongTermIdMapping": 100000,
    "HourlyManagedContentPublicRequests": 50000,
    "HourlyODataCallout": 10000,
    "HourlyPublishedPlatformEvents": 250000,
    "HourlyPublishedStandardVolumePlatformEvents": 100000,
    "HourlyShortTermIdMapping": 100000,
    "HourlySyncReportRuns": 500,
    "HourlyTimeBasedWorkflow": 1000,
    "MassEmail": 5000,
    "MonthlyEinsteinDiscoveryStoryCreation": 500,
    "MonthlyPlatformEventsUsageEntitlement": 0,
    "Package2VersionCreates": 6,
    "Package2VersionCreatesWithoutValidation": 500,
    "PermissionSetsAssigned": 0,
    "PrivateConnectOutboundCalloutHourlyLimitMB": 0,
    "PublishCallbackUsageInApex": 5000000,
    "SingleEmail": 5000,
    "StreamingApiConcurrentClients": 1000,
}
# Storage the seeded data occupies, as a real org reports it (Remaining < Max).
_USED = {"DataStorageMB": 120, "FileStorageMB": 3}
# Per-app breakdowns the real answer nests under some limits (apps that have used them; here none has).
_PER_APP = ("Salesforce CLI", "Dataloader Bulk", "Dataloader Partner", "Workbench")
BULK_BATCHES_MAX = 15000
BULK_V2_QUERY_JOBS_MAX = 10000


def org_limits(*, api_max: int, api_used: int, bulk_batches_used: int, bulk_v2_query_jobs: int) -> dict:
    def per_app() -> dict:
        return {app: {"Max": 0, "Remaining": 0} for app in _PER_APP}

    out = {name: {"Max": m, "Remaining": m - _USED.get(name, 0)} for name, m in _STATIC.items()}
    out["DailyApiRequests"] = {"Max": api_max, "Remaining": max(0, api_max - api_used), **per_app()}
    out["DailyBulkApiBatches"] = {"Max": BULK_BATCHES_MAX,
                                  "Remaining": max(0, BULK_BATCHES_MAX - bulk_batches_used), **per_app()}
    out["DailyBulkV2QueryJobs"] = {"Max": BULK_V2_QUERY_JOBS_MAX,
                                   "Remaining": max(0, BULK_V2_QUERY_JOBS_MAX - bulk_v2_query_jobs)}
    for name in ("DailyGenericStreamingApiEvents", "DailyStreamingApiEvents", "DailyDurableStreamingApiEvents"):
        out[name].update(per_app())
    return dict(sorted(out.items()))
