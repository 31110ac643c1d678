"""Generate the demo's data in memory: people, contacts file rows, catalogue, orders, events.

Pure functions of ``(seed, size, now)``: no database, no clock, no global random state. Each
stream (people, orders, events, ...) has its own ``random.Random`` seeded with a string derived
from the seed, so changing one stream's recipe leaves the others unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from clarion.demo.people import CURRENCIES, FX, Person, broken_phone, make_people, spell_phone

CATEGORIES: tuple[tuple[str, float, float, tuple[str, ...]], ...] = (
    ("Tea", 6, 45, ("Oolong", "Jasmine Green Tea", "Pu-erh Cake", "Earl Grey", "Matcha")),
    ("Coffee", 8, 40, ("Espresso Beans", "Cold Brew Pack", "Drip Bags", "Decaf Blend")),
    ("Kitchen", 12, 180, ("Chef Knife", "Wok", "Teapot", "Rice Cooker", "Cutting Board")),
    ("Apparel", 15, 160, ("Hoodie", "Rain Jacket", "Linen Shirt", "Wool Scarf", "Sneakers")),
    ("Beauty", 7, 90, ("Face Serum", "Sheet Masks", "Hand Cream", "Sunscreen", "Lip Balm")),
    ("Electronics", 15, 250, ("Earbuds", "Power Bank", "USB-C Cable", "Smart Lamp", "Speaker")),
    ("Books", 9, 45, ("Cookbook", "Travel Guide", "Novel", "Photo Book", "Language Course")),
    ("Home", 10, 220, ("Candle", "Throw Blanket", "Vase", "Cushion", "Storage Box")),
    ("Outdoor", 12, 300, ("Tent", "Water Bottle", "Backpack", "Hiking Poles", "Camp Stove")),
    ("Toys", 8, 120, ("Building Blocks", "Puzzle", "Plush Panda", "Kite", "Board Game")),
)
STYLES = ("Classic", "Premium", "Travel", "Family", "Organic", "Limited", "Mini", "Pro")
PRODUCTS_PER_CATEGORY = 20


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    category_index: int
    price: float  # USD list price


@dataclass(frozen=True)
class Line:
    sku: str
    category: str
    quantity: int
    unit_price: float


@dataclass(frozen=True)
class Order:
    person: int  # Person.n
    external_id: str
    placed_at: datetime
    currency: str
    status: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Event:
    person: int
    name: str
    occurred_at: datetime
    source: str
    properties: dict[str, Any]
    message_id: str


@dataclass(frozen=True)
class ConsentEntry:
    person: int
    channel: str
    purpose: str
    status: str
    source: str
    proof: str | None
    occurred_at: datetime


def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"clarion-demo:{seed}:{stream}")


def catalogue(seed: int) -> list[Product]:
    """Return about 200 products in ten categories with plausible USD prices."""
    rng = _rng(seed, "catalogue")
    products: list[Product] = []
    for ci, (cat, low, high, nouns) in enumerate(CATEGORIES):
        names: set[str] = set()
        while len(names) < PRODUCTS_PER_CATEGORY:
            names.add(f"{rng.choice(STYLES)} {rng.choice(nouns)}")
        for k, name in enumerate(sorted(names)):
            price = round(rng.uniform(low, high), 0) - 0.01
            products.append(Product(f"{cat[:3].upper()}-{k + 1:03d}", name, cat, ci, price))
    return products


def people(seed: int, count: int, now: datetime) -> list[Person]:
    """Return the demo's customers (the truth behind the messy contacts file)."""
    return make_people(_rng(seed, "people"), count, now, len(CATEGORIES))


CSV_COLUMNS = (
    "customer_id", "first_name", "last_name", "mobile", "email", "country", "language",
    "timezone", "tags", "signup_date",
)  # fmt: skip


