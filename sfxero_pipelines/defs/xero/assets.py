"""Xero extract assets: partitioned ones for transactional objects, whole-table ones for reference data,
and journals read by JournalNumber (unpartitioned: an offset cursor, not a date window)."""


import datetime as dt

import dagster as dg
import sqlalchemy as sa

from ...config import load_config
from ...config.declared import reads_contact_groups
from ..extract_metadata import EXTRACT_KIND_TAG, extract_metadata
from ..partitions import daily_partitions
from ..recipe_roles import serves
from ..queues import XERO_QUEUE
from ..sync.tags import xero_pool
from ..retries import API_RETRY, only_transient_retried
from ..staging.resources import StagingDatabase
from ...extract.xero import extract_xero_journals, extract_xero_paged, extract_xero_reference
from ...extract.xero_objects import XERO_OBJECTS, XeroObject
from .resources import XeroResource

def _result(client, staging: StagingDatabase, obj: XeroObject, report) -> dg.MaterializeResult:
    calls, limits = dict(client.api_calls), dict(client.limits)
    with staging.engine.connect() as conn:
        total = conn.execute(sa.text(f'SELECT count(*) FROM "{obj.table}"')).scalar_one()
    return dg.MaterializeResult(metadata=extract_metadata(table=obj.table, total_rows=total, report=report,
                                                          api_calls=calls, budget=limits))


def build_xero_extract_asset(obj: XeroObject) -> dg.AssetsDefinition:
    config = load_config().extract
    common = dict(
        name=obj.table, group_name="xero_extract", kinds={"xero", "sql"}, pool=xero_pool(), retry_policy=API_RETRY,
        op_tags=XERO_QUEUE,
        metadata={"dagster/table_name": obj.table, "source_collection": obj.collection},
        tags={EXTRACT_KIND_TAG: "partitioned" if obj.paged else "offset" if obj.offset_paged else "reference"},
    )
    if obj.paged:
        @dg.asset(partitions_def=daily_partitions(), backfill_policy=dg.BackfillPolicy.single_run(),
                  description=f"Xero {obj.key} staged in {obj.table} by UpdatedDateUTC window; DELETED/VOIDED/ARCHIVED "
                              f"become is_deleted. {serves(obj.table)}",
                  **common)
        def _paged(context: dg.AssetExecutionContext, xero: XeroResource, staging: StagingDatabase) -> dg.MaterializeResult:
            window = context.partition_time_window
            with only_transient_retried(), xero.get_client() as client:
                report = extract_xero_paged(
                    client, staging.engine, obj, partition_start=window.start.astimezone(dt.timezone.utc),
                    partition_end=window.end.astimezone(dt.timezone.utc),
                    lookback=dt.timedelta(seconds=config.lookback_seconds), page_size=config.xero.page_size,
                    run_id=context.run.run_id)
                return _result(client, staging, obj, report)

        return _paged

    # Unpartitioned: journals after the last JournalNumber staged, or reference data read whole.
    if obj.offset_paged:
        extract_whole = extract_xero_journals
        description = f"Xero {obj.key}, read after the last JournalNumber staged (journals are never edited)."
    else:
        extract_whole = extract_xero_reference
        description = f"Xero {obj.key} (reference data), read whole each run; vanished rows become is_deleted."
        if obj.detail_field:
            description += (f" Each active record's {obj.detail_field} is read by id too while a recipe maps "
                            "contact group membership.")

    @dg.asset(description=f"{description} {serves(obj.table)}", **common)
    def _whole(context: dg.AssetExecutionContext, xero: XeroResource, staging: StagingDatabase) -> dg.MaterializeResult:
        # Members cost a call per group: read only while a recipe maps membership (decided per run, as
        # the recipes in sfxero.yaml are).
        details = {"with_details": reads_contact_groups(load_config().recipes.declared)} if obj.detail_field else {}
        with only_transient_retried(), xero.get_client() as client:
            return _result(client, staging, obj, extract_whole(client, staging.engine, obj,
                                                               run_id=context.run.run_id, **details))

    return _whole


xero_extract_assets: list[dg.AssetsDefinition] = [build_xero_extract_asset(XERO_OBJECTS[key]) for key in load_config().extract.xero.objects]
