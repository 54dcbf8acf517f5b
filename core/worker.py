"""The RQ worker Cabdesk runs: ``rq worker --worker-class core.worker.CabdeskWorker``.

RQ's default worker forks a fresh process for every job, and each fork imports and builds the whole
application again: about 1.5 s of CPU before a job of 20 ms, so a busy office's dispatch jobs would
queue up (bench/README.md, "Dispatch"). This worker builds the application once and runs the jobs in
its own process. A job that runs too long is still stopped by RQ's timeout (a signal in this process);
a job that crashes the process takes the worker down, and the service manager starts it again —
every Cabdesk job is safe to run again and the sweeps pick up what a dead worker left.
"""

from __future__ import annotations

from rq import SimpleWorker

from core.jobs import worker_app
from core.memory import settle_after_startup


class CabdeskWorker(SimpleWorker):
    """An RQ worker that builds the Flask app once, at start, and runs each job in its own process."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        worker_app()  # import and build now, not in the first job
        settle_after_startup()  # as in wsgi.py: the app lives as long as the worker

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        """Tell Redis this worker lives; register it again if Redis came back without its data."""
        if pipeline is None and not self.connection.exists(self.key):
            # A Redis restarted without persistence has forgotten every worker: /healthz and the pages would say
            # none runs while this one works on. (RQ registers a worker only once, at birth.)
            self.register_birth()
        super().heartbeat(timeout, pipeline)
