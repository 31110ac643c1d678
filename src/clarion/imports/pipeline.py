"""The generic import pipeline: reader -> cleaner (worker processes) -> chunked sink.

The main process cuts the file into chunks and hands them to a small process pool that parses
(CSV), maps and validates them (for contacts, phone parsing dominates the cost), while it writes
the previous chunks.
Only a bounded number of chunks are ever in flight, so memory stays flat whatever the file size.
Each chunk is written in its own transaction: a crash or a bad row later in the file never
loses what was already accepted, and a re-run merges into it without change.

A kind of import (contacts, events, orders) supplies two functions:

- ``clean(rows, config) -> Cleaned``: pure, picklable (module-level), run in the workers;
- ``sink(conn, actor, accepted) -> Counter``: writes the accepted records and counts outcomes.
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing
import os
import queue
import resource
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from clarion.audit.service import Actor, record
from clarion.contacts.cleaning import Reject
from clarion.contacts.tables import import_jobs
from clarion.db.types import utcnow
from clarion.gcpolicy import fewer_collections
from clarion.imports.readers import CsvBlock, Row, RowError, Source, block_rows, splittable

CHUNK_ROWS = 10_000
#: Files larger than this are cleaned in worker processes (below it, start-up costs more).
POOL_MIN_BYTES = 4 * 1024 * 1024


@dataclass
class Cleaned:
    """What a cleaner made of one chunk: records to write and rows refused."""

    accepted: list[Any]
    rejects: list[Reject]


Cleaner = Callable[[Sequence[Row]], Cleaned]
#: A sink returns outcome counts, and may refuse records the cleaner could not judge (an
#: unknown contact id, say): those come back as rejects keyed by file row.
Sink = Callable[[sa.Connection, Actor, list[Any]], Counter[str] | tuple[Counter[str], list[Reject]]]
GroupBy = Callable[[dict[str, Any]], Any]


@dataclass
class ImportReport:
    """The cleaning report of one import: counts by outcome, reasons, speed, rejects file."""

    job_id: int
    kind: str
    filename: str
    encoding: str | None
    rows: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    rejects_path: str | None = None
    peak_rss_mb: float = 0.0
    workers: int = 0

    @property
    def rows_per_second(self) -> float:
        """Return the rows read per second of wall time."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the report as stored in ``import_jobs.report`` and printed as JSON."""
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "filename": self.filename,
            "encoding": self.encoding,
            "rows": self.rows,
            "outcomes": dict(sorted(self.outcomes.items())),
            "rejected": self.rejected,
            "reasons": dict(self.reasons.most_common()),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "rejects_path": self.rejects_path,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "workers": self.workers,
        }

    def __str__(self) -> str:
        lines = [
            f"import #{self.job_id} of {self.kind} from {self.filename}"
            + (f" ({self.encoding})" if self.encoding else ""),
            f"  rows read      {self.rows:>10,}",
        ]
        for outcome, n in sorted(self.outcomes.items()):
            lines.append(f"  {outcome:<14} {n:>10,}")
        lines.append(f"  {'rejected':<14} {self.rejected:>10,}")
        for reason, n in self.reasons.most_common(12):
            lines.append(f"    {reason:<28} {n:>10,}")
        lines.append(
            f"  {self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s, "
            f"peak memory {self.peak_rss_mb:.0f} MB"
        )
        if self.rejects_path:
            lines.append(f"  rejects: {self.rejects_path}")
        return "\n".join(lines)


