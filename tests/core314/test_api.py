from __future__ import annotations

from typing import Any

import pytest

from core314.models import ApiToken, AuditLogEntry, ServiceAccount
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


def test_anonymous_api_calls_get_401_with_a_challenge(api_for: Any) -> None:
    response = api_for(None).get("/api/v1/components/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_gets_401_with_a_message(api_for: Any) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer c314_nope_nope")
    response = client.get("/api/v1/components/")
    assert response.status_code == 401
    assert "Invalid" in response.json()["detail"]


def test_a_service_account_token_acts_for_its_owner(api_for: Any, service_account: Any, other_user: Any) -> None:
    mine = ComponentFactory(owner=service_account.account.owner)
    ComponentFactory(owner=other_user)
    response = api_for(service_account).get("/api/v1/components/")
    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == [mine.pk]


def test_creating_a_service_account_and_token_over_the_api(api_for: Any, owner: Any) -> None:
    client = api_for(owner)
    response = client.post("/api/v1/service-accounts/", {"name": "deployer", "owner": 999}, format="json")
    assert response.status_code == 201, response.content
    account = ServiceAccount.objects.get(name="deployer")
    assert account.owner == owner  # a client cannot choose the owner

    response = client.post(f"/api/v1/service-accounts/{account.pk}/tokens/", {"name": "ci"}, format="json")
    assert response.status_code == 201
    token = response.json()["token"]
    assert token.startswith("c314_")
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert token not in str(listed)  # never shown again

    from rest_framework.test import APIClient

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bearer.get("/api/v1/components/").status_code == 200


def test_a_read_only_account_cannot_write(api_for: Any, owner: Any) -> None:
    from core314 import services
    from tests.conftest import ServiceAccountWithToken

    account = services.service_account_create(actor=owner, owner=owner, name="reader", write_enabled=False)
    issued = services.api_token_create(actor=owner, service_account=account)
    client = api_for(ServiceAccountWithToken(account, issued.plaintext))
    assert client.get("/api/v1/components/").status_code == 200
    response = client.post("/api/v1/service-accounts/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]


def test_service_accounts_cannot_mint_tokens(api_for: Any, service_account: Any) -> None:
    url = f"/api/v1/service-accounts/{service_account.account.pk}/tokens/"
    response = api_for(service_account).post(url, {}, format="json")
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api_for: Any, owner: Any) -> None:
    client = api_for(owner)
    before = AuditLogEntry.objects.count()
    response = client.post("/api/v1/service-accounts/", {"name": "not a slug!"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()
    response = client.post("/api/v1/service-accounts/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]
    assert not ServiceAccount.objects.filter(owner=owner).exists()
    assert AuditLogEntry.objects.count() == before


def test_revoking_someone_elses_token_is_a_404(api_for: Any, service_account: Any, other_user: Any) -> None:
    token = ApiToken.objects.get()
    response = api_for(other_user).post(f"/api/v1/tokens/{token.pk}/revoke/", {}, format="json")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_audit_log_api_filters_by_action(api_for: Any, owner: Any, service_account: Any) -> None:
    response = api_for(owner).get("/api/v1/audit-log/?action=api_token.create")
    assert response.status_code == 200
    assert [e["action"] for e in response.json()["results"]] == ["api_token.create"]


def test_the_openapi_schema_and_docs_are_served(api_for: Any, owner: Any) -> None:
    client = api_for(owner)
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert "/api/v1/health-events/" in schema.json()["paths"]
    assert client.get("/api/v1/docs/").status_code == 200
