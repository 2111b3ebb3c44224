"""One partitioned extract asset per configured Salesforce object (`sf_<object>` in staging)."""


import datetime as dt

import dagster as dg
import sqlalchemy as sa

from ...config import load_config
from ..extract_metadata import extract_metadata
from ...staging.schema import snake
from ..partitions import daily_partitions
from ..recipe_roles import serves
from ..queues import SALESFORCE_QUEUE
from ..sync.tags import SALESFORCE_POOL
from ..retries import API_RETRY, only_transient_retried
from ..staging.resources import StagingDatabase
from ...extract.salesforce import extract_salesforce_object
from .resources import SalesforceResource


def salesforce_table(sobject: str) -> str:
    return f"sf_{snake(sobject)}"


def build_salesforce_extract_asset(sobject: str) -> dg.AssetsDefinition:
    config = load_config().extract
    table = salesforce_table(sobject)

    @dg.asset(
        name=table,
        group_name="salesforce_extract",
        kinds={"salesforce", "sql"},
        partitions_def=daily_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=SALESFORCE_POOL,
        op_tags=SALESFORCE_QUEUE,
        retry_policy=API_RETRY,
        description=f"Salesforce {sobject} records staged in {table} by SystemModstamp window (queryAll: soft deletes "
                    f"become is_deleted). {serves(table)}",
        metadata={"dagster/table_name": table, "source_object": sobject},
    )
    def _extract(context: dg.AssetExecutionContext, salesforce: SalesforceResource,
                 staging: StagingDatabase) -> dg.MaterializeResult:
        window = context.partition_time_window
        with only_transient_retried(), salesforce.get_client() as client:
            report = extract_salesforce_object(
                client, staging.engine, sobject, table,
                partition_start=window.start.astimezone(dt.timezone.utc),
                partition_end=window.end.astimezone(dt.timezone.utc),
                cfg=config.salesforce, lookback=dt.timedelta(seconds=config.lookback_seconds),
                run_id=context.run.run_id,
            )
            calls, usage = dict(client.api_calls), client.api_usage
        with staging.engine.connect() as conn:
            total = conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
        budget = {"used": usage[0], "max": usage[1], "left": usage[1] - usage[0]} if usage else {}
        return dg.MaterializeResult(metadata=extract_metadata(table=table, total_rows=total, report=report,
                                                              api_calls=calls, budget=budget))

    return _extract


salesforce_extract_assets: list[dg.AssetsDefinition] = [build_salesforce_extract_asset(o) for o in load_config().extract.salesforce.objects]
