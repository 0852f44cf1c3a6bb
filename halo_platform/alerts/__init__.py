"""Alerts: one formatting function and one sending function used by every domain."""

from halo_platform.alerts.send import Alert, format_alert, send_alert

__all__ = ["Alert", "format_alert", "send_alert"]
