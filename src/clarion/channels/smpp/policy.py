"""What to do when an SMSC refuses a submit_sm: the retry policy as data, keyed by command_status.

Transient refusals (the SMSC is busy, throttling or has a full queue) are retried after a
backoff; permanent ones (a bad destination, a refused sender) fail the message at once, with the
SMSC's code kept so a person can read why. A status not listed is treated as transient with a
few retries: better one retry too many than a message lost to an SMSC's unusual code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from clarion.channels.smpp import pdu as P

Kind = Literal["permanent", "transient"]


@dataclass(frozen=True, slots=True)
class Rule:
    """How one command_status is handled: kind, how often to retry, how long to wait."""

    kind: Kind
    max_retries: int = 0
    backoff: float = 0.0  # seconds before the first retry
    factor: float = 2.0  # each further retry waits this many times longer
    max_backoff: float = 60.0

    @property
    def permanent(self) -> bool:
        """Return whether a message refused with this status must not be retried."""
        return self.kind == "permanent"

    def delay(self, attempt: int) -> float:
        """Return the wait before retry number ``attempt`` (1 for the first retry)."""
        return min(self.backoff * self.factor ** max(attempt - 1, 0), self.max_backoff)


def _permanent() -> Rule:
    return Rule("permanent")


#: The policy. Keys are SMPP command_status values; the pseudo-codes below cover outcomes that
#: are not an SMSC's answer (no response in time, connection lost with the submit on the wire).
POLICY: Final[dict[int, Rule]] = {
    P.ESME_RTHROTTLED: Rule("transient", max_retries=20, backoff=0.05, factor=2.0, max_backoff=5),
    P.ESME_RMSGQFUL: Rule("transient", max_retries=10, backoff=0.5, factor=2.0, max_backoff=30),
    P.ESME_RSYSERR: Rule("transient", max_retries=3, backoff=1.0),
    P.ESME_RX_T_APPN: Rule("transient", max_retries=3, backoff=1.0),
    P.ESME_RSUBMITFAIL: Rule("transient", max_retries=2, backoff=1.0),
    P.ESME_RINVBNDSTS: Rule("transient", max_retries=3, backoff=0.5),
    P.ESME_RINVDSTADR: _permanent(),
    P.ESME_RINVSRCADR: _permanent(),
    P.ESME_RINVSRCTON: _permanent(),
    P.ESME_RINVDSTTON: _permanent(),
    P.ESME_RINVMSGLEN: _permanent(),
    P.ESME_RINVCMDLEN: _permanent(),
    P.ESME_RINVCMDID: _permanent(),
    P.ESME_RINVESMCLASS: _permanent(),
    P.ESME_RINVDCS: _permanent(),
    P.ESME_RINVEXPIRY: _permanent(),
    P.ESME_RINVSCHED: _permanent(),
    P.ESME_RX_P_APPN: _permanent(),
    P.ESME_RX_R_APPN: _permanent(),
    P.ESME_RINVOPTPARSTREAM: _permanent(),
    P.ESME_RINVPARLEN: _permanent(),
}

#: Pseudo-status: no submit_sm_resp within the response timeout, or the connection was lost
#: with the submit written. The SMSC may have the message: retrying risks a duplicate, so by
#: default it is reported as uncertain, not retried (a connector can opt in to resubmitting).
UNCERTAIN: Final = -1
#: Pseudo-status: the submit never left us (no bind came up in time, or the connector stopped).
NOT_SENT: Final = -2

DEFAULT_RULE: Final = Rule("transient", max_retries=3, backoff=1.0)


def rule_for(status: int, policy: dict[int, Rule] | None = None) -> Rule:
    """Return the rule for ``status`` from ``policy`` (the default policy if None)."""
    return (policy or POLICY).get(status, DEFAULT_RULE)


def code_name(status: int) -> str:
    """Return the provider code as stored with a failed message (``ESME_RTHROTTLED``...)."""
    if status == UNCERTAIN:
        return "UNCERTAIN"
    if status == NOT_SENT:
        return "NOT_SENT"
    return P.status_name(status)
