"""The pmo-hub benchmark: HTTP requests against the minimum, wall time under latency, rate-limit waits, a naive
baseline, engine throughput and peak memory, against the sandbox.

    python -m bench [--scale 1k,10k,100k] [--latency-ms 50] [--runs 3] [--quick] [--json PATH] [--markdown PATH]

For each scale (Jira issues; about 100 per project) and run, a fresh sandbox is started in a process of its own
(`bench.sandbox_proc`) and every sync is a `python -m hub.cli` subprocess, so wall time and peak RSS
(`os.wait4`'s ru_maxrss) are the hub's alone. The request counts are the sandbox's (what the servers saw), per
system, split into authentication, reads and writes; the minimum for each sync comes from `bench.minimum`.

Scenarios per scale, in order, on one sandbox:
  full         the first sync: full pull of every source, governance written to every project record
  settle       the next sync: reads back the hub's own writes (they changed the sources), writes nothing
  nochange     a sync with nothing changed since the previous one
  incremental  after 1% of the records of every source were changed through the APIs (bench.edits)
  resync       `sync --full` (a periodic full re-read) with nothing to write
  pull_<src>   `check --full` of a hub configured with that source alone (its pull time: the concurrency figure)
Then, each on fresh sandboxes: a full sync under rate limits (`--rate-limit`), the naive baseline
(`bench.baseline`) and the hub's first sync on the same data (`--baseline-records` project records), and the
rule engine over a synthetic portfolio (bench/bench_engine.py). Figures are medians over `--runs` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from bench import edits
from bench.minimum import classify, minimum, ratio
from bench.sandbox import REPO, BenchSandbox

SYSTEMS = ("jira", "sheets", "graph")
HUB_SYSTEM = {"jira": "jira", "sheets": "sheets", "graph": "m365"}
SCENARIOS = ("full", "settle", "nochange", "incremental", "resync")
ITEMS_PER_PROJECT = 80  # with each project's record, gates, risks, milestones, reports: ~100 Jira issues
TARGETS = {"full_ratio": 1.1, "baseline_factor": 10.0, "rss_mb_100k": 400.0, "engine_s": 2.0, "concurrency": 1.3}


# ---- small helpers ------------------------------------------------------------------------------------------
def parse_scale(text: str) -> int:
    t = text.strip().lower()
    mult = 1000 if t.endswith("k") else 1
    return int(float(t.rstrip("k")) * mult)


def scale_name(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def layout(issues: int) -> tuple[int, int]:
    """(projects, work items per project) for about `issues` Jira issues."""
    projects = max(1, round(issues / 100))
    return projects, ITEMS_PER_PROJECT


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory": mem, "python": platform.python_version(),
            "platform": platform.platform(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}


def median_of(values: list[Any]) -> Any:
    """The median of numbers; of dicts, key by key; anything else: the first value."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    first = values[0]
    if isinstance(first, bool):
        return first
    if isinstance(first, (int, float)):
        m = statistics.median(values)
        return round(m, 4) if isinstance(m, float) else m
    if isinstance(first, dict):
        keys = {k for v in values if isinstance(v, dict) for k in v}
        return {k: median_of([v.get(k) for v in values if isinstance(v, dict)]) for k in sorted(keys)}
    return first


