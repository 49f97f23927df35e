"""Events other apps may react to, without health importing them (the loop's next steps listen here)."""

from django.dispatch import Signal

# Sent after commit with ``component_ids``: new health events exist for these components.
health_events_committed = Signal()
