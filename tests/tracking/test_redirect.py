"""The public redirect: GET and HEAD, every request recorded, previews and prefetches filtered."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.db.types import utcnow
from clarion.tracking.bots import classify
from clarion.tracking.links import LinkMinter
from clarion.tracking.tables import link_clicks, links


def mint(engine: Engine, actor: Actor, url: str, n: int = 1, **kw: Any) -> list[str]:
    with engine.begin() as conn:
        minter = LinkMinter(conn, actor.workspace_id, campaign_id=kw.get("campaign_id"))
        codes = []
        for i in range(n):
            minter.recipient = (kw.get("contact_id", 1000 + i), None)
            codes.append(minter.link(url).rsplit("/", 1)[1])
        minter.flush()
    return codes


def clicks(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(link_clicks).order_by(link_clicks.c.id)))


def test_get_redirects_and_records_the_click(
    engine: Engine, actor: Actor, api_client: httpx.Client
) -> None:
    # given a short link
    [code] = mint(engine, actor, "https://shop.example/sale", contact_id=42)
    # when a phone's browser opens it
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
    res = api_client.get(f"/l/{code}", headers={"user-agent": ua})
    # then it is redirected, uncached, and the click is already committed with its user agent
    assert res.status_code == 302
    assert res.headers["location"] == "https://shop.example/sale"
    assert "no-store" in res.headers["cache-control"]
    [click] = clicks(engine)
    assert (click.contact_id, click.method, click.user_agent, click.filtered) == (
        42,
        "GET",
        ua,
        None,
    )
    assert click.ip == "127.0.0.1"


@pytest.mark.parametrize(
    ("method", "headers", "reason"),
    [
        ("HEAD", {"user-agent": "curl/8"}, "head"),
        (
            "GET",
            {"user-agent": "facebookexternalhit/1.1 Facebot Twitterbot/1.0"},
            "bot:facebookexternalhit",
        ),
        ("GET", {"user-agent": "WhatsApp/2.23.20.0 A"}, "bot:whatsapp"),
        ("GET", {"user-agent": "TelegramBot (like TwitterBot)"}, "bot:telegrambot"),
        ("GET", {"user-agent": "Slackbot-LinkExpanding 1.0"}, "bot:slackbot"),
        ("GET", {"user-agent": "Mozilla/5.0 (compatible; Applebot/0.1)"}, "bot:applebot"),
        ("GET", {"user-agent": "Mozilla/5.0 SkypeUriPreview Preview/0.5"}, "bot:skype"),
        (
            "GET",
            {"user-agent": "Mozilla/5.0 Chrome/120", "sec-purpose": "prefetch;prerender"},
            "prefetch",
        ),
        ("GET", {"user-agent": "Mozilla/5.0 Firefox/120", "x-moz": "prefetch"}, "prefetch"),
    ],
)
def test_previews_and_prefetches_are_recorded_as_filtered(
    engine: Engine,
    actor: Actor,
    api_client: httpx.Client,
    method: str,
    headers: dict[str, str],
    reason: str,
) -> None:
    # given a short link
    [code] = mint(engine, actor, "https://shop.example/")
    # when a preview fetcher or a prefetch requests it
    res = api_client.request(method, f"/l/{code}", headers=headers)
    # then it still gets the redirect (the preview shows the page) but it is no click
    assert res.status_code == 302
    [click] = clicks(engine)
    assert click.filtered == reason


def test_unknown_malformed_and_expired_codes(
    engine: Engine, actor: Actor, api_client: httpx.Client
) -> None:
    # given a link that expired a minute ago
    [code] = mint(engine, actor, "https://shop.example/")
    with engine.begin() as conn:
        conn.execute(links.update().values(expires_at=utcnow() - timedelta(minutes=1)))
    # then it answers 410 Gone; an unknown code 404, a malformed one 404 without a lookup
    assert api_client.get(f"/l/{code}").status_code == 410
    assert api_client.get("/l/zzzzzzzz").status_code == 404
    assert api_client.get("/l/not-a-code").status_code == 404
    # and none of them is recorded as a click
    assert clicks(engine) == []


def test_concurrent_clicks_are_all_recorded_in_shared_transactions(
    engine: Engine, actor: Actor, api_client: httpx.Client
) -> None:
    # given 300 per-recipient links
    codes = mint(engine, actor, "https://shop.example/", n=300)
    base = str(api_client.base_url)

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=base, limits=limits) as client:
            res = await asyncio.gather(*(client.get(f"/l/{c}") for c in codes))
            return [r.status_code for r in res]

    # when they are all opened at once over 50 connections
    statuses = asyncio.run(burst())
    # then every request was redirected and every click is committed, once
    assert statuses == [302] * 300
    recorded = clicks(engine)
    assert len(recorded) == 300
    with engine.connect() as conn:
        by_code = dict(
            conn.execute(sa.select(links.c.id, links.c.code).where(links.c.code.in_(codes))).all()
        )
    assert sorted(by_code[c.link_id] for c in recorded) == sorted(codes)


def test_a_person_is_not_filtered() -> None:
    ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile"
    assert classify("GET", ua, {}) is None
    assert classify("GET", None, {}) is None


def test_a_clean_shutdown_loses_no_answered_click(engine: Engine, actor: Actor) -> None:
    import contextlib
    import socket
    import threading

    import uvicorn

    from clarion.api.app import create_app

    # given a server with lifespan handling, and 200 links
    codes = mint(engine, actor, "https://shop.example/", n=200)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine), log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    async def burst() -> dict[str, int]:
        got: dict[str, int] = {}
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as c:

            async def one(code: str) -> None:
                # refused or cut by the shutdown: not answered, so nothing was promised
                with contextlib.suppress(httpx.HTTPError):
                    got[code] = (await c.get(f"/l/{code}")).status_code

            tasks = [asyncio.create_task(one(code)) for code in codes]
            while len(got) < 50:  # when a quarter has been answered, shut the server down
                await asyncio.sleep(0.005)
            server.should_exit = True
            await asyncio.gather(*tasks)
        return got

    # when the server is stopped cleanly in the middle of a burst
    answered = asyncio.run(burst())
    thread.join(timeout=30)
    sock.close()
    # then every click that got its redirect is in the database
    redirected = {code for code, status in answered.items() if status == 302}
    with engine.connect() as conn:
        stored = set(
            conn.execute(
                sa.select(links.c.code).join(link_clicks, link_clicks.c.link_id == links.c.id)
            ).scalars()
        )
    assert len(redirected) >= 50
    assert redirected <= stored
