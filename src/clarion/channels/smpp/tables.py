"""Tables of the SMPP channel: one row per configured connector."""

import sqlalchemy as sa

from clarion.db.meta import metadata
from clarion.db.types import BigId, Json, UTCDateTime

smpp_connectors = sa.Table(
    "smpp_connectors",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("workspace_id", sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("system_id", sa.String(16), nullable=False),
    # Stored in clear for now (docs/smpp.md says so): the SMSC needs it verbatim at each bind.
    sa.Column("password", sa.String(9), nullable=False),
    sa.Column("system_type", sa.String(13), nullable=False, server_default=""),
    sa.Column("bind_mode", sa.String(24), nullable=False, server_default="transceiver"),
    sa.Column("binds", sa.Integer, nullable=False, server_default="1"),
    sa.Column("window", sa.Integer, nullable=False, server_default="64"),
    sa.Column("throughput", sa.Float, nullable=False, server_default="0"),
    sa.Column("concatenation", sa.String(10), nullable=False, server_default="udh"),
    sa.Column("udh_ref_bits", sa.Integer, nullable=False, server_default="8"),
    sa.Column("registered_delivery", sa.Integer, nullable=False, server_default="1"),
    sa.Column("source_addr", sa.String(21), nullable=False, server_default=""),
    sa.Column("source_ton", sa.Integer),
    sa.Column("source_npi", sa.Integer),
    sa.Column("default_data_coding", sa.Integer, nullable=False, server_default="0"),
    sa.Column("submit_id_format", sa.String(10), nullable=False, server_default="text"),
    sa.Column("receipt_id_format", sa.String(10), nullable=False, server_default="text"),
    # Timeouts, reconnection and the other tuning knobs of ConnectorConfig.
    sa.Column("options", Json, nullable=False, default=dict),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
)