# ---- running the hub -------------------------------------------------------------------------------------
def run_hub(config: str, args: list[str], log: Path) -> dict[str, Any]:
    """Run `pmo-hub ARGS --config CONFIG` as a child process; its wall time, peak RSS, CPU time and exit code."""
    cmd = [sys.executable, "-m", "hub.cli", *args, "--config", config]
    with open(log, "a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": round(wall, 3), "rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "exit": proc.returncode}


def _state(config: str):
    from hub import config as config_mod
    from hub.state import State

    cfg = config_mod.load(config)
    return cfg, State.open(cfg.state.resolved_url(cfg.base_dir))


def hub_run_and_cursors(config: str) -> tuple[dict, dict[str, dict | None], Any]:
    cfg, state = _state(config)
    try:
        runs = state.runs(limit=1)
        cursors = {s: state.cursor(HUB_SYSTEM[s]) for s in SYSTEMS}
    finally:
        state.close()
    return (runs[0] if runs else {}), cursors, cfg


def jira_window(sb: BenchSandbox, cursor: dict | None, overlap_min: int, full: bool, counts: dict) -> int:
    """The issues the Jira pull must return (see bench.minimum)."""
    if full or not cursor or not cursor.get("updated_max"):
        return counts["jira_issues"]
    since = datetime.fromisoformat(cursor["updated_max"]) - timedelta(minutes=overlap_min)
    since = since.replace(second=0, microsecond=0)  # JQL dates are minute-precise
    return sb.cmd("updated_since", since=since.isoformat())["count"]


def graph_delta(counts: dict, prev_before: dict | None, before: dict) -> dict[str, int]:
    """Per list, the items changed since the previous sync read it (what a delta read returns)."""
    out = {}
    for display, list_id in counts["graph_list_ids"].items():
        prefix = list_id + "/"
        a = {k: v for k, v in (before.get("graph_items") or {}).items() if k.startswith(prefix)}
        b = {k: v for k, v in ((prev_before or {}).get("graph_items") or {}).items() if k.startswith(prefix)}
        out[display] = sum(1 for k in a if b.get(k) != a[k]) + sum(1 for k in b if k not in a)
    return out


def measure(sb: BenchSandbox, config: str, *, args: list[str], log: Path, prev_before: dict | None,
            systems: tuple[str, ...] = SYSTEMS) -> dict[str, Any]:
    """Run one hub command against the sandbox and collect every figure of it."""
    _, cursors, cfg = hub_run_and_cursors(config)
    full = "--full" in args
    counts = sb.info["counts"]
    first = {s: cursors[s] is None for s in SYSTEMS}
    window = jira_window(sb, cursors["jira"], cfg.jira.overlap_minutes if cfg.jira else 10, full or first["jira"],
                         counts) if "jira" in systems else 0
    before = sb.cmd("snapshot")
    delta = None if (full or first["graph"]) else graph_delta(counts, prev_before, before)
    sb.reset_stats()
    proc = run_hub(config, args, log)
    stats = sb.stats()
    after = sb.cmd("snapshot")
    run, _, _ = hub_run_and_cursors(config)
    req = classify(stats)
    mins = minimum(before=before, after=after, prev_before=prev_before, counts=counts, jira_window=window,
                   first=first, full=full, graph_delta_items=delta, systems=systems)
    rstats = run.get("stats") or {}
    out: dict[str, Any] = {
        **proc, "command": " ".join(args),
        "requests": {s: req[s] for s in systems}, "minimum": mins,
        "routes": {s: {**(stats.get(s) or {}).get("routes", {}),
                       **{f"(in $batch) {k}": v for k, v in ((stats.get(s) or {}).get("batched") or {}).items()}}
                   for s in (*systems, "login") if s in stats},
        "ratio": {s: {k: _r(req[s][k], mins[s][k]) for k in ("reads", "writes", "total")} for s in systems},
        "auth_requests": sum(req[s]["auth"] for s in systems),
        "retry_wait_s": rstats.get("retry_wait_s", 0.0),
        "throttled": sum(req[s]["throttled"] for s in systems),
        "pull_s": {s: (rstats.get("pulls") or {}).get(HUB_SYSTEM[s], {}).get("seconds") for s in systems},
        "hub_writes": rstats.get("writes", 0), "planned": rstats.get("planned", 0),
        "outcome": run.get("outcome"),
    }
    out["_before"] = before
    return out


def _r(measured: int, minimum_: int) -> float | None:
    r = ratio(measured, minimum_)
    return None if r is None else round(r, 3)


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if not k.startswith("_")}


