"""The load run's drivers' phones sending positions: a process of its own (``python -m bench.load_positions``).

Every driver reports once every ``interval`` seconds on a fixed schedule (open loop: driver ``i`` at
``start + (i / n + k) × interval``), ``POST /api/drivers/<id>/location`` ``{lat, lon}`` with its own bearer token,
drivers spread over the web processes by id (``id % len(urls)``), over a pool of keep-alive HTTP/1.1 connections per
web process (asyncio, as ``bench/ingest_bench.py``). A report waits for a free connection, and how late it went out
is measured beside the response time; one still waiting a whole interval after it was due is dropped and counted
(``skipped``): the phone has a newer position by then, and a phone keeps no backlog. Each position is a few metres
from the last (up to about 10 m/s), so the jump check never refuses one.

Writes its figures (JSON) to ``--out`` when ``--seconds`` are over or on SIGTERM. Only reports sent from
``--measure-from`` to ``--measure-until`` (Unix times) are in the figures; every non-200 answer is counted in
``statuses_all``, warm-up and drain included.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from bench.processes import location_request, read_http_response, summary

IDLE_REUSE_S = 1.0  # a keep-alive connection idle longer than this is not reused (gunicorn's keep-alive is 2 s)


class Figures:
    """What the phones saw: response times and lateness of the measured reports, and every failure."""

    def __init__(self, measure_from: float, measure_until: float, webs: int):
        self.measure_from, self.measure_until = measure_from, measure_until
        self.late: list[float] = []
        self.statuses: Counter = Counter()
        self.all_statuses: Counter = Counter()
        self.errors: Counter = Counter()
        self.samples: list[str] = []
        self.sent = 0
        self.skipped_all = 0
        self.first_sent: float | None = None
        self.last_sent: float | None = None
        # Per web process (the order of --urls): its measured response times, and its measured reports dropped
        # because it was a whole interval behind. The whole run's figures are their sums.
        self.web_times: list[list[float]] = [[] for _ in range(webs)]
        self.web_skipped = [0] * webs

    def skip(self, due: float, web: int) -> None:
        """A report not sent: the server was more than an interval behind the schedule."""
        self.skipped_all += 1
        if self.measure_from <= due < self.measure_until:
            self.web_skipped[web] += 1

    def as_dict(self, asked_per_second: float) -> dict:
        """The figures as JSON."""
        span = (self.last_sent - self.first_sent) if self.first_sent and self.last_sent else 0.0
        measured = sum(self.statuses.values())
        return {
            "asked_per_second": round(asked_per_second, 1),
            "measured_reports": measured,
            "skipped_measured": sum(self.web_skipped),
            "skipped_all": self.skipped_all,
            "sent_per_second": round(measured / span, 1) if span > 0 else None,
            "statuses_measured": {str(k): v for k, v in sorted(self.statuses.items())},
            "statuses_all": {str(k): v for k, v in sorted(self.all_statuses.items())},
            "errors": dict(self.errors),
            "samples": self.samples[:5],
            "response": summary([t for times in self.web_times for t in times]),
            "late": summary(self.late),
            "by_web": [
                {"measured_reports": len(times), "skipped_measured": skipped, "response": summary(times)}
                for times, skipped in zip(self.web_times, self.web_skipped, strict=True)
            ],
        }


async def _connection(host: str, port: int, web: int, queue: asyncio.Queue, figures: Figures, interval: float) -> None:
    """One keep-alive connection: takes the next due report, sends it, reads the answer; forever."""
    reader = writer = None
    last_used = 0.0
    while True:
        due, request = await queue.get()
        if time.time() - due > interval:
            # The phone has a newer position by now and sends that one instead (its next report is in the queue):
            # a phone keeps no backlog, so neither does the queue.
            figures.skip(due, web)
            continue
        try:
            if writer is not None and time.time() - last_used > IDLE_REUSE_S:
                # gunicorn closes a keep-alive connection idle for 2 s (its default): sending on it then races the
                # close and is reset. Behind nginx that is nginx's business; here a fresh connection avoids it.
                writer.close()
                writer = None
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            sent = time.time()
            writer.write(request)
            status, body, close = await read_http_response(reader)
            answered = time.time()
            figures.all_statuses[status] += 1
            if status != 200 and len(figures.samples) < 5:
                figures.samples.append(f"HTTP {status}: {body[:200].decode(errors='replace')}")
            if figures.measure_from <= sent < figures.measure_until:
                figures.statuses[status] += 1
                figures.web_times[web].append(answered - sent)
                figures.late.append(max(0.0, sent - due))
                figures.first_sent = figures.first_sent or sent
                figures.last_sent = sent
            last_used = time.time()
            if close:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, RuntimeError, ValueError, IndexError) as exc:
            figures.errors[type(exc).__name__] += 1
            if len(figures.samples) < 5:
                figures.samples.append(repr(exc))
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.05)


async def run(args, fleet: list[list], figures: Figures, stopping: asyncio.Event) -> None:
    """Schedule every driver's reports and feed them to the connections until the end or SIGTERM."""
    rng = random.Random(args.seed)
    hosts = [url.removeprefix("http://") for url in args.urls]
    queues = [asyncio.Queue() for _ in hosts]
    tasks = []
    for web, (host, queue) in enumerate(zip(hosts, queues, strict=True)):
        name, port = host.split(":")
        tasks += [
            asyncio.create_task(_connection(name, int(port), web, queue, figures, args.interval))
            for _ in range(args.connections)
        ]
    step = 10 * args.interval / 111_000  # up to ~10 m/s in each direction between two reports, in degrees
    gap = args.interval / len(fleet)
    until = args.start + args.seconds
    number = 0
    while not stopping.is_set():
        due = args.start + number * gap
        if due >= until:
            break
        pause = due - time.time()
        if pause > 0:
            try:
                await asyncio.wait_for(stopping.wait(), timeout=pause)
                break
            except TimeoutError:
                pass
        driver = fleet[number % len(fleet)]
        number += 1
        driver[2] += rng.uniform(-step, step)
        driver[3] += rng.uniform(-step, step)
        web = driver[0] % len(hosts)
        queues[web].put_nowait((due, location_request(hosts[web], *driver[:4])))
        figures.sent += 1
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_positions", description=__doc__.split("\n")[0])
    parser.add_argument("--fleet", required=True, help="JSON file: [[driver_id, token, lat, lon], …]")
    parser.add_argument("--urls", required=True, help="the web processes' base URLs, comma-separated")
    parser.add_argument("--interval", type=float, required=True, help="seconds between two reports of a driver")
    parser.add_argument("--start", type=float, required=True, help="Unix time of the first report")
    parser.add_argument("--measure-from", type=float, required=True, help="Unix time the figures start")
    parser.add_argument("--measure-until", type=float, required=True, help="Unix time the figures end")
    parser.add_argument("--seconds", type=float, required=True, help="how long to report, from --start")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections per web process")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.urls = args.urls.split(",")
    fleet = json.loads(Path(args.fleet).read_text())
    figures = Figures(args.measure_from, args.measure_until, len(args.urls))

    async def main_loop() -> None:
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        await run(args, fleet, figures, stopping)

    asyncio.run(main_loop())
    Path(args.out).write_text(json.dumps(figures.as_dict(len(fleet) / args.interval)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
