"""`make bench`: prints every figure the service is held to, on one screen."""

from __future__ import annotations

import sys
import tempfile

from bench import append, costs, feed, history, patch, rebuild, upload
from bench.cluster import private_cluster
from bench.common import database_url, fresh_database
from bench.load import LoadResult, wrk_available


def print_patch_figures(server_url: str) -> None:
    generator = "wrk" if wrk_available() else "in-repo load generator (no wrk)"
    print(
        f"== PATCH and GET against the CRUD anchor (1 worker each, {generator}, 16 connections,"
        f" rounds anchor, links, files x{patch.ROUNDS}, anchor; each run's ratio against the"
        " anchor runs on either side, median and range of the rounds) =="
    )
    figures = patch.run(server_url)
    for variant, comparisons in figures.variants.items():
        print(f"  {variant} ({patch.VARIANTS[variant]}):")
        for comparison in comparisons:
            print(f"    {_comparison_line(comparison)}")
    print(
        f"  goals: PATCH {patch.FILES} >= 0.85 with p99 <= 1.5x; links PATCH no lower than"
        " before; GET one and list >= 0.95"
    )
    for variant, load in figures.patch_loads.items():
        print(f"  {_patch_cost_line(variant, load)}")
    files = figures.patch_loads[patch.FILES]
    print(
        f"  projection runner, live under those PATCHes: {files.projected:,} events,"
        f" CPU {files.runner_cpu or 0:.2f} s = {files.runner_ms_per_thousand:,.0f} ms per 1,000"
        f" events, {files.runner_share_of_a_core:.0%} of a core; at most {files.max_lag:,}"
        " events behind when a run ended"
    )
    new, long = figures.flat_new, figures.flat_long
    print(
        f"  PATCH p50, one client ({patch.LINKS}): new resource {new.p50_ms:.2f} ms,"
        f" with 10,000 events {long.p50_ms:.2f} ms (x{long.p50_ms / new.p50_ms:.2f}; goal <= 1.25)"
        f"{_failed(new, long)}"
    )
    one, two = figures.variants[patch.LINKS][0].service, figures.two_workers
    print(
        f"  two workers ({patch.LINKS}): {two.rps:,.0f} PATCH/s against one"
        f" worker's {one.rps:,.0f}/s (goal: more){_failed(two)}"
    )


def _comparison_line(comparison: patch.Comparison) -> str:
    ours, theirs = comparison.service, comparison.anchor
    low, high = comparison.spread
    return (
        f"{comparison.label:<15} service {ours.rps:7,.0f}/s p99 {ours.p99_ms:6.2f} ms"
        f" | CRUD {theirs.rps:7,.0f}/s p99 {theirs.p99_ms:6.2f} ms"
        f" | ratio {comparison.ratio:4.2f} ({low:4.2f}-{high:4.2f}),"
        f" p99 x{comparison.p99_ratio:4.2f}{_failed(ours)}"
    )


def _patch_cost_line(variant: str, load: patch.PatchLoad) -> str:
    """PATCHes answered, events appended, and the CPU each PATCH cost, by process."""
    cpu = {"server": load.server_cpu, "runner": load.runner_cpu, "PostgreSQL": load.postgres_cpu}
    appended = (
        f" appended {load.appended:,} events (x{load.appended / max(load.patches, 1):.2f})"
        if variant != patch.ANCHOR
        else ""
    )
    return f"{variant}: {load.patches:,} PATCHes{appended}; CPU per PATCH: " + ", ".join(
        f"{name} {load.ms_per_patch(used)} ms" for name, used in cpu.items() if used is not None
    )


def print_append_figures(server_url: str) -> None:
    print(
        "== The raw append: appends/s, one event of a new resource per transaction through"
        f" the append function (pgbench -M prepared, 2 threads, {append.SECONDS} s a run),"
        " lock-free against the previous release's locking append =="
    )
    rows = append.run(server_url)
    print(f"  {'flush':<14} {'writers':>7} {'lock-free':>12} {'locking':>12} {'ratio':>7}")
    for row in rows:
        if row.lock_free is None or row.locking is None or row.ratio is None:
            print(f"  {row.flush:<14} {row.writers:>7}  {row.not_run}")
            continue
        print(
            f"  {row.flush:<14} {row.writers:>7} {row.lock_free:>10,.0f}/s"
            f" {row.locking:>10,.0f}/s {row.ratio:>6.1f}x"
        )
    print("  goal: lock-free >= 5x the locking append at 1 ms flush")


