"""Remove secrets and personal data from free text before it is stored or sent anywhere (pure Python).

Work is bounded by the output, not the input: the text is cut before any pattern runs, and every pattern's
repetitions are bounded, so a megabyte of letters costs what a page of them does (each start position scans
at most a few hundred characters, never the rest of the text).
"""

from __future__ import annotations

import re

# Characters looked at beyond the output's own length, so a secret that starts before the cut is still seen
# whole when it is matched (a longer secret is cut mid-way and its head is replaced all the same).
LOOKAHEAD = 512

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(bearer|token|basic)\s{1,8}[A-Za-z0-9._~+/=-]{8,4096}"), r"\1 [REDACTED]"),
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|api[_-]?key|access[_-]?key|token|auth)\s{0,8}[=:]\s{0,8}\S{1,4096}"
        ),
        r"\1=[REDACTED]",
    ),
    # user:password@ in a URL, including an empty user (redis://:pw@host).
    (re.compile(r"(?i)\b[a-z][a-z0-9+.-]{0,30}://[^/\s:@]{0,256}:[^/\s@]{1,256}@"), "[REDACTED-CREDENTIALS]@"),
    (re.compile(r"\bc314_[0-9a-f]{12}_[A-Za-z0-9_-]{1,256}"), "[REDACTED-TOKEN]"),
    (re.compile(r"\b(sk|pk|rk|xox[abpr])-[A-Za-z0-9_-]{10,512}"), "[REDACTED-KEY]"),
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), "[REDACTED-KEY]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{1,4096}\.[A-Za-z0-9_-]{1,4096}"), "[REDACTED-JWT]"),
    # RFC 5321 limits: a local part of at most 64 characters, a domain of at most 255.
    (
        re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}"),
        "[REDACTED-EMAIL]",
    ),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), "[REDACTED-IP]"),
    (re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b"), "[REDACTED-IP]"),
    (re.compile(r"\b[A-Fa-f0-9]{32,4096}\b"), "[REDACTED-HEX]"),
]


def redact(text: str, *, limit: int = 500) -> str:
    """``text`` with credentials, tokens, e-mail addresses and IP addresses replaced, cut to ``limit``."""
    text = text[: limit + LOOKAHEAD]
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")
    return text if len(text) <= limit else text[: limit - 1] + "…"
