"""Cross-promotion between SMS and social platforms.

- **SMS -> social**: a campaign whose goal is a social action (follow, comment, share...) lists
  the matching ``social_*`` events as its goal events. Its text carries a tracked link (the
  ``link()`` template helper makes a per-recipient short link to the profile or post); when the
  contact who clicked does the action and the ingest job turns it into an event on that contact
  (known handle, or linked with a code), :func:`clarion.tracking.attribution.attribute` credits
  the message: last click within the click window, else delivery within the delivery window.
- **social -> SMS**: a post invites followers to text a JOIN-type keyword (``clarion.inbound``)
  to a number; :func:`join_call` writes that invitation, refusing a keyword that does not start
  a sign-up, and the texts go through the keyword's double opt-in as any other JOIN.
- **the engagement report** (:func:`engagement`): per campaign, the social actions attributed
  to its messages (by platform and kind), the sentiment of comments on them or on the
  campaign's own posts, and the sign-ups its JOIN keyword brought.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor
from clarion.errors import NotFound, ValidationFailed
from clarion.social.ingest import event_name

#: Social actions a campaign can ask for, each the event the ingest job writes for it.
ACTIONS = ("follow", "comment", "share", "mention", "reply", "like")
_CALL = {
    "en": "Text {keyword} to {number} to join our SMS list.",
    "zh": "发送 {keyword} 到 {number} 订阅短信优惠。",
    "fr": "Envoyez {keyword} au {number} pour recevoir nos SMS.",
    "es": "Envía {keyword} al {number} para recibir nuestros SMS.",
    "de": "Sende {keyword} an {number}, um unsere SMS zu erhalten.",
}


def goal_events(actions: Sequence[str]) -> list[str]:
    """Return the event names of social ``actions``; raise naming an unknown one."""
    out = []
    for i, a in enumerate(actions):
        if a not in ACTIONS:
            raise ValidationFailed(
                f"a social goal is one of {', '.join(ACTIONS)}", field=f"actions[{i}]", value=a
            )
        out.append(event_name(a))
    if not out:
        raise ValidationFailed("name at least one social action", field="actions", value=[])
    return out


def set_social_goal(
    conn: sa.Connection,
    actor: Actor,
    campaign_id: int,
    actions: Sequence[str],
    *,
    click_window_s: int | None = None,
) -> dict[str, Any]:
    """Make social ``actions`` goals of campaign ``campaign_id`` (its other goals are kept)."""
    from clarion.tracking.settings import AttributionUpdate, campaign_rules, set_campaign_rules
    from clarion.tracking.tables import campaign_attribution

    names = goal_events(actions)
    current = conn.execute(
        sa.select(campaign_attribution).where(campaign_attribution.c.campaign_id == campaign_id)
    ).first()
    rules = campaign_rules(conn, actor.workspace_id, campaign_id)
    kept = [g for g in rules.goal_events if not g.startswith("social_")]
    update = AttributionUpdate(
        click_window_s=click_window_s
        if click_window_s is not None
        else (current.click_window_s if current is not None else None),
        delivery_window_s=current.delivery_window_s if current is not None else None,
        goal_events=kept + names,
    )
    return set_campaign_rules(conn, actor, campaign_id, update).to_dict()


def join_call(
    conn: sa.Connection, workspace_id: int, keyword: str, number: str, language: str = "en"
) -> str:
    """Return "Text JOIN to 12345 ..." for a post; the keyword must be a JOIN keyword."""
    from clarion.inbound import keywords as kw
    from clarion.inbound.tables import inbound_keywords as k

    word = kw.normalise(keyword)
    row = conn.execute(
        sa.select(k.c.keyword, k.c.action).where(
            k.c.workspace_id == workspace_id, k.c.keyword == word
        )
    ).first()
    if row is None:
        raise NotFound(f"no keyword {keyword!r} in this workspace", field="keyword", value=keyword)
    if row.action != "join":
        raise ValidationFailed(
            f"keyword {keyword!r} does {row.action}; a post can only invite a JOIN keyword",
            field="keyword",
            value=keyword,
        )
    digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
    if not 3 <= len(digits.lstrip("+")) <= 15:
        raise ValidationFailed("a short code or a phone number", field="number", value=number)
    template = _CALL.get(language.split("-")[0].lower(), _CALL["en"])
    return template.format(keyword=row.keyword.upper(), number=digits)


def join_post_text(
    conn: sa.Connection,
    workspace_id: int,
    text: str,
    keyword: str,
    number: str,
    language: str = "en",
) -> str:
    """Return a post's ``text`` followed by the invitation to text ``keyword`` to ``number``."""
    return f"{text.rstrip()} {join_call(conn, workspace_id, keyword, number, language)}".strip()


