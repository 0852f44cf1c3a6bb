"""Core resources, bound once for the whole code location."""

import dagster as dg

from halo_platform.core.store import StoreResource
from halo_platform.core.warehouses import WarehousesResource
from halo_platform.sinks import SinksResource

defs = dg.Definitions(
    resources={
        "store": StoreResource(),
        "warehouses": WarehousesResource(),
        "sinks": SinksResource(),
    }
)
