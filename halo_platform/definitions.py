"""The code location: only merges the domains' definitions."""

import dagster as dg

from halo_platform.alerts.definitions import defs as alerts_defs
from halo_platform.availability.definitions import defs as availability_defs
from halo_platform.core.definitions import defs as core_defs
from halo_platform.delivery.definitions import defs as delivery_defs
from halo_platform.reports.definitions import defs as reports_defs

defs = dg.Definitions.merge(core_defs, alerts_defs, reports_defs, availability_defs, delivery_defs)
