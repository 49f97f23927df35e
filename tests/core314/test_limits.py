"""Work bounded by input size: request bodies past their endpoint's limit get a JSON 413 before anything
parses them; the bulk endpoints take what their item limits need; a huge message is cut before it is read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings

from health import validation
from health.models import ExecutionRecord
from tests.factories import ComponentFactory


def _post(client: Any, url: str, body: bytes) -> Any:
    return client.post(url, body, content_type="application/json")


@pytest.mark.django_db
def test_a_body_over_its_endpoints_limit_is_a_json_413(api_for: Any, service_account: Any) -> None:
    client = api_for(service_account)
    big = json.dumps({"name": "x", "description": "y" * 300_000}).encode()  # the default limit is 256 KiB
    response = _post(client, "/api/v1/components/", big)
    assert response.status_code == 413, response.content[:300]
    assert response["Content-Type"] == "application/json" and "at most 262144 bytes" in response.json()["detail"]
    # The bulk endpoints take more (their documented item limits), and refuse past that.
    batch_limit = settings.CORE314_BODY_LIMITS["/api/v1/health-events/batch/"]
    assert batch_limit >= settings.CORE314_INGEST_BATCH_LIMIT * 1024
    over = _post(client, "/api/v1/health-events/batch/", b" " * (batch_limit + 1))
    assert over.status_code == 413 and "detail" in over.json()
    under = _post(client, "/api/v1/health-events/batch/", json.dumps({"events": [], "pad": "z" * 400_000}).encode())
    assert under.status_code == 400  # read and validated (no events), not refused for its size


@pytest.mark.django_db
def test_a_megabyte_message_is_stored_cut(api_for: Any, service_account: Any, owner: Any) -> None:
    component = ComponentFactory(owner=owner)
    record = {"component": component.pk, "started_at": datetime.now(UTC).isoformat(), "duration_ms": 5, "ok": False,
              "message": "password=hunter2 " + "m" * 1_000_000}  # fmt: skip
    body = json.dumps({"records": [record]}).encode()
    response = _post(api_for(service_account), "/api/v1/execution-records/bulk/", body)
    assert response.status_code == 201, response.content[:300]
    stored = ExecutionRecord.objects.get().message
    assert len(stored) <= 500 and "hunter2" not in stored


def test_validation_cuts_the_message_before_anything_else_reads_it() -> None:
    seen: list[int] = []

    def sanitize(text: str) -> str:
        seen.append(len(text))
        return text[:500]

    rows, errors = validation.validate_records(
        [
            {
                "component": 1,
                "started_at": datetime.now(UTC).isoformat(),
                "duration_ms": 1,
                "ok": True,
                "message": "x" * 5_000_000,
            }
        ],
        now=datetime.now(UTC),
        resolve=lambda *args: 1,
        sanitize=sanitize,
    )
    assert not errors and len(rows[0]["message"]) == 500
    assert seen and max(seen) <= validation.MESSAGE_READ
