"""subscriber search index: substrings of names, numbers and addresses found by index, not by scan

On SQLite an FTS5 table with the trigram tokenizer mirrors subscribers.search_key (triggers keep it in
step); on PostgreSQL a pg_trgm GIN index serves the same LIKE '%…%' searches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE subscriber_search USING fts5("
    "search_key, content='subscribers', content_rowid='id', tokenize='trigram')",
    "INSERT INTO subscriber_search(rowid, search_key) SELECT id, search_key FROM subscribers",
    "CREATE TRIGGER subscriber_search_insert AFTER INSERT ON subscribers BEGIN "
    "INSERT INTO subscriber_search(rowid, search_key) VALUES (new.id, new.search_key); END",
    "CREATE TRIGGER subscriber_search_delete AFTER DELETE ON subscribers BEGIN "
    "INSERT INTO subscriber_search(subscriber_search, rowid, search_key) VALUES ('delete', old.id, old.search_key); END",
    "CREATE TRIGGER subscriber_search_update AFTER UPDATE OF search_key ON subscribers BEGIN "
    "INSERT INTO subscriber_search(subscriber_search, rowid, search_key) VALUES ('delete', old.id, old.search_key); "
    "INSERT INTO subscriber_search(rowid, search_key) VALUES (new.id, new.search_key); END",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS subscriber_search_update",
    "DROP TRIGGER IF EXISTS subscriber_search_delete",
    "DROP TRIGGER IF EXISTS subscriber_search_insert",
    "DROP TABLE IF EXISTS subscriber_search",
]
POSTGRESQL_UP = [
    # Needs the right to create extensions once per database (a superuser can run this line ahead).
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_subscribers_search_key_trgm ON subscribers USING gin (search_key gin_trgm_ops)",
]
POSTGRESQL_DOWN = ["DROP INDEX IF EXISTS ix_subscribers_search_key_trgm"]


def _run(statements_by_dialect):
    for statement in statements_by_dialect.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def upgrade():
    _run({"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP})


def downgrade():
    _run({"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN})
