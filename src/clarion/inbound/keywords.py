"""What a reply means: keyword matching per language and natural-language opt-outs.

Pure functions, no database: :func:`classify` takes the text, the workspace's own keywords and
its phrase list, and says what the person asked for.

Normalisation (:func:`normalise`): NFKC (full-width ``ＳＴＯＰ`` becomes ``STOP``), case-fold,
accents dropped from Latin letters (``ARRÊT`` is ``arret``), apostrophes removed (``don't`` is
``dont``), every other punctuation or symbol made a space, spaces collapsed. A keyword matches
when the whole message is the keyword, compared without spaces (``OPT-OUT``, ``opt out`` and
``OPTOUT`` are one keyword), after dropping politeness words around it (``STOP please``,
``请退订``, ``退订谢谢``). A keyword inside a longer sentence is *not* a keyword: "Stop by our
store" is a reply. Single letters (``T``, ``N``, ``R`` in China) are only ever whole messages.

Precedence, so that no workspace setting can weaken an opt-out: the built-in opt-out keywords
first, then the workspace's own keywords, then built-in opt-in, confirmation and help
keywords, then the natural-language rule, and otherwise the text is a reply for the inbox.

The natural-language rule (a "reasonable person" reading, as the FCC's 2024 order asks for
revocation "by any reasonable means"): the message is an opt-out when it contains one of the
configured phrases (``stop texting``, ``unsubscribe me``, ``不要再发`` ...) as whole words, and
none of the guard words (``dont``, ``not``, ``never``, ``did``, ``why`` ...) stands in the three
words before the phrase. So "please stop texting me" and "can you stop sending these" are
opt-outs, while "don't stop the deals coming" (no phrase), "please don't stop texting me
deals" (guarded) and "why did you stop sending coupons?" (guarded) are replies. Phrases
written in CJK match as substrings and are guarded by a negation (``不``, ``别``, ``没``,
``勿``) in the three characters before them. The phrase list is a workspace setting
(``opt_out_phrases``); the defaults are :data:`DEFAULT_PHRASES`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

#: Intents a reply can carry.
OPT_OUT = "opt_out"
OPT_IN = "opt_in"
HELP = "help"
JOIN = "join"
CONFIRM = "confirm"
REPLY = "reply"
ACTIONS = frozenset({OPT_OUT, OPT_IN, HELP, JOIN})

#: Built-in opt-out keywords by language (US carriers and the FCC list, Chinese provider
#: practice, common European ones). ``STOPALL`` also revokes transactional messages.
OPT_OUT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "STOP",
        "STOPALL",
        "STOP ALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "OPT OUT",
    ),
    "zh": ("退订", "TD", "T", "N", "R", "取消", "退订短信", "退出", "拒收"),
    "fr": ("ARRET", "ARRETER", "DESABONNER", "DESINSCRIRE", "STOP SMS"),
    "es": ("BAJA", "ALTO", "PARAR", "CANCELAR", "DETENER"),
    "de": ("STOPP", "ABMELDEN", "ABBESTELLEN"),
    "pt": ("SAIR", "CANCELAR", "PARAR"),
    "it": ("BASTA", "ANNULLA", "CANCELLA"),
}
#: Keywords that revoke every purpose on the channel, not only marketing.
OPT_OUT_ALL = frozenset({"stopall", "stop all"})

#: Re-subscribe keywords (US carriers: START, UNSTOP, YES).
OPT_IN_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("START", "UNSTOP", "YES"),
    "zh": ("订阅",),
    "fr": ("OUI",),
    "es": ("ALTA",),
    "de": ("START",),
}
#: Answers that confirm a pending double opt-in request.
CONFIRM_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("YES", "Y", "CONFIRM", "OK"),
    "zh": ("是", "是的", "好", "确认", "同意"),
    "fr": ("OUI",),
    "es": ("SI",),
    "de": ("JA",),
    "pt": ("SIM",),
    "it": ("SI",),
}
HELP_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("HELP", "INFO"),
    "zh": ("帮助", "客服", "HELP"),
    "fr": ("AIDE",),
    "es": ("AYUDA",),
    "de": ("HILFE",),
    "pt": ("AJUDA",),
    "it": ("AIUTO",),
}

#: Natural-language opt-out phrases by language (normalised form). A workspace may replace them.
DEFAULT_PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        "stop texting",
        "stop txting",
        "stop messaging",
        "stop sending",
        "stop contacting",
        "stop the texts",
        "stop these texts",
        "stop your texts",
        "stop the messages",
        "stop these messages",
        "no more texts",
        "no more messages",
        "unsubscribe me",
        "remove me",
        "take me off",
        "opt me out",
        "do not text",
        "dont text",
        "do not message",
        "dont message",
        "do not contact",
        "dont contact",
        "leave me alone",
    ),
    "zh": ("不要再发", "别再发", "别发了", "不要发了", "停止发送", "不要给我发", "取消订阅"),
    "fr": ("ne plus recevoir", "arretez de m envoyer", "arretez les sms", "desabonnez moi"),
    "es": ("no quiero recibir", "dejen de enviar", "dejen de mandar", "darme de baja"),
    "de": ("keine sms mehr", "nicht mehr schreiben", "bitte abmelden"),
}
#: Words that, within three words before a phrase, mean the phrase is not a request to stop.
GUARD_WORDS = frozenset(
    {
        "not",
        "dont",
        "do not",
        "never",
        "didnt",
        "did",
        "doesnt",
        "wont",
        "why",
        "shouldnt",
        "wouldnt",
        "ne",
        "pas",
        "nicht",
        "nunca",
    }
)
_CJK_GUARDS = ("不", "别", "没", "勿")
#: Politeness words dropped around a keyword ("STOP please", "请退订", "退订谢谢").
FILLERS = frozenset(
    {"please", "pls", "plz", "thanks", "thank", "you", "thx", "now", "ok", "okay", "merci"}
)
_CJK_PREFIXES = ("请",)
_CJK_SUFFIXES = ("谢谢你", "谢谢", "了")

_APOSTROPHES = str.maketrans("", "", "'’`´")


def normalise(text: str) -> str:
    """Return ``text`` as keywords are compared: NFKC, case-folded, unaccented, no punctuation."""
    t = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    t = unicodedata.normalize("NFC", t)
    out = [" " if unicodedata.category(c)[0] in "PSZC" else c for c in t]
    return " ".join("".join(out).split())


def compact(text: str) -> str:
    """Return the normalised text without spaces (``opt out`` and ``optout`` compare equal)."""
    return normalise(text).replace(" ", "")


def _is_cjk(text: str) -> bool:
    return any("\u3000" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in text)


def _core(norm: str) -> str:
    """Return the normalised text without politeness words around it, without spaces."""
    words = [w for w in norm.split() if w not in FILLERS]
    core = "".join(words) or norm.replace(" ", "")
    for prefix in _CJK_PREFIXES:
        if core.startswith(prefix) and len(core) > len(prefix):
            core = core[len(prefix) :]
    for suffix in _CJK_SUFFIXES:
        if core.endswith(suffix) and len(core) > len(suffix):
            core = core[: -len(suffix)]
    return core


@dataclass(frozen=True, slots=True)
class CustomKeyword:
    """A workspace's own keyword (normalised), e.g. JOIN for a campaign's double opt-in."""

    id: int
    keyword: str
    action: str
    language: str
    channel: str = "sms"
    purpose: str = "marketing"
    campaign_id: int | None = None
    reply: str | None = None
    double_opt_in: bool = True


@dataclass(frozen=True, slots=True)
class Match:
    """What a reply was taken to mean, and why."""

    intent: str  # opt_out, opt_in, help, join, confirm, reply
    keyword: str | None = None  # the keyword or phrase that matched
    language: str | None = None
    rule: str = "none"  # keyword, custom, phrase, none
    all_purposes: bool = False  # STOPALL
    custom: CustomKeyword | None = None
    #: For CONFIRM: whether the same word re-subscribes when nothing is pending (YES).
    also_opt_in: bool = False


def _index(table: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Return compact keyword -> first language listing it."""
    out: dict[str, str] = {}
    for lang, words in table.items():
        for w in words:
            out.setdefault(compact(w), lang)
    return out


