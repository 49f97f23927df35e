"""Remove secrets and personal data from free text before it is stored or sent anywhere (pure Python).

Work is bounded by the output, not the input: the text is cut before any pattern runs, and every pattern's
repetitions are bounded, so a megabyte of letters costs what a page of them does (each start position scans
at most a few hundred characters, never the rest of the text).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

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


SECRET_SHOWN = "•" * 8
# Names whose values are secrets: query parameters (``?token=…``), environment variables (``API_TOKEN``), keys.
SECRET_NAME = re.compile(r"(?i)(pass|pwd|secret|token|key|auth|sig|credential)")


def url_shown(url: str, *, limit: int = 2000) -> str:
    """A target URL as shown back to people: the password of its user info (an empty user too:
    ``redis://:pw@host``) and the values of secret-named query parameters masked; scheme, user, host, port and
    path kept so it still says where it goes. Text that is not a URL comes back as it was (cut to ``limit``)."""
    url = url[:limit]
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url, limit=limit)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:{SECRET_SHOWN}@{hostport}"
    pairs = [segment.partition("=") for segment in parts.query.split("&")] if parts.query else []
    query = "&".join(
        f"{name}={SECRET_SHOWN}" if sep and value and SECRET_NAME.search(name) else f"{name}{sep}{value}"
        for name, sep, value in pairs
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
