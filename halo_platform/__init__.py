"""halo_platform: a Dagster data platform for healthcare operations."""
