"""factory_boy factories for every model; each owned row carries a ``marker`` string the pages show."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from anomalies.models import AnomalySignal
from core314.models import AuditLogEntry
from health.models import Component, ExecutionRecord, Probe, SystemHealthEvent
from recovery.models import RecoveryAction
from selftest.models import SelfTestResult, SelfTestRun


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> object:
        """Through the service, as every account is made: a new user starts with the default policies."""
        from core314.services import user_create

        existing = model_class._default_manager.filter(username=kwargs["username"]).first()  # type: ignore[attr-defined]
        if existing is not None:  # get-or-create by username, as the fixed cast expects
            return existing
        return user_create(actor=None, username=str(kwargs["username"]), email=str(kwargs.get("email", "")))

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or "pw-for-tests")
        if create:
            self.save(update_fields=["password"])


class ComponentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Component

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"component-{n}")
    type = "api"


class HealthEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SystemHealthEvent

    component = factory.SubFactory(ComponentFactory)
    owner = factory.SelfAttribute("component.owner")
    window_start = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(seconds=10))
    window_end = factory.LazyAttribute(lambda o: o.window_start + dt.timedelta(seconds=10))
    status = "healthy"
    latency_p95_ms = 120.0
    error_rate = 0.01
    availability = 1.0


class AnomalySignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AnomalySignal

    component = factory.SubFactory(ComponentFactory)
    owner = factory.SelfAttribute("component.owner")
    kind = "latency_spike"
    metric = factory.Sequence(lambda n: f"latency_p95_ms-{n}")
    severity = "high"
    confidence = 0.9
    observed_value = 900.0
    expected_value = 120.0


class RecoveryActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecoveryAction

    component = factory.SubFactory(ComponentFactory)
    owner = factory.SelfAttribute("component.owner")
    action_type = "restart_function"
    mode = "approval"
    status = "pending_approval"


class SelfTestRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SelfTestRun

    owner = factory.SubFactory(UserFactory)
    status = "passed"
    health_score = 100.0


class SelfTestResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SelfTestResult

    run = factory.SubFactory(SelfTestRunFactory)
    owner = factory.SelfAttribute("run.owner")
    check_name = factory.Sequence(lambda n: f"check-{n}")
    category = "infrastructure"
    result = "pass"
    score = 100.0


class AuditLogEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditLogEntry

    owner = factory.SubFactory(UserFactory)
    actor = factory.SelfAttribute("owner")
    actor_kind = "user"
    actor_label = factory.LazyAttribute(lambda o: o.owner.username)
    action = "test.action"
    object_repr = factory.Sequence(lambda n: f"object-{n}")


class ExecutionRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExecutionRecord

    component = factory.SubFactory(ComponentFactory)
    owner = factory.SelfAttribute("component.owner")
    started_at = factory.LazyFunction(timezone.now)
    duration_ms = 42.0
    ok = True


class ProbeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Probe

    component = factory.SubFactory(ComponentFactory)
    owner = factory.SelfAttribute("component.owner")
    kind = "http"
    target = "http://127.0.0.1:9/healthz"
