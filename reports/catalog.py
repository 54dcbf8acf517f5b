"""The reports a supervisor can open: each one's name, title, builder, headline figures and options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from reports import complaints, customers, demand, league, satisfaction, zones
from reports.base import Column, Period, Report
from reports.complaints import BY_CHOICES
from reports.customers import COHORTS_SUMMARY, PARETO_SUMMARY, RETENTION_SUMMARY
from reports.demand import SUMMARY


@dataclass(frozen=True)
class Entry:
    """One report of the catalog: its name in the address, its title, the function that builds it."""

    name: str
    title: str
    builder: Callable[..., Report]
    summary: tuple[Column, ...] = ()
    # Choices the report takes besides the period: option name → ((value, label), …); the first is the default.
    options: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    default_days: int = 28

    def build(self, period: Period, **options: str) -> Report:
        """Run the report for the period with the chosen options."""
        return self.builder(period, **options)

    def read_options(self, args: Mapping[str, str]) -> dict[str, str]:
        """The options from a query string; an unknown value falls back to the default (the form offers no other)."""
        chosen = {}
        for option, choices in self.options.items():
            values = [value for value, _label in choices]
            wanted = (args.get(option) or "").strip()
            chosen[option] = wanted if wanted in values else values[0]
        return chosen


CATALOG: dict[str, Entry] = {
    entry.name: entry
    for entry in (
        Entry("demand", _l("Demand by hour of the week, and next week's forecast"), demand.build, SUMMARY),
        Entry(
            "zones",
            _l("Revenue and trips by zone"),
            zones.build,
            (Column("trips", _l("Trips")), Column("revenue", _l("Revenue"), "money")),
        ),
        Entry(
            "complaints",
            _l("Complaints by category, driver, agent and zone"),
            complaints.build,
            (
                Column("complaints", _l("Complaints")),
                Column("open", _l("Open")),
                Column("resolved", _l("Resolved")),
                Column("sla_breached", _l("SLA breached")),
            ),
            {"by": BY_CHOICES},
        ),
        Entry(
            "satisfaction",
            _l("Satisfaction: ratings and CSAT"),
            satisfaction.build,
            (
                Column("ratings", _l("Ratings")),
                Column("average", _l("Average rating"), "decimal"),
                Column("csat", _l("CSAT"), "percent"),
                Column("response_rate", _l("Response rate"), "percent"),
                Column("nps", _l("NPS"), "decimal"),
            ),
        ),
        Entry(
            "agents",
            _l("Agent league table"),
            league.agents,
            (
                Column("calls", _l("Calls answered")),
                Column("handle_time", _l("Average handle time (seconds)"), "seconds"),
                Column("bookings", _l("Bookings taken")),
                Column("bookings_per_call", _l("Bookings per call"), "decimal"),
                Column("complaints", _l("Complaints")),
            ),
        ),
        Entry(
            "drivers",
            _l("Driver league table"),
            league.drivers,
            (
                Column("trips", _l("Trips")),
                Column("fares", _l("Fares"), "money"),
                Column("acceptance_rate", _l("Acceptance rate"), "percent"),
                Column("average_rating", _l("Average rating"), "decimal"),
                Column("complaints", _l("Complaints")),
            ),
        ),
        Entry(
            "retention",
            _l("Customer retention and churn by value tier"),
            customers.retention,
            RETENTION_SUMMARY,
            default_days=180,
        ),
        Entry(
            "cohorts",
            _l("Customer cohorts by month of first trip"),
            customers.cohorts,
            COHORTS_SUMMARY,
            default_days=180,
        ),
        Entry("pareto", _l("Revenue by customer (Pareto)"), customers.pareto, PARETO_SUMMARY),
    )
}
