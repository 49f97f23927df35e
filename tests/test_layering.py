"""The architecture's rules that a grep can check (STYLE.md §2 'Enforcement').

Interfaces (views, consumers) never read an owned table through ``.objects``: they call selectors or
``get_visible_or_404``. API modules may name a model's manager only to declare a viewset's ``queryset``,
which the tenancy base class re-scopes through ``visible_to``.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

APPS = ["core314", "health", "anomalies", "recovery", "selftest"]
ROOT = Path(settings.BASE_DIR)
MANAGER = re.compile(r"\b[A-Z]\w*\.objects\b")
DECLARATION = re.compile(r"^\s*queryset = [A-Z]\w*\.objects\.all\(\)$")


def _modules(name: str) -> list[Path]:
    """``<app>/<name>`` for every app, or every module of ``<app>/<stem>/`` when that role is a package."""
    paths = []
    for app in APPS:
        path = ROOT / app / name
        package = ROOT / app / name.removesuffix(".py")
        paths += [path] if path.exists() else sorted(package.glob("*.py")) if package.is_dir() else []
    return paths


def _lines(name: str) -> list[tuple[Path, int, str]]:
    return [
        (path, number, line)
        for path in _modules(name)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
    ]


def test_views_and_consumers_read_through_selectors() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for name in ("views.py", "consumers.py")
        for path, n, line in _lines(name)
        if MANAGER.search(line)
    ]
    assert offenders == []


def test_api_modules_only_declare_querysets() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path, n, line in _lines("api.py")
        if MANAGER.search(line) and not DECLARATION.match(line) and "visible_to(" not in line
    ]
    assert offenders == []


def test_tasks_are_thin() -> None:
    for app in APPS:
        path = ROOT / app / "tasks.py"
        if path.exists():
            assert not MANAGER.search(path.read_text()), f"{path} should call a service, not query"


def test_no_module_is_over_400_lines() -> None:
    """One room per step of the loop: a module past 400 lines is a package waiting to happen."""
    long = [
        f"{path.relative_to(ROOT)}: {count}"
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts and (count := len(path.read_text().splitlines())) > 400
    ]
    assert long == []