def contact_rows(seed: int, persons: list[Person]) -> list[dict[str, str]]:
    """Return the rows of a CRM export of ``persons``, messy the way real exports are.

    About 4% of numbers are unusable, 2% of people appear twice with the number spelled another
    way, some countries are blank (numbers with ``+`` or ``00`` still parse), some lower case,
    and names carry stray spaces.
    """
    rng = _rng(seed, "csv")
    rows: list[dict[str, str]] = []
    for p in persons:
        phone = spell_phone(rng, p.country, p.national)
        if rng.random() < 0.04:
            phone = broken_phone(rng, p.national)
        country = p.country
        if phone.startswith(("+", "00")) and rng.random() < 0.3:
            country = ""
        elif rng.random() < 0.05:
            country = country.lower()
        row = {
            "customer_id": p.external_id,
            "first_name": f" {p.first_name}" if rng.random() < 0.03 else p.first_name,
            "last_name": p.last_name,
            "mobile": phone,
            "email": p.email or "",
            "country": country,
            "language": p.locale,
            "timezone": p.timezone,
            "tags": ";".join(p.tags),
            "signup_date": p.signup_at.date().isoformat(),
        }
        rows.append(row)
        if rng.random() < 0.02:
            again = dict(row)
            again["mobile"] = spell_phone(rng, p.country, p.national)
            again["email"] = (p.email or "").upper()
            rows.append(again)
    return rows


def _season(day: date, country: str) -> float:
    """Return how busy a shopping day is: Singles' Day, Black Friday, December, New Year."""
    w = 1.0
    if day.month == 12 and day.day <= 22:
        w = 1.8
    if day.month == 11 and country == "CN" and 9 <= day.day <= 12:
        w = 6.0 if day.day == 11 else 2.5
    if day.month == 11 and country != "CN" and 22 <= day.day <= 30:
        w = 3.5
    if country == "CN" and (
        (day.month == 1 and day.day >= 15) or (day.month == 2 and day.day <= 10)
    ):
        w = 1.6
    if day.month in (7, 8):
        w *= 0.8
    return w


_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 7, 6, 5, 5, 6, 7, 9, 11, 12, 10, 6, 3)


