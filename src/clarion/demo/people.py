"""Synthetic people: names, phones in local spellings, emails, zones and social handles.

Everything is drawn from one ``random.Random`` so the same seed gives the same people. The
phone numbers are written the way customers and CRM exports really write them (national
prefixes, ``+cc``, ``00cc``, ``(0)``, dots and dashes), with a share that no parser can save.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COUNTRIES = ("CN", "US", "GB", "DE")
COUNTRY_WEIGHTS = (0.32, 0.30, 0.19, 0.19)
LOCALES = {"CN": "zh-CN", "US": "en-US", "GB": "en-GB", "DE": "de-DE"}
CURRENCIES = {"CN": "CNY", "US": "USD", "GB": "GBP", "DE": "EUR"}
#: Rough prices in each currency for one US dollar of catalogue price.
FX = {"CNY": 7.2, "USD": 1.0, "GBP": 0.79, "EUR": 0.92}

CN_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程"
)
CN_GIVEN = _words(
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀英 霞 平 刚 桂英 华 建华 "
    "玉兰 志强 秀兰 建国 丹 萍 鹏 辉 玲 婷 雪 琳 浩 宇 欣怡 子涵 梓萱 思远 晨 雨桐"
)
CN_PINYIN = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou")
CN_PINYIN_GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Lei", "Jun", "Yang", "Jie", "Tao")
EN_FIRST = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Emma Olivia Noah Liam Ava Sophia "
    "Oliver Amelia Harry Isla George Jack Grace Freya Alfie Poppy Daniel Chloe Ethan Mia"
)
EN_LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Wilson Anderson "
    "Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Hall Evans "
    "Wright Roberts Green Baker Hughes Edwards Turner Hill Cooper Ward Morris O'Brien"
)
DE_FIRST = _words(
    "Lukas Leon Finn Jonas Paul Elias Felix Maximilian Jürgen Stefan Andreas Thomas Anna "
    "Sophie Marie Emilia Hannah Lena Lea Mia Katharina Sabine Ursula Jörg Björn Käthe"
)
DE_LAST = _words(
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
    "Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann"
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")

US_AREAS = {
    "America/New_York": ("212", "646", "617", "305", "404", "215"),
    "America/Chicago": ("312", "773", "512", "214", "612"),
    "America/Denver": ("303", "720", "801"),
    "America/Los_Angeles": ("415", "213", "206", "503", "702"),
}
CN_PREFIXES = (
    "130",
    "131",
    "132",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "157",
    "158",
    "159",
    "177",
    "180",
    "181",
    "186",
    "187",
    "188",
    "189",
)
GB_PREFIXES = (
    "7400",
    "7412",
    "7450",
    "7500",
    "7535",
    "7711",
    "7780",
    "7800",
    "7833",
    "7900",
    "7944",
    "7961",
)
DE_PREFIXES = (
    "151",
    "152",
    "157",
    "160",
    "162",
    "170",
    "171",
    "172",
    "173",
    "175",
    "176",
    "177",
    "178",
    "179",
)
ZONES = {"CN": "Asia/Shanghai", "GB": "Europe/London", "DE": "Europe/Berlin"}


@dataclass
class Person:
    """The truth about one synthetic customer, before any messy spelling."""

    n: int
    external_id: str
    country: str
    first_name: str
    last_name: str
    national: str  # digits of the national significant number
    email: str | None
    timezone: str
    locale: str
    signup_at: datetime
    propensity: float  # Pareto-distributed appetite for buying and browsing
    favourite: int  # index of the favourite category
    app_user: bool
    handles: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _national(rng: random.Random, country: str, tz: str) -> str:
    if country == "CN":
        return rng.choice(CN_PREFIXES) + _digits(rng, 8)
    if country == "US":
        area = rng.choice(US_AREAS[tz])
        exchange = str(rng.randint(2, 9)) + _digits(rng, 2)
        if exchange[1:] == "11" or exchange == "555":
            exchange = "234"
        return area + exchange + _digits(rng, 4)
    if country == "GB":
        return rng.choice(GB_PREFIXES) + _digits(rng, 6)
    prefix = rng.choice(DE_PREFIXES)
    return prefix + _digits(rng, 8 if prefix.startswith("15") else 7 + rng.randint(0, 1))


def spell_phone(rng: random.Random, country: str, nat: str) -> str:
    """Return the number as a person or a CRM might have written it."""
    style = rng.random()
    if country == "CN":
        if style < 0.45:
            return nat
        if style < 0.6:
            return f"{nat[:3]} {nat[3:7]} {nat[7:]}"
        if style < 0.8:
            return f"+86 {nat[:3]} {nat[3:7]} {nat[7:]}"
        if style < 0.9:
            return f"0086{nat}"
        return f"+86-{nat[:3]}-{nat[3:7]}-{nat[7:]}"
    if country == "US":
        a, e, s = nat[:3], nat[3:6], nat[6:]
        options: tuple[str, ...] = (
            f"({a}) {e}-{s}",
            f"{a}-{e}-{s}",
            f"+1 {a} {e} {s}",
            f"1-{a}-{e}-{s}",
            f"{a}.{e}.{s}",
            f"+1{nat}",
        )
        return options[int(style * len(options))]
    if country == "GB":
        options = (
            f"0{nat[:4]} {nat[4:]}",
            f"+44 {nat[:4]} {nat[4:]}",
            f"+44 (0){nat[:4]} {nat[4:]}",
            f"0044{nat}",
            f"0{nat}",
        )
        return options[int(style * len(options))]
    options = (
        f"0{nat[:3]} {nat[3:]}",
        f"+49 {nat[:3]} {nat[3:]}",
        f"+49 (0){nat[:3]} {nat[3:]}",
        f"0049{nat}",
        f"0{nat[:3]}/{nat[3:]}",
    )
    return options[int(style * len(options))]


def broken_phone(rng: random.Random, nat: str) -> str:
    """Return a number nobody can dial: cut short, padded, or not a number at all."""
    style = rng.random()
    if style < 0.5:
        return nat[: rng.randint(3, 6)]
    if style < 0.8:
        return nat + _digits(rng, 5)
    return rng.choice(("n/a", "call me", "unknown", "tel: ask"))


def _name(rng: random.Random, country: str) -> tuple[str, str]:
    if country == "CN":
        if rng.random() < 0.85:
            return rng.choice(CN_GIVEN), rng.choice(CN_SURNAMES)
        return rng.choice(CN_PINYIN_GIVEN), rng.choice(CN_PINYIN)
    if country == "DE":
        return rng.choice(DE_FIRST), rng.choice(DE_LAST)
    return rng.choice(EN_FIRST), rng.choice(EN_LAST)


_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "'": ""})


def _email(rng: random.Random, n: int, country: str, first: str, last: str) -> str | None:
    if rng.random() > (0.55 if country == "CN" else 0.8):
        return None
    if country == "CN" and not first.isascii():
        local = f"user{n}"
    else:
        local = f"{first}.{last}".lower().translate(_ASCII)
        local = "".join(c for c in local if c.isascii() and (c.isalnum() or c == "."))
        local = f"{local}{n % 97}" if rng.random() < 0.5 else f"{local}.{n}"
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def _handles(rng: random.Random, n: int, country: str, first: str, last: str) -> dict[str, str]:
    base = f"{first}{last}".lower().translate(_ASCII)
    base = "".join(c for c in base if c.isascii() and c.isalnum()) or f"user{n}"
    handles: dict[str, str] = {}
    if country == "CN":
        if rng.random() < 0.4:
            handles["weibo"] = f"{base}_{n}"
        if rng.random() < 0.5:
            handles["wechat"] = f"wx_{base}{n}"
        return handles
    if rng.random() < 0.3:
        handles["x"] = f"@{base}{n % 1000}"
    if rng.random() < 0.1:
        handles["mastodon"] = f"@{base}{n}@mastodon.example"
    if rng.random() < 0.15:
        handles["bluesky"] = f"{base}{n}.bsky.social"
    return handles


def make_people(rng: random.Random, count: int, now: datetime, categories: int) -> list[Person]:
    """Return ``count`` people spread over CN, US, GB and DE, signed up over two years."""
    people: list[Person] = []
    for n in range(1, count + 1):
        country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
        tz = rng.choice(tuple(US_AREAS)) if country == "US" else ZONES[country]
        first, last = _name(rng, country)
        tags = [
            t
            for t, p in (("newsletter", 0.3), ("vip", 0.04), ("wholesale", 0.02))
            if rng.random() < p
        ]
        people.append(
            Person(
                n=n,
                external_id=f"cust-{n:06d}",
                country=country,
                first_name=first,
                last_name=last,
                national=_national(rng, country, tz),
                email=_email(rng, n, country, first, last),
                timezone=tz,
                locale=LOCALES[country],
                signup_at=now - timedelta(days=rng.uniform(1, 730), minutes=rng.randint(0, 1439)),
                propensity=min(rng.paretovariate(1.3), 60.0),
                favourite=rng.randrange(categories),
                app_user=rng.random() < 0.4,
                handles=_handles(rng, n, country, first, last),
                tags=tags,
            )
        )
    return people
