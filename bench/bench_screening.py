"""Benchmark: content screening of many short messages, and the compliance engine per recipient.

Part 1 (no database): ``--messages`` short messages (half Chinese, half Latin; 1% carry
full-width letters or zero-width spaces, 1% a planted term, some a URL) are screened against
``--terms`` terms (half Chinese, half Latin) with the real ``Screener`` (normalisation,
Aho-Corasick, URL rules, positions mapped back). Messages and terms are generated from a fixed
seed. Reports messages per second and checks every planted term was found.

Part 2 (per database): ``--contacts`` US/CN/UK contacts with consent and some past sends are
created through the services, then ``evaluate`` decides for all of them in chunks of 5,000
as the campaign planner would. Reports recipients per second.

    .venv/bin/python bench/bench_screening.py                 # 1,000,000 msgs, 10,000 terms
    .venv/bin/python bench/bench_screening.py --tiny          # seconds
    .venv/bin/python bench/bench_screening.py --db sqlite --contacts 20000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from _common import PG_ADMIN_URL, pg_reachable, scratch_url

# A pool of common CJK characters (U+4E00..) for synthetic Chinese text and terms.
CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 2500)]
LATIN = "abcdefghijklmnopqrstuvwxyz"


def _word(rng: random.Random, lo: int = 3, hi: int = 9) -> str:
    return "".join(rng.choice(LATIN) for _ in range(rng.randint(lo, hi)))


def make_terms(rng: random.Random, n: int) -> list[str]:
    """Return ``n`` distinct terms: half 2-4 CJK characters, half 6-10 letter Latin words."""
    out: set[str] = set()
    while len(out) < n // 2:
        out.add("".join(rng.choice(CJK) for _ in range(rng.randint(2, 4))))
    while len(out) < n:
        out.add(_word(rng, 6, 10))
    return sorted(out)


def make_messages(rng: random.Random, n: int, terms: list[str]) -> tuple[list[str], list[int]]:
    """Return ``n`` messages and the indexes of those with a planted term."""
    vocab = [_word(rng) for _ in range(5000)]
    planted: list[int] = []
    out: list[str] = []
    for i in range(n):
        if i % 2 == 0:
            text = "【店】" + "".join(rng.choice(CJK) for _ in range(rng.randint(15, 40)))
            text += "，回T退订"
        else:
            text = " ".join(rng.choice(vocab) for _ in range(rng.randint(6, 14)))
            text += ". Reply STOP to opt out"
        r = rng.random()
        if r < 0.01:
            term = rng.choice(terms)
            cut = rng.randint(0, len(text))
            text = f"{text[:cut]} {term} {text[cut:]}"
            planted.append(i)
        elif r < 0.02:
            text = text.replace("a", "ａ").replace("e", "\u200be")
        elif r < 0.03:
            text += " https://bit.ly/abc" if i % 4 == 1 else " https://shop.example.com/x"
        out.append(text)
    return out, planted


def bench_screening(n_messages: int, n_terms: int) -> None:
    from clarion.compliance.screening import Screener, Term

    rng = random.Random(20261122)
    terms = make_terms(rng, n_terms)
    t0 = time.perf_counter()
    screener = Screener([Term(t, "synthetic", "block", "bench") for t in terms])
    build = time.perf_counter() - t0
    messages, planted = make_messages(rng, n_messages, terms)
    t0, c0 = time.perf_counter(), time.process_time()
    results = []
    batch = 20_000
    for i in range(0, len(messages), batch):
        results.extend(screener.screen_many(messages[i : i + batch]))
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    blocked = sum(r.blocked for r in results)
    missed = [i for i in planted if not results[i].blocked]
    print(
        f"screening: {n_messages:,} messages (half Chinese) x {screener.size:,} terms: "
        f"{took:.2f} s wall ({cpu:.2f} s CPU), {n_messages / took:,.0f} msgs/s; "
        f"automaton built in {build:.2f} s; "
        f"{blocked:,} blocked, {len(planted):,} planted, {len(missed)} planted missed"
    )
    assert not missed, f"planted terms were missed in messages {missed[:5]}"


def bench_engine(kind: str, url: str, n: int) -> None:
    from clarion.audit.service import Actor
    from clarion.compliance import evaluate
    from clarion.compliance.history import SendLogRow, log_sends
    from clarion.compliance.settings import set_policy
    from clarion.consent.service import ConsentIn, record_consent
    from clarion.contacts.service import ContactIn, upsert_contacts
    from clarion.db import migrate
    from clarion.db.engine import create_engine_for
    from clarion.workspaces.service import ensure_workspace

    eng = create_engine_for(url)
    migrate.upgrade(eng)
    with eng.begin() as conn:
        ws = ensure_workspace(conn)
    actor = Actor(ws, "system", "bench")
    area = ["310", "305", "212", "405", "646", "415"]
    now = datetime(2026, 5, 6, 18, 0, tzinfo=UTC)
    t0 = time.perf_counter()
    ids: list[int] = []
    for start in range(0, n, 5000):
        recs = []
        for i in range(start, min(n, start + 5000)):
            kind_ = i % 3
            if kind_ == 0:
                phone = f"+1{area[i % len(area)]}2{i % 1000000:06d}"
            elif kind_ == 1:
                phone = f"+86138{i:08d}"
            else:
                phone = f"+447400{i:06d}"
            recs.append(ContactIn(phone=phone))
        with eng.begin() as conn:
            res = upsert_contacts(conn, actor, recs)
            got = [c for c in res.ids if c is not None]
            record_consent(
                conn,
                actor,
                [ConsentIn(c, "sms", "marketing", "opted_in", "import") for c in got],
            )
            log_sends(
                conn,
                [
                    SendLogRow(ws, c, "sms", "marketing", now - timedelta(hours=h))
                    for c in got[::4]
                    for h in (1, 2, 3, 30)
                ],
            )
        ids += got
    with eng.begin() as conn:
        set_policy(conn, actor, "*", {"brand": "Acme", "caps": [{"count": 4, "days": 7}]})
    setup = time.perf_counter() - t0
    text = "【Acme】Acme spring sale, 20% off. Reply STOP to opt out，回T退订"
    t0, c0 = time.perf_counter(), time.process_time()
    allowed = 0
    with eng.connect() as conn:
        for start in range(0, len(ids), 5000):
            got_d = evaluate(conn, ws, ids[start : start + 5000], text, "marketing", "sms", now)
            allowed += sum(d.allowed for d in got_d.values())
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    eng.dispose()
    print(
        f"evaluate [{kind}]: {len(ids):,} recipients in {took:.2f} s wall ({cpu:.2f} s CPU here), "
        f"{len(ids) / took:,.0f} recipients/s ({allowed:,} allowed; setup {setup:.1f} s)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="a seconds-long smoke run")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--messages", type=int, default=None)
    p.add_argument("--terms", type=int, default=None)
    p.add_argument("--contacts", type=int, default=None)
    a = p.parse_args()
    messages = a.messages or (20_000 if a.tiny else 1_000_000)
    terms = a.terms or (1_000 if a.tiny else 10_000)
    contacts = a.contacts or (1_500 if a.tiny else 100_000)
    bench_screening(messages, terms)
    kinds = ["sqlite", "postgresql"] if a.db == "both" else [a.db]
    if "postgresql" in kinds and not pg_reachable():
        print(f"PostgreSQL at {PG_ADMIN_URL} unreachable: skipped", file=sys.stderr)
        kinds.remove("postgresql")
    for kind in kinds:
        with scratch_url(kind) as url:
            bench_engine(kind, url, contacts)


if __name__ == "__main__":
    main()
