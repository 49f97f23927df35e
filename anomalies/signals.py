"""Events other apps react to, without anomalies importing them (healing listens here)."""

from django.dispatch import Signal

# Sent after commit with ``signal_id``: an anomaly signal was opened or its severity rose.
anomaly_raised = Signal()

# Sent (synchronously, inside detection's transaction) before a signal would open, with ``component_id``,
# ``kind``, ``metric``, ``value``, ``expected`` and ``at``. A receiver answers with the id of an action of the
# platform's own (a restart, a scale, a rollback being verified) whose expected aftermath this deviation is; it
# records it there, and no signal opens (nobody is paged for what the platform itself just did).
deviation_opening = Signal()
