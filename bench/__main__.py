"""`make bench`: prints every figure the service is held to, on one screen."""

from __future__ import annotations

import sys
import tempfile
import time

from bench import (
    append,
    costs,
    event_feed,
    feed,
    history,
    patch,
    rebuild,
    rehearsal,
    replica,
    scale,
    seeding,
    upload,
)
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


def print_scale_figures(server_url: str) -> None:
    quick = "--quick" in sys.argv
    started = time.perf_counter()
    seconds = scale.QUICK_SECONDS if quick else scale.SECONDS
    print(
        "== Scale: a small store against a large one, request by request, each served as"
        " `make run` serves it (one worker with its projection runner, LOG_LEVEL=INFO; uploaded"
        f" files, each answer signs a URL); wrk, 16 connections, {seconds} s runs: small, large,"
        " then large, small (means of the two); a request's resource drawn at random from the"
        f" project's =={' (--quick)' if quick else ''}"
    )
    print(
        f"  seeded through the library's save (up to {seeding.SAVE_AGGREGATES:,} aggregates a"
        " save); each file registered, renamed once, confirmed as uploaded (3 events); a"
        f" project's resources take {len(scale.ACTORS)} users in turn; then the activity runner"
        " drained and VACUUM ANALYZE"
    )
    stores = scale.seed_stores(server_url, quick=quick)
    for store in stores:
        print(
            f"  {store.name}: {store.description}: {store.events:,} events, seeded in"
            f" {store.seed_seconds:.1f} s ({store.events / store.seed_seconds:,.0f}/s), the"
            f" feed drained in {store.drain_seconds:.1f} s"
        )
    if quick:
        print(
            f"  (--quick: the feed store holds {scale.QUICK_FEED_EVENTS:,} events, not 1,000,000)"
        )
    _print_sizes(stores)
    small, large = stores[0], stores[1]
    measured = scale.measure(stores, seconds=seconds)
    print(
        f"  {'request':<22} {'small':>8} {'p99 ms':>8}   {'large':>8} {'p99 ms':>8}"
        f"   {'large/small':>11} {'p99':>6}"
    )
    for figures in measured:
        ours, theirs = figures.results[scale.SMALL], figures.results[scale.LARGE]
        ratio, p99_ratio = figures.against_small(scale.LARGE)
        print(
            f"  {figures.request.label:<22} {ours.rps:>6,.0f}/s {ours.p99_ms:>8.2f}"
            f"   {theirs.rps:>6,.0f}/s {theirs.p99_ms:>8.2f}   {ratio:>11.2f} x{p99_ratio:>5.2f}"
            f"{_below_goal(ratio, p99_ratio)}{_failed(ours, theirs)}"
        )
    print(
        f"  list page {scale.DEEP_PAGE} is offset {(scale.DEEP_PAGE - 1) * scale.PER_PAGE:,} on"
        f" the large store; the small one has {small.deep_page} pages of {scale.PER_PAGE}: its"
        f" deepest, page {small.deep_page} (offset {(small.deep_page - 1) * scale.PER_PAGE:,}),"
        f" stands in. By actor: actor={scale.FILTER_ACTOR}, 1/{len(scale.ACTORS)} of the"
        f" project's events ({small.events // len(scale.ACTORS):,} on the small store,"
        f" {large.events // len(scale.LARGE_PROJECTS) // len(scale.ACTORS):,} on the large)."
        f" History: {scale.RENAMES_EACH + 2} events a resource"
    )
    feed = stores[2]
    print(f"  the feed store ({feed.events:,} events in the project's activity) against small:")
    for figures in measured:
        if scale.FEED not in figures.results:
            continue
        ours, theirs = figures.results[scale.SMALL], figures.results[scale.FEED]
        ratio, p99_ratio = figures.against_small(scale.FEED)
        print(
            f"    {figures.request.label:<20} {theirs.rps:>6,.0f}/s p99 {theirs.p99_ms:6.2f} ms"
            f" | ratio {ratio:.2f}, p99 x{p99_ratio:.2f}{_below_goal(ratio, p99_ratio)}"
            f"{_failed(theirs)}"
        )
    print("  goal: large/small >= 0.90 with p99 <= 1.5x")
    print()
    _print_soak(server_url, quick)
    print(f"  (the scale section took {(time.perf_counter() - started) / 60:.1f} min)")


