"""Benchmark: what a reply means, and handling replies end to end on a database.

Part 1 (no database): ``--texts`` replies from a fixed seed (a third keywords in several
languages and widths, a sixth natural-language opt-outs, the rest ordinary replies in English
and Chinese) are classified with the workspace defaults. Reports replies per second and checks
the planted opt-outs were all found.

Part 2 (per database): ``--contacts`` consenting contacts and a route exist; ``--mos`` MOs from
them (a quarter STOP, a quarter HELP, half ordinary replies) go through ``service.receive``:
stored in one transaction, each handled in its own (consent ledger, queued marketing cancelled,
a reply queued through the sending service, or a conversation and an ``sms_reply`` event).
Reports MOs per second, wall and CPU.

    .venv/bin/python bench/bench_inbound.py                 # 200,000 texts, 5,000 MOs
    .venv/bin/python bench/bench_inbound.py --tiny          # seconds
    .venv/bin/python bench/bench_inbound.py --db postgresql --mos 20000
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from _common import pg_reachable, scratch_engine

KEYWORDS = ["STOP", "stop", "Stop.", "ＳＴＯＰ", "退订", "T", "td", "ARRÊT", "unsubscribe", "HELP"]
PHRASES = ["please stop texting me", "Can you stop sending these?", "不要再发了", "remove me"]
REPLIES = [
    "Do you have it in blue?",
    "don't stop the deals coming",
    "what time do you open tomorrow",
    "谢谢，这个优惠很好",
    "Is the sale on this weekend? My order #1234 has not arrived yet",
    "ok thanks",
]


def make_texts(rng: random.Random, n: int) -> tuple[list[str], int]:
    """Return ``n`` replies and how many are opt-outs (keywords other than HELP, phrases)."""
    out: list[str] = []
    opt_outs = 0
    for i in range(n):
        r = i % 6
        if r < 2:
            text = rng.choice(KEYWORDS)
            opt_outs += text != "HELP"
        elif r == 2:
            text = rng.choice(PHRASES)
            opt_outs += 1
        else:
            text = rng.choice(REPLIES) + " " + str(rng.randint(0, 999))
        out.append(text)
    return out, opt_outs


def bench_classify(n: int) -> None:
    from clarion.inbound import keywords as kw

    texts, expected = make_texts(random.Random(8), n)
    t0, c0 = time.perf_counter(), time.process_time()
    found = sum(1 for t in texts if kw.classify(t).intent == kw.OPT_OUT)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ok = "ok" if found == expected else f"MISMATCH (expected {expected})"
    print(f"classify: {n:,} replies in {wall:.2f} s wall / {cpu:.2f} s CPU", end=" ")
    print(f"= {n / wall:,.0f}/s; {found:,} opt-outs found, {ok}")


def bench_handle(kind: str, contacts_n: int, mos: int) -> None:
    import sqlalchemy as sa

    from clarion.audit.service import Actor
    from clarion.consent.service import ConsentIn, record_consent
    from clarion.contacts.service import ContactIn, upsert_contacts
    from clarion.delivery.routes import RouteCreate, create_route
    from clarion.inbound.receive import InboundIn
    from clarion.inbound.service import receive
    from clarion.inbound.settings import set_settings
    from clarion.inbound.tables import inbound_messages
    from clarion.workspaces.service import ensure_workspace

    with scratch_engine(kind) as eng:
        with eng.begin() as conn:
            ws = ensure_workspace(conn)
            actor = Actor(ws, "system", "bench")
            phones = [f"+1202{i:07d}" for i in range(contacts_n)]
            res = upsert_contacts(conn, actor, [ContactIn(phone=p) for p in phones])
            ids = [i for i in res.ids if i is not None]
            record_consent(
                conn,
                actor,
                [ConsentIn(i, "sms", "marketing", "opted_in", "bench") for i in ids],
            )
            create_route(conn, actor, RouteCreate(name="sim", connector="sim"))
            set_settings(conn, actor, {"brand": "Acme", "support": "acme.example/help"})
        rng = random.Random(9)
        items = []
        for i in range(mos):
            r = i % 4
            text = "STOP" if r == 0 else "HELP" if r == 1 else rng.choice(REPLIES)
            items.append(InboundIn(phones[i % len(phones)], "12345", text, source="api"))
        t0, c0 = time.perf_counter(), time.process_time()
        done = 0
        for start in range(0, len(items), 500):  # as the worker hands them over, in batches
            done += len(receive(eng, items[start : start + 500], workspace_id=ws))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        with eng.connect() as conn:
            handled = conn.execute(
                sa.select(sa.func.count())
                .select_from(inbound_messages)
                .where(inbound_messages.c.status == "handled")
            ).scalar_one()
    ok = "ok" if handled == done == mos else f"MISMATCH ({handled} handled of {mos})"
    print(f"handle [{kind}]: {mos:,} MOs in {wall:.2f} s wall / {cpu:.2f} s CPU", end=" ")
    print(f"= {mos / wall:,.0f} MOs/s; {ok}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=200_000)
    ap.add_argument("--mos", type=int, default=5_000)
    ap.add_argument("--contacts", type=int, default=2_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--tiny", action="store_true", help="a few seconds (CI)")
    args = ap.parse_args()
    if args.tiny:
        args.texts, args.mos, args.contacts = 5_000, 100, 50
    bench_classify(args.texts)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "postgresql" and not pg_reachable():
            print("handle [postgresql]: skipped, PostgreSQL unreachable")
            continue
        bench_handle(kind, args.contacts, args.mos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
