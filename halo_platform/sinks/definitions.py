"""The `sinks` resource: one instance, bound by every domain that delivers or alerts."""

import dagster as dg

from halo_platform.sinks import SinksResource

SINKS = SinksResource()

defs = dg.Definitions(resources={"sinks": SINKS})
