"""Compliance: policies per jurisdiction, quiet hours, frequency caps, suppression, screening.

The public surface other features call is re-exported here; the campaign planner finds
:func:`evaluate` by importing this package.
"""

from clarion.compliance.content import Reason
from clarion.compliance.engine import Decision, Message, evaluate
from clarion.compliance.history import SendHistory, SendLogHistory, SendLogRow, log_sends
from clarion.compliance.policies import Policy, jurisdiction_for, resolve
from clarion.compliance.quiet_hours import next_allowed, resolve_zone
from clarion.compliance.screening import Hit, Screener, Screening, normalise

__all__ = [
    "Decision",
    "Hit",
    "Message",
    "Policy",
    "Reason",
    "Screener",
    "Screening",
    "SendHistory",
    "SendLogHistory",
    "SendLogRow",
    "evaluate",
    "jurisdiction_for",
    "log_sends",
    "next_allowed",
    "normalise",
    "resolve",
    "resolve_zone",
]