def _below_goal(ratio: float, p99_ratio: float) -> str:
    return "   BELOW GOAL" if ratio < 0.90 or p99_ratio > 1.5 else ""


def _print_sizes(stores: list[scale.Store]) -> None:
    large, feed = stores[1], stores[2]
    (large_events, large_parts), (feed_events, feed_parts) = scale.sizes(large), scale.sizes(feed)
    print(
        "  database size per 1,000,000 events, MiB (pg_relation_size of the table,"
        " pg_indexes_size, pg_total_relation_size; after VACUUM ANALYZE): the large store"
        f" ({large_events:,} events) and the feed store ({feed_events:,})"
    )
    print(
        f"    {'part':<18} {'large: table':>12} {'indexes':>8} {'total':>8}"
        f"   {'feed: table':>11} {'indexes':>8} {'total':>8}"
    )
    for ours, theirs in zip(large_parts, feed_parts, strict=True):
        cells = []
        for part, events in ((ours, large_events), (theirs, feed_events)):
            per = 1_000_000 / events / 2**20  # bytes to MiB per 1,000,000 events
            table = f"{part.table * per:,.1f}" if part.table else "-"
            indexes = f"{part.indexes * per:,.1f}" if part.indexes else "-"
            cells.append((table, indexes, f"{part.total * per:,.1f}"))
        (table, indexes, total), (feed_table, feed_indexes, feed_total) = cells
        print(
            f"    {ours.label:<18} {table:>12} {indexes:>8} {total:>8}"
            f"   {feed_table:>11} {feed_indexes:>8} {feed_total:>8}"
        )


def _print_soak(server_url: str, quick: bool) -> None:
    seconds = scale.QUICK_SOAK_SECONDS if quick else scale.SOAK_SECONDS
    print(
        f"== Soak: `make run`'s configuration (one worker with its projection runner,"
        f" LOG_LEVEL=INFO), {scale.SOAK_LINKS:,} link resources; wrk, 16 connections: 40% GET"
        " one, 20% a list page, 10% history, 10% activity page 1, 20% PATCH (random resources"
        f" and pages); {scale.SOAK_ROUNDS} rounds of {seconds} s{' (--quick)' if quick else ''}"
        " =="
    )
    found = scale.soak(server_url, rounds=scale.SOAK_ROUNDS, seconds=seconds)
    print(
        f"  server RSS after a {scale.SOAK_WARM_UP_SECONDS} s warm-up:"
        f" {found.warm_server_rss_mib:.0f} MiB"
    )
    for number, done in enumerate(found.rounds, 1):
        print(
            f"  round {number}: {done.load.rps:>6,.0f}/s p99 {done.load.p99_ms:6.2f} ms;"
            f" RSS server {done.server_rss_mib:.0f} MiB, runner {done.runner_rss_mib:.0f} MiB"
            f"{_failed(done.load)}"
        )
    first, last = found.rounds[0], found.rounds[-1]
    ratio, p99_ratio = last.load.rps / first.load.rps, last.load.p99_ms / first.load.p99_ms
    growth = last.server_rss_mib - first.server_rss_mib
    flat = growth <= scale.RSS_FLAT * first.server_rss_mib
    print(
        f"  last/first: throughput {ratio:.2f}, p99 x{p99_ratio:.2f}, server RSS {growth:+.0f} MiB"
        f"   goal: >= 0.90, p99 <= 1.5x, RSS flat (within {scale.RSS_FLAT:.0%})"
        f"{_below_goal(ratio, p99_ratio) if flat else '   BELOW GOAL (RSS grew)'}"
    )


