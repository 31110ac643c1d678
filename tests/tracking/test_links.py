"""Short links: codes, bulk minting by the planner, collision handling, the link API."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.planner import estimate, plan_campaign
from clarion.delivery.tables import messages
from clarion.errors import ValidationFailed
from clarion.tracking import links as links_mod
from clarion.tracking.links import CODE_RE, LinkMinter, new_codes
from clarion.tracking.settings import TrackingSettingsUpdate, update_tracking_settings
from clarion.tracking.tables import links

BODY = 'Acme: 20% off: {{ link("https://shop.example/sale?x=1") }} STOP=opt out'


def test_codes_are_base62_with_at_least_40_bits_and_distinct() -> None:
    # given a large batch of codes
    codes = new_codes(50_000)
    # then each is 8 base62 characters (62**8 > 2**47) and they do not repeat
    assert all(CODE_RE.fullmatch(c) for c in codes)
    assert math.log2(62**8) > 40
    assert len(set(codes)) == len(codes)
    # and every character of the alphabet turns up (no constant position)
    assert set("".join(codes)) == set(links_mod.ALPHABET)


def test_plan_mints_one_link_per_recipient_in_bulk(engine: Engine, actor: Actor, make: Any) -> None:
    # given three consenting contacts and a campaign whose body calls link(url)
    ids = make.contacts(["+12025550101", "+12025550102", "+12025550103"])
    make.route("main")
    cid = make.campaign(variants=[{"name": "A", "body": BODY}])
    with engine.begin() as conn:
        update_tracking_settings(
            conn, actor, TrackingSettingsUpdate(link_base_url="https://go.acme.test/l/")
        )
    # when the campaign is planned
    plan_campaign(engine, actor, cid, chunk_size=2)
    # then every message carries its own short link on the configured domain
    with engine.connect() as conn:
        bodies = dict(
            conn.execute(
                sa.select(messages.c.contact_id, messages.c.body).where(
                    messages.c.campaign_id == cid
                )
            ).all()
        )
        rows = {
            r.contact_id: r
            for r in conn.execute(sa.select(links).where(links.c.campaign_id == cid))
        }
    assert sorted(rows) == ids
    for contact_id, body in bodies.items():
        link = rows[contact_id]
        assert f"https://go.acme.test/l/{link.code} " in body
        assert link.url == "https://shop.example/sale?x=1"
        assert link.expires_at is not None and link.variant_id is not None
    assert len({r.code for r in rows.values()}) == 3


def test_estimate_mints_nothing(engine: Engine, actor: Actor, make: Any) -> None:
    # given a campaign with a tracked link
    make.contacts(["+12025550101"])
    make.route("main")
    cid = make.campaign(variants=[{"name": "A", "body": BODY}])
    # when it is estimated
    with engine.connect() as conn:
        report = estimate(conn, actor.workspace_id, cid)
    # then the estimate counts the message with its link, and no link is stored
    assert report.planned == 1
    assert make.count(links) == 0


def test_a_code_already_taken_is_never_handed_out(
    engine: Engine, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an existing link and a random source that first offers that same code
    with engine.begin() as conn:
        first = LinkMinter(conn, actor.workspace_id)
        taken = first.link("https://a.example/").rsplit("/", 1)[1]
        first.flush()
    real = links_mod.new_codes
    calls: list[int] = []

    def rigged(n: int) -> list[str]:
        calls.append(n)
        return [taken] if len(calls) == 1 else real(n)

    monkeypatch.setattr(links_mod, "new_codes", rigged)
    # when another link is minted
    with engine.begin() as conn:
        second = LinkMinter(conn, actor.workspace_id)
        code = second.link("https://b.example/").rsplit("/", 1)[1]
        second.flush()
    # then the colliding candidate was discarded and a fresh code used
    assert code != taken and len(calls) == 2
    assert make_count(engine) == 2


def make_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(links)).scalar_one())


def test_a_link_to_a_non_http_url_is_refused(engine: Engine, actor: Actor) -> None:
    # given a minter; when asked for a javascript: link; then the URL is refused by field
    with engine.begin() as conn:
        minter = LinkMinter(conn, actor.workspace_id)
        with pytest.raises(ValidationFailed) as err:
            minter.link("javascript:alert(1)")
    assert err.value.fields["field"] == "url"


def test_same_url_twice_for_one_recipient_shares_a_code(engine: Engine, actor: Actor) -> None:
    # given a minter rendering one recipient with the same link twice and another recipient
    with engine.begin() as conn:
        minter = LinkMinter(conn, actor.workspace_id, campaign_id=None)
        minter.recipient = (None, None)
        a1 = minter.link("https://x.example/")
        a2 = minter.link("https://x.example/")
        minter.recipient = (7, None)
        b = minter.link("https://x.example/")
        written = minter.flush()
    # then the first recipient's two calls give one link, the second recipient another
    assert a1 == a2 != b and written == 2


def test_link_api_creates_and_reports_a_link(
    api_client: httpx.Client, token: Callable[[list[str]], str]
) -> None:
    # given a key that may write campaigns
    auth = {"authorization": f"Bearer {token(['campaigns:write', 'campaigns:read'])}"}
    # when a link is created through the API
    res = api_client.post("/v1/links", json={"url": "https://shop.example/p/1"}, headers=auth)
    # then it answers with the short URL, and reading it back shows no clicks yet
    assert res.status_code == 201, res.text
    body = res.json()
    assert CODE_RE.fullmatch(body["code"]) and body["short_url"].endswith(body["code"])
    got = api_client.get(f"/v1/links/{body['code']}", headers=auth).json()
    assert (got["url"], got["clicks"], got["filtered"]) == ("https://shop.example/p/1", 0, 0)
    # and a bad URL is refused naming the field
    bad = api_client.post("/v1/links", json={"url": "ftp://files.example/x"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["fields"]["field"] == "url"


def test_settings_refuse_a_base_url_with_a_query(engine: Engine, actor: Actor) -> None:
    with engine.begin() as conn, pytest.raises(ValidationFailed) as err:
        update_tracking_settings(
            conn, actor, TrackingSettingsUpdate(link_base_url="https://go.example/l?x=1")
        )
    assert err.value.fields["field"] == "link_base_url"


def test_the_template_link_hook_mints_for_the_contact_in_the_context(
    engine: Engine, actor: Actor
) -> None:
    from clarion.messages.templates import compile_template, set_link_hook

    # given a minter installed as the templates' link hook
    with engine.begin() as conn:
        minter = LinkMinter(conn, actor.workspace_id)
        set_link_hook(minter.hook)
        try:
            # when a template calling link() renders for contact 5
            tpl = compile_template('Go {{ link("https://shop.example/") }}')
            text = tpl.render({"contact": {"id": 5}})
        finally:
            set_link_hook(None)
        minter.flush()
        row = conn.execute(sa.select(links)).one()
    # then the text carries the short link, stored for that contact
    assert text == f"Go {minter.base}/{row.code}" and row.contact_id == 5


def test_the_installation_default_link_domain_comes_from_the_settings(
    engine: Engine, actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clarion.config import get_settings
    from clarion.tracking.settings import get_tracking_settings

    # given CLARION_LINK_BASE_URL and a workspace without tracking settings of its own
    monkeypatch.setenv("CLARION_LINK_BASE_URL", "https://go.brand.test/x/")
    get_settings.cache_clear()
    try:
        with engine.begin() as conn:
            base = get_tracking_settings(conn, actor.workspace_id).link_base_url
            short = LinkMinter(conn, actor.workspace_id).link("https://shop.example/")
    finally:
        get_settings.cache_clear()
    # then links use it
    assert base == "https://go.brand.test/x" and short.startswith("https://go.brand.test/x/")
