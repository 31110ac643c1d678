"""What an email message carries in the outbox: subject, text and HTML parts, unsubscribe link.

The outbox has one ``body`` column, written by whoever queues the message (the send API, a
campaign, a cross-channel fallback). For the email channel the body is this small JSON document
(``{"email": 1, "subject": ..., "text": ..., "html": ..., "unsubscribe_url": ...}``) so the
channel can build a multipart message without reading other tables; a body that is not such a
document is sent as the text part (an SMS text falling back to email works unchanged).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import orjson

_MARK = "email"


@dataclass(frozen=True, slots=True)
class EmailContent:
    """One email as queued: subject, text part, optional HTML part and unsubscribe URL."""

    text: str
    subject: str | None = None
    html: str | None = None
    unsubscribe_url: str | None = None

    def to_body(self) -> str:
        """Return the outbox body for this email."""
        doc = {
            _MARK: 1,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "unsubscribe_url": self.unsubscribe_url,
        }
        return orjson.dumps({k: v for k, v in doc.items() if v is not None}).decode()

    @classmethod
    def from_body(cls, body: str | None) -> EmailContent:
        """Return the email an outbox body holds; plain text becomes the text part."""
        text = body or ""
        if text.startswith("{"):
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError:
                doc = None
            if isinstance(doc, dict) and doc.get(_MARK) == 1:
                return cls(
                    text=str(doc.get("text") or ""),
                    subject=doc.get("subject"),
                    html=doc.get("html"),
                    unsubscribe_url=doc.get("unsubscribe_url"),
                )
        return cls(text=text)

    def html_part(self) -> str:
        """Return the HTML part: the given one, or the text escaped into paragraphs."""
        if self.html:
            return self.html
        paras = [p for p in self.text.replace("\r\n", "\n").split("\n\n") if p.strip()]
        inner = "".join("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>\n" for p in paras)
        return f"<!doctype html>\n<html><body>\n{inner}</body></html>\n"


def split_subject(source: str) -> tuple[str | None, str]:
    """Split an email template's optional first ``Subject: ...`` line from its body."""
    first, _sep, rest = source.partition("\n")
    if first.lower().startswith("subject:"):
        return first[len("subject:") :].strip() or None, rest.lstrip("\r\n")
    return None, source
