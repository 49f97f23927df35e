"""Every page under the strict Content-Security-Policy, in Chromium: nothing is refused, nothing breaks.

A violation shows as a console error ("Refused to execute inline script…"); each page is also asked how
many ``securitypolicyviolation`` events it saw. The filter bars still submit on change (their handler moved
from an inline attribute to a script), and the live socket still opens.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import screenshot
from tests.test_tenancy_matrix import _rows_for, html_pages

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COUNT_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def test_every_page_works_under_the_policy(page_for: Any, admin: Any) -> None:
    rows, _ = _rows_for(admin, "policy")
    page = page_for("root", "pw-for-tests")
    page.add_init_script(COUNT_VIOLATIONS)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    urls = html_pages(rows)
    for url in urls:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [], url
    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=10_000)  # its script ran, with the nonce
    page.goto("/anomaly-console")
    page.wait_for_selector("#live-status[data-state=open]", timeout=5000)
    page.select_option("select[name=severity]", "high")
    page.wait_for_url("**/anomaly-console?*severity=high*")
    screenshot(page, "policy-anomaly-console")
    assert missing == []
    assert page.console_errors == []
