"""bench/all.py's table: each benchmark's JSON line → its headline rows and verdicts, and the runner's exit status.

No real benchmark runs here: the extractors get recorded JSON (trimmed from real runs and from the benchmarks' own
result dicts), and the runner gets tiny fake ``*_bench.py`` modules in a temporary package.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from bench import all as bench_all
from bench.all import FAILED, INFO, MET, MISSED, NO_SUMMARY, NOT_MEASURED, Outcome

CRM = {
    "bench": "crm",
    "database": "sqlite",
    "pk_baseline": {"n": 2000, "p50_ms": 0.13, "p99_ms": 0.2, "quiet_p50_ms": 0.13, "quiet_p99_ms": 0.19},
    "lookup": {"n": 2000, "p50_ms": 0.22, "p99_ms": 0.29, "quiet_p50_ms": 0.21, "quiet_p99_ms": 0.27},
    "lookup_ratio_p99": 1.5,
    "lookup_quiet_ratio_p99": 1.42,
    "lookup_target_ratio": 3.0,
    "lookup_ok": True,
    "search_name": {"n": 200, "p50_ms": 1.39, "p99_ms": 1.73, "ratio_p99_to_pk": 8.9},
    "search_fullname": {"n": 200, "p50_ms": 76.4, "p99_ms": 128.4, "ratio_p99_to_pk": 660.0},
    "search_digits": {"n": 200, "p50_ms": 1.88, "p99_ms": 171.4, "ratio_p99_to_pk": 881.0},
    "import": {"rows": 100000, "seconds": 30.9, "rows_per_s": 1608.0, "baseline_rows_per_s": 25442.0, "ratio": 15.8},
    "import_ok": False,
    "status": "complete",
}

DISPATCH = {
    "benchmark": "dispatch",
    "target_nearest_p99_ms_at_100000": 5.0,
    "nearest": [
        {
            "drivers": 10000,
            "nearest": {"n": 1000, "p50_ms": 0.75, "p99_ms": 1.27},
            "baseline": {"n": 5, "p50_ms": 744.8, "p99_ms": 957.8},
            "ratio_p99": 754.2,
            "target_met": None,
        },
        {
            "drivers": 100000,
            "nearest": {"n": 1000, "p50_ms": 1.39, "p99_ms": 2.73},
            "baseline": {"n": 5, "p50_ms": 8612.0, "p99_ms": 9274.0},
            "ratio_p99": 3397.1,
            "target_met": True,
        },
    ],
    "candidates": {
        "drivers": 10000,
        "candidates": {"n": 300, "p50_ms": 3.89, "p99_ms": 6.33},
        "nearest_same_bookings": {"n": 300, "p50_ms": 0.89, "p99_ms": 1.51},
        "sql_statements_p50": 7,
    },
    "sustained": {
        "drivers": 5000,
        "bookings_per_minute": 1000.0,
        "bookings_in_database": 2000,
        "bookings_offered": 1999,
        "bookings_assigned": 1989,
        "first_offer": {"n": 2000, "never": 1, "p50_ms": 26800.0, "p99_ms": 43900.0, "max_ms": None},
        "problems": [],
        "reconciled": True,
    },
    "target_met": True,
}

FEEDBACK = {  # a real --scale 0.005 line, two of its eight filters kept
    "benchmark": "feedback",
    "target_page_p99_ms": 200.0,
    "log": {
        "pk_baseline": {"n": 10, "p50_ms": 0.64, "p99_ms": 0.8},
        "count_baseline": {"n": 10, "p50_ms": 0.31, "p99_ms": 0.44},
        "filters": {
            "no filter": {"n": 10, "p50_ms": 10.51, "p99_ms": 12.02, "p99_to_pk": 15.02, "target_met": True},
            "q=بی ادب": {"n": 10, "p50_ms": 12.48, "p99_ms": 20.67, "p99_to_pk": 25.84, "target_met": True},
        },
    },
    "http": {"skipped": "/supervisor/complaints is still supervisors.views.complaints (the newest 100, no filters)"},
    "csv": {
        "rows": 100,
        "export": {"n": 1, "p50_ms": 18.41, "p99_ms": 18.41, "rows_per_s": 5431},
        "baseline": {"n": 1, "p50_ms": 6.8, "p99_ms": 6.8, "rows_per_s": 14708},
        "ratio_p50": 2.71,
    },
    "worker": {
        "requests": 100,
        "feedback": {"finished": 200, "jobs_per_s": 51.9},
        "noop_jobs_per_s": 70.2,
        "ratio": 0.74,
        "problems": [],
    },
    "target_met": True,
}

INGEST = {
    "benchmark": "ingest",
    "drivers": 5000,
    "trivial_route": "/static/favicon.svg",
    "target_ratio": 0.5,
    "rounds": [
        {
            "trivial": {"per_second": 1290.0, "latency": {"p50_ms": 23.0, "p99_ms": 51.0}},
            "positions": {"per_second": 206.0, "latency": {"p50_ms": 150.0, "p99_ms": 310.0}},
            "ratio": 0.16,
        }
    ],
    "positions_per_second": 206.0,
    "trivial_per_second": 1290.0,
    "ratios": [0.16],
    "ratio": 0.16,
    "target_met": False,
}

REPORTS = {
    "benchmark": "reports",
    "target_p99_s": 1.0,
    "push_interval_s": 5,
    "floor": {"n": 167, "p50_ms": 28.0, "p99_ms": 30.7, "count_baseline": {"p99_ms": 15.2}, "cpu_share_p99": 0.0061},
    "reports": {
        "rounds": 7,
        "count_baseline": {"n": 168, "p50_ms": 15.3, "p99_ms": 18.6},
        "reports": {
            "demand": {
                "default": {"p50_ms": 278.0, "p99_ms": 375.0, "p99_to_count": 20.2, "target_met": True},
                "year": {"p50_ms": 1391.0, "p99_ms": 1512.0, "p99_to_count": 81.3, "target_met": False},
                "target_met": False,
            },
            "zones": {
                "default": {"p50_ms": 416.0, "p99_ms": 545.0, "p99_to_count": 29.3, "target_met": True},
                "year": {"p50_ms": 1117.0, "p99_ms": 1245.0, "p99_to_count": 66.9, "target_met": False},
                "target_met": False,
            },
            "complaints": {
                "default": {"p50_ms": 8.84, "p99_ms": 11.9, "p99_to_count": 0.64, "target_met": True},
                "year": {"p50_ms": 20.7, "p99_ms": 27.2, "p99_to_count": 1.46, "target_met": True},
                "target_met": True,
            },
        },
    },
    "target_met": False,
}

SCREEN_POP = {
    "benchmark": "screen_pop",
    "target_ratio_p99": 2.0,
    "rates": [
        {
            "rate": 10.0,
            "pop": {"n": 200, "p50_ms": 15.6, "p99_ms": 19.9},
            "ping": {"n": 413, "p50_ms": 2.8, "p99_ms": 15.0},
            "ratio_p99": 1.33,
            "errors": 0,
            "missing_pops": 0,
            "wrong_record": 0,
            "target_met": True,
        },
        {
            "rate": 50.0,
            "pop": {"n": 1000, "p50_ms": 11.8, "p99_ms": 56.1},
            "ping": {"n": 414, "p50_ms": 3.2, "p99_ms": 17.4},
            "ratio_p99": 3.23,
            "errors": 2,
            "missing_pops": 0,
            "wrong_record": 0,
            "target_met": False,
        },
    ],
    "target_met": False,
}

SETTLEMENT = {  # a real --scale 0.01 line, trimmed
    "benchmark": "settlements",
    "counts": {"drivers": 5, "trips": 1000},
    "runs": {
        "run": {"n": 2, "median_s": 0.329, "per_driver_ms": 65.77},
        "one_pass": {"n": 2, "median_s": 0.019, "per_driver_ms": 3.79},
        "pass_and_writes": {"n": 2, "median_s": 0.049, "per_driver_ms": 9.83},
    },
    "ratios": {"run_to_one_pass": 17.32, "run_to_pass_and_writes": 6.71},
    "checks": {
        "dataset": {"lines_checked_in_sql": 1000, "lines_posted_again": 504, "drivers_posted_again": 3},
        "run": "5 settled, none refused, every balance 0, 28 shift fees",
        "same_rows": "yes (5 settlements, 33 lines)",
    },
    "statement": {
        "statement": {"n": 100, "p50_ms": 13.63, "p99_ms": 25.36},
        "baseline": {"n": 100, "p50_ms": 3.07, "p99_ms": 14.87},
        "ratio_p50": 4.44,
        "ratio_p99": 1.71,
    },
}


def rows_of(name: str, results: dict, status: str = "ok") -> list:
    """The rows bench/all.py prints for one benchmark's JSON, as if its run went ``status``."""
    outcome = Outcome(name, ["python", "-m", f"bench.{name}_bench"], status, 0, 1.0, results)
    return bench_all.summarize(outcome)


