"""`make bench`: run every benchmark and write its results into bench/README.md."""

from __future__ import annotations

import sys

from bench import ingest


def main() -> int:
    results = [ingest.run()]
    ingest.write_readme(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
