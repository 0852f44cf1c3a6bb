"""The code location: only merges the domains' definitions.

Domain modules are imported as modules (not their `defs` names): Dagster refuses a module
with more than one Definitions object at module scope."""

import atexit
import gc

import dagster as dg

from halo_platform.alerts import definitions as alerts
from halo_platform.availability import definitions as availability
from halo_platform.core import definitions as core
from halo_platform.core.instance import dagster_environment
from halo_platform.core.redact import install_redaction
from halo_platform.delivery import definitions as delivery
from halo_platform.reports import definitions as reports
from halo_platform.sinks import definitions as sinks

install_redaction()  # this module starts every code-location process: mask personal data in its logs
dagster_environment()  # ... and every run worker: it stores a ranged run's materializations in batches
defs = dg.Definitions.merge(core.defs, sinks.defs, alerts.defs, reports.defs, availability.defs, delivery.defs)

# Everything built so far lives as long as the process: moved out of the collector's sight, so that
# a full collection in the code server no longer walks ~230k objects in the middle of a run
# submission (105-230 ms pauses, measured at load 2-4; the tail of `POST /v1/tasks/{task}/requests`).
gc.collect()
gc.freeze()
atexit.register(gc.unfreeze)  # collectable again at exit: extension modules check for leaks then
