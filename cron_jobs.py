"""The periodic jobs `rq cron cron_jobs` runs (the scheduler process of `make demo` and production)."""

from rq import cron

from accounts.tasks import prune_login_attempts

cron.register(prune_login_attempts, queue_name="default", cron="17 3 * * *")
