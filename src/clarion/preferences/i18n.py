"""The preference page's words in the languages Clarion replies in (en, zh, fr, es, de).

The page speaks the contact's language (their ``locale``), falling back to English.
"""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "your message preferences",
        "sms": "Text messages",
        "email": "Email",
        "sms:marketing": "Offers and news by text message",
        "sms:transactional": "Order and account updates by text message",
        "email:marketing": "Offers and news by email",
        "email:transactional": "Order and account updates by email",
        "save": "Save my choices",
        "leave": "Unsubscribe from everything",
        "saved": "Your preferences are saved.",
        "nothing": "We have no address for you on file: there is nothing to unsubscribe from.",
    },
    "zh": {
        "title": "消息订阅设置",
        "sms": "短信",
        "email": "电子邮件",
        "sms:marketing": "短信优惠与资讯",
        "sms:transactional": "短信订单与账户通知",
        "email:marketing": "邮件优惠与资讯",
        "email:transactional": "邮件订单与账户通知",
        "save": "保存设置",
        "leave": "全部退订",
        "saved": "您的设置已保存。",
        "nothing": "我们没有您的联系方式，无需退订。",
    },
    "fr": {
        "title": "vos préférences de messages",
        "sms": "SMS",
        "email": "E-mail",
        "sms:marketing": "Offres et actualités par SMS",
        "sms:transactional": "Suivi de commande et de compte par SMS",
        "email:marketing": "Offres et actualités par e-mail",
        "email:transactional": "Suivi de commande et de compte par e-mail",
        "save": "Enregistrer mes choix",
        "leave": "Me désinscrire de tout",
        "saved": "Vos préférences sont enregistrées.",
        "nothing": "Nous n'avons aucune adresse pour vous : rien à désinscrire.",
    },
    "es": {
        "title": "tus preferencias de mensajes",
        "sms": "SMS",
        "email": "Correo electrónico",
        "sms:marketing": "Ofertas y novedades por SMS",
        "sms:transactional": "Avisos de pedidos y cuenta por SMS",
        "email:marketing": "Ofertas y novedades por correo",
        "email:transactional": "Avisos de pedidos y cuenta por correo",
        "save": "Guardar mis preferencias",
        "leave": "Darme de baja de todo",
        "saved": "Tus preferencias se han guardado.",
        "nothing": "No tenemos ninguna dirección tuya: no hay nada de lo que darte de baja.",
    },
    "de": {
        "title": "Ihre Nachrichten-Einstellungen",
        "sms": "SMS",
        "email": "E-Mail",
        "sms:marketing": "Angebote und Neuigkeiten per SMS",
        "sms:transactional": "Bestell- und Kontomitteilungen per SMS",
        "email:marketing": "Angebote und Neuigkeiten per E-Mail",
        "email:transactional": "Bestell- und Kontomitteilungen per E-Mail",
        "save": "Auswahl speichern",
        "leave": "Von allem abmelden",
        "saved": "Ihre Einstellungen sind gespeichert.",
        "nothing": "Wir haben keine Adresse von Ihnen: es gibt nichts abzumelden.",
    },
}


def language(locale: str | None) -> str:
    """Return the page language for a contact's locale (``zh-CN`` -> ``zh``), else English."""
    base = (locale or "").replace("_", "-").split("-")[0].lower()
    return base if base in WORDS else "en"


def words(locale: str | None) -> dict[str, str]:
    """Return the page's words for a contact's locale."""
    return WORDS[language(locale)]
