"""Short links: unguessable per-recipient codes, minted in bulk beside the outbox rows.

A code is 8 base62 characters drawn from :mod:`secrets` (62**8 is about 2**47.6, so guessing a
live code among a million takes some 200 million tries). Codes are unique across the
installation: a pool of candidates is checked against the unique index in one query before use,
and the index refuses what a concurrent minter might have taken in between (the chunk then fails
loudly and is planned again; no message ever carries someone else's code).

Minting is collect-then-flush: :meth:`LinkMinter.link` returns the short URL at once and keeps
the row; :meth:`LinkMinter.flush` writes every row of a chunk in one INSERT, in the transaction
that writes the chunk's messages. A million recipients is two hundred INSERTs, not a million.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import sqlalchemy as sa

from clarion.audit.service import Actor, record
from clarion.db.sql import in_values
from clarion.db.types import utcnow
from clarion.delivery.bulk import db_time, insert_rows
from clarion.errors import NotFound, ValidationFailed
from clarion.tracking.settings import TrackingSettings, get_tracking_settings
from clarion.tracking.tables import link_clicks, links

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CODE_LENGTH = 8
CODE_RE = re.compile(rf"[0-9A-Za-z]{{{CODE_LENGTH}}}")
_SPACE = len(ALPHABET) ** CODE_LENGTH
_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
POOL = 2_000

_LINK_COLUMNS = (
    ("workspace_id", "bigint"),
    ("code", "text"),
    ("url", "text"),
    ("campaign_id", "bigint"),
    ("contact_id", "bigint"),
    ("variant_id", "bigint"),
    ("created_at", "timestamptz"),
    ("expires_at", "timestamptz"),
)


def new_codes(n: int) -> list[str]:
    """Return ``n`` random base62 codes of :data:`CODE_LENGTH` characters (may repeat)."""
    if n <= 0:
        return []
    # 64 random bits per code reduced modulo 62**8: the bias is below 1 part in 80,000.
    values = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64) % np.uint64(_SPACE)
    digits = np.empty((n, CODE_LENGTH), dtype=np.uint8)
    for i in range(CODE_LENGTH - 1, -1, -1):
        digits[:, i] = values % np.uint64(62)
        values //= np.uint64(62)
    text = _ALPHABET_BYTES[digits].tobytes().decode("ascii")
    return [text[i : i + CODE_LENGTH] for i in range(0, n * CODE_LENGTH, CODE_LENGTH)]


def check_url(url: str) -> str:
    """Return ``url`` if it can be a link target (absolute http or https), else raise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed(
            "a tracked link needs an absolute http(s) URL", field="url", value=url[:200]
        )
    return url.strip()


