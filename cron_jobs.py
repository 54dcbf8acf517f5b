"""The periodic jobs `rq cron cron_jobs` runs (the scheduler process of `make demo` and production)."""

from rq import cron

from accounts.tasks import prune_login_attempts
from agents.tasks import reconcile_presence
from dispatch.board_tasks import push_driver_positions
from dispatch.tasks import sweep_dispatch
from drivers.tasks import copy_positions, lift_ended_suspensions, remind_expiring_documents
from feedback.tasks import sweep_feedback
from loyalty.tasks import recompute_tiers_job
from notifications.tasks import sweep_outbox
from supervisors.live import push_floor
from telephony.tasks import offer_menu_to_long_waits

cron.register(prune_login_attempts, queue_name="default", cron="17 3 * * *")
cron.register(recompute_tiers_job, queue_name="default", cron="43 2 * * *")
cron.register(reconcile_presence, queue_name="default", interval=60)
cron.register(offer_menu_to_long_waits, queue_name="default", interval=30)
cron.register(sweep_outbox, queue_name="default", interval=30)
cron.register(sweep_feedback, queue_name="default", interval=60)
cron.register(sweep_dispatch, queue_name="default", interval=10)
cron.register(push_driver_positions, queue_name="default", interval=5)
cron.register(push_floor, queue_name="default", interval=5)
cron.register(copy_positions, queue_name="default", interval=60)
cron.register(lift_ended_suspensions, queue_name="default", interval=300)
cron.register(remind_expiring_documents, queue_name="default", cron="0 6 * * *")
