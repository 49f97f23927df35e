from __future__ import annotations

import ipaddress
import secrets

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core314 import selectors
from core314.filtering import filter_page
from core314.filters import AuditLogFilter
from core314.http import HtmxHttpRequest
from core314.lockout import LockoutAuthenticationForm
from core314.metrics import PlatformCollector
from core314.pagination import keyset_page
from core314.readiness import platform_gauges, platform_readiness
from core314.tenancy import is_admin

_registry = CollectorRegistry(auto_describe=False)
_registry.register(PlatformCollector(gauges=platform_gauges))


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Nothing else is checked, so a slow database never kills it."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, Redis, a live Celery worker and a ticking beat; 503 names what is down."""
    readiness = platform_readiness()
    return JsonResponse(readiness.as_dict(), status=200 if readiness.ok else 503)


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.CORE314_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and secrets.compare_digest(header[7:], token):
        return True
    if is_admin(request.user):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.CORE314_METRICS_ALLOWED_NETS)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """The platform's own figures for Prometheus; a token, an allowed network or an admin session."""
    if not _metrics_allowed(request):
        return HttpResponse("Forbidden: metrics need a bearer token or an allowed network.\n", status=403)
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name none (the admin's): ours, not a 404. Resolved per
    request, so the static manifest is read only once collectstatic has written it."""
    return redirect(static("img/favicon.svg"), permanent=True)


def home(request: HttpRequest) -> HttpResponse:
    return redirect("system-monitor")


@login_required
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    filtered = filter_page(AuditLogFilter, request, selectors.audit_log_list(actor=request.user))
    page = keyset_page(filtered.qs, field="created_at", after=request.GET.get("after"), size=50)
    template = "core314/audit_log.html#table" if request.htmx else "core314/audit_log.html"
    action = filtered.form.cleaned_data.get("action__startswith") or ""
    return render(request, template, {"page": page, "action": action})


@login_required
@require_POST
def demo_fault(request: HttpRequest) -> HttpResponse:
    """The System Monitor's fault injection (administrators only; the service checks)."""
    from django.contrib import messages

    from core314.demo.services import fault_inject
    from core314.services import DomainError

    try:
        done = fault_inject(actor=request.user, kind=request.POST.get("kind", ""))
        messages.success(request, f"Injected {done['kind']} into {done['component']}: watch it heal.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("system-monitor")


class LoginView(auth_views.LoginView):
    """Django's sign-in page with the lockout: a locked-out username and address get a 429 that says so."""

    authentication_form = LockoutAuthenticationForm

    def form_invalid(self, form: LockoutAuthenticationForm) -> HttpResponse:  # type: ignore[override]  # our form, always
        response = super().form_invalid(form)
        if form.locked_seconds:
            response.status_code = 429
            response["Retry-After"] = str(form.locked_seconds)
        return response