_OPT_OUT = _index(OPT_OUT_KEYWORDS)
_OPT_IN = _index(OPT_IN_KEYWORDS)
_CONFIRM = _index(CONFIRM_KEYWORDS)
_HELP = _index(HELP_KEYWORDS)
_OPT_OUT_ALL = {compact(w) for w in OPT_OUT_ALL}


def builtin_keyword(word: str) -> str | None:
    """Return the built-in intent of ``word`` if it is a reserved keyword (opt-out or help)."""
    c = compact(word)
    if c in _OPT_OUT:
        return OPT_OUT
    if c in _HELP:
        return HELP
    return None


def _pick(lang: str, preferred: str | None, table: Mapping[str, Sequence[str]], key: str) -> str:
    """Return ``preferred`` when the keyword is also in that language, else ``lang``."""
    if preferred and key in {compact(w) for w in table.get(preferred, ())}:
        return preferred
    return lang


def classify(
    text: str,
    custom: Iterable[CustomKeyword] = (),
    phrases: Mapping[str, Sequence[str]] | None = None,
    *,
    language: str | None = None,
) -> Match:
    """Return what ``text`` asks for (see the module docstring for the rules and their order).

    ``language`` (the contact's, if known) breaks ties for keywords several languages share.
    """
    norm = normalise(text)
    core = _core(norm)
    if not core:
        return Match(REPLY)
    if core in _OPT_OUT:
        lang = _pick(_OPT_OUT[core], language, OPT_OUT_KEYWORDS, core)
        return Match(OPT_OUT, core.upper(), lang, "keyword", all_purposes=core in _OPT_OUT_ALL)
    for kw in custom:
        if compact(kw.keyword) == core:
            return Match(kw.action, kw.keyword.upper(), kw.language, "custom", custom=kw)
    if core in _CONFIRM:
        lang = _pick(_CONFIRM[core], language, CONFIRM_KEYWORDS, core)
        return Match(CONFIRM, core.upper(), lang, "keyword", also_opt_in=core in _OPT_IN)
    if core in _OPT_IN:
        return Match(OPT_IN, core.upper(), _pick(_OPT_IN[core], language, OPT_IN_KEYWORDS, core))
    if core in _HELP:
        return Match(HELP, core.upper(), _pick(_HELP[core], language, HELP_KEYWORDS, core))
    found = natural_opt_out(norm, DEFAULT_PHRASES if phrases is None else phrases)
    if found is not None:
        phrase, lang = found
        return Match(OPT_OUT, phrase, lang, "phrase")
    return Match(REPLY)


