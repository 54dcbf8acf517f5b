"""Every benchmark of ``bench/`` in turn, and one table of their headline figures (``make bench``).

Run from the project root::

    .venv/bin/python -m bench.all                        # every benchmark at full scale
    .venv/bin/python -m bench.all --quick                # each at its small scale (QUICK_ARGS below)
    .venv/bin/python -m bench.all --only crm,reports     # some of them
    .venv/bin/python -m bench.all --list                 # what would run, and how

Every ``bench/*_bench.py`` is found by name (a new benchmark is picked up without editing this file) and run as
``python -m bench.<name>`` in a process of its own: each arms its own SIGALRM time limit, starts and stops its own
servers and may leave ``sys.modules`` full of the application, so they cannot share one interpreter. Its stdout is
captured and the JSON object on its last line is read; its stderr (the progress) goes straight through.

Each benchmark's JSON is turned into table rows by its extractor (``EXTRACTORS``, one small function a benchmark):
the headline figures and the targets of bench/README.md. A benchmark without an extractor gets a "no summary" row.
The combined results (rows, every benchmark's own JSON and stdout) are written to ``bench/.data/all-<date>.json``.

Exit status: 2 when a benchmark failed to run (it crashed, printed no JSON line, or stopped at its time limit);
otherwise 1 with ``--strict`` when a target was missed; otherwise 0. A missed target alone is only in the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / ".data"

MET, MISSED, INFO = "met", "MISSED", "–"
NOT_MEASURED, NO_SUMMARY, FAILED = "not measured", "no summary", "FAILED"

# Each benchmark's small-scale run for --quick: the "quick look" of bench/README.md, a few seconds to 1.5 minutes each
# on the 2-core development machine. crm gets a database file of its own, or the quick run would replace the
# million-subscriber data set of bench/.data/crm.sqlite3 (it is rebuilt whenever its size differs); feedback and
# reports already keep one file a scale, and the others build theirs in a temporary directory.
QUICK_ARGS: dict[str, list[str]] = {
    "crm": [
        "--subscribers",
        "20000",
        "--lookups",
        "500",
        "--searches",
        "50",
        "--import-rows",
        "5000",
        "--database-url",
        f"sqlite:///{DATA_DIR / 'crm-quick.sqlite3'}",
    ],
    "dispatch": [
        *("--sizes", "10000", "--queries", "300", "--baseline-queries", "2", "--candidate-bookings", "100"),
        *("--drivers", "1000", "--bookings-per-minute", "300", "--minutes", "0.5", "--drain", "30"),
    ],
    "feedback": ["--scale", "0.01"],
    "ingest": ["--drivers", "1000", "--seconds", "5", "--rounds", "1"],
    "reports": ["--scale", "0.01"],
    "screen_pop": ["--subscribers", "5000", "--seconds", "5"],
    "settlement": ["--scale", "0.05"],
}

# The hard cap on one benchmark's wall time, should it not stop by itself: each stops itself at its own --time-limit
# (the longest default is reports' 1,140 s), so this only catches a hang.
FULL_TIMEOUT_S = 1800
QUICK_TIMEOUT_S = 900
TIME_LIMIT_GRACE_S = 180  # beyond a --time-limit passed on: the table, the traces and stopping the servers
TERM_GRACE_S = 30  # after SIGTERM, for the benchmark to stop its servers before SIGKILL

# crm_bench's IMPORT_TARGET_ROWS_PER_S: its JSON gives the verdict (import_ok) but not the figure.
CRM_IMPORT_TARGET_ROWS_PER_S = 2000


@dataclass
class Row:
    """One line of the table."""

    benchmark: str
    measure: str
    value: str = ""
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = INFO


@dataclass
class Bench:
    """A discovered ``*_bench.py`` module."""

    name: str  # crm for crm_bench.py
    module: str  # bench.crm_bench
    path: Path


@dataclass
class Outcome:
    """How one benchmark's run went, and what it printed."""

    name: str
    command: list[str]
    status: str  # "ok", "timeout" or "crashed"
    exit_code: int | None
    seconds: float
    results: dict | None
    error: str = ""
    stdout: str = ""
    rows: list[Row] = field(default_factory=list)