def row(rows: list, start: str):
    """The one row whose measure starts with ``start``."""
    found = [r for r in rows if r.measure.startswith(start)]
    assert len(found) == 1, [r.measure for r in rows]
    return found[0]


def test_every_benchmark_in_bench_has_an_extractor_and_quick_arguments():
    names = {bench.name for bench in bench_all.discover(bench_all.BENCH_DIR)}
    assert names == set(bench_all.EXTRACTORS)
    assert names == set(bench_all.QUICK_ARGS)


def test_crm_rows():
    rows = rows_of("crm", CRM)
    lookup = row(rows, "caller lookup")
    assert (lookup.value, lookup.ratio, lookup.target, lookup.verdict) == (
        "p50 0.22 / p99 0.29 ms",
        "1.50×",
        "p99 < 3× PK p99",
        MET,
    )
    assert lookup.baseline == "PK lookup p99 0.2 ms"
    assert row(rows, "search: last 6 digits").verdict == INFO
    assert row(rows, "search: full name").ratio == "660×"
    imported = row(rows, "CSV import")
    assert (imported.value, imported.ratio, imported.verdict) == ("1,608 rows/s", "1/15.8", MISSED)


def test_crm_import_target_is_sqlites_only():
    rows = rows_of("crm", {**CRM, "database": "postgresql", "import_ok": None})
    assert row(rows, "CSV import").verdict == INFO