def print_flush_figures(server_url: str) -> None:
    print(
        f"== PATCH {patch.FILES} against the CRUD anchor, on a cluster of the bench's own whose"
        f" every WAL flush waits ~1 ms ({patch.ROUNDS} rounds of 6 s, ratios as in the PATCH"
        " section) =="
    )
    with private_cluster() as cluster_url:
        comparison, load = patch.run_patch_as_served(cluster_url)
    print(f"  {_comparison_line(comparison)}")
    print("  goal: >= 0.80 with p99 <= 2x at 1 ms flush")
    print(f"  {_patch_cost_line(patch.FILES, load)}")


def _failed(*results: LoadResult) -> str:
    failed = sum(result.failed for result in results)
    return f"  FAILED {failed}" if failed else ""


def _failed_count(failed: int) -> str:
    return f"  FAILED {failed}" if failed else ""


def print_cost_figures(server_url: str) -> None:
    print("== What the projection runner and URL signing cost ==")
    runner = costs.runner_catch_up(server_url)
    print(
        f"  projection runner, catching up: {runner.events:,} events in {runner.wall_seconds:.1f} s"
        f" ({runner.rate:,.0f}/s), CPU {runner.cpu_seconds:.2f} s ="
        f" {runner.ms_per_thousand:,.0f} ms per 1,000 events"
    )
    signing = costs.signing_us()
    print(
        f"  signing a URL (UrlSigner.content_url): {signing:.2f} µs a call; an uploaded file's"
        f" GET or PATCH signs one, a list page of 20 signs 20 ({20 * signing:.0f} µs)"
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
    print(
        f"  under load ({patch.FILES}; PATCHes paced at {feed.RATE:,}/s on {feed.CONNECTIONS}"
        f" connections for {feed.LOAD_SECONDS} s, {feed.SAMPLERS} clients POSTing a sample"
        f" every {feed.SAMPLE_EVERY} s each):"
    )
    loaded = feed.under_load(fresh_database(server_url, "bench_feed_load"), tempfile.mkdtemp())
    print(
        f"    appends reached {loaded.appends_per_second:,.0f}/s;"
        f" the PATCHes: {loaded.load.rps:,.0f}/s answered, p50 {loaded.load.p50_ms:.2f} ms,"
        f" p99 {loaded.load.p99_ms:.2f} ms{_failed(loaded.load)}"
    )
    missing = (
        f"; {loaded.missing} not in the feed after {feed.SAMPLE_TIMEOUT:.0f} s"
        if loaded.missing
        else ""
    )
    print(
        f"    {'answer to feed':<24} {loaded.latency}{missing}"
        "   goal: p99 <= 250 ms at 1,000 appends/s"
    )


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
    wait = rebuild.requests_during_a_rebuild(database, tempfile.mkdtemp())
    print(
        f"  rebuilt again under load (4 clients renaming and reading): {wait.requests:,} requests,"
        f" p50 {wait.p50_ms:.1f} ms, longest {wait.longest_ms:.0f} ms; the swap took"
        f" {wait.swap_ms:.0f} ms{_failed_count(wait.failed)}"
    )
    print("  goal: no request waits more than 250 ms longer because of the swap")


def print_upload_figures(server_url: str) -> None:
    print("== A 1 GiB file through the file store (as make run keeps it), against cp ==")
    figures = upload.run(fresh_database(server_url, "bench_upload"))
    print(
        f"  upload {figures.upload_mb_s:,.0f} MiB/s, download {figures.download_mb_s:,.0f} MiB/s;"
        f" cp of the same file on the same disk {figures.cp_mb_s:,.0f} MiB/s"
        f" (upload x{figures.upload_mb_s / figures.cp_mb_s:.2f},"
        f" download x{figures.download_mb_s / figures.cp_mb_s:.2f})"
    )
    print(
        f"  server peak RSS {figures.peak_rss_mib:,.0f} MiB"
        "   goals: <= 200 MB RSS, >= half of cp's throughput"
    )


SECTIONS = {
    "patch": print_patch_figures,
    "append": print_append_figures,
    "flush": print_flush_figures,
    "costs": print_cost_figures,
    "audit": print_audit_figures,
    "feed": print_feed_figures,
    "rebuild": print_rebuild_figures,
    "upload": print_upload_figures,
}


def main() -> int:
    """`--only SECTION` runs one of patch, append, flush, costs, audit, feed, rebuild, upload;
    `--quick` rebuilds 100,000 events instead of 1,000,000."""
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    if only is not None and only not in SECTIONS:
        print(f"bench: --only takes one of {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    server_url = database_url()
    print("Resource service benchmarks (figures from this run; ratios are what count)")
    for name, section in SECTIONS.items():
        if only in (None, name):
            print()
            section(server_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