# ---- scenarios -------------------------------------------------------------------------------------------
def scale_run(issues: int, run_no: int, opts: argparse.Namespace, work: Path, say: Callable[[str], None]) -> dict:
    projects, items = layout(issues)
    d = work / f"scale-{scale_name(issues)}-run{run_no}"
    log = d / "hub.log"
    with BenchSandbox.start(projects=projects, items=items, seed=opts.seed, workdir=d) as sb:
        cfgs = sb.info["configs"]
        out: dict[str, Any] = {"counts": sb.info["counts"]}
        sb.configure("*", latency_ms=opts.latency_ms)
        prev = None
        for name in SCENARIOS:
            if name == "incremental":
                sb.configure("*", latency_ms=0)
                out["edited"] = edits.change(sb, opts.change, run_no + 1)
                sb.configure("*", latency_ms=opts.latency_ms)
            args = ["sync", "--full"] if name == "resync" else ["sync"]
            m = measure(sb, cfgs["all"], args=args, log=log, prev_before=prev)
            prev = m["_before"]
            out[name] = _strip(m)
            say(f"  {scale_name(issues)} run {run_no + 1}: {name:12s} {m['wall_s']:8.2f} s  "
                f"rss {m['rss_mb']:6.1f} MB  requests {_brief(m['requests'])}  exit {m['exit']}")
            if m["exit"] not in (0,):
                say(f"    the hub exited {m['exit']}; see {log}")
        for s in SYSTEMS:
            cfg = cfgs[HUB_SYSTEM[s]]
            warm = sb.cmd("snapshot")
            run_hub(cfg, ["check"], log)  # its first pull (cursor, field ids): not measured
            m = measure(sb, cfg, args=["check", "--full"], log=log, prev_before=warm, systems=(s,))
            out[f"pull_{s}"] = _strip(m)
            say(f"  {scale_name(issues)} run {run_no + 1}: pull {s:7s} alone {m['pull_s'][s]:8.2f} s "
                f"(check --full {m['wall_s']:.2f} s)")
    return out


def rate_run(issues: int, run_no: int, opts: argparse.Namespace, work: Path, say: Callable[[str], None]) -> dict:
    projects, items = layout(issues)
    d = work / f"rate-{scale_name(issues)}-run{run_no}"
    with BenchSandbox.start(projects=projects, items=items, seed=opts.seed, workdir=d) as sb:
        sb.configure("*", latency_ms=opts.latency_ms)
        limit, window = opts.rate_limit
        for s in SYSTEMS:
            sb.configure(s, rate_limit=limit, rate_window=window)
        m = measure(sb, sb.info["configs"]["all"], args=["sync"], log=d / "hub.log", prev_before=None)
        say(f"  rate-limited {scale_name(issues)} run {run_no + 1}: {m['wall_s']:.2f} s, {m['throttled']} throttled, "
            f"{m['retry_wait_s']:.1f} s waiting")
        return _strip(m)


def _baseline_sandbox(opts: argparse.Namespace, d: Path) -> BenchSandbox:
    """A fresh sandbox with the baseline's data: `--baseline-records` projects, Sheets quotas lifted (at Google's
    60 writes a minute per user the baseline's cell-by-cell writes alone would take hours; see BENCHMARKS.md)."""
    sb = BenchSandbox.start(projects=opts.baseline_records, items=opts.baseline_items, seed=opts.seed, workdir=d)
    sb.configure("*", latency_ms=opts.latency_ms)
    sb.sheets_quotas(10_000_000)
    return sb


