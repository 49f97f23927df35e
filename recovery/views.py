from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core314.paging import keyset_page
from recovery import selectors
from recovery.models import ActionStatus, ActionType


@login_required
def recovery_manager(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "") if request.GET.get("status") in ActionStatus.values else ""
    action_type = request.GET.get("type", "") if request.GET.get("type") in ActionType.values else ""
    now = timezone.now()
    actions = selectors.action_list(actor=request.user, status=status, action_type=action_type)
    counts = selectors.action_status_counts(actor=request.user)
    finished = counts["succeeded"] + counts["failed"]
    context = {
        "page": keyset_page(actions, field="created_at", after=request.GET.get("after")),
        "counts": counts,
        "success_rate": f"{100 * counts['succeeded'] / finished:.0f} %" if finished else "n/a",
        "breakers": [(b, b.effective_state(now)) for b in selectors.breaker_list(actor=request.user)],
        "filters": [
            {"name": "status", "label": "Status", "choices": ActionStatus.choices, "selected": status},
            {"name": "type", "label": "Action", "choices": ActionType.choices, "selected": action_type},
        ],
    }
    template = "recovery/dashboard.html#live" if request.htmx else "recovery/dashboard.html"
    return render(request, template, context)
