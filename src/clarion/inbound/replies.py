"""Automatic replies to keywords, per language and jurisdiction, sent on the transactional lane.

What each reply must say comes from the rules (``/work/shared/reference/SMS-RULES.md``): the
CTIA HELP reply names the brand, a support contact, "Msg & data rates may apply", the frequency
and how to stop; the FCC allows one confirmation of an opt-out; Chinese platforms put the
signature in 【】 first and say "回T退订". The jurisdiction decides the signature style and the
stop word; the language (of the keyword, else the contact's locale, else English) decides the
wording. A workspace overrides any text through the ``texts`` setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from clarion.audit.service import Actor

#: Reply kinds: opt_out (confirmation), opt_in (re-subscribed), help, confirm_request (double
#: opt-in), welcome (confirmed), already (already subscribed).
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "opt_out": "{brand}: You are unsubscribed and will get no more {what}. "
        "Reply {start} to subscribe again.",
        "opt_in": "{brand}: You are subscribed again. {frequency}{rates} "
        "Reply {help} for help, {stop} to stop.",
        "help": "{brand}: Help: {support}. {frequency}{rates} Reply {stop} to stop.",
        "confirm_request": "{brand}: Reply {yes} to confirm you want {what}. "
        "{frequency}{rates} Reply {stop} to stop.",
        "welcome": "{brand}: Thanks, you are subscribed. {frequency}{rates} "
        "Reply {help} for help, {stop} to stop.",
        "already": "{brand}: You are already subscribed. Reply {stop} to stop.",
        "what_marketing": "marketing texts",
        "what_all": "texts",
        "frequency": "Msg frequency varies.",
        "rates": " Msg & data rates may apply.",
        "support_none": "contact us",
    },
    "zh": {
        "opt_out": "{brand}您已退订，将不再收到{what}。回复{start}可重新订阅。",
        "opt_in": "{brand}您已重新订阅。{frequency}{rates}回复{help}获取帮助，回{stop}退订。",
        "help": "{brand}客服：{support}。{frequency}{rates}回{stop}退订。",
        "confirm_request": "{brand}请回复{yes}确认订阅{what}。{frequency}{rates}回{stop}退订。",
        "welcome": "{brand}感谢订阅。{frequency}{rates}回复{help}获取帮助，回{stop}退订。",
        "already": "{brand}您已订阅。回{stop}退订。",
        "what_marketing": "营销短信",
        "what_all": "任何短信",
        "frequency": "发送频率不定。",
        "rates": "资费按运营商标准收取。",
        "support_none": "请联系我们",
    },
    "fr": {
        "opt_out": "{brand} : Vous êtes désinscrit et ne recevrez plus de {what}. "
        "Répondez {start} pour vous réinscrire.",
        "opt_in": "{brand} : Vous êtes de nouveau inscrit. {frequency}{rates} "
        "Répondez {help} pour de l'aide, {stop} pour arrêter.",
        "help": "{brand} : Aide : {support}. {frequency}{rates} Répondez {stop} pour arrêter.",
        "confirm_request": "{brand} : Répondez {yes} pour confirmer l'envoi de {what}. "
        "{frequency}{rates} Répondez {stop} pour arrêter.",
        "welcome": "{brand} : Merci, vous êtes inscrit. {frequency}{rates} "
        "Répondez {help} pour de l'aide, {stop} pour arrêter.",
        "already": "{brand} : Vous êtes déjà inscrit. Répondez {stop} pour arrêter.",
        "what_marketing": "SMS promotionnels",
        "what_all": "SMS",
        "frequency": "Fréquence variable.",
        "rates": " Des frais de messagerie peuvent s'appliquer.",
        "support_none": "contactez-nous",
    },
    "es": {
        "opt_out": "{brand}: Te has dado de baja y no recibirás más {what}. "
        "Responde {start} para volver a suscribirte.",
        "opt_in": "{brand}: Te has suscrito de nuevo. {frequency}{rates} "
        "Responde {help} para ayuda, {stop} para cancelar.",
        "help": "{brand}: Ayuda: {support}. {frequency}{rates} Responde {stop} para cancelar.",
        "confirm_request": "{brand}: Responde {yes} para confirmar que quieres {what}. "
        "{frequency}{rates} Responde {stop} para cancelar.",
        "welcome": "{brand}: Gracias, ya estás suscrito. {frequency}{rates} "
        "Responde {help} para ayuda, {stop} para cancelar.",
        "already": "{brand}: Ya estás suscrito. Responde {stop} para cancelar.",
        "what_marketing": "mensajes promocionales",
        "what_all": "mensajes",
        "frequency": "La frecuencia varía.",
        "rates": " Pueden aplicarse tarifas de mensajes y datos.",
        "support_none": "contáctanos",
    },
    "de": {
        "opt_out": "{brand}: Sie sind abgemeldet und erhalten keine {what} mehr. "
        "Antworten Sie {start}, um sich wieder anzumelden.",
        "opt_in": "{brand}: Sie sind wieder angemeldet. {frequency}{rates} "
        "Antworten Sie {help} für Hilfe, {stop} zum Abmelden.",
        "help": "{brand}: Hilfe: {support}. {frequency}{rates} Antworten Sie {stop} zum Abmelden.",
        "confirm_request": "{brand}: Antworten Sie {yes}, um {what} zu bestätigen. "
        "{frequency}{rates} Antworten Sie {stop} zum Abmelden.",
        "welcome": "{brand}: Danke, Sie sind angemeldet. {frequency}{rates} "
        "Antworten Sie {help} für Hilfe, {stop} zum Abmelden.",
        "already": "{brand}: Sie sind bereits angemeldet. Antworten Sie {stop} zum Abmelden.",
        "what_marketing": "Werbe-SMS",
        "what_all": "SMS",
        "frequency": "Die Häufigkeit variiert.",
        "rates": " Es können Gebühren für SMS und Daten anfallen.",
        "support_none": "kontaktieren Sie uns",
    },
}
#: The words a reply tells the person to send, per language.
WORDS: dict[str, dict[str, str]] = {
    "en": {"stop": "STOP", "start": "START", "help": "HELP", "yes": "YES"},
    "zh": {"stop": "T", "start": "订阅", "help": "帮助", "yes": "是"},
    "fr": {"stop": "STOP", "start": "OUI", "help": "AIDE", "yes": "OUI"},
    "es": {"stop": "BAJA", "start": "ALTA", "help": "AYUDA", "yes": "SI"},
    "de": {"stop": "STOPP", "start": "START", "help": "HILFE", "yes": "JA"},
}
#: Jurisdictions whose carriers recognise only English keywords: the stop word stays STOP.
_ENGLISH_STOP = frozenset({"US", "CA"})


def language_of(preferred: str | None, locale: str | None) -> str:
    """Return the reply language: the keyword's, else the contact's locale, else English."""
    for candidate in (preferred, (locale or "").split("-")[0].split("_")[0].lower()):
        if candidate and candidate in TEXTS:
            return candidate
    return "en"


def render(
    kind: str,
    language: str,
    jurisdiction: str,
    *,
    brand: str,
    settings: Mapping[str, Any],
    purpose: str = "marketing",
    all_purposes: bool = False,
) -> str:
    """Return reply ``kind`` in ``language`` as ``jurisdiction`` wants it signed and worded."""
    lang = language if language in TEXTS else "en"
    base = TEXTS[lang]
    own = (settings.get("texts") or {}).get(lang, {})
    template = own.get(kind) or base[kind]
    words = dict(WORDS[lang])
    if jurisdiction.split("-")[0] in _ENGLISH_STOP:
        words["stop"] = "STOP"
    freq = settings.get("frequency")
    if isinstance(freq, dict):
        freq = freq.get(lang) or freq.get("en")
    frequency = str(freq).rstrip(".") + ("。" if lang == "zh" else ".") if freq else ""
    # China: the signature goes first in 【】; elsewhere "Brand:".
    signed = f"【{brand}】" if jurisdiction == "CN" or lang == "zh" else brand
    what = base["what_all"] if all_purposes else base["what_marketing"]
    if purpose == "transactional" and not all_purposes:
        what = base["what_all"]
    text = template.format(
        brand=signed,
        support=settings.get("support") or base["support_none"],
        frequency=frequency or base["frequency"],
        rates=base["rates"],
        what=what,
        **words,
    )
    return " ".join(text.split()) if lang != "zh" else text.replace(" ", "")


def send_reply(
    conn: sa.Connection,
    actor: Actor,
    *,
    contact_id: int | None,
    to: str,
    sender: str | None,
    text: str,
    source: str = "inbound",
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Queue ``text`` to ``to`` as a transactional message; return the outcome for the record.

    A refusal by the sending service (for example a number on the global block list) is
    returned, not raised: the person's request has been honoured whether or not the
    confirmation can go.
    """
    from clarion.errors import ClarionError
    from clarion.sending.service import SendRequest, send_message

    req = SendRequest(
        channel="sms",
        contact_id=contact_id,
        to=None if contact_id is not None else to,
        text=text,
        kind="transactional",
        sender=sender,
        source=source,
        metadata=dict(metadata or {}),
    )
    try:
        with conn.begin_nested():  # a refusal leaves nothing half-written
            sent = send_message(conn, actor, req)
    except ClarionError as exc:
        return {"sent": False, "error": exc.code, "detail": str(exc), "text": text}
    return {"sent": True, "message_id": sent.get("id"), "status": sent.get("status"), "text": text}