def baseline_run(run_no: int, opts: argparse.Namespace, work: Path, say: Callable[[str], None]) -> dict:
    """The naive script, then the hub (governance fields only, as the script writes) on a fresh copy of the data."""
    n = opts.baseline_records
    out: dict[str, Any] = {}
    d = work / f"baseline-run{run_no}"
    with _baseline_sandbox(opts, d) as sb:
        sb.reset_stats()
        cmd = [sys.executable, "-m", "bench.baseline", "--config", sb.info["configs"]["all"], "--records", str(n)]
        with open(d / "baseline.log", "w") as fh:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=fh, stderr=fh, cwd=REPO)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
        req = classify(sb.stats())
        try:
            written = json.loads((d / "baseline.log").read_text().strip().splitlines()[-1])["written"]
        except (ValueError, IndexError, KeyError):
            written = {}
        out["baseline"] = {"wall_s": round(wall, 3), "rss_mb": round(usage.ru_maxrss / 1024, 1),
                           "exit": os.waitstatus_to_exitcode(status), "requests": req, "written": written}
        say(f"  baseline run {run_no + 1}: {wall:.2f} s, requests {_brief(req)}, written {written}")
    d = work / f"baseline-hub-run{run_no}"
    with _baseline_sandbox(opts, d) as sb:
        m = measure(sb, sb.info["configs"]["fields"], args=["sync"], log=d / "hub.log", prev_before=None)
        out["hub"] = _strip(m)
        out["counts"] = sb.info["counts"]
        say(f"  hub on the same data run {run_no + 1}: {m['wall_s']:.2f} s, requests {_brief(m['requests'])}")
    return out


def engine_run(opts: argparse.Namespace) -> dict:
    from bench.bench_engine import TODAY, build_portfolio
    from hub.rules import evaluate, load_default_rules
    from hub.rules.settings import StandardsSettings

    portfolio = build_portfolio(opts.engine_projects, opts.engine_items)
    ruleset, settings = load_default_rules(), StandardsSettings()
    times, n = [], 0
    for _ in range(max(3, opts.runs)):
        t0 = time.perf_counter()
        n = len(evaluate(portfolio, ruleset, settings, today=TODAY))
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"projects": len(portfolio.projects), "work_items": len(portfolio.work_items), "rules": len(ruleset),
            "results": n, "median_s": round(med, 3), "first_s": round(times[0], 3),
            "results_per_s": round(n / med), "runs": len(times)}


def _brief(req: dict) -> str:
    return " ".join(f"{s} {v['reads']}r/{v['writes']}w" for s, v in req.items())


# ---- summary ---------------------------------------------------------------------------------------------
def concurrency(sc: dict) -> dict[str, Any]:
    """Issue 6's figure: a full sync of every source against the slowest source pulled alone.

    strict: the whole `sync --full` (process start, pulls, evaluation, write-back planning) over the slowest
    source's pull time alone; like_for_like: over the whole `check --full` of that source alone (the same process
    overheads); pull_phase: the slowest pull inside the full sync over the same source's pull alone.
    """
    alone = {s: sc[f"pull_{s}"]["pull_s"][s] or 0.0 for s in SYSTEMS}
    slowest = max(alone, key=lambda s: alone[s])
    resync = sc["resync"]
    inside = max(v or 0.0 for v in resync["pull_s"].values())
    return {"slowest": slowest, "slowest_pull_s": alone[slowest], "pull_alone_s": alone,
            "slowest_check_s": sc[f"pull_{slowest}"]["wall_s"], "sync_s": resync["wall_s"], "sync_pull_s": inside,
            "strict": round(resync["wall_s"] / alone[slowest], 3) if alone[slowest] else None,
            "like_for_like": round(resync["wall_s"] / sc[f"pull_{slowest}"]["wall_s"], 3),
            "pull_phase": round(inside / alone[slowest], 3) if alone[slowest] else None}


def beyond_auth(req: dict) -> dict[str, int]:
    """Requests per source other than authentication; Jira's serverInfo (the jira library's connection
    handshake, made once per connection) is counted with authentication."""
    return {s: req[s]["reads"] + req[s]["writes"] - (1 if s == "jira" else 0) for s in req}