class RejectsFile:
    """The rejects CSV (row, field, value, reason), created on the first reject only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._writer: Any = None

    def write(self, rejects: Sequence[Reject]) -> None:
        if not rejects:
            return
        if self._writer is None:
            self._file = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._file)
            self._writer.writerow(["row", "field", "value", "reason"])
        for r in rejects:
            self._writer.writerow([r.index, r.field, "" if r.value is None else r.value, r.reason])
        assert self._file is not None
        self._file.flush()

    def close(self) -> str | None:
        if self._file is None:
            return None
        self._file.close()
        return str(self.path)


def _group(row: Row, group_by: GroupBy | None) -> Any:
    data = row[1]
    return None if group_by is None or isinstance(data, RowError) else group_by(data)


def _chunks(rows: Iterator[Row], size: int, group_by: GroupBy | None = None) -> Iterator[list[Row]]:
    """Yield lists of ``size`` rows; with ``group_by``, never split rows of one group."""
    chunk: list[Row] = []
    for row in rows:
        if len(chunk) >= size:
            last = _group(chunk[-1], group_by)
            if last is None or _group(row, group_by) != last:
                yield chunk
                chunk = []
        chunk.append(row)
    if chunk:
        yield chunk


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _auto_workers(size: int) -> int:
    cpus = os.cpu_count() or 1
    return min(2, cpus) if cpus > 1 and size >= POOL_MIN_BYTES else 0


@dataclass(frozen=True)
class Codec:
    """How a kind of import sends cleaned chunks from worker processes: ``pack`` there,
    ``unpack`` in the main process. Pickling named tuples by the hundred thousand cost the
    main process more than merging them; a kind can send plainer data (see contacts)."""

    pack: Callable[[Cleaned], Any]
    unpack: Callable[[Any], Cleaned]


def _clean_rows(clean: Cleaner, pack: Callable[[Cleaned], Any] | None, rows: list[Row]) -> Any:
    """Clean a chunk of parsed rows in a worker; return (rows, packed cleaned chunk)."""
    cleaned = clean(rows)
    return len(rows), pack(cleaned) if pack is not None else cleaned


def _clean_block(clean: Cleaner, pack: Callable[[Cleaned], Any] | None, block: CsvBlock) -> Any:
    """Parse and clean a block of CSV records in a worker; return (rows, packed chunk)."""
    return _clean_rows(clean, pack, list(block_rows(block)))


def _cleaned_chunks(
    work: Iterator[Any],
    task: Callable[[Cleaner, Callable[[Cleaned], Any] | None, Any], Any],
    clean: Cleaner,
    workers: int,
    codec: Codec | None,
) -> Iterator[tuple[int, Cleaned]]:
    """Yield (rows in chunk, cleaned chunk) in file order, cleaning ahead in worker processes.

    ``work`` items are lists of rows, or CSV blocks that the workers parse (``task`` says which).
    """
    if workers <= 0:
        for item in work:
            yield task(clean, None, item)
        return
    # fork: workers start instantly and inherit the loaded numbering-plan data.
    ctx = multiprocessing.get_context("fork")
    pending: deque[Future[Any]] = deque()
    pack = codec.pack if codec is not None else None

    def done(fut: Future[Any]) -> tuple[int, Cleaned]:
        n, got = fut.result()
        return n, codec.unpack(got) if codec is not None else got

    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for item in work:
            pending.append(pool.submit(task, clean, pack, item))
            if len(pending) > workers + 1:
                yield done(pending.popleft())
        while pending:
            yield done(pending.popleft())


_DONE: Any = object()
_ABORT: Any = object()


class _Writer:
    """The sink's side of an import: a thread that writes cleaned chunks and commits them
    (on PostgreSQL; SQLite imports write in the main thread, see ``run_import``).

    The main thread collects the workers' cleaned chunks (unpickling and unpacking them costs
    Python time) while this thread merges the previous ones, whose database statements release
    the GIL while the server works: the two overlap instead of taking turns. The queue holds
    one chunk, so memory stays flat. Chunks are written and committed in file order, in one
    transaction per ``commit_rows`` rows, exactly as a single thread would. An error in the
    writer rolls its open transaction back and is raised in the main thread (the job is then
    marked failed with it); an error in the main thread makes the writer roll back too.
    """

    def __init__(
        self,
        engine: Engine,
        actor: Actor,
        sink: Sink,
        commit_rows: int,
        report: ImportReport,
        rejects: RejectsFile,
        bar: _Progress | None,
    ) -> None:
        self.engine = engine
        self.actor = actor
        self.sink = sink
        self.commit_rows = commit_rows
        self.report = report
        self.rejects = rejects
        self.bar = bar
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="import-writer", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put(self, item: tuple[int, Cleaned]) -> None:
        """Hand a cleaned chunk to the writer; raise the writer's error if it has failed."""
        while True:
            self._raise_if_failed()
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def stop(self, *, abort: bool) -> None:
        """Finish (commit what is held) or abort (roll it back); wait for the thread."""
        sentinel = _ABORT if abort else _DONE
        while self.thread.is_alive():
            try:
                self.queue.put(sentinel, timeout=0.2)
                break
            except queue.Full:
                continue
        self.thread.join()
        if not abort and self.error is not None:
            raise self.error

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error
        if not self.thread.is_alive():
            raise RuntimeError("the import's writer thread stopped")

    def _run(self) -> None:
        try:
            self.write(self.queue.get)
        except BaseException as exc:  # handed to the main thread
            self.error = exc
            # Unblock a main thread waiting to put: nothing more will be taken.
            while True:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    break

    def write(self, get: Callable[[], Any]) -> None:
        """Write the chunks ``get`` returns until it returns ``_DONE`` (or ``_ABORT``).

        The thread's loop, over its queue; SQLite imports call it directly, over the chunks.
        """
        report, more = self.report, True
        while more:
            item = get()
            if item is _DONE or item is _ABORT:
                return
            # One transaction per ``commit_rows`` rows (at least one chunk): outcomes count
            # once it is committed.
            held: Counter[str] = Counter()
            held_rows = 0
            with self.engine.begin() as conn:
                while True:
                    n_rows, cleaned = item
                    outcome = self.sink(conn, self.actor, cleaned.accepted)
                    counts, refused = outcome if isinstance(outcome, tuple) else (outcome, [])
                    held.update(counts)
                    held_rows += n_rows
                    refused = cleaned.rejects + refused
                    self.rejects.write(refused)
                    report.rejected += len({r.index for r in refused})
                    report.reasons.update(f"{r.field}:{r.reason.split(':')[0]}" for r in refused)
                    if self.bar is not None:
                        self.bar.advance(report.rows + held_rows)
                    if held_rows >= self.commit_rows:
                        break
                    item = get()
                    if item is _ABORT:
                        raise _Aborted
                    if item is _DONE:
                        more = False
                        break
            report.outcomes.update(held)
            report.rows += held_rows


