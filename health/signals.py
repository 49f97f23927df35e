"""Events other apps may react to, without health importing them (the loop's next steps listen here)."""

from django.dispatch import Signal

# Sent after commit with ``component_ids``: new health events exist for these components.
health_events_committed = Signal()

# Sent before due probes run with ``component_ids`` and ``now``; a receiver may answer {component_id: state},
# where "open" skips that component's probe and "half_open" makes the probe a trial (circuit breakers).
probes_due = Signal()

# Sent after probe results are stored with ``outcomes`` [(component_id, ok)], ``trials`` (component ids), ``now``.
probe_outcomes_recorded = Signal()
