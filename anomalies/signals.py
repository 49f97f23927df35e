"""Events other apps react to, without anomalies importing them (healing listens here)."""

from django.dispatch import Signal

# Sent after commit with ``signal_id``: an anomaly signal was opened or its severity rose.
anomaly_raised = Signal()
