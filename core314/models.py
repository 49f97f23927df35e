from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core314.tenancy import OwnedModel


class ServiceAccount(OwnedModel):
    """A non-human identity for automation; it acts for its owner and authenticates with tokens."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account", editable=False
    )
    name = models.SlugField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    write_enabled = models.BooleanField(
        default=True, help_text="Tokens of a read-only account may only read (GET, HEAD, OPTIONS)."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="service_account_owner_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (for {self.owner})"


class ApiToken(OwnedModel):
    """A bearer token of a service account. Only its SHA-256 is stored; the token is shown once."""

    PREFIX = "c314"

    service_account = models.ForeignKey(ServiceAccount, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=64, blank=True)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.PREFIX}_{self.key_id}_… ({self.service_account.name})"

    @staticmethod
    def hash_key(key: str) -> str:
        # Tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching needed).
        return hashlib.sha256(key.encode()).hexdigest()

    def matches(self, key: str) -> bool:
        return hmac.compare_digest(self.key_hash, self.hash_key(key))

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditLogEntry(OwnedModel):
    """One decision or state change: who did what to which row, before and after, and why."""

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        SERVICE_ACCOUNT = "service_account", "Service account"
        SYSTEM = "system", "System task"

    # Null owner: a platform-wide entry, which only administrators see.
    owner = models.ForeignKey(  # type: ignore[assignment]  # nullable here: widens OwnedModel.owner's type
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    actor_label = models.CharField(max_length=150, help_text="Kept when the actor is deleted.")
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        db_table = "decision_audit_log"
        ordering = ["-created_at", "-id"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="audit_owner_created"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(actor_kind__in=["user", "service_account", "system"]), name="audit_actor_kind"
            )
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_repr}"


class IdempotencyKey(OwnedModel):
    """A client's Idempotency-Key with the response it got, so a retried request is answered, not redone."""

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "scope", "key"], name="idempotency_owner_scope_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