def _moment(rng: random.Random, p: Person, start: datetime, end: datetime) -> datetime:
    """Return a time in ``[start, end)`` shaped by the season and the person's evening habit."""
    span_days = max((end - start).days, 1)
    while True:
        day = (start + timedelta(days=rng.randrange(span_days))).date()
        if rng.random() * 6.0 < _season(day, p.country):
            break
    hour = rng.choices(range(24), _HOUR_WEIGHTS)[0]
    local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60),
                     tzinfo=ZoneInfo(p.timezone))  # fmt: skip
    at = local.astimezone(UTC)
    return min(max(at, start), end - timedelta(seconds=1))


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method is fine for the small means used here.
    limit, k, prod = pow(2.718281828459045, -lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _pick(rng: random.Random, p: Person, by_cat: list[list[Product]]) -> Product:
    ci = p.favourite if rng.random() < 0.6 else rng.randrange(len(by_cat))
    return rng.choice(by_cat[ci])


def orders(seed: int, persons: list[Person], products: list[Product], now: datetime) -> list[Order]:
    """Return 12 months of orders: Pareto spenders, repeat buyers, seasonal peaks."""
    rng = _rng(seed, "orders")
    by_cat = [[p for p in products if p.category_index == ci] for ci in range(len(CATEGORIES))]
    year_ago = now - timedelta(days=365)
    out: list[Order] = []
    for p in persons:
        start = max(year_ago, p.signup_at)
        if start >= now:
            continue
        share = (now - start) / (now - year_ago)
        for _ in range(_poisson(rng, min(0.38 * p.propensity * share, 25.0))):
            currency = CURRENCIES[p.country]
            lines: dict[str, Line] = {}
            for _ in range(rng.choices((1, 2, 3, 4), (55, 28, 12, 5))[0]):
                prod = _pick(rng, p, by_cat)
                qty = rng.choices((1, 2, 3), (80, 15, 5))[0]
                price = round(prod.price * FX[currency], 2)
                lines[prod.sku] = Line(prod.sku, prod.category, qty, price)
            status = rng.choices(("fulfilled", "placed", "refunded", "cancelled"), (94, 1, 3, 2))[0]
            out.append(
                Order(
                    p.n,
                    f"D{seed}-{len(out) + 1:07d}",
                    _moment(rng, p, start, now),
                    currency,
                    status,
                    tuple(lines.values()),
                )
            )
    return out


def consent(seed: int, persons: list[Person], now: datetime) -> list[ConsentEntry]:
    """Return consent histories: form opt-ins with proof, later STOPs, pending double opt-ins."""
    rng = _rng(seed, "consent")
    out: list[ConsentEntry] = []
    for p in persons:
        at = p.signup_at
        roll = rng.random()
        if roll < 0.68:
            proof = (
                f"Web form 'Join our SMS club' ({p.locale}): box ticked, text shown: 'Yes, send me "
                f"offers by SMS. Reply STOP to opt out.' at {at.isoformat()} "
                f"from 198.51.100.{p.n % 250 + 1}"
            )
            out.append(ConsentEntry(p.n, "sms", "marketing", "opted_in", "form", proof, at))
            if rng.random() < 0.09:
                stop = min(at + timedelta(days=rng.uniform(3, 400)), now - timedelta(hours=1))
                out.append(
                    ConsentEntry(p.n, "sms", "marketing", "opted_out", "keyword", "STOP", stop)
                )
        elif roll < 0.78:
            proof = f"Double opt-in: confirmation SMS sent at {at.isoformat()}, no reply yet"
            out.append(ConsentEntry(p.n, "sms", "marketing", "pending", "form", proof, at))
        if p.email and rng.random() < 0.6:
            proof = f"Checkout: 'Email me news and offers' ticked at {at.isoformat()}"
            out.append(ConsentEntry(p.n, "email", "marketing", "opted_in", "checkout", proof, at))
    return out


def events(
    seed: int,
    persons: list[Person],
    products: list[Product],
    placed: list[Order],
    now: datetime,
) -> Iterator[Event]:
    """Yield web and app behaviour: signups, sessions of views, carts bought or abandoned."""
    rng = _rng(seed, "events")
    by_cat = [[p for p in products if p.category_index == ci] for ci in range(len(CATEGORIES))]
    year_ago = now - timedelta(days=365)
    by_person: dict[int, list[Order]] = {}
    for o in placed:
        by_person.setdefault(o.person, []).append(o)
    counter = 0

    def ev(p: Person, name: str, at: datetime, source: str, props: dict[str, Any]) -> Event:
        nonlocal counter
        counter += 1
        return Event(p.n, name, at, source, props, f"demo-{seed}-{counter:08d}")

    for p in persons:
        channel = "app" if p.app_user and rng.random() < 0.5 else "web"
        yield ev(p, "signup", p.signup_at, channel, {"channel": channel})
        start = max(year_ago, p.signup_at)
        if start >= now:
            continue
        share = (now - start) / (now - year_ago)
        platform = "ios" if p.n % 2 else "android"
        sessions = _poisson(rng, min((0.8 + 0.9 * p.propensity) * share, 30.0))
        for _ in range(sessions):
            at = _moment(rng, p, start, now)
            src = "app" if p.app_user and rng.random() < 0.7 else "web"
            if src == "app":
                yield ev(p, "app_open", at, src, {"platform": platform, "version": "4.2"})
            for k in range(rng.choices((0, 1, 2), (50, 35, 15))[0]):
                cat = CATEGORIES[p.favourite if rng.random() < 0.6 else rng.randrange(10)][0]
                path = f"/c/{cat.lower()}" if k else "/"
                yield ev(p, "page_view", at + timedelta(seconds=20 * k), src, {"path": path})
            viewed = [_pick(rng, p, by_cat) for _ in range(rng.choices((0, 1, 2), (40, 45, 15))[0])]
            for k, prod in enumerate(viewed):
                props = {"sku": prod.sku, "category": prod.category, "price": prod.price}
                yield ev(p, "product_view", at + timedelta(minutes=1 + k), src, props)
            if viewed and rng.random() < 0.25:
                prod = viewed[-1]
                t = at + timedelta(minutes=4)
                props = {"sku": prod.sku, "quantity": 1, "price": prod.price}
                yield ev(p, "add_to_cart", t, src, props)
                if rng.random() < 0.7 and t + timedelta(hours=1) < now:
                    props = {"skus": [prod.sku], "value": prod.price}
                    yield ev(p, "cart_abandoned", t + timedelta(hours=1), src, props)
        for o in by_person.get(p.n, ()):
            src = "app" if p.app_user else "web"
            for k, line in enumerate(o.lines):
                t = o.placed_at - timedelta(minutes=10 - k)
                yield ev(p, "product_view", t, src, {"sku": line.sku, "category": line.category})
                props = {"sku": line.sku, "quantity": line.quantity, "price": line.unit_price}
                yield ev(p, "add_to_cart", t + timedelta(seconds=30), src, props)
