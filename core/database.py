"""Engine settings and SQL that depend on the database behind it, and savepoints that work on all of them."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.functions import FunctionElement

from core.extensions import db

log = logging.getLogger("cabdesk.database")


def install_sqlite_pragmas(engine: Engine) -> None:
    """On SQLite: write-ahead log, foreign keys enforced, and waiting for locks instead of failing."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=15000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()


class unindexed(FunctionElement):
    """A column as is; on SQLite written ``+column``, which keeps the planner from reaching rows through an index."""

    inherit_cache = True
    name = "unindexed"

    def __init__(self, column):
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _unindexed(element, compiler, **kw):
    return compiler.process(element.clauses.clauses[0], **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element, compiler, **kw):
    return "+" + compiler.process(element.clauses.clauses[0], **kw)


# Search indexes made by migration 0002 in each database's own way, unknown to the models on purpose.
SEARCH_INDEX_TABLE = "subscriber_search"
SEARCH_INDEX_NAMES = frozenset({"ix_subscribers_search_key_trgm"})


def migration_include_name(name, type_, parent_names) -> bool:
    """Leave the search indexes (an FTS5 table and its shadow tables; a pg_trgm index) out of model comparisons."""
    if type_ == "table" and name and name.startswith(SEARCH_INDEX_TABLE):
        return False
    return not (type_ == "index" and name in SEARCH_INDEX_NAMES)


def render_migration_item(type_, obj, autogen_context):
    """Write Cabdesk's UTC timestamps into migrations as plain ``sa.DateTime(timezone=True)``.

    Migrations then need no import of application code, which may change after they are written.
    """
    from core.models import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def ensure_transaction() -> None:
    """Open the session's database transaction now if it is not open yet (see ``savepoint``)."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.driver_connection
        if not raw.in_transaction:
            raw.execute("BEGIN")


@contextmanager
def savepoint() -> Iterator[SessionTransaction]:
    """A SAVEPOINT whose failure undoes only its own work, inside a real transaction on every database.

    Python's sqlite3 opens a transaction only before a write, and a SAVEPOINT outside one is a
    transaction of its own whose release commits for good: a later rollback (a dry run, a refused
    import) would then keep it. So on SQLite a transaction is opened first. (Reads stay outside
    transactions there on purpose: a read snapshot held across a request would make SQLite refuse the
    request's write the moment another process had written in between.)
    """
    from core.signals import forget_signals_since, signals_queued

    ensure_transaction()
    mark, commit_mark = signals_queued(), len(db.session.info.get(_ON_COMMIT, ()))
    try:
        with db.session.begin_nested() as nested:
            yield nested
    except BaseException:
        forget_signals_since(mark)  # what the savepoint undid must not be announced
        del db.session.info.get(_ON_COMMIT, [])[commit_mark:]
        raise


_ON_COMMIT = "cabdesk_on_commit"


def on_commit(action: Callable[[], None]) -> None:
    """Run ``action`` once the current transaction commits (never if it rolls back): e.g. mirror a change to Redis.

    The action runs after the database has the change, so nothing outside the database ever shows a
    change that was rolled back. A failing action is logged and does not undo the commit.
    """
    db.session.info.setdefault(_ON_COMMIT, []).append(action)


@event.listens_for(Session, "after_commit")
def _run_on_commit(session: Session) -> None:
    for action in session.info.pop(_ON_COMMIT, []):
        try:
            action()
        except Exception:  # the commit stands; the sweeps and the next report put things right
            log.exception("an after-commit action failed")


@event.listens_for(Session, "after_rollback")
def _drop_on_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_ON_COMMIT, None)
