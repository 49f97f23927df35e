from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core314.filtering import filter_bar, filter_page
from core314.http import HtmxHttpRequest
from core314.pagination import keyset_page
from core314.services import DomainError
from core314.tenancy import owned
from selftest import filters, selectors, services
from selftest.models import SelfTestResult
from selftest.registry import REGISTRY, Check, Outcome, checks_in


@login_required
def selftest_panel(request: HtmxHttpRequest) -> HttpResponse:
    run = selectors.latest_run(actor=request.user)
    results = filter_page(
        filters.ResultFilter, request, selectors.result_list(actor=request.user, run_id=run.pk if run else -1)
    )
    context = {
        "run": run,
        "results": results.qs.order_by("category", "check_name"),
        "counts": selectors.result_counts(actor=request.user, run=run) if run else {},
        "expected": len(checks_in(run.categories or None)) if run else 0,
        "took_s": (run.finished_at - run.started_at).total_seconds() if run and run.finished_at else None,
        "trend": selectors.score_trend(actor=request.user),
        "deadman": selectors.deadman(),
        "filters": filter_bar(results, ["category", "result"]),
    }
    template = "selftest/dashboard.html#live" if request.htmx else "selftest/dashboard.html"
    return render(request, template, context)


def _retired() -> Outcome:
    """A retired check's stand-in on its history page: never run."""
    raise NotImplementedError("a retired check is not run")


@login_required
@owned(SelfTestResult, None)
def check_history(request: HttpRequest, name: str) -> HttpResponse:
    checks_in()
    rows = selectors.result_list(actor=request.user, check=name)
    check = REGISTRY.get(name)
    if check is None:
        # A retired check's history stays readable, to those who have some.
        first = rows.first()
        if first is None:
            raise Http404("No such check.")
        check = Check(name, first.category, 0, _retired, "retired: no longer in the suite")
    context = {
        "check": check,
        "page": keyset_page(rows, field="created_at", after=request.GET.get("after")),
    }
    return render(request, "selftest/check.html", context)


@login_required
@require_POST
def run_now(request: HttpRequest) -> HttpResponse:
    try:
        run = services.run_now(actor=request.user)
        messages.success(request, f"Self-test run #{run.pk} started: results appear as each check finishes.")
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("selftest-panel")
