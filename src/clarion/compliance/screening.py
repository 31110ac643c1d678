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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

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


@lru_cache(maxsize=65536)
def _norm_cluster(cluster: str) -> str:
    return _norm(cluster)


def normalise_with_map(text: str) -> tuple[str, list[int], list[int]]:
    """Return the normalised text and, per normalised character, its original [start, end).

    Each starter character with its combining marks is normalised on its own, which is what
    lets every output character point back at the original characters it came from.
    """
    n = len(text)
    if text.isascii():  # every ASCII character normalises to exactly one: map 1:1
        return text.translate(_TABLE), list(range(n)), list(range(1, n + 1))
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    combining = unicodedata.combining
    i = 0
    while i < n:
        j = i + 1
        while j < n and not text[j].isascii() and combining(text[j]):
            j += 1
        piece = _norm_cluster(text[i:j])
        pieces.append(piece)
        if len(piece) == 1:
            starts.append(i)
            ends.append(j)
        else:
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
    r"(?:https?://|www\.)[^\s<>\"'，。、）)\]\x00]+"
    rf"|(?<![a-z0-9@.-])(?:[a-z0-9-]+\.)+(?:{_TLDS})(?:/[^\s<>\"'，。、）)\]\x00]*)?(?![a-z0-9.-])"
)
_TRAILING = ".,;:!?"


_HOST_END = re.compile(r"[/?#:]")
#: Where a word of the joined batch ends (``str.split`` also splits at \x1c-\x1f).
_WORD_END = re.compile(rb"[\x00\s\x1c-\x1f]")
#: Word separators other than the space: a word holding one takes the exact path.
_ODD_SPACE = re.compile(rb"[\t\n\r\x0b\x0c\x1c-\x1f]")
_WORD_CACHE_MAX = 50_000


def find_urls(normalised: str) -> list[tuple[int, int, str]]:
    """Return (start, end, host) of each URL-looking span in normalised text.

    A URL never spans whitespace and always holds a dot or ``://``, so the pattern only runs
    on the few words that could be one (``str.split`` is native; the pattern is not).
    """
    out = []
    pos = 0
    for word in normalised.split():
        if "." not in word and "://" not in word:
            continue
        # Skipped words hold neither, so they cannot contain this word: find lands on it.
        base = normalised.find(word, pos)
        pos = base + len(word)
        for m in _URL.finditer(word):
            url = m.group(0).rstrip(_TRAILING)
            host = _HOST_END.split(url.split("://", 1)[-1], maxsplit=1)[0]
            out.append((base + m.start(), base + m.start() + len(url), host))
    return out


def _host_in(host: str, domains: frozenset[str]) -> bool:
    """Return whether ``host`` is one of ``domains`` or a subdomain of one."""
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


# ---- the batch fast path -------------------------------------------------------------------

#: Full-width punctuation and the ideographic space: common in Chinese text, and each folds to
#: one ASCII character, so the batch automaton matches them as variants instead of folding.
_FW_PUNCT = {
    chr(cp - 0xFEE0): chr(cp) for cp in range(0xFF01, 0xFF5F) if not chr(cp - 0xFEE0).isalnum()
} | {" ": "\u3000"}
_FW_FOLD = {ord(fw): ascii_ for ascii_, fw in _FW_PUNCT.items()}
_MAX_VARIANTS = 16


@cache
def _markers() -> frozenset[str]:
    """Return the characters that send a message down the exact (normalising) path.

    Any character NFKC changes (but full-width punctuation), any combining mark, any second
    half of a canonical composition (Hangul vowels and finals included) and the zero-width
    characters: a message without them is its own normal form but for ASCII case.
    """
    ranges = [range(0x80, 0xD800), range(0xE000, 0x10000), range(0x1D400, 0x1D800)]
    ranges += [range(0x1EE00, 0x1EF00), range(0x1F100, 0x1F300), range(0x2F800, 0x2FA20)]
    fw = set(_FW_PUNCT.values())
    out = {chr(c) for c in _ZERO_WIDTH}
    out.update(chr(c) for c in [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)])
    for r in ranges:
        for cp in r:
            c = chr(cp)
            if (unicodedata.normalize("NFKC", c) != c and c not in fw) or unicodedata.combining(c):
                out.add(c)
            d = unicodedata.decomposition(c)
            if d and not d.startswith("<") and len(parts := d.split()) == 2:
                out.add(chr(int(parts[1], 16)))
    return frozenset(out)