def summarise(results: dict) -> list[dict]:
    """Each target: what was measured and whether it is met."""
    out = []
    for scale, sc in results["scales"].items():
        full = sc["full"]
        for s in SYSTEMS:
            r = full["ratio"][s]["total"]
            out.append({"target": f"{scale} full sync: {s} requests <= {TARGETS['full_ratio']}x the minimum",
                        "measured": f"{full['requests'][s]['total']} vs {full['minimum'][s]['total']} ({r}x)",
                        "met": r is not None and r <= TARGETS["full_ratio"]})
        nc = sc["nochange"]
        writes = sum(nc["requests"][s]["writes"] for s in SYSTEMS)
        beyond = beyond_auth(nc["requests"])
        out.append({"target": f"{scale} no-change sync: zero writes", "measured": f"{writes} writes",
                    "met": writes == 0})
        out.append({"target": f"{scale} no-change sync: <= 1 request per source beyond authentication",
                    "measured": ", ".join(f"{s} {v}" for s, v in beyond.items()),
                    "met": all(v <= 1 for v in beyond.values())})
        c = concurrency(sc)
        out.append({"target": f"{scale}: full sync of all sources < {TARGETS['concurrency']}x the slowest single "
                              f"source's pull time ({results['options']['latency_ms']:g} ms latency)",
                    "measured": f"sync --full {c['sync_s']:.2f} s vs {c['slowest']} pull alone "
                                f"{c['slowest_pull_s']:.2f} s ({c['strict']}x; against its whole check --full "
                                f"{c['like_for_like']}x; pull phase {c['pull_phase']}x)",
                    "met": c["strict"] is not None and c["strict"] < TARGETS["concurrency"]})
        if parse_scale(scale) >= 100_000:
            out.append({"target": f"{scale}: peak RSS of a full sync < {TARGETS['rss_mb_100k']:.0f} MB",
                        "measured": f"{full['rss_mb']} MB (first sync), {sc['resync']['rss_mb']} MB (sync --full)",
                        "met": max(full["rss_mb"], sc["resync"]["rss_mb"]) < TARGETS["rss_mb_100k"]})
    b = results.get("baseline")
    if b:
        hub_n = sum(b["hub"]["requests"][s]["all"] for s in SYSTEMS)
        base_n = sum(b["baseline"]["requests"][s]["all"] for s in SYSTEMS)
        out.append({"target": f"write-back of {results['options']['baseline_records']} records: >= "
                              f"{TARGETS['baseline_factor']:.0f}x fewer requests than the naive script",
                    "measured": f"hub {hub_n} vs baseline {base_n} ({base_n / max(1, hub_n):.1f}x fewer)",
                    "met": base_n / max(1, hub_n) >= TARGETS["baseline_factor"]})
    e = results.get("engine")
    if e:
        out.append({"target": f"engine: full catalog over {e['work_items']:,} work items and {e['projects']:,} "
                              f"projects < {TARGETS['engine_s']} s", "measured": f"{e['median_s']} s",
                    "met": e["median_s"] < TARGETS["engine_s"]})
    return out