def print_event_feed_figures(server_url: str) -> None:
    quick = "--quick" in sys.argv
    started = time.perf_counter()
    events = event_feed.QUICK_STORE_EVENTS if quick else event_feed.STORE_EVENTS
    streams = event_feed.QUICK_STREAMS if quick else event_feed.STREAMS
    window = event_feed.QUICK_WINDOW_SECONDS if quick else event_feed.WINDOW_SECONDS
    print(
        "== Event feed: /api/events paged and exported, /api/events/stream with"
        f" {streams:,} streams under {event_feed.WRITE_RATE} writes/s; each server as"
        " `make run` serves it (one worker, its projection runner, LOG_LEVEL=INFO)"
        f" =={' (--quick)' if quick else ''}"
    )
    store = event_feed.seed_feed_store(server_url, events)
    print(
        f"  project {event_feed.PROJECT} alone: {store.events:,} events"
        f" ({store.events // event_feed.EVENTS_EACH:,} links of {event_feed.EVENTS_EACH}),"
        f" seeded in {store.seed_seconds:.1f} s, the feed drained in {store.drain_seconds:.1f} s"
    )
    paging, exported = event_feed.read_and_export(store)
    print(
        f"  {'feed read, limit=1000':<24} {paging.rate:>8,.0f} events/s   {paging.pages:,}"
        f" pages in {paging.seconds:.1f} s, a page p50 {paging.page_ms.p50_ms:.1f} ms, p99"
        f" {paging.page_ms.p99_ms:.1f} ms; one client (httpx, keep-alive, each page decoded"
        f" whole with msgspec: {paging.decode_seconds / paging.seconds:.0%} of the time), the"
        f" server busy {paging.server_cpu_share:.0%} of a core   goal: >="
        f" {event_feed.READ_GOAL:,} events/s"
        f"{'' if paging.rate >= event_feed.READ_GOAL else '   BELOW GOAL'}"
    )
    print(
        f"  {'NDJSON export':<24} {exported.rate:>8,.0f} events/s   {exported.events:,} events"
        f" in {exported.seconds:.1f} s, one request"
    )
    print(
        f"  {'server RSS, export':<24} start {exported.rss_start_mib:.0f} MiB, max"
        f" {exported.rss_max_mib:.0f} MiB ({exported.growth_mib:+.1f} MiB; {exported.samples}"
        f" samples, every {event_feed.SAMPLE_EVERY} s): "
        f"{'flat' if exported.flat else 'NOT FLAT'}; its runner at most"
        f" {exported.runner_rss_max_mib:.0f} MiB   goal: max - start < 20 MB"
    )
    print(
        f"  streams: {len(event_feed.STREAM_PROJECTS)} projects of {event_feed.LINKS_EACH}"
        f" links, a key each; {streams:,} streams spread over them, opened by"
        f" {event_feed.CLIENT_PROCESSES} client processes (asyncio, raw sockets) after"
        f" {event_feed.WARM_SECONDS + event_feed.QUIET_SECONDS:.0f} s of writes alone; a writer"
        " process PATCHing"
        f" (renames) paced at {event_feed.WRITE_RATE}/s on {event_feed.WRITER_CONNECTIONS}"
        f" connections; a {window:.0f} s window; one server process, MAX_STREAMS raised"
    )
    for elsewhere in (False, True):
        if elsewhere:
            print(
                "  the same, with the writer PATCHing a second server process (no runner) on"
                " the same database: the first serves the streams alone, as it does behind a"
                " load balancer that spreads the writes"
            )
        found = event_feed.streams_under_load(
            server_url, streams=streams, window=window, writes_elsewhere=elsewhere
        )
        _print_streams(found, elsewhere=elsewhere)
    print(f"  (the event feed section took {(time.perf_counter() - started) / 60:.1f} min)")


