"""The Salesforce client package: `SalesforceClient` and `Settings` (`client.py`), built from `auth.py`
(OAuth grants and the stored web-server connection), `transport.py` (HTTP session, trust store,
retries of transient errors, limit headers), `query.py` (SOQL query/queryAll and paging) and `bulk.py`
(Bulk API 2.0). Each module's docstring states its contract; importers use the names re-exported here.
"""

from .bulk import parse_bulk_csv
from .client import AUTH_MODES, COLLECTION_LIMIT, COMPOSITE_BATCH_LIMIT, SalesforceClient, Settings
from .query import clean_record, page_records, split_query_page
from .transport import endpoint_name, trust_context

__all__ = ["AUTH_MODES", "COLLECTION_LIMIT", "COMPOSITE_BATCH_LIMIT", "SalesforceClient", "Settings", "clean_record",
           "endpoint_name", "page_records", "parse_bulk_csv", "split_query_page", "trust_context"]
