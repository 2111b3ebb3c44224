"""Registers the cycle's schedules and sensors, configured by sfxero.yaml's `schedules:` and `notify:`.

`schedules.enabled` sets the default status of all of them (RUNNING or STOPPED; the UI can still
switch each one). A bad cron or time zone stops the location loading with an error naming the key.
"""

import dagster as dg

from ...config import SfxeroConfig, load_config
from .chain import build_chain_sensors
from .failures import build_failure_sensor
from .push import build_push_sensor
from .schedules import build_cycle_schedules, default_status
from .token_keepalive import build_token_keepalive_sensor


def automation_defs(config: SfxeroConfig) -> dg.Definitions:
    _, sensor_status = default_status(config.schedules)
    return dg.Definitions(
        schedules=build_cycle_schedules(config.schedules),
        sensors=[*build_chain_sensors(sensor_status), build_push_sensor(sensor_status),
                 build_failure_sensor(config.notify, sensor_status), build_token_keepalive_sensor(sensor_status),
                 # Evaluates the assets' own AutomationConditions (the daily reconciliation report);
                 # Dagster's implicit default sensor would start STOPPED.
                 dg.AutomationConditionSensorDefinition("asset_automation_sensor", target=dg.AssetSelection.all(),
                                                        default_status=sensor_status)],
    )


@dg.definitions
def defs() -> dg.Definitions:
    return automation_defs(load_config())
