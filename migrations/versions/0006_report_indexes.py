"""report indexes: calls, bookings, offers and feedback by the periods and people the reports ask about

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

The wallboard counts today's calls every few seconds and the reports read a period's rows; without these
indexes they scan whole tables (bench/reports_bench.py: the driver league over 28 days 8.4 s → 0.09 s).
Indexes that lead with a foreign key replace the plain foreign-key index they make redundant.

subscriber_months rolls each subscriber's completed trips up per office-calendar month, so that retention and
cohorts no longer group a year of bookings each time; the upgrade fills it from the bookings there are.

"""
import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_calls_queued_at', 'calls', ['queued_at'], unique=False)
    # The handle time kept on the call (the model's mapper events keep it from now on), for the agent league.
    op.add_column('calls', sa.Column('handle_seconds', sa.Integer(), nullable=True))
    _backfill_handle_seconds()
    op.create_index('ix_calls_agent_answered', 'calls', ['agent_id', 'answered_at', 'handle_seconds'], unique=False)
    op.drop_index('ix_calls_agent_id', table_name='calls')

    op.create_index('ix_bookings_created_at', 'bookings', ['created_at'], unique=False)
    op.create_index('ix_bookings_completed_at', 'bookings', ['completed_at'], unique=False)
    op.create_index('ix_bookings_driver_completed', 'bookings', ['driver_id', 'status', 'completed_at', 'fare'], unique=False)
    op.create_index('ix_bookings_created_by', 'bookings', ['created_by_id', 'created_at'], unique=False)
    op.create_index('ix_bookings_completed_zone', 'bookings', ['status', 'completed_at', 'pickup_zone_id', 'fare'], unique=False)
    op.create_index('ix_bookings_subscriber_completed', 'bookings', ['subscriber_id', 'status', 'completed_at', 'fare'], unique=False)
    op.drop_index('ix_bookings_driver_id', table_name='bookings')

    op.create_index('ix_dispatch_offers_driver_outcome', 'dispatch_offers', ['driver_id', 'outcome', 'offered_at'], unique=False)
    op.drop_index('ix_dispatch_offers_driver_id', table_name='dispatch_offers')

    op.drop_index('ix_feedback_answered_at', table_name='feedback')
    op.create_index('ix_feedback_answered_at', 'feedback', ['answered_at', 'rating'], unique=False)
    op.create_index('ix_feedback_requested_at', 'feedback', ['requested_at', 'rating'], unique=False)
    op.create_index('ix_feedback_driver_answered', 'feedback', ['driver_id', 'answered_at', 'rating'], unique=False)
    op.drop_index('ix_feedback_driver_id', table_name='feedback')

    op.create_table('subscriber_months',
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('trips', sa.Integer(), nullable=False),
    sa.Column('revenue', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_subscriber_months_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('subscriber_id', 'month', name=op.f('pk_subscriber_months'))
    )
    # The office's time zone as config/__init__.py reads it (a migration does not import the application).
    _fill_subscriber_months(op.get_bind(), os.environ.get('OFFICE_TIMEZONE', 'Asia/Tehran'))
    # Made after the backfill: one sort of the filled table costs less than keeping the index up row by row.
    op.create_index('ix_subscriber_months_month', 'subscriber_months', ['month', 'subscriber_id'], unique=False)


def downgrade():
    op.drop_index('ix_subscriber_months_month', table_name='subscriber_months')
    op.drop_table('subscriber_months')

    op.create_index('ix_feedback_driver_id', 'feedback', ['driver_id'], unique=False)
    op.drop_index('ix_feedback_driver_answered', table_name='feedback')
    op.drop_index('ix_feedback_requested_at', table_name='feedback')
    op.drop_index('ix_feedback_answered_at', table_name='feedback')
    op.create_index('ix_feedback_answered_at', 'feedback', ['answered_at'], unique=False)

    op.create_index('ix_dispatch_offers_driver_id', 'dispatch_offers', ['driver_id'], unique=False)
    op.drop_index('ix_dispatch_offers_driver_outcome', table_name='dispatch_offers')

    op.create_index('ix_bookings_driver_id', 'bookings', ['driver_id'], unique=False)
    op.drop_index('ix_bookings_subscriber_completed', table_name='bookings')
    op.drop_index('ix_bookings_completed_zone', table_name='bookings')
    op.drop_index('ix_bookings_created_by', table_name='bookings')
    op.drop_index('ix_bookings_driver_completed', table_name='bookings')
    op.drop_index('ix_bookings_completed_at', table_name='bookings')
    op.drop_index('ix_bookings_created_at', table_name='bookings')

    op.create_index('ix_calls_agent_id', 'calls', ['agent_id'], unique=False)
    op.drop_index('ix_calls_agent_answered', table_name='calls')
    with op.batch_alter_table('calls') as batch_op:
        batch_op.drop_column('handle_seconds')
    op.drop_index('ix_calls_queued_at', table_name='calls')


# The backfill is written out here rather than imported: a migration must keep working as the application changes.
CHUNK = 5000


def _fill_subscriber_months(bind, zone_name):
    """Each subscriber's completed trips and fares per office month (the zone given), from the bookings."""
    zone = ZoneInfo(zone_name)
    # On SQLite, NOT INDEXED reads the table in one pass instead of walking the status index to nearly all of it.
    plain = ' NOT INDEXED' if bind.dialect.name == 'sqlite' else ''
    trips = sa.text(
        f"SELECT subscriber_id, completed_at, fare FROM bookings{plain} "
        "WHERE status = 'completed' AND subscriber_id IS NOT NULL AND completed_at IS NOT NULL"
    ).columns(
        sa.column('subscriber_id', sa.Integer()),
        sa.column('completed_at', sa.DateTime(timezone=True)),
        sa.column('fare', sa.BigInteger()),
    )
    totals = {}
    start = end = month = None  # the last month seen: its first moment, the moment after it (UTC), its first day
    # yield_per streams the bookings (a server-side cursor on PostgreSQL) instead of loading them all at once.
    result = bind.execute(trips.execution_options(yield_per=CHUNK))
    for rows in result.partitions():
        for subscriber_id, completed_at, fare in rows:
            if start is None or not start <= completed_at < end:
                # SQLite keeps UTC without its zone: such moments are compared with bounds without one too.
                naive = completed_at.tzinfo is None
                local = (completed_at.replace(tzinfo=UTC) if naive else completed_at).astimezone(zone)
                month = date(local.year, local.month, 1)
                after = (month + timedelta(days=32)).replace(day=1)
                start, end = (datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC) for day in (month, after))
                if naive:
                    start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
            total = totals.get((subscriber_id, month))
            if total is None:
                totals[subscriber_id, month] = [1, fare or 0]
            else:
                total[0] += 1
                total[1] += fare or 0
    table = sa.table(
        'subscriber_months',
        sa.column('subscriber_id', sa.Integer()),
        sa.column('month', sa.Date()),
        sa.column('trips', sa.Integer()),
        sa.column('revenue', sa.BigInteger()),
    )
    keys = sorted(totals)  # in the key's order: the table's key index grows at its end
    for first in range(0, len(keys), CHUNK):
        bind.execute(table.insert(), [
            {'subscriber_id': key[0], 'month': key[1], 'trips': totals[key][0], 'revenue': totals[key][1]}
            for key in keys[first:first + CHUNK]
        ])


def _backfill_handle_seconds():
    """Whole seconds from answer to the end of wrap-up (to hang-up without one) for the calls already kept."""
    end = "COALESCE(wrapped_up_at, ended_at)"
    if op.get_bind().dialect.name == "sqlite":
        seconds = f"(julianday({end}) - julianday(answered_at)) * 86400.0"
    else:
        seconds = f"EXTRACT(EPOCH FROM ({end} - answered_at))"
    op.execute(
        f"UPDATE calls SET handle_seconds = MAX(0, CAST(ROUND({seconds}) AS INTEGER)) "
        f"WHERE answered_at IS NOT NULL AND {end} IS NOT NULL"
        if op.get_bind().dialect.name == "sqlite"
        else f"UPDATE calls SET handle_seconds = GREATEST(0, CAST(ROUND({seconds}) AS INTEGER)) "
        f"WHERE answered_at IS NOT NULL AND {end} IS NOT NULL"
    )
