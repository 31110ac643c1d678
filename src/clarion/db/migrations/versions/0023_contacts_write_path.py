"""contacts write path: the workspace check and the tags' cascade by trigger, not foreign keys

An import writes a contact row and one or two tag rows per person. PostgreSQL checked two
foreign keys per row for them, each by a key-share lock on the row it names: every new contact
locked the one workspace row, and every new tag locked (and so dirtied, with a WAL record) the
contact it had just inserted. Measured on 500,000 new contacts in batches of 5,000: the
workspace key cost about a quarter of the contacts INSERT's server CPU (14.0 against 10.2 s),
and the tags' key more than half of the tags' (8.4-12.7 against 3.7 s).

What the keys did is kept:

- A contact naming a workspace that does not exist is still refused, by a check over each
  INSERT statement's new rows (PostgreSQL: one per statement, over its transition table;
  SQLite: per row). Workspaces are never deleted (see 0022), so only inserts need checking.
- Deleting a contact still deletes its tags, by an AFTER DELETE trigger on ``contacts``.
  Tag rows are only written for contacts that the same transaction has just inserted or looked
  up, so the per-row check on them guarded nothing the writers do not already guarantee.

On SQLite, dropping the contacts key copies the table, which drops 0022's delete trigger on it:
it is created again here. A later migration batch-altering ``contacts`` must do the same for
every trigger in ``TRIGGERS`` below and in 0022.

Revision ID: 0023_contacts_write_path
Revises: 0022_send_path_cascades
Create Date: 2026-11-23 07:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023_contacts_write_path"
down_revision: str | Sequence[str] | None = "0022_send_path_cascades"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WS_MESSAGE = "contacts.workspace_id names no workspace"
#: 0022's delete trigger on SQLite, gone with each table copy of a batch alter of ``contacts``.
_SEND_LOG_SQLITE = (
    "CREATE TRIGGER IF NOT EXISTS contacts_delete_send_log AFTER DELETE ON contacts"
    " FOR EACH ROW BEGIN DELETE FROM compliance_send_log WHERE contact_id = OLD.id; END"
)


def _create_pg() -> None:
    op.execute(
        "CREATE FUNCTION contacts_check_workspace() RETURNS trigger LANGUAGE plpgsql AS $$"
        " DECLARE missing bigint; BEGIN"
        " SELECT n.workspace_id INTO missing FROM (SELECT DISTINCT workspace_id FROM fresh) n"
        " WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.id = n.workspace_id) LIMIT 1;"
        " IF FOUND THEN RAISE foreign_key_violation USING"
        f" MESSAGE = '{_WS_MESSAGE}', DETAIL = 'workspace_id ' || missing; END IF;"
        " RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER contacts_check_workspace AFTER INSERT ON contacts"
        " REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT"
        " EXECUTE FUNCTION contacts_check_workspace()"
    )
    op.execute(
        "CREATE FUNCTION contacts_delete_tags() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN DELETE FROM contact_tags WHERE contact_id IN (SELECT id FROM gone);"
        " RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER contacts_delete_tags AFTER DELETE ON contacts"
        " REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION contacts_delete_tags()"
    )


def _create_sqlite() -> None:
    op.execute(
        "CREATE TRIGGER contacts_check_workspace BEFORE INSERT ON contacts FOR EACH ROW"
        " WHEN NOT EXISTS (SELECT 1 FROM workspaces WHERE id = NEW.workspace_id)"
        f" BEGIN SELECT RAISE(ABORT, '{_WS_MESSAGE}'); END"
    )
    op.execute(
        "CREATE TRIGGER contacts_delete_tags AFTER DELETE ON contacts FOR EACH ROW"
        " BEGIN DELETE FROM contact_tags WHERE contact_id = OLD.id; END"
    )
    op.execute(_SEND_LOG_SQLITE)


def _drop() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name in ("contacts_check_workspace", "contacts_delete_tags"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON contacts" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def upgrade() -> None:
    with op.batch_alter_table("contact_tags") as batch:
        batch.drop_constraint("fk_contact_tags_contact_id_contacts", type_="foreignkey")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_constraint("fk_contacts_workspace_id_workspaces", type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        _create_pg()
    else:
        _create_sqlite()


def downgrade() -> None:
    _drop()
    with op.batch_alter_table("contacts") as batch:
        batch.create_foreign_key(
            "fk_contacts_workspace_id_workspaces", "workspaces", ["workspace_id"], ["id"]
        )
    with op.batch_alter_table("contact_tags") as batch:
        batch.create_foreign_key(
            "fk_contact_tags_contact_id_contacts",
            "contacts",
            ["contact_id"],
            ["id"],
            ondelete="CASCADE",
        )
    if op.get_bind().dialect.name != "postgresql":
        op.execute(_SEND_LOG_SQLITE)
