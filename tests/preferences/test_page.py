"""The preference page over real HTTP: a signed link, the form as a browser would post it."""

from __future__ import annotations

import importlib.util
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor
from clarion.campaigns.control import launch
from clarion.campaigns.tables import campaign_exclusions
from clarion.consent.service import consent_history, current_consent
from clarion.contacts.tables import contacts
from clarion.delivery.tables import messages
from clarion.preferences import links
from clarion.workspaces.service import create_api_key

_spec = importlib.util.spec_from_file_location(
    "campaign_factories_prefs", Path(__file__).parent.parent / "campaigns" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
factories = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factories)
BODY = [{"name": "A", "body": "Acme: new spring styles are in. Reply STOP to opt out"}]


class Form(HTMLParser):
    """The page's form as a browser sees it: hidden fields, checkboxes and their state."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.action = ""
        self.hidden: dict[str, str] = {}
        self.boxes: dict[str, bool] = {}
        self.buttons: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"] or ""] = a.get("value") or ""
        elif tag == "input" and a.get("type") == "checkbox":
            self.boxes[a.get("value") or ""] = "checked" in a
        elif tag == "button":
            self.buttons.append(a.get("value") or "")

    def submit(self, button: str, ticked: dict[str, bool] | None = None) -> dict[str, Any]:
        """Return the request a browser makes for ``button`` with the boxes as ``ticked``."""
        state = {**self.boxes, **(ticked or {})}
        fields = list(self.hidden.items()) + [("sub", k) for k, on in state.items() if on]
        return {
            "content": urlencode([*fields, ("action", button)]).encode(),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        }


@pytest.fixture
def make(engine: Engine, actor: Actor) -> Any:
    return factories.Factory(engine, actor)


def _link(engine: Engine, actor: Actor, client: httpx.Client, contact_id: int) -> str:
    with engine.begin() as conn:
        key = create_api_key(conn, actor, "prefs", ["contacts:read"])[1]
    got = client.get(
        f"/v1/contacts/{contact_id}/preference-link", headers={"Authorization": f"Bearer {key}"}
    )
    assert got.status_code == 200, got.text
    return str(urlsplit(got.json()["url"]).path)


def test_unticking_marketing_texts_opts_out_cancels_queued_ones_and_the_next_campaign_excludes(
    engine: Engine, actor: Actor, make: Any, api_client: httpx.Client
) -> None:
    # given a contact subscribed to marketing texts, with an email too, and a queued campaign
    (cid,) = make.contacts(["+12025550123"])
    with engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.id == cid).values(email="ann@example.com"))
    make.route("sim")
    queued = make.campaign(name="queued", variants=BODY)
    launch(engine, actor, queued)
    path = _link(engine, actor, api_client, cid)
    # when the person opens the link
    page = api_client.get(path)
    assert page.status_code == 200
    form = Form(page.text)
    # then the page shows each channel and purpose, marketing texts ticked, addresses masked
    assert form.boxes == {
        "sms:marketing": True,
        "sms:transactional": True,
        "email:marketing": False,
        "email:transactional": True,
    }
    assert "+12***23" in page.text and "+12025550123" not in page.text
    assert form.action == path and set(form.buttons) == {"save", "leave"}
    # when they untick marketing texts and save
    posted = api_client.post(form.action, **form.submit("save", {"sms:marketing": False}))
    # then they are sent back to the page, which says it is saved and shows the new state
    assert posted.status_code == 303 and posted.headers["location"].endswith("?saved=1")
    again = api_client.get(posted.headers["location"])
    assert "preferences are saved" in again.text
    assert Form(again.text).boxes["sms:marketing"] is False
    # and the ledger holds the change with the page as its source
    with engine.connect() as conn:
        history = consent_history(conn, actor.workspace_id, cid)
        status = conn.execute(
            sa.select(messages.c.status).where(messages.c.campaign_id == queued)
        ).scalar()
    last = history[-1]
    assert (last["channel"], last["purpose"], last["status"], last["source"]) == (
        "sms",
        "marketing",
        "opted_out",
        "preference_page",
    )
    assert "unticked sms/marketing" in last["proof"]
    assert len(history) == 2  # nothing recorded for the rows left as they were
    # and the queued marketing message was cancelled at once
    assert status == "cancelled"
    # and the next campaign excludes the contact as opted out
    nxt = make.campaign(name="next", variants=BODY)
    launch(engine, actor, nxt)
    with engine.connect() as conn:
        reasons = conn.execute(
            sa.select(campaign_exclusions.c.reason).where(campaign_exclusions.c.campaign_id == nxt)
        ).scalars()
        assert list(reasons) == ["opted_out"]


def test_leave_everything_opts_out_of_every_channel_and_purpose(
    engine: Engine, actor: Actor, make: Any, api_client: httpx.Client
) -> None:
    (cid,) = make.contacts(["+12025550124"])
    with engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.id == cid).values(email="bo@example.com"))
    path = _link(engine, actor, api_client, cid)
    form = Form(api_client.get(path).text)
    # when the person presses "unsubscribe from everything"
    posted = api_client.post(path, **form.submit("leave"))
    assert posted.status_code == 303
    # then every row is opted out
    with engine.connect() as conn:
        state = current_consent(conn, actor.workspace_id, cid)
    assert {(s["channel"], s["purpose"], s["status"]) for s in state} == {
        ("sms", "marketing", "opted_out"),
        ("sms", "transactional", "opted_out"),
        ("email", "marketing", "opted_out"),
        ("email", "transactional", "opted_out"),
    }
    assert Form(api_client.get(path).text).boxes == dict.fromkeys(form.boxes, False)


def test_a_forged_form_or_a_tampered_link_changes_nothing(
    engine: Engine, actor: Actor, make: Any, api_client: httpx.Client
) -> None:
    (cid,) = make.contacts(["+12025550125"])
    path = _link(engine, actor, api_client, cid)
    # when a form is posted without the page's form token (another site's form)
    forged = api_client.post(path, data={"action": "leave"})
    # then it is refused with a readable page and nothing is recorded
    assert forged.status_code == 400 and "reload it" in forged.text
    # when the link is tampered with (another contact's id, same signature)
    ws, _, sig = path.rsplit("/", 1)[1].split(".")
    other = f"/v1/preferences/{ws}.{cid + 1}.{sig}"
    assert api_client.get(other).status_code == 404
    assert api_client.post(other, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert api_client.get("/v1/preferences/not-a-token").status_code == 404
    with engine.connect() as conn:
        assert len(consent_history(conn, actor.workspace_id, cid)) == 1


def test_one_click_list_unsubscribe_opts_out_of_marketing_email(
    engine: Engine, actor: Actor, make: Any, api_client: httpx.Client
) -> None:
    # given a contact with an email address and the link a mail client found in the header
    (cid,) = make.contacts([None], consent=None)
    with engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.id == cid).values(email="cy@example.com"))
        url = links.preference_url(conn, actor.workspace_id, cid)
    # when the mail client posts RFC 8058's one-click body
    got = api_client.post(
        urlsplit(url).path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    # then marketing email is opted out, with the one-click as proof
    assert got.status_code == 200
    with engine.connect() as conn:
        state = current_consent(conn, actor.workspace_id, cid)
    assert [(s["channel"], s["purpose"], s["status"]) for s in state] == [
        ("email", "marketing", "opted_out")
    ]
    assert "One-Click" in state[0]["proof"]


def test_a_form_token_expires_and_is_bound_to_its_page() -> None:
    key = b"k" * 32
    value = links.form_token(key, "1.2.sig", now=1_000_000)
    links.check_form_token(key, "1.2.sig", value, now=1_000_000 + 60)
    with pytest.raises(Exception, match="expired"):
        links.check_form_token(key, "1.2.sig", value, now=1_000_000 + links.FORM_TTL_S + 1)
    with pytest.raises(Exception, match="expired"):
        links.check_form_token(key, "1.3.sig", value, now=1_000_000 + 60)


def test_the_page_speaks_the_contacts_language(
    engine: Engine, actor: Actor, make: Any, api_client: httpx.Client
) -> None:
    # given a contact whose locale is Chinese
    (cid,) = make.contacts(["+8613800138002"], region="CN")
    with engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.id == cid).values(locale="zh-CN"))
        path = urlsplit(links.preference_url(conn, actor.workspace_id, cid)).path
    # when they open their link
    page = api_client.get(path)
    # then the page is in Chinese, and the form still works the same way
    assert '<html lang="zh">' in page.text and "全部退订" in page.text
    assert "短信优惠与资讯" in page.text
    posted = api_client.post(path, **Form(page.text).submit("leave"))
    assert posted.status_code == 303
    assert "您的设置已保存" in api_client.get(posted.headers["location"]).text
