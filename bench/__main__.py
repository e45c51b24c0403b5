"""`make bench`: prints every figure the service is held to, on one screen."""

from __future__ import annotations

import sys
import tempfile

from bench import feed, history, patch, rebuild
from bench.common import database_url, fresh_database
from bench.load import wrk_available


def print_patch_figures(server_url: str) -> None:
    generator = "wrk" if wrk_available() else "in-repo load generator (no wrk)"
    print(
        f"== PATCH and GET against the CRUD anchor (1 worker each, {generator}, 16 connections,"
        " A B A B) =="
    )
    figures = patch.run(fresh_database(server_url, "bench_patch"), tempfile.mkdtemp())
    for comparison in figures.comparisons:
        ours, theirs = comparison.service, comparison.anchor
        failed = f"  FAILED {ours.failed}" if ours.failed else ""
        print(
            f"  {comparison.label:<15} service {ours.rps:7,.0f}/s p99 {ours.p99_ms:6.2f} ms"
            f" | CRUD {theirs.rps:7,.0f}/s p99 {theirs.p99_ms:6.2f} ms"
            f" | ratio {comparison.ratio:4.2f}, p99 x{comparison.p99_ratio:4.2f}{failed}"
        )
    print("  goals: PATCH >= 0.70 with p99 <= 2x; GETs >= 0.90")
    new, long = figures.flat_new, figures.flat_long
    print(
        f"  PATCH p50, one client: new resource {new.p50_ms:.2f} ms, with 10,000 events"
        f" {long.p50_ms:.2f} ms (x{long.p50_ms / new.p50_ms:.2f}; goal <= 1.25)"
    )
    one = figures.comparisons[0].service
    print(
        f"  two workers: {figures.two_workers.rps:,.0f} PATCH/s against one worker's"
        f" {one.rps:,.0f}/s (goal: more)"
    )


def print_audit_figures(server_url: str) -> None:
    print(f"== Audit reads on one resource with {history.EVENTS:,} events (HTTP, sequential) ==")
    figures = history.run(fresh_database(server_url, "bench_history"), tempfile.mkdtemp())
    for label, latency in figures.items():
        goal = "   goal p99 < 10 ms" if label != "GET (current)" else ""
        print(f"  {label:<26} {latency}{goal}")


def print_feed_figures(server_url: str) -> None:
    print("== Activity feed: from POST to visible in GET /api/activity ==")
    latency = feed.run(fresh_database(server_url, "bench_feed"), tempfile.mkdtemp())
    print(f"  {'append to feed':<26} {latency}   goal: within 1 s")


def print_rebuild_figures(server_url: str) -> None:
    events = 1_000_000 if "--quick" not in sys.argv else 100_000
    print(f"== Rebuild of the resources read model ({events:,} events) ==")
    database = fresh_database(server_url, "bench_rebuild")
    runs = rebuild.run(database, tempfile.mkdtemp(), (events // 40, events // 10))
    for run in runs:
        print(
            f"  {run.events:>9,} events  {run.seconds:6.1f} s  {run.rate:9,.0f} events/s"
            f"   peak memory {run.peak_rss_mib:5.0f} MiB"
        )
    print("  goal: >= 50,000 events/s on >= 1,000,000 events; memory flat across sizes")
    done, baseline = rebuild.library_runner_rate(database)
    print(
        f"  library ProjectionRunner (one transaction per event): {baseline:,.0f} events/s"
        f" ({done:,} events in {rebuild.BASELINE_SECONDS:.0f} s)"
    )
    print(f"  ratio: {runs[-1].rate / baseline:.1f}x the library's runner")


SECTIONS = {
    "patch": print_patch_figures,
    "audit": print_audit_figures,
    "feed": print_feed_figures,
    "rebuild": print_rebuild_figures,
}


def main() -> int:
    """`--only SECTION` runs one of patch, audit, feed, rebuild; `--quick` rebuilds 100,000."""
    server_url = database_url()
    print("Resource service benchmarks (figures from this run; ratios are what count)")
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    for name, section in SECTIONS.items():
        if only in (None, name):
            print()
            section(server_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
