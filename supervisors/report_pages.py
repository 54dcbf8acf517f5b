"""The supervisor's reports: each one as a chart and a table over any range of office days, and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

from flask import Response, abort, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from accounts.auth import area_required
from accounts.roles import Area
from core.i18n import uses_jalali
from core.models import utcnow
from core.text import spreadsheet_safe
from core.timewindows import office_date
from reports.base import PeriodError, Report, read_period
from reports.catalog import CATALOG, Entry
from supervisors.routes import bp


def _entry(name: str) -> Entry:
    entry = CATALOG.get(name)
    if entry is None:
        abort(404)
    return entry


def _period_errors(error: PeriodError) -> dict[str, str]:
    """The period's problems in the page's language."""
    wanted = {
        "a date as YYYY-MM-DD": _("Enter a date as YYYY-MM-DD."),
        "a day on or before the last day": _("The first day must not be after the last day."),
    }
    return {name: wanted.get(text, _("Choose a range of at most two years.")) for name, text in error.fields.items()}


def _today() -> date:
    return office_date(utcnow(), current_app.config["OFFICE_TIMEZONE"])


@bp.route("/reports")
@area_required(Area.SUPERVISION)
def reports():
    """The list of reports."""
    return render_template("supervisors/reports.html", catalog=CATALOG.values())


@bp.route("/reports/<name>")
@area_required(Area.SUPERVISION)
def report(name: str):
    """One report for the chosen days: headline figures, chart and table."""
    entry = _entry(name)
    options = entry.read_options(request.args)
    settings = {
        "time_zone": current_app.config["OFFICE_TIMEZONE"],
        "calendar": "persian" if uses_jalali() else "gregory",
        "language": str(get_locale()),
        "currency": current_app.config["CURRENCY"],
    }
    try:
        period = read_period(request.args, _today(), current_app.config["OFFICE_TIMEZONE"], entry.default_days)
    except PeriodError as error:
        page = render_template(
            "supervisors/report.html",
            entry=entry,
            options=options,
            args=request.args,
            errors=_period_errors(error),
            result=None,
            period=None,
            settings=settings,
        )
        return page, 400
    result = entry.build(period, **options)
    for chart in (result.chart, result.chart.get("forecast") or {}):
        if chart.get("type") == "heatmap":
            chart["heat"] = heat_levels(chart["values"])
    return render_template(
        "supervisors/report.html",
        entry=entry,
        options=options,
        args=request.args,
        errors={},
        result=result,
        period=period,
        settings=settings,
        csv_args={**period.as_args(), **options},
    )


@bp.route("/reports/<name>.csv")
@area_required(Area.SUPERVISION)
def report_csv(name: str):
    """The report's table as CSV (UTF-8 with a byte-order mark so spreadsheet programs read Persian right)."""
    entry = _entry(name)
    try:
        period = read_period(request.args, _today(), current_app.config["OFFICE_TIMEZONE"], entry.default_days)
    except PeriodError as error:
        return Response("; ".join(_period_errors(error).values()), status=400, mimetype="text/plain")
    result = entry.build(period, **entry.read_options(request.args))
    filename = f"{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    current_app.logger.info("report %s exported by user %s", name, current_user.id)
    return Response(
        csv_text(result),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def heat_levels(values: list[list]) -> list[list[int | None]]:
    """Each heatmap cell's shade from 0 to 10 against the busiest cell (None stays None: nothing to show)."""
    top = max((v for row in values for v in row if v is not None), default=0)
    return [[None if v is None else (round(10 * v / top) if top else 0) for v in row] for row in values]


def csv_text(result: Report) -> str:
    """A report's table as CSV: headings in the page's language, values as stored (ISO dates, plain numbers)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([str(column.label) for column in result.columns])
    for row in result.rows:
        writer.writerow([_csv_value(row.get(column.key)) for column in result.columns])
    return out.getvalue()


def _csv_value(value) -> object:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return spreadsheet_safe(value)
    return value