def _print_streams(found: event_feed.Streams, *, elsewhere: bool) -> None:
    """One run of the streams under load: what the section's goals ask."""
    writes = found.writes
    pace = found.window_events / found.window_seconds
    print(
        f"    writes: {pace:,.0f} PATCH/s answered in the window ({writes['rate']:,.0f}/s over"
        f" the writer's run), p50 {writes['p50_ms']:.1f} ms, p99 {writes['p99_ms']:.1f} ms"
        f"{_failed_count(int(writes['failed']))}"
        f"{'   SHORT OF THE PACE' if pace < 0.95 * event_feed.WRITE_RATE else ''}"
    )
    print(
        f"    streams: {found.opened:,} of {found.streams:,} opened in"
        f" {found.opening_seconds:.1f} s"
        f" ({event_feed.OPENING * event_feed.CLIENT_PROCESSES} at a time)"
        f"{f', REFUSED {found.refused}' if found.refused else ''}"
        f"{f', ENDED BY THE SERVER {found.ended_early}' if found.ended_early else ''}"
        f"{f' ({found.closed_slow} as too slow)' if found.closed_slow else ''}"
    )
    late = found.window_expected - found.latency.count
    print(
        f"    {'commit to delivery':<22} {found.latency}   goal: p99 <= "
        f"{event_feed.LATENCY_GOAL_MS:.0f} ms"
        f"{'' if found.latency.p99_ms <= event_feed.LATENCY_GOAL_MS else '   BELOW GOAL'}"
    )
    print(
        f"    {'':<22} ({found.window_events:,} events answered in the window, each owed to"
        f" every stream of its project: {found.window_expected:,} deliveries"
        f"{f', {late:,} NOT DELIVERED' if late else ''}; over the whole run"
        f" {found.missing:,} missing, {found.out_of_order:,} out of order or repeated)"
    )
    print(
        f"    {'server RSS':<22} {found.server_rss_max_mib:.0f} MiB at most in the window"
        f" ({found.server_rss_start_mib:.0f} MiB as it began)   goal: <= 300 MB"
        f" ({event_feed.RSS_GOAL_MIB:.0f} MiB)"
        f"{'' if found.server_rss_max_mib <= event_feed.RSS_GOAL_MIB else '   BELOW GOAL'}"
    )
    connections = (
        f"    {'database connections':<22} {found.connections_quiet} with no stream,"
        f" {found.connections_streams} with {found.opened:,} streams (client backends of its"
        " database in pg_stat_activity, the most of the samples; with no stream: the writes,"
        f" and the {found.opened:,} requests that open the streams made without them,"
        f" {event_feed.CLIENT_PROCESSES * event_feed.OPENING} at a time; "
    )
    if elsewhere:
        print(
            f"{connections}both servers' and the runner's: the streaming server's pool grows"
            " toward DATABASE_POOL_SIZE while the stream requests open, slower than those"
            " requests alone as the streams already open take its core, and keeps the"
            " connections idle; no stream holds one)"
        )
    else:
        print(
            f"{connections}the server's and its runner's)   goal: no more with streams"
            f"{'' if found.connections_streams <= found.connections_quiet else '   BELOW GOAL'}"
        )
    print(
        f"    {'database transactions':<22} {found.transactions_quiet:,.0f}/s with no stream,"
        f" {found.transactions_opening:,.0f}/s while the streams opened,"
        f" {found.transactions_streams:,.0f}/s in the window (pg_stat_database)"
    )
    share = found.server_cpu / found.window_seconds
    handed = (
        f"{found.window_deliveries:,} frames arrived in the window,"
        f" {found.hub_handed / max(found.window_deliveries, 1):.0%} of them handed over by the"
        " hub, not read from the database by their stream"
    )
    cpu = (
        f"    {'server CPU':<22} {found.cpu_us_per_delivery:.1f} µs per delivered event"
        f" ({found.server_cpu:.1f} s over {found.window_seconds:.0f} s, {share:.0%} of a core"
    )
    if elsewhere:
        print(f"{cpu}: the streams alone; {handed})")
    else:
        print(
            f"{cpu}, PATCHes included; {handed});"
            f" {found.streams_cpu_us_per_delivery:.1f} µs beyond what the writes take alone"
            f" ({found.quiet_cpu_share:.0%} of a core at {found.quiet_writes:,.0f}/s with no"
            f" stream, {found.writes_cpu_share:.0%} at the window's rate)"
        )
    clients = "; ".join(
        f"{number}: {client['cpu'] / client['seconds']:.0%} of a core, its loop late p99"
        f" {client['lag_p99_ms']:.1f} ms (max {client['lag_max_ms']:.0f} ms)"
        for number, client in enumerate(found.clients, 1)
    )
    print(f"    {'client processes':<22} {clients}")
    resumed = found.resumed
    print(
        f"    {'resumes':<22} {resumed.resumes} with Last-Event-ID ({resumed.events:,} events"
        f" taken): gaps {resumed.gaps}, duplicates {resumed.duplicates}"
        f"{f', out of order {resumed.out_of_order}' if resumed.out_of_order else ''}"
        f"{f', refused {resumed.refused}' if resumed.refused else ''}"
        "   goal: gaps 0, duplicates 0"
    )