class LinkMinter:
    """Mint short links for one workspace (and campaign) in bulk.

    Set :attr:`recipient` before rendering a recipient's text, call :meth:`link` (directly, as
    the template function ``link(url)``, or through :meth:`hook` for
    :func:`clarion.messages.templates.set_link_hook`), then :meth:`flush` once per chunk.
    A dry run (estimates) returns realistic URLs and writes nothing.
    """

    def __init__(
        self,
        conn: sa.Connection,
        workspace_id: int,
        *,
        campaign_id: int | None = None,
        now: datetime | None = None,
        settings: TrackingSettings | None = None,
        dry_run: bool = False,
    ) -> None:
        self.conn = conn
        self.workspace_id = workspace_id
        self.campaign_id = campaign_id
        self.dry_run = dry_run
        self.settings = settings or get_tracking_settings(conn, workspace_id)
        self.base = self.settings.link_base_url.rstrip("/")
        self.now = now or utcnow()
        ttl = self.settings.link_ttl_s
        self.expires_at = self.now + timedelta(seconds=ttl) if ttl else None
        #: (contact id, variant id) of the recipient being rendered.
        self.recipient: tuple[int | None, int | None] = (None, None)
        self._pool: list[str] = []
        self._pending: list[tuple[Any, ...]] = []
        self._seen: dict[tuple[int | None, str], str] = {}

    def link(self, url: str) -> str:
        """Return the short URL for ``url`` and the current recipient (one code per pair)."""
        contact_id, variant_id = self.recipient
        key = (contact_id, url)
        code = self._seen.get(key)
        if code is None:
            target = check_url(str(url))
            code = self._code()
            self._seen[key] = code
            self._pending.append(
                (self.workspace_id, code, target, self.campaign_id, contact_id, variant_id)
            )
        return f"{self.base}/{code}"

    def hook(self, url: str, context: Mapping[str, Any]) -> str:
        """A :data:`clarion.messages.templates.LinkHook`: the recipient comes from the context
        (``contact.id``, or ``contact_id``, and ``variant_id``) when present."""
        contact = context.get("contact")
        if isinstance(contact, Mapping) and contact.get("id") is not None:
            self.recipient = (int(contact["id"]), context.get("variant_id"))
        elif "contact_id" in context:
            self.recipient = (context.get("contact_id"), context.get("variant_id"))
        return self.link(url)

    def _code(self) -> str:
        tries = 0
        while not self._pool:  # every candidate taken: draw again (astronomically rare)
            tries += 1
            if tries > 5:
                raise RuntimeError("could not draw an unused link code in 5 tries")
            self._refill(POOL)
        return self._pool.pop()

    def _refill(self, n: int) -> None:
        codes = set(new_codes(n))  # the module attribute, so tests can rig the draw
        codes.difference_update(self._seen.values())
        if not self.dry_run and codes:
            taken = self.conn.execute(
                sa.select(links.c.code).where(in_values(self.conn, links.c.code, sorted(codes)))
            ).scalars()
            codes.difference_update(taken)
        self._pool.extend(codes)

    @property
    def pending(self) -> int:
        """Return how many minted links wait for :meth:`flush`."""
        return len(self._pending)

    def flush(self, contact_ids: Iterable[int] | None = None) -> int:
        """Write the pending links (only those of ``contact_ids`` if given) in one INSERT.

        Links of recipients whose message was not written (excluded after rendering, e.g. by the
        budget cap) are dropped. Return how many were written.
        """
        rows = self._pending
        self._pending = []
        self._seen.clear()
        if self.dry_run:
            return 0
        if contact_ids is not None:
            keep = set(contact_ids)
            rows = [r for r in rows if r[4] in keep]
        if not rows:
            return 0
        created = db_time(self.conn, self.now)
        expires = db_time(self.conn, self.expires_at) if self.expires_at else None
        insert_rows(self.conn, "links", _LINK_COLUMNS, [(*r, created, expires) for r in rows])
        return len(rows)


def create_link(
    conn: sa.Connection,
    actor: Actor,
    url: str,
    *,
    campaign_id: int | None = None,
    contact_id: int | None = None,
    ttl_s: int | None = None,
) -> dict[str, Any]:
    """Create one tracked link (for a social post, an email, a test) and return it."""
    settings = get_tracking_settings(conn, actor.workspace_id)
    if ttl_s is not None:
        if ttl_s < 60:
            raise ValidationFailed("ttl_s must be at least 60 seconds", field="ttl_s", value=ttl_s)
        settings = TrackingSettings(
            settings.link_base_url,
            ttl_s,
            settings.click_window_s,
            settings.delivery_window_s,
            settings.goal_events,
        )
    minter = LinkMinter(conn, actor.workspace_id, campaign_id=campaign_id, settings=settings)
    minter.recipient = (contact_id, None)
    short = minter.link(url)
    minter.flush()
    code = short.rsplit("/", 1)[1]
    record(conn, actor, "link.create", "link", code, {"url": url, "campaign_id": campaign_id})
    return get_link(conn, actor.workspace_id, code)


def get_link(conn: sa.Connection, workspace_id: int, code: str) -> dict[str, Any]:
    """Return a link with its click counts (clicks, filtered previews, unique clickers)."""
    row = conn.execute(
        sa.select(links).where(links.c.code == code, links.c.workspace_id == workspace_id)
    ).first()
    if row is None:
        raise NotFound(f"no link {code!r}", field="code", value=code)
    counts = conn.execute(
        sa.select(
            sa.func.count().filter(link_clicks.c.filtered.is_(None)),
            sa.func.count().filter(link_clicks.c.filtered.is_not(None)),
        ).where(link_clicks.c.link_id == row.id)
    ).one()
    base = get_tracking_settings(conn, workspace_id).link_base_url.rstrip("/")
    return {
        "code": row.code,
        "short_url": f"{base}/{row.code}",
        "url": row.url,
        "campaign_id": row.campaign_id,
        "contact_id": row.contact_id,
        "variant_id": row.variant_id,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "clicks": int(counts[0]),
        "filtered": int(counts[1]),
    }
