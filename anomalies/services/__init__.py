"""Anomaly services, one module per step: ``detection`` (new events through the detectors, the sweep,
auto-resolve), ``lifecycle`` (opening, updating and resolving a signal), ``incidents`` (the signals of one
fault grouped, its episodes), ``operator`` (acknowledge, resolve,
silences, detection settings), ``silences`` (maintenance windows, one-off or recurring, and what
they release when they end), ``triage`` (incidents acknowledged and resolved, real or false alarm, a new
normal accepted), ``alerts`` (other monitors' alerts), ``root_cause`` (the optional LLM).

This module only re-exports them: callers import from ``anomalies.services``.
"""

from anomalies.services.alerts import ALERT_SEVERITY, AlertOutcome, alertmanager_receive, external_alert_receive
from anomalies.services.detection import detection_sweep, detector_config, signals_auto_resolve, signals_detect
from anomalies.services.incidents import (
    incident_attach,
    incident_is_quiet,
    incident_new_episode,
    incident_refresh,
)
from anomalies.services.lifecycle import (
    signal_find_cause,
    signal_for_status,
    signal_mark_resolved,
    signal_open_or_update,
)
from anomalies.services.operator import (
    detection_settings_update,
    signal_acknowledge,
    signal_resolve,
)
from anomalies.services.root_cause import signal_root_cause
from anomalies.services.silences import (
    silence_create,
    silence_end,
    silence_find_active,
    silence_update,
    silences_release,
)
from anomalies.services.triage import (
    incident_acknowledge,
    incident_feedback_set,
    incident_resolve,
    signal_accept_normal,
    signal_feedback_set,
)

__all__ = [
    "ALERT_SEVERITY",
    "AlertOutcome",
    "alertmanager_receive",
    "detection_settings_update",
    "detection_sweep",
    "detector_config",
    "external_alert_receive",
    "incident_acknowledge",
    "incident_attach",
    "incident_feedback_set",
    "incident_is_quiet",
    "incident_new_episode",
    "incident_refresh",
    "incident_resolve",
    "signal_accept_normal",
    "signal_acknowledge",
    "signal_feedback_set",
    "signal_find_cause",
    "signal_for_status",
    "signal_mark_resolved",
    "signal_open_or_update",
    "signal_resolve",
    "signal_root_cause",
    "signals_auto_resolve",
    "signals_detect",
    "silence_create",
    "silence_end",
    "silence_find_active",
    "silence_update",
    "silences_release",
]