def engagement(conn: sa.Connection, workspace_id: int, campaign_id: int) -> dict[str, Any]:
    """Return a campaign's social engagement: attributed actions, comment sentiment, sign-ups."""
    from clarion.events.tables import events
    from clarion.inbound.tables import optin_requests as o
    from clarion.social.tables import social_feedback as f
    from clarion.social.tables import social_posts as p
    from clarion.tracking.tables import conversions as cv

    ev_platform = sa.func.coalesce(
        events.c.properties["platform"].as_string(), sa.literal("unknown")
    )
    actions = conn.execute(
        sa.select(ev_platform.label("platform"), events.c.name, sa.func.count().label("n"))
        .select_from(
            cv.join(events, sa.and_(cv.c.source == "event", events.c.id == cv.c.source_id))
        )
        .where(
            cv.c.workspace_id == workspace_id,
            cv.c.campaign_id == campaign_id,
            events.c.name.like("social\\_%", escape="\\"),
        )
        .group_by(ev_platform, events.c.name)
        .order_by(ev_platform, events.c.name)
    ).all()
    # comments attributed to the campaign's messages, or written on its own posts
    attributed = (
        sa.select(events.c.message_id)
        .select_from(
            cv.join(events, sa.and_(cv.c.source == "event", events.c.id == cv.c.source_id))
        )
        .where(cv.c.workspace_id == workspace_id, cv.c.campaign_id == campaign_id)
    )
    on_posts = sa.select(p.c.platform_post_id).where(
        p.c.workspace_id == workspace_id,
        p.c.campaign_id == campaign_id,
        p.c.platform_post_id.is_not(None),
    )
    key = sa.literal("social:").concat(sa.cast(f.c.activity_row_id, sa.String))
    sentiment = conn.execute(
        sa.select(f.c.sentiment, sa.func.count().label("n"), sa.func.avg(f.c.sentiment_score))
        .where(
            f.c.workspace_id == workspace_id,
            sa.or_(key.in_(attributed), f.c.post_id.in_(on_posts)),
        )
        .group_by(f.c.sentiment)
    ).all()
    signups = conn.execute(
        sa.select(o.c.status, sa.func.count().label("n"))
        .where(o.c.workspace_id == workspace_id, o.c.campaign_id == campaign_id)
        .group_by(o.c.status)
    ).all()
    by_sentiment = {r.sentiment: int(r.n) for r in sentiment}
    comments = sum(by_sentiment.values())
    avg = sum(float(r[2]) * int(r.n) for r in sentiment) / comments if comments else None
    return {
        "campaign_id": campaign_id,
        "actions": [
            {"platform": r.platform, "kind": r.name.removeprefix("social_"), "count": int(r.n)}
            for r in actions
        ],
        "actions_total": sum(int(r.n) for r in actions),
        "comments": {
            "total": comments,
            "positive": by_sentiment.get("positive", 0),
            "neutral": by_sentiment.get("neutral", 0),
            "negative": by_sentiment.get("negative", 0),
            "average_score": None if avg is None else round(avg, 3),
        },
        "signups": {r.status: int(r.n) for r in signups},
    }
