"""Content screening: forbidden and sensitive terms, and URL rules, over normalised text.

Text is normalised before matching so that ``博\u200b彩`` or full-width ``ＣＡＳＩＮＯ`` cannot slip
through: full-width forms become half-width, zero-width and bidi-control characters vanish,
ASCII is lower-cased, then NFKC. Terms go through the same function. One Aho-Corasick automaton
(Rust, ``ahocorasick-rs``) scans a whole batch joined into one string; only messages with a hit
pay for mapping positions back to the ORIGINAL text, which is what a person fixing the message
needs to see.
"""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from itertools import accumulate

import ahocorasick_rs

from clarion.errors import ValidationFailed

ACTIONS = ("block", "warn")

_ZERO_WIDTH = [0x00AD, 0x034F, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF]
_ZERO_WIDTH += [*range(0x202A, 0x202F), *range(0x2061, 0x2065), *range(0x2066, 0x206A)]


def _table() -> dict[int, int | None]:
    table: dict[int, int | None] = {cp: None for cp in _ZERO_WIDTH}
    for cp in range(0xFF01, 0xFF5F):  # full-width ASCII block
        table[cp] = cp - 0xFEE0
    table[0x3000] = 0x20  # ideographic space
    for cp in range(ord("A"), ord("Z") + 1):
        table[cp] = cp + 32
    for cp in range(0xFF21, 0xFF3B):  # full-width A-Z straight to lower case
        table[cp] = cp - 0xFEE0 + 32
    return table


_TABLE = _table()


def _norm(text: str) -> str:
    out = text.translate(_TABLE)
    if unicodedata.is_normalized("NFKC", out):
        return out
    # NFKC can produce new upper-case ASCII or zero-width characters (e.g. circled letters).
    return unicodedata.normalize("NFKC", out).translate(_TABLE)


def normalise(text: str) -> str:
    """Return ``text`` as the screener sees it (NFKC, half-width, no zero-width, lower ASCII)."""
    return _norm(text)


def normalise_with_map(text: str) -> tuple[str, list[int], list[int]]:
    """Return the normalised text and, per normalised character, its original [start, end).

    Each starter character with its combining marks is normalised on its own, which is what
    lets every output character point back at the original characters it came from.
    """
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        piece = _norm(text[i:j])
        pieces.append(piece)
        starts.extend([i] * len(piece))
        ends.extend([j] * len(piece))
        i = j
    return "".join(pieces), starts, ends


@dataclass(frozen=True, slots=True)
class Term:
    """One screened term: what to look for, its category, and block or warn."""

    term: str
    category: str
    action: str
    source: str  # the built-in list ("cn") or "workspace"