# -- formatting ------------------------------------------------------------------------------------


def num(value: float | None, unit: str = "") -> str:
    """A figure with as many digits as it deserves: 0.019, 2.73, 15.6, 1,429; "–" for None."""
    if value is None:
        return "–"
    if isinstance(value, int) or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:  # sub-millisecond lookups and sub-second runs: three significant digits, not two decimals
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def p50_p99(figures: dict | None, unit: str = "ms", scale: float = 1.0) -> str:
    """``p50 1.39 / p99 2.73 ms`` from a summary with ``p50_ms`` and ``p99_ms``."""
    figures = figures or {}

    def one(key: str) -> str:
        value = figures.get(key)
        return num(None if value is None else value * scale)

    return f"p50 {one('p50_ms')} / p99 {one('p99_ms')} {unit}"


def ratio(value: float | None) -> str:
    """value ÷ baseline: ``1.33×``, or ``1/3,397`` when the value is far below its baseline."""
    if value is None:
        return "–"
    if 0 < value < 0.1:
        inverse = 1 / value
        return f"1/{inverse:,.0f}" if inverse >= 100 else f"1/{inverse:.1f}"
    return f"{num(value)}×"


def divide(value: float | None, base: float | None) -> float | None:
    """value ÷ base, or None when either is missing or the base is 0."""
    return value / base if value is not None and base else None


def verdict(flag: bool | None) -> str:
    """met, MISSED, or "not measured" for a target the run did not reach."""
    return NOT_MEASURED if flag is None else MET if flag else MISSED


# -- one extractor a benchmark: its JSON → its headline rows ---------------------------------------


def crm_rows(r: dict) -> list[Row]:
    """Caller lookup against a primary-key lookup (target p99 < 3×), the three searches, the CSV import."""
    rows: list[Row] = []
    base = r.get("pk_baseline") or {}
    lookup = r.get("lookup")
    if lookup:
        target = r.get("lookup_target_ratio", 3.0)
        rows.append(
            Row(
                "crm",
                "caller lookup by number (find_by_phone)",
                p50_p99(lookup),
                f"PK lookup p99 {num(base.get('p99_ms'), 'ms')}",
                ratio(r.get("lookup_ratio_p99")),
                f"p99 < {target:g}× PK p99",
                verdict(r.get("lookup_ok")),
            )
        )
        # On a busy machine the all-calls p99 is the scheduler's time slice: README says to read these then.
        rows.append(
            Row(
                "crm",
                "  same, calls not preempted",
                f"p50 {num(lookup.get('quiet_p50_ms'))} / p99 {num(lookup.get('quiet_p99_ms'))} ms",
                f"PK lookup p99 {num(base.get('quiet_p99_ms'), 'ms')}",
                ratio(r.get("lookup_quiet_ratio_p99")),
            )
        )
    for key, label in (
        ("search_name", "name fragment"),
        ("search_fullname", "full name"),
        ("search_digits", "last 6 digits"),
    ):
        figures = r.get(key)
        if figures:
            rows.append(
                Row(
                    "crm",
                    f"search: {label}",
                    p50_p99(figures),
                    f"PK lookup p99 {num(base.get('p99_ms'), 'ms')}",
                    ratio(figures.get("ratio_p99_to_pk")),
                )
            )
    imported = r.get("import")
    if imported and "skipped" in imported:
        rows.append(Row("crm", "CSV import", f"skipped: {imported['skipped']}"))
    elif imported:
        sqlite = r.get("database", "sqlite") == "sqlite"  # the import target is SQLite's
        rows.append(
            Row(
                "crm",
                f"CSV import (import_subscribers), {imported.get('rows', 0):,} rows",
                num(imported.get("rows_per_s"), "rows/s"),
                f"csv + to_e164 {num(imported.get('baseline_rows_per_s'), 'rows/s')}",
                ratio(divide(imported.get("rows_per_s"), imported.get("baseline_rows_per_s"))),
                f"≥ {CRM_IMPORT_TARGET_ROWS_PER_S:,} rows/s" + ("" if sqlite else " on SQLite"),
                verdict(r.get("import_ok")) if sqlite else INFO,
            )
        )
    return rows


