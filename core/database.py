"""Engine settings that depend on the database behind it."""

from sqlalchemy import event
from sqlalchemy.engine import Engine


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


def render_migration_item(type_, obj, autogen_context):
    """Write Cabdesk's UTC timestamps into migrations as plain ``sa.DateTime(timezone=True)``.

    Migrations then need no import of application code, which may change after they are written.
    """
    from core.models import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