def report_lines(results: dict) -> list[str]:
    m = results["machine"]
    o = results["options"]
    lines = [f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory']} RAM, Python {m['python']}, "
             f"{m['platform']}",
             f"Latency {o['latency_ms']:g} ms per request; figures are medians of {o['runs']} run(s); {m['date']}",
             "Requests: reads/writes as the sandbox counted them (authentication left out), the minimum in "
             "brackets, and total/minimum", ""]
    for scale, sc in results["scales"].items():
        c = sc["counts"]
        lines.append(f"== {scale}: {c['jira_issues']:,} Jira issues in {c['jira_projects']:,} projects, "
                     f"{c['register_rows']:,} register rows, {c['graph_list_items'].get('PMO Register', 0):,} "
                     f"SharePoint register items ==")
        lines.append(f"{'scenario':12s} {'wall s':>7s} {'RSS MB':>7s} " + " ".join(
            f"{s + ': r/w (min)   ratio':>28s}" for s in SYSTEMS))
        for name in (*SCENARIOS, *(f"pull_{s}" for s in SYSTEMS)):
            sn = sc.get(name)
            if not sn:
                continue
            cells = []
            for s in SYSTEMS:
                if s not in sn["requests"]:
                    cells.append(f"{'':>28s}")
                    continue
                q, mn, r = sn["requests"][s], sn["minimum"][s], sn["ratio"][s]["total"]
                text = f"{q['reads']}/{q['writes']} ({mn['reads']}/{mn['writes']}) {'-' if r is None else f'{r:.2f}x':>6s}"
                cells.append(f"{text:>28s}")
            lines.append(f"{name:12s} {sn['wall_s']:7.2f} {sn['rss_mb']:7.1f} " + " ".join(cells))
        cc = concurrency(sc)
        lines.append(f"Concurrency: sync --full of all sources {cc['sync_s']:.2f} s; slowest source alone "
                     f"({cc['slowest']}) pulls in {cc['slowest_pull_s']:.2f} s ({cc['strict']}x), its check --full "
                     f"takes {cc['slowest_check_s']:.2f} s ({cc['like_for_like']}x); slowest pull inside the full "
                     f"sync {cc['sync_pull_s']:.2f} s ({cc['pull_phase']}x)")
        lines.append("")
    r = results.get("rate_limited")
    if r:
        lines.append(f"Rate limits ({o['rate_limit'][0]} requests per {o['rate_limit'][1]} s per system), first full "
                     f"sync at {o['rate_scale']}: {r['wall_s']:.2f} s, {r['throttled']} requests answered 429, "
                     f"{r['retry_wait_s']:.1f} s spent waiting on rate limits (run stats retry_wait_s)")
        lines.append("")
    b = results.get("baseline")
    if b:
        bc = b["counts"]
        lines.append(f"Naive baseline vs hub: governance fields written to {o['baseline_records']:,} project records "
                     f"per system ({bc['jira_issues']:,} Jira issues, {bc['register_rows']:,} register rows); "
                     "requests including authentication:")
        for s in SYSTEMS:
            hq, bq = b["hub"]["requests"][s], b["baseline"]["requests"][s]
            lines.append(f"  {s:7s} hub {hq['all']:6,} ({hq['reads']:,} reads, {hq['writes']:,} writes)   baseline "
                         f"{bq['all']:6,} ({bq['reads']:,} reads, {bq['writes']:,} writes)   "
                         f"{bq['all'] / max(1, hq['all']):.1f}x")
        hub_t = sum(b["hub"]["requests"][s]["all"] for s in SYSTEMS)
        base_t = sum(b["baseline"]["requests"][s]["all"] for s in SYSTEMS)
        hub_w = sum(b["hub"]["requests"][s]["writes"] for s in SYSTEMS)
        base_w = sum(b["baseline"]["requests"][s]["writes"] for s in SYSTEMS)
        lines.append(f"  total   hub {hub_t:6,}   baseline {base_t:6,}   {base_t / max(1, hub_t):.1f}x fewer requests "
                     f"(writes alone: {hub_w:,} vs {base_w:,}, {base_w / max(1, hub_w):.1f}x); time hub "
                     f"{b['hub']['wall_s']:.2f} s, baseline {b['baseline']['wall_s']:.2f} s "
                     f"({b['baseline']['wall_s'] / b['hub']['wall_s']:.1f}x)")
        lines.append("")
    e = results.get("engine")
    if e:
        lines.append(f"Engine: {e['rules']} rules over {e['projects']:,} projects / {e['work_items']:,} work items: "
                     f"median {e['median_s']} s of {e['runs']} runs ({e['results']:,} results, "
                     f"{e['results_per_s']:,} rule evaluations/s; first run {e['first_s']} s)")
        lines.append("")
    lines.append("Targets:")
    for t in results["targets"]:
        lines.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['measured']}")
    return lines