def test_dispatch_rows():
    rows = rows_of("dispatch", DISPATCH)
    small, large = row(rows, "nearest available, 10,000"), row(rows, "nearest available, 100,000")
    assert (small.target, small.verdict) == ("", INFO)  # the 5 ms target is for 100,000 drivers
    assert (large.value, large.baseline, large.target, large.verdict) == (
        "p50 1.39 / p99 2.73 ms",
        "naive scan p99 9,274 ms",
        "p99 < 5 ms",
        MET,
    )
    assert large.ratio == "1/3,397"
    assert row(rows, "candidates()").measure == "candidates(), 10,000 drivers in SQLite (7 SQL a call)"
    first = row(rows, "sustained, 5,000 drivers, 1,000/min: booking → first offer")
    assert first.value == "p50 26.8 / p99 43.9 s"
    assert "1 never offered" in first.measure
    assert row(rows, "sustained, 5,000 drivers, 1,000/min: reconciliation").verdict == MET


def test_dispatch_reconciliation_problems_are_a_miss():
    sustained = {**DISPATCH["sustained"], "problems": ["3 drivers hold two live jobs"], "reconciled": False}
    rows = rows_of("dispatch", {**DISPATCH, "sustained": sustained})
    reconciliation = row(rows, "sustained, 5,000 drivers, 1,000/min: reconciliation")
    assert (reconciliation.value, reconciliation.verdict) == ("3 drivers hold two live jobs", MISSED)


def test_feedback_rows():
    rows = rows_of("feedback", FEEDBACK)
    page = row(rows, "complaint log page")
    assert page.measure == "complaint log page, slowest of 2 filters (q=بی ادب)"
    assert (page.value, page.ratio, page.target, page.verdict) == (
        "p50 12.5 / p99 20.7 ms",
        "25.8×",
        "p99 < 200 ms, every filter",
        MET,
    )
    assert row(rows, "GET /supervisor/complaints").value.startswith("skipped: ")
    assert row(rows, "CSV export, 100 complaints").ratio == "2.71×"
    worker = row(rows, "feedback worker, 200 jobs")
    assert (worker.value, worker.ratio, worker.verdict) == ("51.9 jobs/s", "0.74×", MET)


def test_feedback_names_the_filters_that_missed():
    filters = dict(FEEDBACK["log"]["filters"])
    filters["sla_breached=1"] = {"n": 10, "p50_ms": 180.0, "p99_ms": 240.0, "p99_to_pk": 300.0, "target_met": False}
    results = {**FEEDBACK, "log": {**FEEDBACK["log"], "filters": filters}, "target_met": False}
    page = row(rows_of("feedback", results), "complaint log page")
    assert page.measure == "complaint log page, slowest of 3 filters (sla_breached=1); missed: sla_breached=1"
    assert page.verdict == MISSED


def test_ingest_rows():
    rows = rows_of("ingest", INGEST)
    rate = row(rows, "POST …/location")
    assert (rate.value, rate.baseline, rate.ratio, rate.target, rate.verdict) == (
        "206 positions/s",
        "GET /static/favicon.svg 1,290 req/s",
        "0.16×",
        "≥ 0.5×",
        MISSED,
    )
    assert row(rows, "  position latency").value == "p50 150 / p99 310 ms"


