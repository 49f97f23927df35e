from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core314.filtering import filter_bar, filter_page
from core314.http import HtmxHttpRequest
from core314.pagination import keyset_page
from core314.params import RANGES, parse_id
from core314.services import DomainError
from core314.tenancy import Actor, get_visible_or_404, is_admin, owned
from health.selectors import component_list
from recovery import filters, selectors, services
from recovery.models import ActionMode, ActionType, Demotion, RecoveryAction, RecoveryPolicy
from recovery.replay import policy_replay, replayed

ACTION_FILTERS = ["status", "action_type", "component", "range"]


@login_required
def recovery_manager(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    actions = filter_page(
        filters.ActionFilter, request, selectors.action_list(actor=request.user), defaults={"range": "24h"}
    )
    span = actions.form.cleaned_data.get("range") or "24h"
    bar = filter_bar(actions, ACTION_FILTERS)
    context = {
        "page": keyset_page(actions.qs, field="created_at", after=request.GET.get("after")),
        "counts": selectors.action_status_counts(actor=request.user),
        "summary": selectors.recovery_summary(actor=request.user, window=RANGES[span]),
        "span": span,
        "healing": selectors.healing_state(actor=request.user),
        "is_admin": is_admin(request.user),
        "breakers": [(b, b.effective_state(now)) for b in selectors.breaker_list(actor=request.user)],
        "components": bar[ACTION_FILTERS.index("component")]["choices"],
        "action_types": ActionType.choices,
        "filters": bar,
        "preview": request.session.pop("recovery_preview", None),
        "queue": selectors.healing_queue(actor=request.user)[:20],
        "scale_outs": selectors.scale_out_list(actor=request.user).filter(ended_at__isnull=True)[:20],
        "demotions": selectors.demotion_list(actor=request.user).filter(cleared_at__isnull=True)[:20],
    }
    template = "recovery/dashboard.html#live" if request.htmx else "recovery/dashboard.html"
    return render(request, template, context)


def _actions(actor: Actor) -> QuerySet[RecoveryAction]:
    return selectors.action_list(actor=actor)


@login_required
@owned(RecoveryAction, "action", queryset=_actions)
def action_detail(request: HtmxHttpRequest, action: RecoveryAction) -> HttpResponse:
    series = selectors.action_series(actor=request.user, action=action)
    context = {
        "action": action,
        "timeline": selectors.action_timeline(actor=request.user, action=action),
        "series": series,
        "before": (action.before_metrics or {}).get(series["metric"]),
        "after": (action.after_metrics or {}).get(series["metric"]),
    }
    template = "recovery/action.html#live" if request.htmx else "recovery/action.html"
    return render(request, template, context)


def _back(request: HttpRequest, default: str, **kwargs: int) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(reverse(default, kwargs=kwargs))


@login_required
@require_POST
@owned(RecoveryAction, "action")
def action_act(request: HttpRequest, action: RecoveryAction, verb: str) -> HttpResponse:
    pk = action.pk
    reason = request.POST.get("reason", "")
    try:
        if verb == "approve":
            services.action_approve(actor=request.user, action=action, reason=reason)
            messages.success(request, f"Action #{pk} approved: it runs now.")
        elif verb == "reject":
            services.action_reject(actor=request.user, action=action, reason=reason)
            messages.success(request, f"Action #{pk} rejected.")
        else:
            services.action_cancel(actor=request.user, action=action, reason=reason)
            messages.success(request, f"Action #{pk} cancelled.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return _back(request, "recovery-action", pk=pk)


@login_required
@require_POST
def action_manual(request: HttpRequest) -> HttpResponse:
    """Preview (dry run: the plan, nothing stored) or run an action by hand."""
    component = get_visible_or_404(
        component_list(actor=request.user), request.user, pk=parse_id(request.POST, "component") or 0
    )
    action_type = request.POST.get("action_type", "")
    try:
        parameters = json.loads(request.POST.get("parameters") or "{}")
    except json.JSONDecodeError as exc:
        messages.error(request, f"Parameters are not valid JSON: {exc.msg}.")
        return redirect("recovery-manager")
    try:
        if request.POST.get("run") == "1":
            action = services.action_create_manual(
                actor=request.user,
                component=component,
                action_type=action_type,
                parameters=parameters,
                reason=request.POST.get("reason", ""),
            )
            messages.success(request, f"Action #{action.pk} queued.")
            return redirect("recovery-action", pk=action.pk)
        preview = services.action_dry_run(
            actor=request.user, component=component, action_type=action_type, parameters=parameters
        )
        request.session["recovery_preview"] = {
            **preview,
            "component": component.pk,
            "component_name": component.name,
            "raw_parameters": json.dumps(parameters),
            "reason": request.POST.get("reason", ""),
        }
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("recovery-manager")


@login_required
@require_POST
def healing_pause(request: HttpRequest) -> HttpResponse:
    paused = request.POST.get("paused") == "1"
    everyone = request.POST.get("everyone") == "1"
    try:
        services.healing_pause_set(
            actor=request.user, paused=paused, reason=request.POST.get("reason", ""), everyone=everyone
        )
        who = "everyone" if everyone else "your components"
        messages.success(request, f"Automatic healing {'paused' if paused else 'resumed'} for {who}.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("recovery-manager")


# --- Policies: what they do, how they have done, what they would do -----------------------------------------

POLICY_FILTERS = ["mode", "action_type", "component"]


def _policies(actor: Actor) -> QuerySet[RecoveryPolicy]:
    return selectors.policy_list(actor=actor)


@login_required
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = filter_page(filters.PolicyFilter, request, selectors.policy_list(actor=request.user))
    page = keyset_page(policies.qs, field="created_at", after=request.GET.get("after"), size=50)
    page.rows.sort(key=lambda p: (p.priority, p.pk))  # pages by age (stable); shown in the order they decide
    context = {"page": page, "filters": filter_bar(policies, POLICY_FILTERS)}
    return render(request, "recovery/policies.html", context)


@login_required
@owned(RecoveryPolicy, "policy", queryset=_policies)
def policy_detail(request: HttpRequest, policy: RecoveryPolicy) -> HttpResponse:
    """The policy, its steps' track record and demotions, evidence for automatic, and a replay on request."""
    replay, replay_error = None, ""
    changes: dict[str, Any] = {}
    if request.GET.get("replay"):
        changes = {
            name: value
            for name, value in (
                ("min_severity", request.GET.get("min_severity", "")),
                ("action_type", request.GET.get("action_type", "")),
                ("mode", request.GET.get("mode", "")),
            )
            if value
        }
        for name in ("cooldown_s", "max_per_hour"):
            if request.GET.get(name, "").isdigit():
                changes[name] = int(request.GET[name])
        try:
            days = int(request.GET.get("days") or 7)
            replay = policy_replay(policy=replayed(policy, changes), days=days)
        except (ValueError, DomainError) as exc:
            replay_error = str(exc) if isinstance(exc, DomainError) else "days must be a whole number."
    context = {
        "policy": policy,
        "record": selectors.policy_track_record(policy=policy),
        "evidence": services.promotion_evidence(policy),
        "evidence_needed": settings.CORE314_PROMOTION_EVIDENCE,
        "is_admin": is_admin(request.user),
        "replay": replay,
        "replay_error": replay_error,
        "changes": changes,
        "days": request.GET.get("days", "7"),
        "severities": ["low", "medium", "high", "critical"],
        "action_types": ActionType.choices,
        "modes": ActionMode.choices,
    }
    return render(request, "recovery/policy.html", context)


@login_required
@require_POST
@owned(RecoveryPolicy, "policy")
def policy_change(request: HttpRequest, policy: RecoveryPolicy) -> HttpResponse:
    """Pin or unpin the order, or change the mode (automatic needs evidence or an administrator's reason)."""
    fields: dict[str, object] = {}
    if request.POST.get("pinned") in {"0", "1"}:
        fields["pinned"] = request.POST["pinned"] == "1"
    if request.POST.get("mode") in ActionMode.values:
        fields["mode"] = request.POST["mode"]
    try:
        services.policy_save(
            actor=request.user,
            owner=policy.owner,
            policy=policy,
            promotion_reason=request.POST.get("promotion_reason", ""),
            **fields,
        )
        messages.success(request, f"Policy {policy.name!r} saved.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("recovery-policy", pk=policy.pk)


@login_required
@require_POST
@owned(Demotion, "demotion")
def demotion_clear(request: HttpRequest, demotion: Demotion) -> HttpResponse:
    try:
        services.demotion_clear(actor=request.user, demotion=demotion, reason=request.POST.get("reason", ""))
        messages.success(request, f"{demotion.action_type} is trusted again on {demotion.component.name}.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return _back(request, "recovery-manager")