def _variants(pattern: str) -> list[str]:
    """Return ``pattern`` with each ASCII punctuation or space also in its full-width form."""
    out = [""]
    for ch in pattern:
        alt = _FW_PUNCT.get(ch)
        if alt is None or len(out) * 2 > _MAX_VARIANTS:
            out = [v + ch for v in out]
        else:
            out = [v + c for v in out for c in (ch, alt)]
    return out


# ---- the screener --------------------------------------------------------------------------


class Screener:
    """Screen texts against a fixed set of terms and URL rules; build once, use for a batch.

    Two automata: one over normalised text for a single message, and one over the UTF-8
    bytes of a whole batch with ASCII lower-cased (``bytes.lower`` leaves multi-byte
    characters alone). The batch automaton also looks for *markers*: zero-width characters
    and the beginnings of URLs. A message with a marker, or one NFKC would change, takes the
    exact single-message path; every other message is already normalised but for ASCII case,
    so its byte offsets convert straight to positions in the original text.
    """

    def __init__(
        self,
        terms: Iterable[Term],
        *,
        shortener_action: str = "block",
        allowed_domains: Iterable[str] = (),
        links_in_variables: bool = True,
    ) -> None:
        if shortener_action not in ("allow", "warn", "block"):
            raise ValidationFailed(
                "shortener action is allow, warn or block",
                field="shorteners",
                value=shortener_action,
            )
        self.shortener_action = shortener_action
        self.allowed_domains = tuple(d.lower() for d in allowed_domains)
        self._allowed = frozenset(self.allowed_domains)
        self.links_in_variables = links_in_variables
        self.check_urls = shortener_action != "allow" or bool(self.allowed_domains)
        #: URL word (lower-cased bytes) -> whether it holds no URL that hits a rule.
        self._word_ok: dict[bytes, bool] = {}
        by_norm: dict[str, Term] = {}
        for t in terms:
            key = normalise(t.term).strip()
            if not key:
                continue
            # The same normalised term twice: a block beats a warn.
            if key not in by_norm or (t.action == "block" and by_norm[key].action != "block"):
                by_norm[key] = t
        self._patterns = list(by_norm)
        self._terms = [by_norm[p] for p in self._patterns]
        self._ascii = [p.isascii() for p in self._patterns]
        kind = ahocorasick_rs.MatchKind.LeftmostLongest
        self._ac = ahocorasick_rs.AhoCorasick(self._patterns, matchkind=kind) if by_norm else None
        batch: list[str] = []
        self._owner: list[int] = []
        for i, p in enumerate(self._patterns):
            for v in _variants(p):
                batch.append(v)
                self._owner.append(i)
        self._n_batch_terms = len(batch)
        batch += sorted(_markers())
        self._n_exact_markers = len(batch)
        if self.check_urls:
            anchors = ["http", "www.", *(f".{tld}" for tld in _TLDS.split("|"))]
            batch += [v for a in anchors for v in _variants(a)]
        # The contiguous NFA measured fastest here on mixed Chinese and Latin text.
        self._batch_ac = ahocorasick_rs.BytesAhoCorasick(
            [p.encode() for p in batch],
            matchkind=kind,
            implementation=ahocorasick_rs.Implementation.ContiguousNFA,
        )

    @property
    def size(self) -> int:
        """Return the number of distinct normalised terms."""
        return len(self._patterns)

    def screen(
        self, text: str, *, variable_values: Sequence[str] = (), template_source: str | None = None
    ) -> Screening:
        """Screen one text; ``variable_values`` are what template variables rendered to."""
        result = self._screen_one(text)
        extra = self._variable_links(text, variable_values, template_source)
        return _verdict([*result.hits, *extra]) if extra else result

    def screen_many(self, texts: Sequence[str]) -> list[Screening]:
        """Screen many texts in one pass; return one Screening per text, in order."""
        data = "\x00".join(texts).encode().lower()
        n_terms, n_exact = self._n_batch_terms, self._n_exact_markers
        exact: set[int] = set()
        bad_urls: set[int] = set()
        found: dict[int, list[tuple[int, int, int]]] = {}
        k, prev, word_end = 0, 0, -1
        # Matches come in order: count the separators passed since the previous one to know
        # which message a match is in (native scans, no per-message Python work).
        for pi, s, e in self._batch_ac.find_matches_as_indexes(data):
            k += data.count(b"\x00", prev, s)
            prev = s
            if pi >= n_exact:
                # A URL anchor. Most links in a campaign share a few hosts, so a URL word seen
                # before is known good or bad; a second anchor in the same word is skipped.
                if s >= word_end and k not in bad_urls:
                    word_end, ok = self._url_word(data, s)
                    if not ok:
                        bad_urls.add(k)
            elif pi >= n_terms:
                exact.add(k)
            else:
                start = data.rfind(b"\x00", 0, s) + 1
                found.setdefault(k, []).append((self._owner[pi], s - start, e - start))
        out = [_OK] * len(texts)
        for k in exact:
            out[k] = self._screen_one(texts[k])
        for k in (found.keys() | bad_urls) - exact:
            out[k] = self._from_bytes(texts[k], found.get(k, []), k in bad_urls)
        return out

    def _url_word(self, data: bytes, at: int) -> tuple[int, bool]:
        """Return where the word around byte ``at`` of the batch ends, and whether it is clean.

        Clean: it holds no URL that hits a rule. For a pure-ASCII word these bytes are exactly
        the word :func:`find_urls` sees in the normalised text; any other word (non-ASCII, or
        split by a control character) is not vouched for, so its message is looked at properly.
        """
        m = _WORD_END.search(data, at)
        end = m.start() if m else len(data)
        msg_start = data.rfind(b"\x00", 0, at) + 1  # bounds the search for the word's start
        word = data[max(data.rfind(b" ", msg_start, at) + 1, msg_start) : end]
        cache = self._word_ok
        ok = cache.get(word)
        if ok is None:
            ok = word.isascii() and not _ODD_SPACE.search(word)
            if ok:
                ok = all(self._url_hit(host) is None for _, _, host in find_urls(word.decode()))
            if len(cache) >= _WORD_CACHE_MAX:  # per-recipient links never repeat
                cache.clear()
            cache[word] = ok
        return end, ok

    def _from_bytes(self, text: str, matches: list[tuple[int, int, int]], url: bool) -> Screening:
        """Return the hits of a text whose normal form differs only by ASCII case and
        full-width punctuation (both one character for one, so positions carry over)."""
        raw = text.encode()
        norm = raw.lower().decode()
        if not norm.isascii():
            norm = norm.translate(_FW_FOLD)
        hits: list[Hit] = []
        for pi, bs, be in matches:
            s = len(raw[:bs].decode())
            e = s + len(raw[bs:be].decode())
            if self._ascii[pi] and not _whole_word(norm, s, e):
                continue
            t = self._terms[pi]
            hits.append(Hit("term", t.action, t.category, t.term, s, e, t.source))
        if url:
            for s, e, host in find_urls(norm):
                hit = self._url_hit(host)
                if hit is not None:
                    hits.append(Hit(hit[0], hit[1], "url", host, s, e))
        return _verdict(hits)

    def _screen_one(self, text: str) -> Screening:
        """Return the hits of one text, mapping normalised positions back to the original."""
        norm, starts, ends = normalise_with_map(text)
        matches = self._ac.find_matches_as_indexes(norm) if self._ac is not None else []
        hits: list[Hit] = []
        for pi, s, e in matches:
            if self._ascii[pi] and not _whole_word(norm, s, e):
                continue
            t = self._terms[pi]
            hits.append(Hit("term", t.action, t.category, t.term, starts[s], ends[e - 1], t.source))
        if self.check_urls:
            for s, e, host in find_urls(norm):
                hit = self._url_hit(host)
                if hit is not None:
                    hits.append(Hit(hit[0], hit[1], "url", host, starts[s], ends[e - 1]))
        return _verdict(hits)

    def _url_hit(self, host: str) -> tuple[str, str] | None:
        if _host_in(host, shorteners()) and self.shortener_action != "allow":
            return "url_shortener", self.shortener_action
        if self.allowed_domains and not _host_in(host, self._allowed):
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
