"""send path: attempts and the send log cascade by trigger, not by checked foreign keys

Every message writes three rows beside its own: two attempt rows (submitted, delivered) and
one ``compliance_send_log`` row. Each carried foreign keys, and PostgreSQL checks a foreign key
per inserted row by a key-share lock on the row it names: the message (attempts), the contact
and the workspace (send log). At a campaign's pace those checks were about a third of the
database's CPU for the submit write-back (EXPLAIN ANALYZE of a 1,000-message batch: 40 of
110 ms in the three constraint triggers), the contact's lock dirtying one contacts page per
message, and every concurrent batch locking the same workspace row.

The rows are written from the rows they name (the submit statement inserts from the messages
it has just updated; the send log from those messages' contacts), so the check guarded
nothing the writers do not already guarantee. What the keys also did is kept: deleting a
message deletes its attempts, deleting a contact its send-log rows, now by an AFTER DELETE
trigger on the named table (on PostgreSQL one per statement, over its transition table).
Workspaces are never deleted; the send log's workspace id is plain.

On SQLite, batch-altering ``messages`` or ``contacts`` (a table copy) drops these triggers:
a later migration doing so must create them again (:func:`create_triggers`).

Revision ID: 0022_send_path_cascades
Revises: 0021_outbox_indexes
Create Date: 2026-11-23 04:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022_send_path_cascades"
down_revision: str | Sequence[str] | None = "0021_outbox_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (trigger and function name, table deleted from, dependent table, its column)
CASCADES = (
    ("messages_delete_attempts", "messages", "message_attempts", "message_id"),
    ("contacts_delete_send_log", "contacts", "compliance_send_log", "contact_id"),
)


def create_triggers() -> None:
    """Create the delete cascades (PostgreSQL: per statement; SQLite: per row)."""
    pg = op.get_bind().dialect.name == "postgresql"
    for name, table, child, column in CASCADES:
        if pg:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN DELETE FROM {child} WHERE {column} IN (SELECT id FROM gone);"
                " RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER DELETE ON {table}"
                f" REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER DELETE ON {table} FOR EACH ROW"
                f" BEGIN DELETE FROM {child} WHERE {column} = OLD.id; END"
            )


def drop_triggers() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name, table, _child, _column in CASCADES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def upgrade() -> None:
    with op.batch_alter_table("message_attempts") as batch:
        batch.drop_constraint("fk_message_attempts_message_id_messages", type_="foreignkey")
    with op.batch_alter_table("compliance_send_log") as batch:
        batch.drop_constraint("fk_compliance_send_log_contact_id_contacts", type_="foreignkey")
        batch.drop_constraint("fk_compliance_send_log_workspace_id_workspaces", type_="foreignkey")
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    with op.batch_alter_table("compliance_send_log") as batch:
        batch.create_foreign_key(
            "fk_compliance_send_log_workspace_id_workspaces", "workspaces", ["workspace_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_compliance_send_log_contact_id_contacts",
            "contacts",
            ["contact_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("message_attempts") as batch:
        batch.create_foreign_key(
            "fk_message_attempts_message_id_messages",
            "messages",
            ["message_id"],
            ["id"],
            ondelete="CASCADE",
        )
