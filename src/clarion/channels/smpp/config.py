"""A connector's settings, as the ESME client uses them (stored by ``service``, one table row)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final, Literal

from clarion.channels.smpp.receipts import IdFormat

BindMode = Literal["transceiver", "transmitter", "receiver", "transmitter_receiver"]
Concatenation = Literal["udh", "sar", "payload"]

BIND_MODES: Final = ("transceiver", "transmitter", "receiver", "transmitter_receiver")
CONCATENATIONS: Final = ("udh", "sar", "payload")
ID_FORMATS: Final = ("text", "hex", "decimal")


@dataclass(frozen=True, slots=True)
class ConnectorConfig:
    """Everything one SMPP connector needs to bind and submit.

    ``throughput`` is messages (submit_sm PDUs) per second across all binds; 0 means no limit.
    ``bind_mode`` ``transmitter_receiver`` opens ``binds`` transmitters plus one receiver, for
    SMSCs that refuse transceivers. ``source_ton``/``source_npi`` of None choose by the sender:
    alphanumeric 5/0, short code 3/0, long number 1/1.
    """

    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind_mode: BindMode = "transceiver"
    binds: int = 1
    window: int = 64
    throughput: float = 0.0
    concatenation: Concatenation = "udh"
    udh_ref_bits: int = 8
    registered_delivery: int = 1
    source_addr: str = ""
    source_ton: int | None = None
    source_npi: int | None = None
    dest_ton: int = 1
    dest_npi: int = 1
    #: data_coding for the GSM default alphabet: 0 on most SMSCs, some want 1 or 3.
    default_data_coding: int = 0
    #: How the SMSC writes message ids in submit_sm_resp and in receipts.
    submit_id_format: IdFormat = "text"
    receipt_id_format: IdFormat = "text"
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    bind_timeout: float = 10.0
    reconnect_min: float = 0.2
    reconnect_max: float = 30.0
    #: Resubmit messages that were on the wire when the link broke (risk: duplicates).
    resubmit_uncertain: bool = False
    #: How long a submit may wait for a bind to come up before it fails (transient).
    submit_wait: float = 30.0
    #: Receipts still awaited are remembered for this many parts (oldest forgotten first).
    max_tracked: int = 1_000_000
    enabled: bool = True
    cost_per_part: float | None = None

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> ConnectorConfig:
        """Return a config from a mapping (a table row, JSON), ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names and v is not None})

    @property
    def receives(self) -> bool:
        """Return whether some bind of this connector receives deliver_sm."""
        return self.bind_mode != "transmitter"
