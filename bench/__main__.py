"""`make bench`: prints every figure the service is held to, on one screen."""

from __future__ import annotations

import sys
import tempfile

from bench import feed, history
from bench.common import database_url, fresh_database


def main() -> int:
    server_url = database_url()
    print("Resource service benchmarks (figures from this run; ratios are what count)\n")

    print(f"== Audit reads on one resource with {history.EVENTS:,} events (HTTP, sequential) ==")
    figures = history.run(fresh_database(server_url, "bench_history"), tempfile.mkdtemp())
    for label, latency in figures.items():
        goal = "   goal p99 < 10 ms" if label != "GET (current)" else ""
        print(f"  {label:<26} {latency}{goal}")

    print("\n== Activity feed: from POST to visible in GET /api/activity ==")
    latency = feed.run(fresh_database(server_url, "bench_feed"), tempfile.mkdtemp())
    print(f"  {'append to feed':<26} {latency}   goal: within 1 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
