"""The RQ worker the office runs (core.worker.CabdeskWorker), as a real process: it dispatches a booking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from core.signals import commit_and_announce
from dispatch.bookings import Stop, create_booking
from dispatch.models import DispatchOffer
from tests.support.office import AZADI, NEAR_AZADI, add_driver, on_duty_at

ROOT = Path(__file__).resolve().parent.parent


def test_the_office_worker_runs_the_dispatch_job_of_a_new_booking(app, tehran_zones, redis_client, redis_url):
    driver = add_driver("W1", "09121110301")
    on_duty_at(driver, NEAR_AZADI)
    db.session.commit()
    create_booking(
        phone="+989121234567",
        subscriber=None,
        pickup=Stop(lat=AZADI[0], lon=AZADI[1]),
        dropoff=None,
        pickup_at=None,
        vehicle_class="sedan",
        notes="",
        now=utcnow(),
    )
    commit_and_announce()  # queues the dispatch job in the test Redis
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "test",
        "CABDESK_INSTANCE": app.instance_path,
    }
    rq = str(Path(sys.executable).parent / "rq")
    command = [rq, "worker", "--burst", "--worker-class", "core.worker.CabdeskWorker", "--url", redis_url, "default"]
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    db.session.expire_all()
    offer = db.session.scalar(select(DispatchOffer))
    assert offer is not None and offer.driver_id == driver.id, finished.stderr[-2000:]
