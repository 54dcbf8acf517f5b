"""Background jobs that failed, as admins see them: what ran, why it failed, and a retry for each."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry

from accounts.auth import area_required
from accounts.roles import Area
from admin.routes import bp
from core.queues import QUEUE_NAMES, queue, redis_connection

PAGE_SIZE = 100
# The last lines of a traceback say what went wrong; the rest is the worker's own machinery.
TRACEBACK_LINES = 6


def _failed_jobs() -> list[dict]:
    rows = []
    for name in QUEUE_NAMES:
        registry = FailedJobRegistry(queue=queue(name))
        ids = registry.get_job_ids(0, PAGE_SIZE - 1)
        for job in Job.fetch_many(ids, connection=redis_connection()):
            if job is None:
                continue
            result = job.latest_result()
            error = (result.exc_string if result is not None and result.exc_string else "").strip().splitlines()
            rows.append(
                {
                    "id": job.id,
                    "queue": name,
                    "function": job.func_name,
                    "args": ", ".join(repr(a) for a in job.args),  # ids only: jobs take ids, never customers' data
                    "failed_at": job.ended_at,
                    "error": "\n".join(error[-TRACEBACK_LINES:]),
                }
            )
    return rows


@bp.route("/jobs")
@area_required(Area.ADMINISTRATION)
def failed_jobs():
    """Jobs that failed (an exception, or a worker that died under them), newest first."""
    try:
        rows = _failed_jobs()
    except Exception as exc:  # Redis down: say so rather than fail the page
        flash(_("The job queue cannot be reached (%(error)s).", error=type(exc).__name__), "error")
        rows = []
    return render_template("admin/jobs.html", jobs=rows)


@bp.route("/jobs/<job_id>/retry", methods=["POST"])
@area_required(Area.ADMINISTRATION)
def retry_job(job_id: str):
    """Put a failed job back on its queue (the jobs are safe to run twice)."""
    for name in QUEUE_NAMES:
        registry = FailedJobRegistry(queue=queue(name))
        if job_id in registry.get_job_ids():
            try:
                registry.requeue(job_id)
            except NoSuchJobError:
                break
            flash(_("The job will run again."), "success")
            return redirect(url_for("admin.failed_jobs"))
    flash(_("That job is not among the failed ones."), "error")
    return redirect(url_for("admin.failed_jobs"))
