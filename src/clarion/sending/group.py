"""Group commit for the send path: sends that arrive together share one transaction.

At a few hundred sends a second, a transaction per send spends as much CPU on BEGIN, COMMIT,
the connection checkout and the hand-over to a thread as on the send itself, and on SQLite
the one write lock is handed from thread to thread once per send. A :class:`GroupWriter`
keeps a queue per engine; a writer thread takes whatever is queued (up to ``max_group``
works), runs each work on its connection (held while the thread lives) in one transaction and
commits once. A work's
caller is answered only after the commit, so an answer still means "persisted".

A work that raises a :class:`~clarion.errors.ClarionError` (a refused send, a bad request)
has written nothing by then (the send path raises before its first write), so it is answered
with its error and the group goes on. Any other exception (a database error, a bug) may have
left the transaction in any state: the group is rolled back and each of its works runs again
alone, in a transaction of its own, so one bad row never fails the others. A failed COMMIT is
the exception: the database may have committed, so the group is answered with the error and
never run again (a send without an idempotency key would be sent twice).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.errors import ClarionError

T = TypeVar("T")
Work = Callable[[sa.Connection], T]

#: One writer at a time per process on SQLite (it has one write lock, and its busy handler
#: sleeps in growing steps instead of handing the lock over): the group writer and every
#: other send-path transaction of this process take this lock around their transaction.
SQLITE_GATE = threading.Lock()
#: Works per transaction at most: bounds how long one group holds SQLite's write lock.
MAX_GROUP = 32
#: A writer thread with nothing to do for this long ends (a new work starts another).
IDLE_S = 5.0


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[sa.Connection]:
    """Yield a write transaction; on SQLite one of this process at a time (``SQLITE_GATE``)."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with SQLITE_GATE, engine.begin() as conn:
        yield conn


@dataclass(slots=True)
class _Item(Generic[T]):
    work: Work[T]
    loop: asyncio.AbstractEventLoop | None  # None: ``future`` is a concurrent Future
    future: Any  # asyncio.Future[T] | concurrent.futures.Future[T]
    result: Any = None
    error: BaseException | None = None