def print_replica_figures(server_url: str) -> None:
    del server_url  # a cluster of its own: a primary and a streaming replica
    print(
        "== Reads with a streaming replica against the primary alone (both on this machine;"
        f" the server as make run serves it, wrk 16 connections, {replica.ROUNDS} alternating"
        f" rounds of {replica.SECONDS} s, medians) =="
    )
    figures = replica.run()
    if isinstance(figures, str):
        print(f"  {figures}")
        return
    for label in replica.READS:
        alone, routed = figures.primary[label], figures.replica[label]
        print(
            f"  {label:<10} primary alone {alone.rps:7,.0f}/s p99 {alone.p99_ms:6.2f} ms"
            f" | with replica {routed.rps:7,.0f}/s p99 {routed.p99_ms:6.2f} ms"
            f" | ratio {routed.rps / alone.rps:4.2f}{_failed(alone, routed)}"
        )
    print(f"  a read right after a rename ({replica.PAIRS} each, one client):")
    print(f"    primary alone              {figures.primary_reads}")
    print(
        f"    replica, no Session-Token  {figures.plain_reads}"
        f"   missed the write: {figures.plain_missed}"
    )
    print(
        f"    replica, Session-Token     {figures.token_reads}"
        f"   missed the write: {figures.missed} (goal 0)"
    )


def print_failover_figures(server_url: str) -> None:
    del server_url  # clusters of its own
    print(
        "== Failover, as `make cluster` rehearses it: primary + synchronous standby + async"
        " replica, PgBouncer, S3 (moto), two API processes, two runners; the primary"
        f" SIGKILLed under load, the standby promoted {rehearsal.DETECTION_SECONDS:g} s later =="
    )
    rehearsal.main()


SECTIONS = {
    "patch": print_patch_figures,
    "append": print_append_figures,
    "flush": print_flush_figures,
    "costs": print_cost_figures,
    "audit": print_audit_figures,
    "feed": print_feed_figures,
    "rebuild": print_rebuild_figures,
    "upload": print_upload_figures,
    "scale": print_scale_figures,
    "events": print_event_feed_figures,
    "replica": print_replica_figures,
    "failover": print_failover_figures,
}


def main() -> int:
    """`--only SECTION` runs one of patch, append, flush, costs, audit, feed, rebuild, upload,
    scale, events, replica, failover; `--quick` rebuilds 100,000 events instead of
    1,000,000, makes the scale section's runs shorter, its feed store 100,000 events and
    its soak rounds 15 s, and the event feed section's store 100,000 events, its streams
    200 and its window 15 s."""
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
