from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core314.paging import keyset_page
from selftest import selectors
from selftest.models import CheckResult


@login_required
def selftest_panel(request: HttpRequest) -> HttpResponse:
    result = request.GET.get("result", "") if request.GET.get("result") in CheckResult.values else ""
    results = selectors.result_list(actor=request.user, result=result)
    context = {
        "page": keyset_page(results, field="created_at", after=request.GET.get("after")),
        "counts": selectors.result_counts(actor=request.user),
        "latest_run": selectors.latest_run(actor=request.user),
        "filters": [{"name": "result", "label": "Result", "choices": CheckResult.choices, "selected": result}],
    }
    template = "selftest/dashboard.html#live" if request.htmx else "selftest/dashboard.html"
    return render(request, template, context)