def dispatch_rows(r: dict) -> list[Row]:
    """Nearest available at each size against the naive scan (target p99 < 5 ms at 100,000), candidates, sustained."""
    rows: list[Row] = []
    limit = r.get("target_nearest_p99_ms_at_100000", 5.0)
    for phase in r.get("nearest", []):
        figures, base = phase.get("nearest") or {}, phase.get("baseline") or {}
        met = phase.get("target_met")  # None below 100,000 drivers: the target is for that size
        rows.append(
            Row(
                "dispatch",
                f"nearest available, {phase.get('drivers', 0):,} drivers",
                p50_p99(figures),
                f"naive scan p99 {num(base.get('p99_ms'), 'ms')}",
                ratio(divide(figures.get("p99_ms"), base.get("p99_ms"))),
                "" if met is None else f"p99 < {limit:g} ms",
                INFO if met is None else verdict(met),
            )
        )
    candidates = r.get("candidates")
    if candidates:
        near = candidates.get("nearest_same_bookings") or {}
        rows.append(
            Row(
                "dispatch",
                f"candidates(), {candidates.get('drivers', 0):,} drivers in SQLite "
                f"({num(candidates.get('sql_statements_p50'))} SQL a call)",
                p50_p99(candidates.get("candidates")),
                f"positions.nearest p99 {num(near.get('p99_ms'), 'ms')}",
                ratio(divide((candidates.get("candidates") or {}).get("p99_ms"), near.get("p99_ms"))),
            )
        )
    sustained = r.get("sustained")
    if sustained:
        label = f"sustained, {sustained.get('drivers', 0):,} drivers, {num(sustained.get('bookings_per_minute'))}/min"
        if "first_offer" not in sustained:  # stopped before the reconciliation
            rows.append(Row("dispatch", label, "did not finish", verdict=NOT_MEASURED))
            return rows
        first = sustained["first_offer"]
        never = f", {first['never']:,} never offered" if first.get("never") else ""
        rows.append(Row("dispatch", f"{label}: booking → first offer{never}", p50_p99(first, "s", scale=0.001)))
        rows.append(
            Row(
                "dispatch",
                f"{label}: dispatched",
                f"{sustained.get('bookings_offered', 0):,} of {sustained.get('bookings_in_database', 0):,} offered, "
                f"{sustained.get('bookings_assigned', 0):,} assigned",
            )
        )
        problems = sustained.get("problems") or []
        rows.append(
            Row(
                "dispatch",
                f"{label}: reconciliation",
                "clean" if not problems else "; ".join(problems)[:80],
                target="clean",
                verdict=verdict(sustained.get("reconciled")),
            )
        )
    return rows


def feedback_rows(r: dict) -> list[Row]:
    """The complaint log's slowest filter (target every p99 < 200 ms), the page, the CSV export, the worker."""
    rows: list[Row] = []
    log_part = r.get("log") or {}
    filters = log_part.get("filters") or {}
    limit = r.get("target_page_p99_ms", 200.0)
    if filters:
        name, worst = max(filters.items(), key=lambda item: item[1].get("p99_ms") or 0)
        missed = [n for n, f in filters.items() if f.get("target_met") is False]
        rows.append(
            Row(
                "feedback",
                f"complaint log page, slowest of {len(filters)} filters ({name})"
                + (f"; missed: {', '.join(missed)}" if missed else ""),
                p50_p99(worst),
                f"PK lookup p99 {num((log_part.get('pk_baseline') or {}).get('p99_ms'), 'ms')}",
                ratio(worst.get("p99_to_pk")),
                f"p99 < {limit:g} ms, every filter",
                verdict(r.get("target_met")),
            )
        )
    http = r.get("http")
    if http and "skipped" in http:
        rows.append(Row("feedback", "GET /supervisor/complaints", f"skipped: {http['skipped'][:45]}…"))
    elif http and http.get("filters"):
        name, worst = max(http["filters"].items(), key=lambda item: item[1].get("p99_ms") or 0)
        function = filters.get(name, {}).get("p99_ms")
        rows.append(
            Row(
                "feedback",
                f"GET /supervisor/complaints, slowest filter ({name})",
                p50_p99(worst),
                f"complaint_page() p99 {num(function, 'ms')}",
                ratio(divide(worst.get("p99_ms"), function)),
            )
        )
    csv_part = r.get("csv")
    if csv_part:
        export, base = csv_part.get("export") or {}, csv_part.get("baseline") or {}
        rows.append(
            Row(
                "feedback",
                f"CSV export, {csv_part.get('rows', 0):,} complaints ({num(export.get('rows_per_s'), 'rows/s')})",
                f"p50 {num(export.get('p50_ms'), 'ms')}",
                f"plain SELECT p50 {num(base.get('p50_ms'), 'ms')}",
                ratio(csv_part.get("ratio_p50")),
            )
        )
    worker = r.get("worker")
    if worker and "feedback" in worker:
        problems = worker.get("problems") or []
        rows.append(
            Row(
                "feedback",
                f"feedback worker, {2 * worker.get('requests', 0):,} jobs"
                + (f"; {'; '.join(problems)[:60]}" if problems else ""),
                num(worker["feedback"].get("jobs_per_s"), "jobs/s"),
                f"no-op jobs {num(worker.get('noop_jobs_per_s'), 'jobs/s')}",
                ratio(worker.get("ratio")),
                "every job done",
                verdict(not problems),
            )
        )
    return rows