class _Aborted(Exception):
    """The main thread failed: the writer rolls its open transaction back."""


def run_import(
    engine: Engine,
    actor: Actor,
    path: Path,
    *,
    kind: str,
    clean: Cleaner,
    sink: Sink,
    fmt: str | None = None,
    encoding: str | None = None,
    rejects_path: Path | None = None,
    progress: bool = False,
    workers: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    group_by: GroupBy | None = None,
    codec: Codec | None = None,
    commit_rows: int = 0,
) -> ImportReport:
    """Import ``path`` chunk by chunk through ``clean`` and ``sink``; record the report.

    Chunks are written in one transaction per ``commit_rows`` rows (0: one per chunk).
    """
    started = time.perf_counter()
    source = Source(path, fmt, encoding)
    n_workers = _auto_workers(source.size) if workers is None else workers
    with engine.begin() as conn:
        job_id = conn.execute(
            import_jobs.insert()
            .values(
                workspace_id=actor.workspace_id,
                kind=kind,
                filename=path.name,
                file_sha256=_sha256(path),
                status="running",
                actor=actor.label,
                report={},
                started_at=utcnow(),
            )
            .returning(import_jobs.c.id)
        ).scalar_one()
        record(conn, actor, "import.start", "import_job", job_id, {"kind": kind, "file": path.name})
    report = ImportReport(int(job_id), kind, path.name, source.encoding, workers=n_workers)
    rejects = RejectsFile(rejects_path or path.with_name(f"{path.stem}.rejects.csv"))
    bar = _Progress(source, path.name) if progress else None
    try:
        work: Iterator[Any]
        task: Callable[[Cleaner, Any, Any], Any]
        if (
            n_workers > 0
            and group_by is None
            and source.fmt == "csv"
            and splittable(source.encoding)
        ):
            # The workers parse the CSV too: this process only cuts the file into blocks.
            work, task = source.csv_blocks(chunk_rows), _clean_block
        else:
            work, task = _chunks(source.rows(), chunk_rows, group_by), _clean_rows
        chunks = _cleaned_chunks(work, task, clean, n_workers, codec)
        writer = _Writer(engine, actor, sink, commit_rows, report, rejects, bar)
        with fewer_collections():
            if engine.dialect.name != "postgresql":
                # SQLite works inside this process: no server to overlap with, and sqlite3
                # releases the GIL around every row of an executemany, each time waiting to
                # get it back from a busy thread (a 1M import took a third longer threaded).
                writer.write(lambda: next(chunks, _DONE))
            else:
                writer.start()
                try:
                    for item in chunks:
                        writer.put(item)
                except BaseException:
                    writer.stop(abort=True)
                    raise
                writer.stop(abort=False)
    except BaseException as exc:
        report.rejects_path = rejects.close()
        _finish(engine, actor, report, started, status="failed", error=repr(exc))
        raise
    finally:
        if bar is not None:
            bar.close()
    report.rejects_path = rejects.close()
    _finish(engine, actor, report, started, status="completed")
    return report


def _finish(
    engine: Engine,
    actor: Actor,
    report: ImportReport,
    started: float,
    *,
    status: str,
    error: str | None = None,
) -> None:
    report.seconds = time.perf_counter() - started
    report.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    body = report.to_dict() | ({"error": error} if error else {})
    with engine.begin() as conn:
        conn.execute(
            import_jobs.update()
            .where(import_jobs.c.id == report.job_id)
            .values(status=status, report=body, finished_at=utcnow())
        )
        record(conn, actor, f"import.{status}", "import_job", report.job_id, body)


class _Progress:
    """A rich progress bar over the bytes (or spreadsheet rows) of the source."""

    def __init__(self, source: Source, label: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.source = source
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task(label, total=max(source.size, 1), rows=0)
        self.progress.start()

    def advance(self, rows: int) -> None:
        self.progress.update(self.task, completed=self.source.position(), rows=rows)

    def close(self) -> None:
        self.progress.update(self.task, completed=self.source.size)
        self.progress.stop()
