"""Failed background jobs are visible to admins, with the reason, and can be run again from the page."""

from __future__ import annotations

import pytest
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from tests.conftest import csrf_token_of

ATTEMPTS: list[int] = []


def flaky_job(booking_id: int) -> str:
    """Fails the first time (Twilio was down, say), works the second."""
    ATTEMPTS.append(booking_id)
    if len(ATTEMPTS) == 1:
        raise RuntimeError("Twilio could not be reached")
    return "done"


def test_a_failed_job_is_listed_with_its_error_and_runs_again_on_retry(app, redis_client, logged_in):
    ATTEMPTS.clear()
    jobs = Queue("default", connection=redis_client)
    job = jobs.enqueue(flaky_job, 42)
    SimpleWorker([jobs], connection=redis_client).work(burst=True)
    assert job.id in FailedJobRegistry(queue=jobs).get_job_ids()

    admin = logged_in("admin")
    page = admin.get("/admin/jobs").get_data(as_text=True)
    assert f'data-job="{job.id}"' in page and "flaky_job(42)" in page and "Twilio could not be reached" in page

    assert admin.post(f"/admin/jobs/{job.id}/retry").status_code == 400  # no CSRF token: nothing happens
    assert job.id in FailedJobRegistry(queue=jobs).get_job_ids()
    response = admin.post(f"/admin/jobs/{job.id}/retry", data={"csrf_token": csrf_token_of(page)})
    assert response.status_code == 302
    SimpleWorker([jobs], connection=redis_client).work(burst=True)
    assert ATTEMPTS == [42, 42] and job.id not in FailedJobRegistry(queue=jobs).get_job_ids()
    assert f'data-job="{job.id}"' not in admin.get("/admin/jobs").get_data(as_text=True)

    unknown = admin.post("/admin/jobs/no-such-job/retry", data={"csrf_token": csrf_token_of(page)})
    assert unknown.status_code == 302
    assert "not among the failed" in admin.get("/admin/jobs").get_data(as_text=True)


@pytest.mark.parametrize("role", ["agent", "dispatcher", "supervisor"])
def test_only_admins_see_failed_jobs(app, redis_client, logged_in, role):
    assert logged_in(role).get("/admin/jobs").status_code == 403
