"""The periodic jobs `rq cron cron_jobs` runs (the scheduler process of `make demo` and production)."""

from rq import cron

from accounts.tasks import prune_login_attempts
from loyalty.tasks import recompute_tiers_job

cron.register(prune_login_attempts, queue_name="default", cron="17 3 * * *")
cron.register(recompute_tiers_job, queue_name="default", cron="43 2 * * *")
