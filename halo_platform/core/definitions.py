"""Core resources. Every domain binds the same instances for the keys it uses, so each
domain's `defs` resolves and runs its own jobs, and the code location merges them."""

import dagster as dg

from halo_platform.core.store import StoreResource
from halo_platform.core.warehouses import WarehousesResource

STORE = StoreResource()
WAREHOUSES = WarehousesResource()

defs = dg.Definitions(resources={"store": STORE, "warehouses": WAREHOUSES})
