"""OAuth 1.0a request signing (HMAC-SHA1), as X requires for user-context calls.

Written here rather than taken from a library because it is one function of the spec
(RFC 5849 section 3.4, and X's "Creating a signature" page) and the available packages
(oauthlib, authlib) pull in a whole OAuth framework for it. Only query parameters and
``application/x-www-form-urlencoded`` bodies are signed; JSON and multipart bodies are not.
The test checks it against X's published worked example.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit


def pct(value: str) -> str:
    """Percent-encode per RFC 3986 (unreserved characters kept), as OAuth requires."""
    return quote(value, safe="~-._")


def base_url(url: str) -> str:
    """Return the URL without query or fragment, scheme and host lowercased."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port
    default = (parts.scheme == "https" and port == 443) or (parts.scheme == "http" and port == 80)
    netloc = host.lower() + (f":{port}" if port and not default else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", "", ""))


def signature_base(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Return the signature base string: METHOD&url&sorted, encoded parameters."""
    pairs = sorted((pct(k), pct(v)) for k, v in params)
    joined = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), pct(base_url(url)), pct(joined)))


def sign(base: str, consumer_secret: str, token_secret: str) -> str:
    """Return the HMAC-SHA1 signature of ``base`` (base64)."""
    key = f"{pct(consumer_secret)}&{pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def authorization(
    method: str,
    url: str,
    params: Iterable[tuple[str, str]],
    *,
    consumer_key: str,
    consumer_secret: str,
    token: str,
    token_secret: str,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> str:
    """Return the ``Authorization: OAuth ...`` header value for one request.

    ``params`` are the query parameters and form-encoded body fields of the request.
    """
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "oauth_token": token,
        "oauth_version": "1.0",
    }
    base = signature_base(method, url, [*params, *oauth.items()])
    oauth["oauth_signature"] = sign(base, consumer_secret, token_secret)
    return "OAuth " + ", ".join(f'{pct(k)}="{pct(v)}"' for k, v in sorted(oauth.items()))