def ingest_rows(r: dict) -> list[Row]:
    """Positions per second against a trivial route's requests per second (target ≥ 0.5)."""
    if "ratio" not in r:
        return [Row("ingest", "positions/s ÷ trivial req/s", verdict=NOT_MEASURED)]
    rows = [
        Row(
            "ingest",
            f"POST …/location, {r.get('drivers', 0):,} drivers, {len(r.get('ratios', []))} round(s)",
            num(r.get("positions_per_second"), "positions/s"),
            f"GET {r.get('trivial_route', 'trivial')} {num(r.get('trivial_per_second'), 'req/s')}",
            ratio(r.get("ratio")),
            f"≥ {r.get('target_ratio', 0.5):g}×",
            verdict(r.get("target_met")),
        )
    ]
    last = (r.get("rounds") or [{}])[-1]
    if "positions" in last and "trivial" in last:
        rows.append(
            Row(
                "ingest",
                "  position latency, last round",
                p50_p99(last["positions"].get("latency")),
                f"trivial p99 {num((last['trivial'].get('latency') or {}).get('p99_ms'), 'ms')}",
                ratio(divide(last["positions"]["latency"].get("p99_ms"), last["trivial"]["latency"].get("p99_ms"))),
            )
        )
    return rows


def reports_rows(r: dict) -> list[Row]:
    """The slowest report at its default period and over a year (target every p99 < 1 s), and the wallboard."""
    rows: list[Row] = []
    part = r.get("reports") or {}
    reports = part.get("reports") or {}
    count = part.get("count_baseline") or {}
    limit = r.get("target_p99_s", 1.0)
    for period, label in (("default", "default period"), ("year", "a year")):
        entries = {name: entry[period] for name, entry in reports.items() if period in entry}
        measured = {name: f for name, f in entries.items() if f.get("p99_ms") is not None}
        if not measured:
            continue
        name, worst = max(measured.items(), key=lambda item: item[1]["p99_ms"])
        flags = [f.get("target_met") for f in entries.values()]
        missed = [n for n, f in entries.items() if f.get("target_met") is False]
        met = False if False in flags else None if None in flags else True
        rows.append(
            Row(
                "reports",
                f"{len(entries)} reports, {label}: slowest ({name})"
                + (f"; missed: {', '.join(missed)}" if missed else ""),
                p50_p99(worst),
                f"COUNT(*) p99 {num(count.get('p99_ms'), 'ms')}",
                ratio(worst.get("p99_to_count")),
                f"p99 < {limit:g} s, every report",
                verdict(met),
            )
        )
    for name, entry in reports.items():
        if "error" in entry:
            rows.append(
                Row("reports", f"report {name}", f"raised: {str(entry['error'])[:70]}", "", "", "no error", MISSED)
            )
    floor = r.get("floor")
    if floor and floor.get("p99_ms") is not None:
        share = floor.get("cpu_share_p99")
        rows.append(
            Row(
                "reports",
                f"wallboard floor_snapshot every {num(r.get('push_interval_s', 5))} s "
                f"({num(None if share is None else share * 100)} % of a core at p99)",
                p50_p99(floor),
                f"COUNT(*) p99 {num((floor.get('count_baseline') or {}).get('p99_ms'), 'ms')}",
                ratio(divide(floor.get("p99_ms"), (floor.get("count_baseline") or {}).get("p99_ms"))),
            )
        )
    return rows