@dataclass(frozen=True, slots=True)
class Hit:
    """One finding, with its position in the original text (``text[start:end]``)."""

    code: str  # term, url_shortener, url_not_allowed, link_in_variable
    action: str  # block or warn
    category: str
    term: str
    start: int
    end: int
    source: str = ""

    def as_dict(self) -> dict[str, object]:
        """Return the hit as plain JSON-able values."""
        return {
            "code": self.code,
            "action": self.action,
            "category": self.category,
            "term": self.term,
            "start": self.start,
            "end": self.end,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Screening:
    """The verdict on one message: ``block`` if any hit blocks, else ``warn`` if any, else ok."""

    verdict: str
    hits: tuple[Hit, ...] = field(default_factory=tuple)

    @property
    def blocked(self) -> bool:
        """Return whether the message must not be sent."""
        return self.verdict == "block"


def _verdict(hits: Sequence[Hit]) -> Screening:
    if not hits:
        return _OK
    verdict = "block" if any(h.action == "block" for h in hits) else "warn"
    return Screening(verdict, tuple(sorted(hits, key=lambda h: (h.start, h.end))))


_OK = Screening("ok")


# ---- data ----------------------------------------------------------------------------------


@cache
def builtin_terms(list_name: str) -> tuple[Term, ...]:
    """Return the terms of a built-in list (``global``, ``cn``, ``us``), empty if none."""
    path = resources.files("clarion.compliance").joinpath("data", "terms", f"{list_name}.json")
    if not path.is_file():
        return ()
    data = json.loads(path.read_text("utf-8"))
    return tuple(
        Term(term, category, spec["action"], list_name)
        for category, spec in data["categories"].items()
        for term in spec["terms"]
    )


@cache
def shorteners() -> frozenset[str]:
    """Return the public URL shortener domains shipped as data."""
    text = resources.files("clarion.compliance").joinpath("data", "shorteners.txt")
    lines = (ln.strip().lower() for ln in text.read_text("utf-8").splitlines())
    return frozenset(ln for ln in lines if ln and not ln.startswith("#"))


# ---- URLs ----------------------------------------------------------------------------------

_TLDS = (
    "com|net|org|cn|ly|gl|co|io|me|uk|de|fr|info|biz|top|xyz|cc|tk|app|link|site|shop|us|eu|"
    "at|gd|im|in|id|ru|jp|hk|tw|vip|club|online|store"
)
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'，。、）)\]]+"
    rf"|(?<![a-z0-9@.-])(?:[a-z0-9-]+\.)+(?:{_TLDS})(?:/[^\s<>\"'，。、）)\]]*)?(?![a-z0-9.-])"
)
_TRAILING = ".,;:!?"


def find_urls(normalised: str) -> list[tuple[int, int, str]]:
    """Return (start, end, host) of each URL-looking span in normalised text."""
    out = []
    for m in _URL.finditer(normalised):
        url = m.group(0).rstrip(_TRAILING)
        rest = url.split("://", 1)[-1]
        host = re.split(r"[/?#:]", rest, maxsplit=1)[0]
        out.append((m.start(), m.start() + len(url), host))
    return out


