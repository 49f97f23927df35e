"""Health services, one module per step: ``components`` (components and the platform's own), ``probes``
(probes created, run when due, outcomes stored), ``ingest`` (pushed events and execution records),
``status`` (status with flap damping, staleness), ``rollup`` (the monitoring job), ``retention``.

This module only re-exports them: callers import from ``health.services``.
"""

from health.services.components import (
    COMPONENT_FIELDS,
    PLATFORM_COMPONENTS,
    component_create,
    component_update,
    component_update_settings,
    platform_components_ensure,
)
from health.services.ingest import IngestError, IngestResult, execution_records_ingest, health_events_ingest
from health.services.probes import PROBE_FIELDS, probe_create, probe_outcomes_store, probe_update, probes_run_due
from health.services.retention import health_retention_purge
from health.services.rollup import health_rollup
from health.services.status import component_status_refresh, components_mark_reported, components_mark_stale

__all__ = [
    "COMPONENT_FIELDS",
    "PLATFORM_COMPONENTS",
    "PROBE_FIELDS",
    "IngestError",
    "IngestResult",
    "component_create",
    "component_status_refresh",
    "component_update",
    "component_update_settings",
    "components_mark_reported",
    "components_mark_stale",
    "execution_records_ingest",
    "health_events_ingest",
    "health_retention_purge",
    "health_rollup",
    "platform_components_ensure",
    "probe_create",
    "probe_outcomes_store",
    "probe_update",
    "probes_run_due",
]
