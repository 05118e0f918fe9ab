"""Bulk nearest neighbours, streamed to Parquet, JSONL or CSV.

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

from .errors import PoetrySearchError, UsageProblem

FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".csv": "csv"}
COLUMNS = ["query_id", "query_text", "rank", "neighbor_id", "neighbor_text", "score"]
META = ["author", "title", "dynasty"]


def format_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageProblem(f"unknown output format {suffix or '(no extension)'!r} for {path}: "
                           f"name the file .parquet, .jsonl or .csv")
    return FORMATS[suffix]


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
    def __init__(self, path: Path, fmt: str, with_meta: bool):
        self.fmt, self.path = fmt, path
        self.columns = COLUMNS + ([f"query_{m}" for m in META] + [f"neighbor_{m}" for m in META] if with_meta else [])
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            types = {"query_id": pa.int64(), "rank": pa.int32(), "neighbor_id": pa.int64(), "score": pa.float32()}
            self.schema = pa.schema([(c, types.get(c, pa.string())) for c in self.columns])
            self.pa = pa
            self.writer = pq.ParquetWriter(str(path), self.schema, compression="zstd")
        else:
            self.fh = open(path, "w", encoding="utf-8", newline="")
            if fmt == "csv":
                self.csv = csv.writer(self.fh)
                self.csv.writerow(self.columns)

    def write(self, batch: dict) -> None:
        if self.fmt == "parquet":
            self.writer.write_table(self.pa.table({c: batch[c] for c in self.columns}, schema=self.schema))
            return
        cols = [batch[c] for c in self.columns]
        cols = [c.to_pylist() if hasattr(c, "to_pylist") else c.tolist() if hasattr(c, "tolist") else c for c in cols]
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
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()


def _with_meta(index, batch: dict) -> dict:
    """Add author/title/dynasty of both sides' first occurrence (``take`` from cached columns)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    for side, key in (("query", "_query_text_id"), ("neighbor", "neighbor_id")):
        ids = np.asarray(batch[key], dtype=np.int64)
        valid = ids >= 0  # an external query that is not a corpus line has no metadata
        for m in META:
            values = index.column(m).take(np.where(valid, ids, 0))
            if not valid.all():
                values = pc.if_else(pa.array(valid), values, pa.nulls(len(ids), pa.string()))
            batch[f"{side}_{m}"] = values
    return batch


def export_neighbours(index, out: str | Path, k: int = 10, exclude: str = "self", min_score: float | None = None,
                      queries: Sequence[str] | None = None, batch_size: int = 1024, with_meta: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """Write the k nearest neighbours of every line (or of ``queries``) to ``out``; returns counts."""
    out = Path(out)
    fmt = format_for(out)
    if batch_size < 1:
        raise UsageProblem("--batch-size must be at least 1")
    if out.is_dir():
        raise UsageProblem(f"{out} is a folder: pass a file name ending in .parquet, .jsonl or .csv")
    if not out.parent.exists():
        raise UsageProblem(f"the folder {out.parent} does not exist: create it or pass another --out")
    if not os.access(out.parent, os.W_OK):
        raise UsageProblem(f"cannot write in {out.parent} (permission denied): pass another --out")
    batches: Iterator[dict] = index.neighbours(k=k, exclude=exclude, min_score=min_score, queries=queries,
                                               batch_size=batch_size)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    rows = queries_done = 0
    writer = None
    try:
        first = next(batches)  # validation errors surface before anything is created
        writer = _Writer(tmp, fmt, with_meta)
        batch = first
        while batch is not None:
            if with_meta:
                batch = _with_meta(index, batch)
            writer.write(batch)
            rows += len(batch["rank"])
            queries_done += batch["_queries"]
            if progress:
                progress(batch["_queries"], len(batch["rank"]))
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
    return {"out": str(out), "format": fmt, "rows": rows, "queries": queries_done}
