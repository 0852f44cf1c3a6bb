"""The code location: only merges the domains' definitions.

Domain modules are imported as modules (not their `defs` names): Dagster refuses a module
with more than one Definitions object at module scope."""

import dagster as dg

from halo_platform.alerts import definitions as alerts
from halo_platform.availability import definitions as availability
from halo_platform.core import definitions as core
from halo_platform.core.redact import install_redaction
from halo_platform.delivery import definitions as delivery
from halo_platform.reports import definitions as reports
from halo_platform.sinks import definitions as sinks

install_redaction()  # this module starts every code-location process: mask personal data in its logs
defs = dg.Definitions.merge(core.defs, sinks.defs, alerts.defs, reports.defs, availability.defs, delivery.defs)
