"""`halo bench warehouses`: fetch rate from PostgreSQL into DuckDB, per driver."""
COMMANDS = ()
BENCH = ()
