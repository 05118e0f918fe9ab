"""Writing bulk nearest neighbours (``neighbours.py``'s batches) to Parquet, JSONL or CSV.

Rows are written batch by batch as FAISS returns them, into a temporary file beside the target
that is renamed over it only when the export is complete: an interrupted export leaves no half
file under the target name.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from .. import files
from ..errors import PoetrySearchError, UsageProblem
from ..options import FORMATS, NEIGHBOURS_BATCH_SIZE
from .neighbours import NeighbourBatch, check_options


class NeighbourSource(Protocol):
    """What an export reads: ``Index.neighbours``'s batches."""

    def neighbours(self, **options) -> Iterator[NeighbourBatch]: ...

_NAMES = f"{', '.join(list(FORMATS)[:-1])} or {list(FORMATS)[-1]}"


def format_for(path: str | Path) -> str:
    """The format a file name asks for, by its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageProblem(f"unknown output format {suffix or '(no extension)'!r} for {path}: name the file {_NAMES}")
    return FORMATS[suffix]


def check_out(out: str | Path) -> str:
    """Refuse an output path that cannot be written (before any work); returns its format."""
    out = Path(out)
    fmt = format_for(out)
    if out.is_dir():
        raise UsageProblem(f"{out} is a folder: pass a file name ending in {_NAMES}")
    if not out.parent.exists():
        raise UsageProblem(f"the folder {out.parent} does not exist: create it or pass another --out")
    if not out.parent.is_dir():
        raise UsageProblem(f"cannot write in {out.parent}: it is a file, not a folder: pass another --out")
    if not os.access(out.parent, os.W_OK):
        raise UsageProblem(f"cannot write in {out.parent} (permission denied): pass another --out")
    return fmt


def read_queries(source: str) -> list[str]:
    """Queries one a line (plain text, or JSONL with a ``text`` field); ``-`` reads stdin."""
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageProblem(f"no queries file at {source}: pass a file with one query a line, or - for stdin") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageProblem(f"cannot read the queries file {source} ({e}): it must be UTF-8 text, one query a line") from None
    lines = raw.splitlines()
    if not any(line.strip() for line in lines):
        raise UsageProblem(f"the queries file {source} is empty: put one query a line")
    out = []
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except json.JSONDecodeError:
                raise UsageProblem(f"{source} line {n}: not valid JSON; give one query a line or JSONL with a 'text' field") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise UsageProblem(f"{source} line {n}: a JSONL query needs a 'text' field")
            s = obj["text"]
        if not s.strip():
            raise UsageProblem(f"{source} line {n} is empty: every line is a query (its number is query_id)")
        out.append(s)
    return out


class _Writer:
    def __init__(self, path: Path, fmt: str, schema):
        self.fmt, self.path = fmt, path
        self.columns = schema.names
        if fmt == "parquet":
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(str(path), schema, compression="zstd")
        else:
            self.fh = open(path, "w", encoding="utf-8", newline="")
            if fmt == "csv":
                self.csv = csv.writer(self.fh)
                self.csv.writerow(self.columns)

    def write(self, batch: NeighbourBatch) -> None:
        if self.fmt == "parquet":
            self.writer.write_batch(batch.rows)
            return
        cols = [batch.rows.column(c).to_pylist() for c in self.columns]
        score_i = self.columns.index("score")
        # float32 → shortest decimal that reads back to the same float32
        cols[score_i] = [float(f"{x:.7g}") for x in cols[score_i]]
        if self.fmt == "csv":
            self.csv.writerows(zip(*cols))
        else:
            names = self.columns
            self.fh.write("".join(json.dumps(dict(zip(names, row)), ensure_ascii=False) + "\n" for row in zip(*cols)))

    def close(self) -> None:
        if self.fmt == "parquet":
            self.writer.close()
        else:
            files.fsync_file(self.fh)
            self.fh.close()


def export_neighbours(index: NeighbourSource, out: str | Path, k: int = 10, exclude: str = "self", min_score: float | None = None,
                      queries: Sequence[str] | None = None, batch_size: int = NEIGHBOURS_BATCH_SIZE, with_meta: bool = False,
                      progress: Callable[[int, int], None] | None = None, method: str = "auto",
                      say: Callable[[str], None] | None = None,
                      stage_progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Write the k nearest neighbours of every line (or of ``queries``) to ``out``; returns counts
    and ``quality``: how they were found, and their recall@k against exact search on a sample.
    ``progress(queries, rows)`` follows the writing; ``say`` and ``stage_progress`` the stages
    before it (``Index.neighbours``)."""
    from .neighbours import schema

    out = Path(out)
    fmt = check_out(out)
    check_options(k, exclude, min_score, batch_size, method, queries is not None)
    batches: Iterator[NeighbourBatch] = index.neighbours(k=k, exclude=exclude, min_score=min_score, queries=queries,
                                                         batch_size=batch_size, with_meta=with_meta, method=method,
                                                         say=say, stage_progress=stage_progress)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    rows = queries_done = 0
    quality = None
    writer = None
    try:
        first = next(batches)  # errors of the queries surface before anything is created
        writer = _Writer(tmp, fmt, schema(with_meta))
        batch = first
        while batch is not None:
            writer.write(batch)
            rows += len(batch)
            queries_done += batch.queries
            quality = batch.quality or quality
            if progress:
                progress(batch.queries, len(batch))
            batch = next(batches, None)
        writer.close()
        writer = None
        os.replace(tmp, out)
    except BaseException as e:
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - already failing; the partial file goes anyway
                pass
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise PoetrySearchError(f"cannot write {out} ({e}); nothing was written there") from None
        raise
    return {"out": str(out), "format": fmt, "rows": rows, "queries": queries_done, "quality": quality}
