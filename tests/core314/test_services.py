from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from core314 import services
from core314.audit import AuditOutsideTransactionError, audit_record
from core314.models import ApiToken, AuditLogEntry, ServiceAccount

pytestmark = pytest.mark.django_db


def test_a_token_is_stored_hashed_and_shown_once(owner: Any) -> None:
    account = services.service_account_create(actor=owner, owner=owner, name="ci")
    issued = services.api_token_create(actor=owner, service_account=account)
    stored = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.plaintext.startswith(f"c314_{stored.key_id}_")
    assert issued.plaintext not in {stored.key_hash, stored.key_id, stored.name}
    assert stored.key_hash == ApiToken.hash_key(issued.plaintext)
    assert services.api_token_authenticate(plaintext=issued.plaintext) == stored


def test_it_rejects_wrong_revoked_and_expired_tokens(owner: Any) -> None:
    account = services.service_account_create(actor=owner, owner=owner, name="ci")
    issued = services.api_token_create(actor=owner, service_account=account)
    key_id = issued.token.key_id
    assert services.api_token_authenticate(plaintext=f"c314_{key_id}_wrong") is None
    assert services.api_token_authenticate(plaintext="garbage") is None
    services.api_token_revoke(actor=owner, token=issued.token, reason="leaked")
    assert services.api_token_authenticate(plaintext=issued.plaintext) is None

    expiring = services.api_token_create(
        actor=owner, service_account=account, expires_at=timezone.now() + dt.timedelta(seconds=30)
    )
    ApiToken.objects.filter(pk=expiring.token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert services.api_token_authenticate(plaintext=expiring.plaintext) is None


def test_using_a_token_records_last_use_at_most_once_a_minute(owner: Any) -> None:
    account = services.service_account_create(actor=owner, owner=owner, name="ci")
    issued = services.api_token_create(actor=owner, service_account=account)
    first = services.api_token_authenticate(plaintext=issued.plaintext)
    assert first is not None and first.last_used_at is not None
    second = services.api_token_authenticate(plaintext=issued.plaintext)
    assert second is not None and second.last_used_at == first.last_used_at


def test_each_change_writes_its_audit_entry(owner: Any) -> None:
    first = AuditLogEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    account = services.service_account_create(actor=owner, owner=owner, name="ci")
    issued = services.api_token_create(actor=owner, service_account=account)
    services.api_token_revoke(actor=owner, token=issued.token, reason="rotated")
    entries = AuditLogEntry.objects.filter(id__gt=first).order_by("id")
    actions = list(entries.values_list("action", "owner_id", "actor_kind", "reason"))
    assert actions == [
        ("service_account.create", owner.pk, "user", ""),
        ("api_token.create", owner.pk, "user", ""),
        ("api_token.revoke", owner.pk, "user", "rotated"),
    ]


def test_a_rolled_back_change_leaves_no_audit_entry_and_publishes_nothing(
    owner: Any, django_capture_on_commit_callbacks: Any
) -> None:
    entries = AuditLogEntry.objects.count()
    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                services.service_account_create(actor=owner, owner=owner, name="ci")
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert not ServiceAccount.objects.exists()
    assert AuditLogEntry.objects.count() == entries
    assert callbacks == []


def test_a_committed_change_publishes_after_commit(owner: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        services.service_account_create(actor=owner, owner=owner, name="ci")
    assert len(callbacks) == 1


def test_audit_entries_must_be_written_inside_the_change_transaction(owner: Any) -> None:
    # pytest-django wraps each test in a transaction; step outside it with the connection's autocommit view.
    from django.db import connection

    atomic = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(AuditOutsideTransactionError):
            audit_record(actor=owner, action="x")
    finally:
        connection.in_atomic_block = atomic


def test_only_the_owner_or_an_admin_manages_service_accounts(owner: Any, other_user: Any, admin: Any) -> None:
    with pytest.raises(services.PermissionDeniedError):
        services.service_account_create(actor=other_user, owner=owner, name="sneaky")
    account = services.service_account_create(actor=admin, owner=owner, name="by-admin")
    entry = AuditLogEntry.objects.get(action="service_account.create")
    assert entry.owner == owner and entry.actor == admin
    with pytest.raises(services.PermissionDeniedError):
        services.api_token_create(actor=account.user, service_account=account)


def test_duplicate_service_account_names_conflict(owner: Any) -> None:
    services.service_account_create(actor=owner, owner=owner, name="ci")
    with pytest.raises(services.ConflictError):
        services.service_account_create(actor=owner, owner=owner, name="ci")


def test_deactivating_an_account_revokes_its_tokens(owner: Any) -> None:
    account = services.service_account_create(actor=owner, owner=owner, name="ci")
    issued = services.api_token_create(actor=owner, service_account=account)
    services.service_account_deactivate(actor=owner, account=account)
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
    assert services.api_token_authenticate(plaintext=issued.plaintext) is None