def test_ingest_without_rounds_is_not_measured():
    assert [r.verdict for r in rows_of("ingest", {"benchmark": "ingest", "timed_out": True})] == [NOT_MEASURED]


def test_reports_rows():
    rows = rows_of("reports", REPORTS)
    default = row(rows, "3 reports, default period")
    assert default.measure == "3 reports, default period: slowest (zones)"
    assert (default.value, default.baseline, default.ratio, default.verdict) == (
        "p50 416 / p99 545 ms",
        "COUNT(*) p99 18.6 ms",
        "29.3×",
        MET,
    )
    year = row(rows, "3 reports, a year")
    assert year.measure == "3 reports, a year: slowest (demand); missed: demand, zones"
    assert (year.target, year.verdict) == ("p99 < 1 s, every report", MISSED)
    floor = row(rows, "wallboard floor_snapshot")
    assert floor.measure == "wallboard floor_snapshot every 5 s (0.61 % of a core at p99)"
    assert floor.verdict == INFO


def test_a_report_that_raised_is_a_miss():
    reports = {**REPORTS["reports"]["reports"], "pareto": {"options": {}, "error": "OperationalError: interrupted"}}
    results = {**REPORTS, "reports": {**REPORTS["reports"], "reports": reports}}
    raised = row(rows_of("reports", results), "report pareto")
    assert (raised.value, raised.verdict) == ("raised: OperationalError: interrupted", MISSED)


def test_screen_pop_rows():
    rows = rows_of("screen_pop", SCREEN_POP)
    calm, busy = row(rows, "screen pop at 10 calls/s"), row(rows, "screen pop at 50 calls/s")
    assert (calm.ratio, calm.target, calm.verdict) == ("1.33×", "p99 ≤ 2× ping p99", MET)
    assert (busy.measure, busy.baseline, busy.ratio, busy.verdict) == (
        "screen pop at 50 calls/s (2 errors)",
        "Socket.IO ping p99 17.4 ms",
        "3.23×",
        MISSED,
    )


def test_settlement_rows():
    rows = rows_of("settlement", SETTLEMENT)
    run = row(rows, "settle_all, 5 drivers, 1,000 trips")
    assert (run.value, run.baseline, run.ratio, run.verdict) == ("0.329 s", "one pass 0.019 s", "17.3×", INFO)
    assert row(rows, "  same, against one pass + the writes").ratio == "6.71×"
    assert row(rows, "statement()").ratio == "1.71×"
    assert row(rows, "checks").verdict == MET
    broken = {**SETTLEMENT, "checks": {"run": "2 drivers' balance is not 0", "same_rows": "NO"}}
    assert row(rows_of("settlement", broken), "checks").verdict == MISSED


def test_a_benchmark_without_an_extractor_gets_a_no_summary_row():
    rows = rows_of("parking", {"benchmark": "parking", "p99_ms": 3.0})
    assert [(r.benchmark, r.verdict) for r in rows] == [("parking", NO_SUMMARY)]


def test_an_extractor_that_trips_on_a_changed_shape_gets_a_no_summary_row():
    rows = rows_of("screen_pop", {"rates": [{"rate": "ten"}]})
    assert [r.verdict for r in rows] == [NO_SUMMARY]
    assert rows[0].measure.startswith("summary failed: ")


def test_a_failed_run_keeps_its_partial_rows_and_adds_a_failed_one():
    outcome = Outcome("screen_pop", [], "timeout", 2, 500.0, SCREEN_POP, "stopped at its --time-limit")
    rows = bench_all.summarize(outcome)
    assert [r.verdict for r in rows] == [MET, MISSED, FAILED]
    assert rows[-1].measure == "run timeout: stopped at its --time-limit"


def test_last_json_reads_the_last_line_only():
    assert bench_all.last_json('table\n{"a": 1}\n\n') == {"a": 1}
    assert bench_all.last_json('{"a": 1}\ntable after the JSON\n') is None
    assert bench_all.last_json("") is None
    assert bench_all.last_json("[1, 2]\n") is None


def test_ratio_formatting():
    assert [bench_all.ratio(v) for v in (None, 1.0, 0.16, 0.0629, 3397.1, 0.0003)] == [
        "–",
        "1.00×",
        "0.16×",
        "1/15.9",
        "3,397×",
        "1/3,333",
    ]


# -- the runner, on fake benchmarks -----------------------------------------------------------------


def fake_bench(directory, name: str, body: str) -> None:
    """A ``<name>_bench.py`` in the fake package: ``body`` is its code."""
    (directory / f"{name}_bench.py").write_text(textwrap.dedent(body), encoding="utf-8")


