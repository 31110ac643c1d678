"""Variant and holdout assignment by a stable hash.

The same contact always lands in the same group of the same campaign, on every run and every
machine, without storing anything before the plan: BLAKE2b of ``campaign_id:contact_id``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

BUCKETS = 10_000


def bucket(campaign_id: int, contact_id: int) -> int:
    """Return the contact's stable bucket 0..9999 for this campaign (same on every run)."""
    digest = hashlib.blake2b(f"{campaign_id}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def assign(b: int, holdout_bp: int, splits: Sequence[tuple[int, int]]) -> int | None:
    """Return the variant id for bucket ``b``, or None for the holdout group.

    The first ``holdout_bp`` buckets are the holdout; the rest are shared by the variants in
    proportion to their splits (basis points of the non-holdout audience).
    """
    if b < holdout_bp:
        return None
    pos = (b - holdout_bp) * BUCKETS // (BUCKETS - holdout_bp)
    acc = 0
    for variant_id, split_bp in splits:
        acc += split_bp
        if pos < acc:
            return variant_id
    return splits[-1][0]
