"""Damaged index files are named, with the fix: each file of a built sample index truncated,
overwritten in the middle, deleted; SQLite's own check on a damaged database."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import pytest

from poetry_search.store.integrity import (
    DEFAULT_REBUILD,
    check_changed,
    check_quick,
    default_algo,
    file_hash,
    file_record,
    records,
    sqlite_integrity,
    verify,
)

FIX = "the index is damaged: run `poetry-search info --verify`, then rebuild with `poetry-search index"


@pytest.fixture(scope="module")
def built(sample_index) -> tuple[Path, list[str]]:
    names = sorted(p.name for p in Path(sample_index).iterdir() if p.is_file())
    return Path(sample_index), names


@pytest.fixture
def copy(built, tmp_path) -> tuple[Path, list[str], dict]:
    """A copy of the sample index (times kept) and the records of its files."""
    src, names = built
    dst = tmp_path / "index"
    shutil.copytree(src, dst)  # copy2: times kept, as the manifest recorded them
    return dst, names, records(dst, names)


def _overwrite_middle(path: Path, n: int = 8192) -> None:
    size = path.stat().st_size
    block = random.Random(7).randbytes(min(n, size))
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, block, max(0, size // 2 - len(block) // 2))
    finally:
        os.close(fd)
    assert path.stat().st_size == size


def test_the_sample_index_has_the_files_a_manifest_must_cover(built):
    _, names = built
    assert {"poetry.db", "vectors.faiss"} <= set(names)
    assert len(names) >= 2


def test_hashes_match_an_independent_computation(built):
    src, names = built
    for name in names:
        data = (src / name).read_bytes()
        assert file_hash(src / name, "blake2b") == hashlib.blake2b(data).hexdigest()
        assert file_hash(src / name, "sha256") == hashlib.sha256(data).hexdigest()
        xxhash = pytest.importorskip("xxhash")
        assert file_hash(src / name, "xxh3_128") == xxhash.xxh3_128(data).hexdigest()


def test_a_record_is_size_time_hash_and_algorithm(built):
    src, _ = built
    rec = file_record(src / "vectors.faiss")
    st = os.stat(src / "vectors.faiss")
    assert rec == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "algo": default_algo(),
                   "hash": file_hash(src / "vectors.faiss", default_algo())}


def test_an_intact_copy_passes_every_check(copy):
    folder, names, recs = copy
    assert sorted(recs) == names
    assert check_quick(folder, recs) == []
    assert check_changed(folder, recs) == []
    assert verify(folder, recs) == []
    assert sqlite_integrity(folder / "poetry.db") == []


@pytest.mark.parametrize("name", ["poetry.db", "vectors.faiss", "encoder.onnx", "encoder.onnx.data", "tokenizer.json"])
def test_a_truncated_file_is_named_by_the_quick_check(copy, name):
    folder, names, recs = copy
    if name not in names:
        pytest.skip(f"this build has no {name}")
    size = recs[name]["size"]
    os.truncate(folder / name, size // 2)
    problems = check_quick(folder, recs)
    assert [(p.file, p.kind) for p in problems] == [(name, "size")]
    assert str(problems[0]) == (f"{name} is {size // 2:,} bytes, but was {size:,} when the index was built: "
                                f"{FIX.replace('poetry-search index', DEFAULT_REBUILD)}`")
    assert [(p.file, p.kind) for p in verify(folder, recs)] == [(name, "size")]


@pytest.mark.parametrize("name", ["poetry.db", "vectors.faiss", "encoder.onnx.data", "tokenizer.json"])
def test_a_block_overwritten_in_the_middle(copy, name):
    folder, names, recs = copy
    if name not in names:
        pytest.skip(f"this build has no {name}")
    _overwrite_middle(folder / name)
    quick = check_quick(folder, recs)
    assert [(p.file, p.kind) for p in quick] == [(name, "mtime")]  # writing in place moves the time
    assert str(quick[0]).startswith(f"{name} was modified after the index was built: {FIX}")
    assert [(p.file, p.kind) for p in check_changed(folder, recs)] == [(name, "hash")]
    full = verify(folder, recs, rebuild="poetry-search index --corpus data/sample --index idx")
    assert [(p.file, p.kind) for p in full] == [(name, "hash")]
    assert str(full[0]) == (f"{name} has changed since the index was built ({recs[name]['algo']} differs): "
                            "the index is damaged: rebuild it with `poetry-search index --corpus data/sample --index idx`")


def test_damage_that_kept_the_time_is_found_only_by_verify(copy):
    # a bad disk block or a tool that restores times: only hashing every byte sees it
    folder, _, recs = copy
    _overwrite_middle(folder / "vectors.faiss")
    rec = recs["vectors.faiss"]
    os.utime(folder / "vectors.faiss", ns=(rec["mtime_ns"], rec["mtime_ns"]))
    assert check_quick(folder, recs) == []
    assert [(p.file, p.kind) for p in verify(folder, recs)] == [("vectors.faiss", "hash")]


def test_a_deleted_file_is_missing(copy):
    folder, _, recs = copy
    (folder / "vectors.faiss").unlink()
    for check in (check_quick, check_changed, verify):
        problems = check(folder, recs)
        assert [(p.file, p.kind) for p in problems] == [("vectors.faiss", "missing")]
        assert str(problems[0]).startswith("vectors.faiss is missing: the index is damaged: ")


def test_a_copy_that_did_not_keep_times_is_intact(copy):
    folder, names, recs = copy
    for name in names:
        os.utime(folder / name)  # what `cp -r` without -p does
    assert sorted(p.file for p in check_quick(folder, recs)) == names
    assert check_changed(folder, recs) == []
    assert verify(folder, recs) == []


def test_messages_name_no_absolute_path(copy):
    folder, _, recs = copy
    os.truncate(folder / "poetry.db", 100)
    (folder / "vectors.faiss").unlink()
    problems = verify(folder, recs)
    assert len(problems) == 2
    assert not any(str(folder) in str(p) or "/" in p.file for p in problems)


def test_a_record_in_another_algorithm_verifies(copy):
    folder, names, _ = copy
    recs = records(folder, names, algo="blake2b")
    assert {r["algo"] for r in recs.values()} == {"blake2b"}
    assert verify(folder, recs) == []
    _overwrite_middle(folder / "poetry.db")
    assert [(p.file, p.kind) for p in verify(folder, recs)] == [("poetry.db", "hash")]


def test_sqlite_check_finds_a_damaged_page(copy):
    folder, _, _ = copy
    _overwrite_middle(folder / "poetry.db", 16384)
    found = sqlite_integrity(folder / "poetry.db")
    assert len(found) >= 1
    assert found != ["ok"]
    assert any("malformed" in f or "page" in f.lower() or "btree" in f.lower() or "index" in f.lower() for f in found)


def test_sqlite_check_of_a_truncated_or_foreign_file(copy, tmp_path):
    folder, _, _ = copy
    os.truncate(folder / "poetry.db", (folder / "poetry.db").stat().st_size // 3)
    assert len(sqlite_integrity(folder / "poetry.db")) >= 1
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    assert sqlite_integrity(junk) == ["junk.db is not a readable SQLite database (file is not a database)"]
    assert sqlite_integrity(tmp_path / "absent.db") == ["absent.db is missing"]