def _host_in(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


# ---- the screener --------------------------------------------------------------------------


class Screener:
    """Screen texts against a fixed set of terms and URL rules; build once, use for a batch."""

    def __init__(
        self,
        terms: Iterable[Term],
        *,
        shortener_action: str = "block",
        allowed_domains: Iterable[str] = (),
        links_in_variables: bool = True,
    ) -> None:
        by_norm: dict[str, Term] = {}
        for t in terms:
            key = normalise(t.term).strip()
            if not key:
                continue
            # The same normalised term twice: a block beats a warn, a workspace list beats none.
            if key not in by_norm or (t.action == "block" and by_norm[key].action != "block"):
                by_norm[key] = t
        self._patterns = list(by_norm)
        self._terms = [by_norm[p] for p in self._patterns]
        self._ascii = [p.isascii() for p in self._patterns]
        self._ac = (
            ahocorasick_rs.AhoCorasick(
                self._patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
            )
            if self._patterns
            else None
        )
        if shortener_action not in ("allow", "warn", "block"):
            raise ValidationFailed(
                "shortener action is allow, warn or block",
                field="shorteners",
                value=shortener_action,
            )
        self.shortener_action = shortener_action
        self.allowed_domains = tuple(d.lower() for d in allowed_domains)
        self.links_in_variables = links_in_variables

    @property
    def size(self) -> int:
        """Return the number of distinct normalised terms."""
        return len(self._patterns)

    def screen(
        self, text: str, *, variable_values: Sequence[str] = (), template_source: str | None = None
    ) -> Screening:
        """Screen one text; ``variable_values`` are what template variables rendered to."""
        result = self.screen_many([text])[0]
        extra = self._variable_links(text, variable_values, template_source)
        return _verdict([*result.hits, *extra]) if extra else result

    def screen_many(self, texts: Sequence[str]) -> list[Screening]:
        """Screen many texts in one pass; return one Screening per text, in order."""
        norm = [t.translate(_TABLE) for t in texts]
        big = "\x00".join(norm)
        if not unicodedata.is_normalized("NFKC", big):
            norm = [_norm(s) for s in norm]
            big = "\x00".join(norm)
        offsets = [0, *accumulate(len(s) + 1 for s in norm)]
        found: dict[int, list[tuple[int, int, int]]] = {}
        if self._ac is not None:
            for pi, s, e in self._ac.find_matches_as_indexes(big):
                k = bisect_right(offsets, s) - 1
                found.setdefault(k, []).append((pi, s - offsets[k], e - offsets[k]))
        check_urls = self.shortener_action != "allow" or bool(self.allowed_domains)
        if check_urls:
            for k, text in enumerate(norm):
                if "." in text and k not in found:
                    found[k] = []
        out = [_OK] * len(texts)
        for k, matches in found.items():
            out[k] = self._hits(texts[k], norm[k], matches, check_urls)
        return out

    def _hits(
        self, text: str, norm: str, matches: list[tuple[int, int, int]], check_urls: bool
    ) -> Screening:
        starts: list[int] | None = None
        ends: list[int] | None = None
        if norm != text:
            mapped, starts, ends = normalise_with_map(text)
            if mapped != norm:  # per-cluster NFKC differed from whole-text NFKC: re-match
                norm = mapped
                matches = (
                    list(self._ac.find_matches_as_indexes(norm)) if self._ac is not None else []
                )

        def span(s: int, e: int) -> tuple[int, int]:
            if starts is None or ends is None:
                return s, e
            return starts[s], ends[e - 1]

        hits: list[Hit] = []
        for pi, s, e in matches:
            if self._ascii[pi] and not _whole_word(norm, s, e):
                continue
            t = self._terms[pi]
            a, b = span(s, e)
            hits.append(Hit("term", t.action, t.category, t.term, a, b, t.source))
        if check_urls:
            for s, e, host in find_urls(norm):
                hit = self._url_hit(host)
                if hit is not None:
                    a, b = span(s, e)
                    hits.append(Hit(hit[0], hit[1], "url", host, a, b))
        return _verdict(hits)

    def _url_hit(self, host: str) -> tuple[str, str] | None:
        if _host_in(host, shorteners()) and self.shortener_action != "allow":
            return "url_shortener", self.shortener_action
        if self.allowed_domains and not _host_in(host, self.allowed_domains):
            return "url_not_allowed", "block"
        return None

    def _variable_links(self, text: str, values: Sequence[str], source: str | None) -> list[Hit]:
        if self.links_in_variables:
            return []
        hits = []
        for value in values:
            if value and find_urls(normalise(value)):
                at = max(text.find(value), 0)
                hits.append(Hit("link_in_variable", "block", "url", value, at, at + len(value)))
        if source is not None:
            # Positions here are in the template source, which is what the author edits.
            norm, starts, ends = normalise_with_map(source)
            for s, e, _host in find_urls(norm):
                if "{" in norm[s:e]:
                    a, b = starts[s], ends[e - 1]
                    hits.append(
                        Hit("link_in_variable", "block", "url", source[a:b], a, b, "template")
                    )
        return hits


def _whole_word(text: str, s: int, e: int) -> bool:
    before = text[s - 1] if s > 0 else " "
    after = text[e] if e < len(text) else " "
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())


@lru_cache(maxsize=64)
def build_screener(
    lists: tuple[str, ...],
    workspace_terms: tuple[Term, ...] = (),
    shortener_action: str = "block",
    allowed_domains: tuple[str, ...] = (),
    links_in_variables: bool = True,
) -> Screener:
    """Return a (cached) screener for built-in ``lists`` plus a workspace's own terms."""
    terms = [t for name in lists for t in builtin_terms(name)]
    return Screener(
        [*terms, *workspace_terms],
        shortener_action=shortener_action,
        allowed_domains=allowed_domains,
        links_in_variables=links_in_variables,
    )
