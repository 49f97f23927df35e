"""Self-healing, one module per step of the loop; this face only re-exports what other code calls.

``decide`` (a signal → an action, a wait, or an escalation), ``execute`` (exactly once), ``verify`` (a verdict,
then the chain moves on), ``supervise`` (exited processes), ``cycle`` (the beat's safety net), ``operator``
(what people do), ``policies``, ``breakers``, ``actuators`` and ``escalation``; ``actions`` holds what the
steps share.
"""

from recovery.services.actions import last_good_version
from recovery.services.actuators import actuator_save, deployment_mark, deployment_record, process_control
from recovery.services.aftermath import action_aftermath_record
from recovery.services.arbiter import queue as healing_queue
from recovery.services.breakers import (
    BreakerView,
    breaker_close,
    breaker_open,
    breaker_record_trial,
    breaker_view,
    breakers_gate,
    breakers_promote,
)
from recovery.services.cycle import healing_cycle
from recovery.services.decide import heal_signal, healing_paused
from recovery.services.escalation import escalation_target_for, escalation_target_save
from recovery.services.execute import action_execute
from recovery.services.learning import demotion_clear, promotion_evidence
from recovery.services.operator import (
    action_approve,
    action_cancel,
    action_create_manual,
    action_dry_run,
    action_reject,
    healing_pause_set,
)
from recovery.services.policies import (
    DEFAULT_POLICIES,
    clean_policy,
    policies_ensure_defaults,
    policy_delete,
    policy_save,
)
from recovery.services.scalein import scale_in_sweep
from recovery.services.supervise import SUPERVISED_VERIFY_S, supervise_processes
from recovery.services.verify import action_verify

__all__ = [
    "DEFAULT_POLICIES",
    "SUPERVISED_VERIFY_S",
    "BreakerView",
    "action_aftermath_record",
    "action_approve",
    "action_cancel",
    "action_create_manual",
    "action_dry_run",
    "action_execute",
    "action_reject",
    "action_verify",
    "actuator_save",
    "breaker_close",
    "breaker_open",
    "breaker_record_trial",
    "breaker_view",
    "breakers_gate",
    "breakers_promote",
    "clean_policy",
    "demotion_clear",
    "deployment_mark",
    "deployment_record",
    "escalation_target_for",
    "escalation_target_save",
    "heal_signal",
    "healing_cycle",
    "healing_pause_set",
    "healing_paused",
    "healing_queue",
    "last_good_version",
    "policies_ensure_defaults",
    "policy_delete",
    "policy_save",
    "process_control",
    "promotion_evidence",
    "scale_in_sweep",
    "supervise_processes",
]
