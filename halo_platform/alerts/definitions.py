import dagster as dg

from halo_platform.alerts.sensors import run_failure_alert_sensor

defs = dg.Definitions(sensors=[run_failure_alert_sensor])
