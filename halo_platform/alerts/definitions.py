import dagster as dg

from halo_platform.alerts.sensors import asset_check_alert_sensor, run_failure_alert_sensor

defs = dg.Definitions(sensors=[run_failure_alert_sensor, asset_check_alert_sensor])
