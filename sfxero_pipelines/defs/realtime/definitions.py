"""Registers the real-time lane (sfxero.yaml `realtime:`): its job and its sensor."""

import dagster as dg

from ...config import load_config
from ..automation.schedules import default_status
from .lane import build_lane_sensor, lane_status, realtime_lane_job


@dg.definitions
def defs() -> dg.Definitions:
    config = load_config()
    _, sensor_status = default_status(config.schedules)
    return dg.Definitions(jobs=[realtime_lane_job],
                          sensors=[build_lane_sensor(lane_status(config, sensor_status))])