@dataclass(frozen=True, slots=True)
class _Phrases:
    """A phrase list prepared once: one alternation for spaced scripts, substrings for CJK."""

    pattern: re.Pattern[str] | None
    language: dict[str, str]
    cjk: tuple[tuple[str, str], ...]


@lru_cache(maxsize=64)
def _prepare(items: tuple[tuple[str, tuple[str, ...]], ...]) -> _Phrases:
    language: dict[str, str] = {}
    cjk: list[tuple[str, str]] = []
    for lang, raws in items:
        for raw in raws:
            phrase = normalise(raw)
            if not phrase:
                continue
            if _is_cjk(phrase):
                cjk.append((phrase, lang))
            else:
                language.setdefault(phrase, lang)
    # Longest first, so "stop the texts" is preferred over a shorter phrase inside it.
    alternation = "|".join(re.escape(p) for p in sorted(language, key=len, reverse=True))
    pattern = re.compile(r"(?<!\S)(?:" + alternation + r")(?!\S)") if alternation else None
    return _Phrases(pattern, language, tuple(cjk))


def _guarded(before: str) -> bool:
    """Return whether the (normalised) text right before a phrase negates or questions it."""
    words = before.split()[-3:]
    window = " ".join(words)
    return any(w in GUARD_WORDS for w in words) or any(g in window for g in GUARD_WORDS if " " in g)


def natural_opt_out(norm: str, phrases: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    """Return (phrase, language) when normalised text ``norm`` asks to stop, else None."""
    prepared = _prepare(tuple((lang, tuple(items)) for lang, items in phrases.items()))
    if prepared.pattern is not None:
        pos = 0
        while (m := prepared.pattern.search(norm, pos)) is not None:
            if not _guarded(norm[: m.start()]):
                return m.group(0), prepared.language[m.group(0)]
            pos = m.start() + 1
    for phrase, lang in prepared.cjk:
        start = norm.find(phrase)
        while start >= 0:
            before = norm[:start].replace(" ", "")[-3:]
            if not any(g in before for g in _CJK_GUARDS):
                return phrase, lang
            start = norm.find(phrase, start + 1)
    return None
