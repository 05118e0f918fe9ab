"""Files that say when they are damaged: a record of each index file (size, modification time and
a fast hash over every byte), a cheap check (sizes and times, for every open) and a full one
(every byte, for ``poetry-search info --verify``), and SQLite's own integrity check.

Decisions, each on purpose:

* The hash is XXH3-128 (``xxhash``): the fastest maintained whole-file hash measured here, about
  four times BLAKE3 with all its threads and fifteen times ``hashlib.blake2b``. It guards against
  damage (a torn copy, a bad disk block, an edit), not against someone forging a file, so a
  cryptographic hash would buy nothing. Without ``xxhash`` installed, ``hashlib.blake2b`` is used;
  each record names its algorithm, so either verifies what the other recorded when installed.
* The quick check compares sizes and modification times only: writing into a file (even in place,
  ``dd conv=notrunc``) changes its time. A copy that did not keep times (``cp`` without ``-p``)
  differs only in time: ``check_changed`` hashes just those files before calling them damaged.
* Messages name the file relative to the index folder (a server must not show its absolute paths)
  and the fix.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

CHUNK = 4 << 20
DEFAULT_REBUILD = "poetry-search index --corpus CORPUS --index INDEX"


def default_algo() -> str:
    """The algorithm new records use: ``xxh3_128`` when ``xxhash`` is installed, else ``blake2b``."""
    try:
        import xxhash  # noqa: F401
    except ImportError:
        return "blake2b"
    return "xxh3_128"


def _hasher(algo: str):
    if algo == "xxh3_128":
        from ..errors import require

        return require("xxhash").xxh3_128()
    if algo == "blake3":
        from ..errors import require

        blake3 = require("blake3")
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    if algo in ("blake2b", "sha256"):
        return hashlib.new(algo)
    raise ValueError(f"unknown hash algorithm {algo!r}")


def file_hash(path: str | Path, algo: str | None = None) -> str:
    """The hex digest of every byte of ``path``."""
    h = _hasher(algo or default_algo())
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def file_record(path: str | Path, algo: str | None = None) -> dict:
    """``{"size", "mtime_ns", "hash", "algo"}`` of one file, to keep in the manifest."""
    algo = algo or default_algo()
    st = os.stat(path)
    digest = file_hash(path, algo)
    after = os.stat(path)
    if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
        from ..errors import BuildError

        raise BuildError(f"{Path(path).name} changed while it was being hashed: build the index again, with nothing else writing to it")
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "hash": digest, "algo": algo}


def records(folder: str | Path, names: Iterable[str], algo: str | None = None) -> dict[str, dict]:
    """``{name: file_record(folder / name)}`` for the named files of an index folder."""
    folder = Path(folder)
    return {name: file_record(folder / name, algo) for name in names}


@dataclass(frozen=True)
class Problem:
    """One damaged file: ``kind`` is missing, size, mtime, hash or sqlite; ``detail`` says what
    differs; ``str()`` is the whole message, with the fix."""

    file: str
    kind: str
    detail: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file} {self.detail}: {self.fix}"


def _fix(rebuild: str, verify_hint: bool) -> str:
    first = "run `poetry-search info --verify`, then rebuild" if verify_hint else "rebuild it"
    return f"the index is damaged: {first} with `{rebuild}`"


def _quick(folder: Path, name: str, rec: Mapping, rebuild: str, verify_hint: bool) -> Problem | None:
    fix = _fix(rebuild, verify_hint)
    try:
        st = os.stat(folder / name)
    except FileNotFoundError:
        return Problem(name, "missing", "is missing", fix)
    except OSError as e:
        return Problem(name, "missing", f"cannot be read ({e.strerror})", fix)
    if st.st_size != rec["size"]:
        return Problem(name, "size", f"is {st.st_size:,} bytes, but was {rec['size']:,} when the index was built", fix)
    if st.st_mtime_ns != rec["mtime_ns"]:
        return Problem(name, "mtime", "was modified after the index was built", fix)
    return None


def check_quick(folder: str | Path, records: Mapping[str, Mapping], *, rebuild: str = DEFAULT_REBUILD) -> list[Problem]:
    """Sizes and modification times against ``records`` (no file is read): cheap enough for every
    ``Index.open``. A time that differs is reported too (kind ``mtime``): see ``check_changed``."""
    folder = Path(folder)
    return [p for name, rec in records.items() if (p := _quick(folder, name, rec, rebuild, True))]


def check_changed(folder: str | Path, records: Mapping[str, Mapping], *, rebuild: str = DEFAULT_REBUILD) -> list[Problem]:
    """``check_quick``, then the files whose only difference is their time are hashed: a copy that
    did not keep times passes, a file written in place does not."""
    folder = Path(folder)
    out = []
    for p in check_quick(folder, records, rebuild=rebuild):
        if p.kind == "mtime":
            rec = records[p.file]
            if file_hash(folder / p.file, rec["algo"]) == rec["hash"]:
                continue
            p = Problem(p.file, "hash", "was modified after the index was built (its bytes differ)", _fix(rebuild, False))
        out.append(p)
    return out


def verify(folder: str | Path, records: Mapping[str, Mapping], *, rebuild: str = DEFAULT_REBUILD) -> list[Problem]:
    """Every byte of every file hashed against ``records`` (``poetry-search info --verify``).
    Times are not compared: equal bytes are an intact file, whenever it was written."""
    folder = Path(folder)
    out = []
    for name, rec in records.items():
        p = _quick(folder, name, rec, rebuild, False)
        if p is not None and p.kind != "mtime":
            out.append(p)
            continue
        try:
            digest = file_hash(folder / name, rec["algo"])
        except OSError as e:
            out.append(Problem(name, "missing", f"cannot be read ({e.strerror})", _fix(rebuild, False)))
            continue
        if digest != rec["hash"]:
            out.append(Problem(name, "hash", f"has changed since the index was built ({rec['algo']} differs)",
                               _fix(rebuild, False)))
    return out


RECORDS_NAME = "files.json"


def write_records(folder: str | Path) -> dict[str, dict]:
    """Record every file of an index folder (its last step: nothing is written after it) in
    ``files.json`` beside them, written whole under a temporary name and renamed."""
    import json

    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != RECORDS_NAME and not p.name.startswith("."))
    recs = records(folder, names)
    tmp = folder / f".{RECORDS_NAME}.partial"
    tmp.write_text(json.dumps(recs, indent=1), "utf-8")
    os.replace(tmp, folder / RECORDS_NAME)
    return recs


def read_records(folder: str | Path) -> dict[str, dict] | None:
    """The file records of an index folder; None for an index built before they existed."""
    import json

    path = Path(folder) / RECORDS_NAME
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {RECORDS_NAME: {"size": -1, "mtime_ns": -1, "hash": "", "algo": default_algo()}}


def sqlite_integrity(db_path: str | Path, *, max_errors: int = 20) -> list[str]:
    """SQLite's ``PRAGMA integrity_check`` over a read-only connection: ``[]`` when the database is
    sound, else its findings (at most ``max_errors``), or why it could not be opened."""
    path = Path(db_path)
    if not path.exists():
        return [f"{path.name} is missing"]
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as e:
        return [f"{path.name} cannot be opened ({e})"]
    try:
        rows = conn.execute(f"PRAGMA integrity_check({int(max_errors)})").fetchall()
    except sqlite3.DatabaseError as e:
        return [f"{path.name} is not a readable SQLite database ({e})"]
    finally:
        conn.close()
    found = [r[0] for r in rows]
    return [] if found == ["ok"] else found