@pytest.fixture
def fakes(tmp_path):
    """An empty package of fake benchmarks, ``fakebench``; yields its directory."""
    directory = tmp_path / "fakebench"
    directory.mkdir()
    (directory / "__init__.py").write_text("", encoding="utf-8")
    return directory


INGEST_BENCH = f"""
    import json, sys
    print("a table the runner does not read")
    print("--time-limit" in sys.argv and "limit" or "no limit", file=sys.stderr)
    print({json.dumps(INGEST)!r})
"""


def run_all(fakes, capsys, *args: str) -> tuple[int, str, dict]:
    """bench.all's main on the fake package: exit status, stdout, and the JSON file it wrote."""
    output = fakes.parent / "all.json"
    status = bench_all.main(["--bench-dir", str(fakes), "--output", str(output), *args])
    return status, capsys.readouterr().out, json.loads(output.read_text(encoding="utf-8"))


def test_a_crashed_benchmark_makes_the_exit_status_non_zero_and_the_others_still_count(fakes, capsys):
    fake_bench(fakes, "ingest", INGEST_BENCH)
    fake_bench(fakes, "broken", "raise RuntimeError('the data set is gone')\n")
    fake_bench(fakes, "newcomer", 'import json\nprint(json.dumps({"benchmark": "newcomer", "p99_ms": 1.0}))\n')
    status, out, written = run_all(fakes, capsys)
    assert status == 2
    lines = out.splitlines()
    assert lines[1].split() == ["benchmark", "measure", "value", "baseline", "ratio", "target", "verdict"]
    assert any(line.startswith("broken") and "run crashed: exit status 1" in line for line in lines)
    assert any(line.startswith("newcomer") and line.endswith(NO_SUMMARY) for line in lines)
    assert any(line.startswith("ingest") and line.endswith(MISSED) for line in lines)
    assert "FAILED to run: broken (crashed: exit status 1)" in out
    assert written["failed"] == ["broken"]
    assert written["missed"] == ["ingest"]
    assert [b["name"] for b in written["benchmarks"]] == ["broken", "ingest", "newcomer"]
    assert written["benchmarks"][1]["results"]["ratio"] == 0.16


def test_a_missed_target_is_not_a_failure_unless_strict(fakes, capsys):
    fake_bench(fakes, "ingest", INGEST_BENCH)
    assert run_all(fakes, capsys)[0] == 0
    assert run_all(fakes, capsys, "--strict")[0] == 1


def test_no_json_line_and_its_own_time_limit_are_failures(fakes, capsys):
    fake_bench(fakes, "silent", "print('a table, and no JSON line')\n")
    fake_bench(fakes, "stopped", 'import json, sys\nprint(json.dumps({"timed_out": True}))\nsys.exit(2)\n')
    status, out, written = run_all(fakes, capsys, "--only", "silent,stopped_bench")
    assert status == 2
    assert {b["name"]: b["status"] for b in written["benchmarks"]} == {"silent": "crashed", "stopped": "timeout"}
    assert "silent (crashed: no JSON object on its last stdout line)" in out
    assert "stopped (timeout: stopped at its --time-limit (exit status 2))" in out


def test_a_hanging_benchmark_is_stopped_at_the_timeout(fakes, capsys):
    fake_bench(fakes, "hang", "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    status, out, written = run_all(fakes, capsys, "--timeout", "1")
    assert status == 2
    assert written["benchmarks"][0]["status"] == "timeout"
    assert "still running after 1 s: stopped" in out
    assert written["benchmarks"][0]["seconds"] < 30


def test_the_time_limit_goes_to_benchmarks_that_take_one(fakes, capsys):
    fake_bench(fakes, "ingest", INGEST_BENCH)  # its source names --time-limit
    fake_bench(fakes, "plain", 'import json, sys\nprint(json.dumps({"argv": sys.argv[1:]}))\n')
    _, _, written = run_all(fakes, capsys, "--time-limit", "60")
    commands = {b["name"]: b["command"][3:] for b in written["benchmarks"]}
    assert commands == {"ingest": ["--time-limit", "60"], "plain": []}
    assert written["benchmarks"][1]["results"] == {"argv": []}


def test_only_an_unknown_name_is_refused(fakes, capsys):
    fake_bench(fakes, "ingest", INGEST_BENCH)
    with pytest.raises(SystemExit) as exit_info:
        bench_all.main(["--bench-dir", str(fakes), "--only", "nope"])
    assert exit_info.value.code == 2
    assert "no such benchmark: nope (there are ingest)" in capsys.readouterr().err
