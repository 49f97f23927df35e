"""Remove secrets and personal data from free text before it is stored or sent anywhere (pure Python)."""

from __future__ import annotations

import re

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [REDACTED]"),
    (
        re.compile(r"(?i)\b(password|passwd|pwd|secret|api[_-]?key|access[_-]?key|token|auth)\s*[=:]\s*\S+"),
        r"\1=[REDACTED]",
    ),
    (re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "[REDACTED-CREDENTIALS]@"),
    (re.compile(r"\bc314_[0-9a-f]{12}_[A-Za-z0-9_-]+"), "[REDACTED-TOKEN]"),
    (re.compile(r"\b(sk|pk|rk|xox[abpr])-[A-Za-z0-9_-]{10,}"), "[REDACTED-KEY]"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "[REDACTED-KEY]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "[REDACTED-JWT]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[REDACTED-EMAIL]"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "[REDACTED-IP]"),
    (re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b"), "[REDACTED-IP]"),
    (re.compile(r"\b[A-Fa-f0-9]{32,}\b"), "[REDACTED-HEX]"),
]


def redact(text: str, *, limit: int = 500) -> str:
    """``text`` with credentials, tokens, e-mail addresses and IP addresses replaced, cut to ``limit``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")
    return text if len(text) <= limit else text[: limit - 1] + "…"
