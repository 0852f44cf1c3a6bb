import dagster as dg

from halo_platform.alerts.sensors import alert_retry_sensor, asset_check_alert_sensor, run_failure_alert_sensor

defs = dg.Definitions(sensors=[run_failure_alert_sensor, asset_check_alert_sensor, alert_retry_sensor])