# ---- main ------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="1k,10k,100k", help="Jira issue counts, comma-separated (default 1k,10k,100k)")
    ap.add_argument("--latency-ms", type=float, default=50.0, help="added latency per request (default 50)")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure; medians are reported (default 3)")
    ap.add_argument("--change", type=float, default=0.01, help="share of records changed before the incremental "
                                                               "sync (default 0.01)")
    ap.add_argument("--rate-limit", default="100/10", metavar="N/S",
                    help="requests per window (s) per system for the rate-limited sync (default 100/10; 'off')")
    ap.add_argument("--rate-scale", default="10k", help="scale of the rate-limited sync (default 10k)")
    ap.add_argument("--baseline-records", type=int, default=1000,
                    help="project records the baseline and the hub write (default 1000; 0: skip)")
    ap.add_argument("--baseline-items", type=int, default=5, help="work items per project on the baseline's data")
    ap.add_argument("--baseline-runs", type=int, default=None, help="runs of the baseline (default: --runs)")
    ap.add_argument("--engine-projects", type=int, default=2000)
    ap.add_argument("--engine-items", type=int, default=100_000, help="work items for the engine figure (0: skip)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="1k only, one run, a 100-record baseline, rate limits of "
                                                         "20 per 5 s at 1k, a small engine portfolio: about two "
                                                         "minutes")
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    ap.add_argument("--markdown", type=Path, help="also write the report here (Markdown code block)")
    ap.add_argument("--workdir", type=Path, help="keep configs, state and logs here (default: a temporary dir)")
    ap.add_argument("--only", default="scales,rate,baseline,engine",
                    help="parts to run, comma-separated (default: scales,rate,baseline,engine)")
    return ap


def main(argv: list[str] | None = None, say: Callable[[str], None] = print) -> int:
    opts = build_parser().parse_args(argv)
    if opts.quick:
        opts.scale, opts.runs, opts.rate_scale, opts.rate_limit = "1k", 1, "1k", "20/5"
        opts.baseline_records, opts.engine_projects, opts.engine_items = 100, 200, 10_000
    scales = [parse_scale(s) for s in opts.scale.split(",") if s.strip()]
    opts.rate_limit = None if opts.rate_limit == "off" else tuple(int(x) for x in opts.rate_limit.split("/"))
    baseline_runs = opts.baseline_runs if opts.baseline_runs is not None else opts.runs
    results: dict[str, Any] = {
        "machine": machine(),
        "options": {"scales": [scale_name(s) for s in scales], "latency_ms": opts.latency_ms, "runs": opts.runs,
                    "change": opts.change, "rate_limit": opts.rate_limit, "rate_scale": opts.rate_scale,
                    "baseline_records": opts.baseline_records, "baseline_items": opts.baseline_items,
                    "baseline_runs": baseline_runs, "seed": opts.seed},
        "scales": {},
    }
    m = results["machine"]
    say(f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}; latency {opts.latency_ms} ms; "
        f"runs {opts.runs}")
    tmp = None
    if opts.workdir:
        work = opts.workdir
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="pmo-hub-bench-")
        work = Path(tmp.name)
    parts = {p.strip() for p in opts.only.split(",")}
    try:
        for n in scales if "scales" in parts else []:
            runs = [scale_run(n, r, opts, work, say) for r in range(opts.runs)]
            agg = {k: median_of([r[k] for r in runs]) for k in runs[0] if k != "counts"}
            agg["counts"] = runs[0]["counts"]
            agg["runs"] = len(runs)
            results["scales"][scale_name(n)] = agg
        if opts.rate_limit and "rate" in parts:
            rs = parse_scale(opts.rate_scale)
            results["rate_limited"] = median_of([rate_run(rs, r, opts, work, say) for r in range(opts.runs)])
        if opts.baseline_records and baseline_runs and "baseline" in parts:
            runs = [baseline_run(r, opts, work, say) for r in range(baseline_runs)]
            results["baseline"] = {k: median_of([r[k] for r in runs]) for k in ("baseline", "hub")}
            results["baseline"]["counts"] = runs[0]["counts"]
        if opts.engine_items and "engine" in parts:
            results["engine"] = engine_run(opts)
    finally:
        if tmp is not None:
            tmp.cleanup()
    results["targets"] = summarise(results)
    lines = report_lines(results)
    say("")
    for line in lines:
        say(line)
    if opts.json:
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    if opts.markdown:
        opts.markdown.parent.mkdir(parents=True, exist_ok=True)
        opts.markdown.write_text("```\n" + "\n".join(lines) + "\n```\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
