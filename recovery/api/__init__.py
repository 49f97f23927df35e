"""The recovery API (the face: each step's viewsets live in their own module)."""

from recovery.api.actions import BackoffViewSet, HealingDecisionViewSet, HealingViewSet, RecoveryActionViewSet
from recovery.api.actuators import ActuatorViewSet, DeploymentViewSet, EscalationTargetViewSet
from recovery.api.breakers import CircuitBreakerViewSet
from recovery.api.learning import DemotionViewSet, ScaleOutViewSet
from recovery.api.policies import RecoveryPolicyViewSet

__all__ = [
    "ActuatorViewSet",
    "BackoffViewSet",
    "CircuitBreakerViewSet",
    "DemotionViewSet",
    "DeploymentViewSet",
    "EscalationTargetViewSet",
    "HealingDecisionViewSet",
    "HealingViewSet",
    "RecoveryActionViewSet",
    "RecoveryPolicyViewSet",
    "ScaleOutViewSet",
]