class GroupWriter:
    """Run works on ``engine`` in shared transactions, on up to ``writers`` threads."""

    def __init__(self, engine: Engine, *, writers: int, max_group: int = MAX_GROUP) -> None:
        self._engine = weakref.ref(engine)
        self.writers = writers
        self.max_group = max_group
        self._queue: collections.deque[_Item[Any]] = collections.deque()
        self._cv = threading.Condition(threading.Lock())
        self._alive = 0
        self._idle = 0

    async def run(self, work: Work[T]) -> T:
        """Return ``work(conn)`` once the transaction it ran in is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put(_Item(work, loop, future))
        return await future

    def run_sync(self, work: Work[T]) -> T:
        """Do what :meth:`run` does, from a thread that may block."""
        future: Future[T] = Future()
        self._put(_Item(work, None, future))
        return future.result()

    # -- the queue ------------------------------------------------------------------------------
    def _put(self, item: _Item[Any]) -> None:
        with self._cv:
            self._queue.append(item)
            if self._idle:
                self._cv.notify()
            elif self._alive < self.writers:
                self._alive += 1
                threading.Thread(target=self._writer, name="clarion-group", daemon=True).start()

    def _take(self) -> list[_Item[Any]] | None:
        with self._cv:
            while not self._queue:
                self._idle += 1
                woke = self._cv.wait(IDLE_S)
                self._idle -= 1
                if not woke and not self._queue:
                    self._alive -= 1
                    return None
            n = min(len(self._queue), self.max_group)
            return [self._queue.popleft() for _ in range(n)]

    def _writer(self) -> None:
        held: sa.Connection | None = None  # one connection for the thread's life: no checkout
        group: list[_Item[Any]] | None = None
        try:
            while (group := self._take()) is not None:
                engine = self._engine()
                if engine is None:  # the engine is gone: nobody waits on a transaction of it
                    for item in group:
                        item.error = RuntimeError("the engine was disposed")
                else:
                    held = _run_group(engine, held, group)
                del engine
                _answer(group)
        except BaseException as exc:  # the thread dies: answer its group, free its place
            with self._cv:
                self._alive -= 1
            for item in group or ():
                if item.error is None and item.result is None:
                    item.error = exc
            _answer(group or [])
            raise
        finally:
            if held is not None:
                with contextlib.suppress(Exception):
                    held.close()

    def pending(self) -> int:
        """Return how many works wait for a writer (for tests and metrics)."""
        return len(self._queue)


def _run_group(
    engine: Engine, held: sa.Connection | None, group: list[_Item[Any]]
) -> sa.Connection | None:
    """Run ``group`` in one transaction on ``held``; return the connection to keep.

    A failure before the commit rolls the group back and runs each work alone through the
    pool (which checks its connections), on a fresh connection: the held one may be broken.
    A failed COMMIT is answered as is to every work of the group: the database may have
    committed it, and running a send again could send it twice.
    """
    gate = SQLITE_GATE if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    with gate:
        try:
            conn = held if held is not None and not held.closed else engine.connect()
        except Exception as exc:  # no connection at all: every work says so
            for item in group:
                item.error = exc
            return None
        try:
            trans = conn.begin()
            for item in group:
                try:
                    item.result = item.work(conn)
                except ClarionError as exc:
                    if _broken(conn):  # a failed statement turned into an answer: start over
                        raise
                    item.error = exc
        except Exception:  # any failure of the group: each work alone, below
            _discard(conn)
        else:
            try:
                trans.commit()
            except Exception as exc:  # outcome unknown: answered, never run again
                for item in group:
                    item.result, item.error = None, exc
                _discard(conn)
                return None
            return conn
    for item in group:  # the group was rolled back: run each work in a transaction of its own
        item.result, item.error = None, None
        try:
            with transaction(engine) as single:
                item.result = item.work(single)
        except Exception as exc:  # answered to that work's caller
            item.error = exc
    return None


def _discard(conn: sa.Connection) -> None:
    """Roll back and close a connection whose state is unknown; invalidate it if unusable."""
    try:
        conn.rollback()
        conn.close()
    except Exception:  # broken beyond a rollback: the pool must not hand it out again
        with contextlib.suppress(Exception):
            conn.invalidate()
            conn.close()


def _broken(conn: sa.Connection) -> bool:
    """Return whether PostgreSQL has aborted the transaction (it would COMMIT as a ROLLBACK)."""
    if conn.dialect.name != "postgresql":
        return False
    from psycopg.pq import TransactionStatus

    dbapi = conn.connection.dbapi_connection
    return dbapi is not None and dbapi.info.transaction_status == TransactionStatus.INERROR


def _answer(group: list[_Item[Any]]) -> None:
    """Settle each work's future: one wake-up per event loop, not one per work."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Item[Any]]] = {}
    blocking: list[_Item[Any]] = []  # run_sync's callers wait on a thread: settled here
    for item in group:
        if item.loop is None:
            blocking.append(item)
        else:
            by_loop.setdefault(item.loop, []).append(item)
    _settle(blocking)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_settle, items)


def _settle(items: list[_Item[Any]]) -> None:
    """Answer each future (asyncio's or a thread's) not answered yet."""
    for item in items:
        # Done already: cancelled (the client went away), or answered by a writer that died
        # while answering.
        if item.future.done():
            continue
        if item.error is None:
            item.future.set_result(item.result)
        else:
            item.future.set_exception(item.error)


_WRITERS: weakref.WeakKeyDictionary[Engine, GroupWriter] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def writer_for(engine: Engine) -> GroupWriter:
    """Return the engine's group writer: one thread on SQLite, four on PostgreSQL.

    PostgreSQL takes several groups at once: a send is two round trips, each waiting for the
    backend. Four is where the tail was lowest on an idle 2-core machine at 500 sends/s
    (p99 10.4 ms with two writers, 9.7 ms with four, 15-18 ms with three, 25-65 ms with eight:
    more threads only queue for the GIL); on a machine loaded by other work eight kept up
    better (493 sends/s against 401 with four), but latency is the target of this path.
    SQLite has one write lock, so a second thread would only wait for it.
    """
    found = _WRITERS.get(engine)
    if found is not None:
        return found
    with _WRITERS_LOCK:
        found = _WRITERS.get(engine)
        if found is None:
            writers = 1 if engine.dialect.name == "sqlite" else 4
            found = _WRITERS[engine] = GroupWriter(engine, writers=writers)
        return found
