"""`make bench`: run every benchmark and write the results into bench/README.md.

``python -m bench detector`` (or ``ingest``, ``chaos [--quick]``, ``fleet``) runs one of them; the README keeps the
others' last sections.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import chaos, detector, fleet, ingest

README = Path(__file__).resolve().parent / "README.md"
HEADER = """# Benchmarks

Run with `make bench` (or `python -m bench detector|ingest`). Each figure is measured against a ceiling or
baseline taken in the same run on the same machine where one exists, so ratios, not absolute numbers, are
what to compare across machines.
"""


def _sections() -> dict[str, str]:
    if not README.exists():
        return {}
    # The run stamp is written after the last section: drop it, or every partial run would add another.
    text = re.sub(r"(?m)^Last run .*\n?", "", README.read_text())
    parts = re.split(r"(?m)^(?=## )", text)
    return {p.splitlines()[0][3:].strip(): p for p in parts if p.startswith("## ")}


def main(argv: list[str]) -> int:
    # A TERM (kill, a CI timeout) unwinds like Ctrl-C, so the chaos bench's stack and demo are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    quick = "--quick" in argv
    wanted = {a for a in argv if not a.startswith("--")} or {"detector", "ingest", "chaos", "fleet"}
    sections = _sections()
    if "detector" in wanted:
        text = detector.run()
        sections[text.splitlines()[0][3:].strip()] = text
    if "ingest" in wanted:
        text = ingest.section([ingest.run()])
        sections[text.splitlines()[0][3:].strip()] = text
    if "chaos" in wanted:
        # --quick: 2 trials and a 2-minute soak, for trying changes; make bench runs the full one (~35 min).
        text = chaos.run(trials=2, soak_minutes=2) if quick else chaos.run()
        sections[text.splitlines()[0][3:].strip()] = text
    if "fleet" in wanted:
        text = fleet.run()
        sections[text.splitlines()[0][3:].strip()] = text
    stamp = f"\nLast run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores.\n"
    body = "\n".join(s.rstrip() + "\n" for s in sections.values())
    README.write_text(HEADER + "\n" + body + stamp)
    print(f"written {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
