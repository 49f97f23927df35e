"""Idempotency keys: a retried request with the same key and body gets the first answer, once stored."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

from core314.models import IdempotencyKey
from core314.services import ConflictError, DomainError
from core314.tenancy import Actor, effective_owner


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def run_once(
    *, actor: Actor, scope: str, key: str | None, body: Any, perform: Callable[[], tuple[int, Any]]
) -> tuple[int, Any, bool]:
    """(status, response body, replayed). ``perform`` runs inside the same transaction as the key's row."""
    if key is None:
        return (*perform(), False)
    if not key or len(key) > 128:
        raise DomainError("Idempotency-Key must be 1 to 128 characters.")
    owner = effective_owner(actor)
    digest = request_hash(body)
    with transaction.atomic():
        # Serialise concurrent requests with the same key: the second waits, then replays the first.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"idem:{owner.pk}:{scope}:{key}"])
        previous = IdempotencyKey.objects.filter(owner=owner, scope=scope, key=key).first()
        if previous is not None:
            if previous.request_hash != digest:
                raise ConflictError("This Idempotency-Key was already used with a different request body.")
            return previous.response_status, previous.response_body, True
        status, response = perform()
        IdempotencyKey.objects.create(
            owner=owner,
            scope=scope,
            key=key,
            request_hash=digest,
            response_status=status,
            response_body=response,
        )
    return status, response, False