def screen_pop_rows(r: dict) -> list[Row]:
    """Screen pop p99 against the bare Socket.IO ping p99 at the same rate (target ≤ 2×), a row a rate."""
    rows: list[Row] = []
    limit = r.get("target_ratio_p99", 2.0)
    for phase in r.get("rates", []):
        trouble = [
            f"{phase[key]} {label}"
            for key, label in (("errors", "errors"), ("missing_pops", "missing"), ("wrong_record", "wrong record"))
            if phase.get(key)
        ]
        rows.append(
            Row(
                "screen_pop",
                f"screen pop at {phase['rate']:g} calls/s" + (f" ({', '.join(trouble)})" if trouble else ""),
                p50_p99(phase.get("pop")),
                f"Socket.IO ping p99 {num((phase.get('ping') or {}).get('p99_ms'), 'ms')}",
                ratio(phase.get("ratio_p99")),
                f"p99 ≤ {limit:g}× ping p99",
                verdict(phase.get("target_met")),
            )
        )
    return rows


def settlement_rows(r: dict) -> list[Row]:
    """The settlement run against one pass and one pass + the writes, statement(), and the checks (no time target)."""
    rows: list[Row] = []
    runs, ratios = r.get("runs") or {}, r.get("ratios") or {}
    run, one, writes = runs.get("run") or {}, runs.get("one_pass") or {}, runs.get("pass_and_writes") or {}
    counts = r.get("counts") or {}
    if run.get("n"):
        rows.append(
            Row(
                "settlement",
                f"settle_all, {counts.get('drivers', 0):,} drivers, {counts.get('trips', 0):,} trips "
                f"(median of {run['n']}; {num(run.get('per_driver_ms'), 'ms')} a driver)",
                num(run.get("median_s"), "s"),
                f"one pass {num(one.get('median_s'), 's')}",
                ratio(ratios.get("run_to_one_pass")),
            )
        )
        rows.append(
            Row(
                "settlement",
                "  same, against one pass + the writes",
                num(run.get("median_s"), "s"),
                f"pass + writes {num(writes.get('median_s'), 's')}",
                ratio(ratios.get("run_to_pass_and_writes")),
            )
        )
    statement = r.get("statement")
    if statement:
        rows.append(
            Row(
                "settlement",
                "statement() for one driver's week",
                p50_p99(statement.get("statement")),
                f"Core SELECT p99 {num((statement.get('baseline') or {}).get('p99_ms'), 'ms')}",
                ratio(statement.get("ratio_p99")),
            )
        )
    checks = r.get("checks") or {}
    if "run" in checks:
        # The run's check reads "N settled, none refused, every balance 0, …" when it passed, else its problems.
        run_ok = "none refused, every balance 0" in checks["run"]
        same = checks.get("same_rows")
        rows.append(
            Row(
                "settlement",
                "checks: the run's ledger, and the baseline's rows = the run's",
                f"{'run ok' if run_ok else checks['run'][:50]}; same rows: {same or 'not compared'}",
                target="all pass",
                verdict=verdict(run_ok and (same is None or str(same).startswith("yes"))),
            )
        )
    return rows


EXTRACTORS: dict[str, Callable[[dict], list[Row]]] = {
    "crm": crm_rows,
    "dispatch": dispatch_rows,
    "feedback": feedback_rows,
    "ingest": ingest_rows,
    "reports": reports_rows,
    "screen_pop": screen_pop_rows,
    "settlement": settlement_rows,
}


# -- running them ----------------------------------------------------------------------------------


def discover(bench_dir: Path) -> list[Bench]:
    """Every ``*_bench.py`` in ``bench_dir``, by name; run as ``<dir name>.<module>`` from the directory's parent."""
    return [
        Bench(name=path.stem.removesuffix("_bench"), module=f"{bench_dir.name}.{path.stem}", path=path)
        for path in sorted(bench_dir.glob("*_bench.py"))
    ]


def last_json(stdout: str) -> dict | None:
    """The JSON object on the last non-empty line of ``stdout``, or None."""
    for line in reversed(stdout.splitlines()):
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def bench_args(bench: Bench, quick: bool, time_limit: int | None) -> list[str]:
    """The command-line arguments for one benchmark: its quick ones if asked, and the time limit if it takes one."""
    args = list(QUICK_ARGS.get(bench.name, [])) if quick else []
    if time_limit is not None and "--time-limit" in bench.path.read_text(encoding="utf-8"):
        args += ["--time-limit", str(time_limit)]
    return args


def run_bench(bench: Bench, args: list[str], timeout: float) -> Outcome:
    """Run one benchmark as a subprocess, its stdout captured, and read its JSON line."""
    command = [sys.executable, "-m", bench.module, *args]
    started = time.monotonic()
    # stderr is inherited: the benchmark's progress shows as it runs.
    process = subprocess.Popen(command, cwd=bench.path.parent.parent, stdout=subprocess.PIPE, text=True)
    status, error = "ok", ""
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: every benchmark turns it into SystemExit and stops the servers it started.
        process.send_signal(signal.SIGTERM)
        try:
            stdout, _ = process.communicate(timeout=TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, _ = process.communicate()
        status, error = "timeout", f"still running after {timeout:.0f} s: stopped"
    except KeyboardInterrupt:
        # The benchmark got the same SIGINT (same process group); let it stop its servers, then stop too.
        try:
            process.wait(timeout=TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    seconds = time.monotonic() - started
    results = last_json(stdout)
    code = process.returncode
    if status == "ok" and code == 2:
        status, error = "timeout", "stopped at its --time-limit (exit status 2)"
    elif status == "ok" and code != 0:
        status, error = "crashed", f"exit status {code}"
    elif status == "ok" and results is None:
        status, error = "crashed", "no JSON object on its last stdout line"
    return Outcome(bench.name, command, status, code, round(seconds, 1), results, error, stdout)


def summarize(outcome: Outcome) -> list[Row]:
    """The table rows of one benchmark's outcome: its extractor's, a "no summary" row, and a FAILED row if it did."""
    rows: list[Row] = []
    if outcome.results is not None:
        extractor = EXTRACTORS.get(outcome.name)
        if extractor is None:
            rows.append(
                Row(outcome.name, "no summary extractor in bench/all.py (see its own table)", verdict=NO_SUMMARY)
            )
        else:
            try:
                rows = extractor(outcome.results)
            except Exception as exc:  # a changed JSON shape must not hide the other benchmarks' rows
                rows = [Row(outcome.name, f"summary failed: {type(exc).__name__}: {exc}"[:100], verdict=NO_SUMMARY)]
            if not rows:
                rows = [Row(outcome.name, "nothing measured", verdict=NOT_MEASURED)]
    if outcome.status != "ok":
        rows.append(Row(outcome.name, f"run {outcome.status}: {outcome.error}", verdict=FAILED))
    return rows


def table(rows: list[Row]) -> str:
    """The rows as one aligned text table."""
    head = ["benchmark", "measure", "value", "baseline", "ratio", "target", "verdict"]
    cells = [head] + [[r.benchmark, r.measure, r.value, r.baseline, r.ratio, r.target, r.verdict] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def exit_status(outcomes: list[Outcome], strict: bool) -> int:
    """2 when a benchmark failed to run, else 1 when --strict and a target was missed, else 0."""
    if any(outcome.status != "ok" for outcome in outcomes):
        return 2
    missed = any(row.verdict == MISSED for outcome in outcomes for row in outcome.rows)
    return 1 if strict and missed else 0


def write_results(path: Path, outcomes: list[Outcome], quick: bool, started: datetime) -> None:
    """Every outcome (rows, the benchmark's own JSON and stdout) as one JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": started.isoformat(timespec="seconds"),
        "quick": quick,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
        "failed": [o.name for o in outcomes if o.status != "ok"],
        "missed": sorted({row.benchmark for o in outcomes for row in o.rows if row.verdict == MISSED}),
        "benchmarks": [asdict(outcome) for outcome in outcomes],
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks asked for, print the table, write the JSON file; the exit status says what failed."""
    parser = argparse.ArgumentParser(prog="python -m bench.all", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark at its small scale (QUICK_ARGS)")
    parser.add_argument("--only", default="", help="NAME[,NAME]: these benchmarks only (crm, dispatch, …)")
    parser.add_argument("--strict", action="store_true", help="exit status 1 when a target is missed")
    parser.add_argument("--time-limit", type=int, default=None, help="passed on to each benchmark that takes it")
    parser.add_argument("--timeout", type=float, default=None, help="hard cap on one benchmark's seconds")
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR, help="where the *_bench.py modules are")
    parser.add_argument("--output", type=Path, default=None, help="the JSON file (default bench/.data/all-….json)")
    parser.add_argument("--list", action="store_true", help="print what would run, and run nothing")
    args = parser.parse_args(argv)

    benches = discover(args.bench_dir.resolve())
    if args.only:
        wanted = {name.strip().removesuffix("_bench") for name in args.only.split(",") if name.strip()}
        unknown = wanted - {bench.name for bench in benches}
        if unknown:
            parser.error(
                f"no such benchmark: {', '.join(sorted(unknown))} (there are {', '.join(b.name for b in benches)})"
            )
        benches = [bench for bench in benches if bench.name in wanted]
    if args.timeout is not None:
        timeout = args.timeout
    elif args.time_limit is not None:
        timeout = args.time_limit + TIME_LIMIT_GRACE_S
    else:
        timeout = QUICK_TIMEOUT_S if args.quick else FULL_TIMEOUT_S

    if args.list:
        for bench in benches:
            extra = "" if bench.name in EXTRACTORS else "   (no summary extractor)"
            command = " ".join(["python -m", bench.module, *bench_args(bench, args.quick, args.time_limit)])
            print(f"{bench.name:<12} {command}{extra}")
        return 0

    started = datetime.now().astimezone()
    outcomes: list[Outcome] = []
    for number, bench in enumerate(benches, start=1):
        if args.quick and bench.name not in QUICK_ARGS:
            print(
                f"bench.all: {bench.name} has no quick arguments in QUICK_ARGS: it runs at full scale", file=sys.stderr
            )
        extra = bench_args(bench, args.quick, args.time_limit)
        print(f"bench.all: [{number}/{len(benches)}] {' '.join(['python -m', bench.module, *extra])}", file=sys.stderr)
        outcome = run_bench(bench, extra, timeout)
        outcome.rows = summarize(outcome)
        outcomes.append(outcome)
        print(f"bench.all: {bench.name}: {outcome.status} in {outcome.seconds:.0f} s", file=sys.stderr, flush=True)

    output = args.output or DATA_DIR / f"all-{started.strftime('%Y-%m-%d-%H%M%S')}.json"
    write_results(output, outcomes, args.quick, started)
    scale = "quick (small scale)" if args.quick else "full scale"
    print(f"Cabdesk benchmarks — {scale} — {started.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs")
    print(table([row for outcome in outcomes for row in outcome.rows]))
    print("run times: " + ", ".join(f"{o.name} {o.seconds:.0f} s" for o in outcomes))
    failed = [o for o in outcomes if o.status != "ok"]
    if failed:
        print("FAILED to run: " + "; ".join(f"{o.name} ({o.status}: {o.error})" for o in failed))
    missed = sorted({row.benchmark for o in outcomes for row in o.rows if row.verdict == MISSED})
    if missed:
        print("targets missed by: " + ", ".join(missed) + (" (--strict: exit status 1)" if args.strict else ""))
    print(f"every benchmark's own JSON and output: {output}")
    return exit_status(outcomes, args.strict)


if __name__ == "__main__":
    sys.exit(main())
