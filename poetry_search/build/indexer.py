"""Building an index: corpus → SQLite, texts → (cache) → vectors → FAISS, then an atomic swap.

A build writes everything into ``.NAME.building-PID`` beside the target and swaps it in only when
complete (``renameat2(RENAME_EXCHANGE)`` on Linux: one atomic step; elsewhere two renames). Until
then the index at the target stays whole and queryable, also when the build is killed. Vectors go
through the embedding cache in committed chunks, so the next run of the same command encodes only
what is missing.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__, files
from ..corpus.normalize import NORMALIZE_VERSION, fold
from ..corpus.reader import CorpusReader, poem_lines
from ..encode.cache import EmbeddingCache, cache_key
from ..encode.encoder import Encoder, resolve_model
from ..errors import BuildError, CorpusError, PoetrySearchError, UsageProblem
from ..options import COMMIT_EVERY, COMMIT_EVERY_ENV, COMMIT_SECONDS, DEFAULT_CORPUS, DEFAULT_INDEX, DEFAULT_MODEL
from ..store import integrity, vectors
from ..store.db import DB_NAME, SCHEMA_VERSION, Store
from ..store.recall import TopK
from .lexicon import build_lexicon
from .prosody import build_prosody

log = logging.getLogger("poetry_search")
CHUNK = 4096  # texts per cache lookup and per encoder call
RECALL_SAMPLE = 1000
RECALL_TARGET = 0.97  # what build-time tuning aims for: a margin over the 0.95 promised, for sampling noise


@dataclass
class BuildReport:
    """What a build did, for the CLI to print and for benchmarks to read."""

    index: str
    poems: int
    lines: int
    texts: int
    encoded: int
    from_cache: int
    seconds: float
    encode_seconds: float
    manifest: dict


def _progress(enabled: bool, total: int, desc: str, unit: str = "line"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, mininterval=0.5, smoothing=0.1)


# -- the target ------------------------------------------------------------------------------


def clean_stale(target: Path) -> list[Path]:
    """Remove temporary folders left by killed builds of ``target`` (their process is gone)."""
    removed = []
    for p in target.parent.glob(f".{target.name}.*-*"):
        kind = p.name.rpartition("-")[0]
        if (kind.endswith(".building") or kind.endswith(".old")) and files.remove_if_orphaned(p):
            removed.append(p)
    return removed


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise UsageProblem(f"{target} exists and is not a folder: pass another --index")
    if target.is_dir():
        entries = [p.name for p in target.iterdir() if p.name != ".gitkeep"]
        if entries and DB_NAME not in entries:
            raise UsageProblem(f"{target} exists and is not a poetry-search index (it holds {', '.join(sorted(entries)[:5])}): "
                               "pass another --index or remove that folder")


# -- the corpus ------------------------------------------------------------------------------


def corpus_fingerprint(root: Path, collections: list[str]) -> str:
    return files.tree_digest(root, [f for name in collections for f in sorted((root / name).rglob("*.json"))])


def load_corpus(reader: CorpusReader, store: Store, progress: bool) -> dict[str, int]:
    """Write poems, lines, texts, authors and glyphs; returns text → id in first-seen order."""
    norm = reader.normalizer()
    text_ids: dict[str, int] = {}
    poem_rows, line_rows, text_rows = [], [], []
    line_id = 0
    bar = _progress(progress, 0, "reading corpus", "poem")

    def flush():
        store.insert_poems(poem_rows)
        store.insert_lines(line_rows)
        store.insert_texts(text_rows)
        poem_rows.clear(), line_rows.clear(), text_rows.clear()

    for poem in reader.poems():
        poem_rows.append((poem.id, poem.collection, fold(poem.book), fold(poem.dynasty), poem.title, fold(poem.title),
                          poem.author, fold(poem.author), poem.form, poem.chapter, poem.section,
                          json.dumps(poem.tags, ensure_ascii=False), json.dumps(poem.paragraphs, ensure_ascii=False),
                          poem.source, poem.position))
        for line in poem_lines(poem, norm):
            tid = text_ids.get(line.text)
            if tid is None:
                tid = text_ids[line.text] = len(text_ids)
                text_rows.append((tid, line.text))
            line_rows.append((line_id, poem.id, tid, line.position, line.paragraph, line.original))
            line_id += 1
        if len(line_rows) >= 50_000:
            flush()
        bar.update(1)
    flush()
    bar.close()
    store.insert_authors((a.name, fold(a.name), a.dynasty, a.bio, a.source) for a in reader.authors)
    store.insert_glyphs(reader.structures)
    store.finish_texts()
    store.commit()
    return text_ids


# -- vectors ---------------------------------------------------------------------------------


def commit_every() -> int:
    """New vectors per cache commit, at most: ``$POETRY_SEARCH_COMMIT_EVERY`` where set, else COMMIT_EVERY."""
    raw = os.environ.get(COMMIT_EVERY_ENV)
    if raw is None or not raw.strip():
        return COMMIT_EVERY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageProblem(f"{COMMIT_EVERY_ENV}={raw!r} is not a count of vectors: set it to a whole number "
                           f"of at least 1 (default {COMMIT_EVERY:,}), or unset it", code="bad_commit_every")
    return value


def encode_missing(texts: list[str], encoder: Encoder, cache: EmbeddingCache, progress: bool,
                   every: int | None = None) -> tuple[int, int]:
    """Make sure every text has a vector in the cache; returns (encoded now, found in cache).

    New vectors are committed to the cache every ``commit_every()`` vectors or COMMIT_SECONDS, whichever
    comes first: a kill loses at most that much work, and the cache is not rewritten page by page
    for every small batch.
    """
    every = every or commit_every()
    encoded = cached = 0
    pending_t: list[str] = []
    pending_v: list[np.ndarray] = []
    last = time.monotonic()
    bar = _progress(progress, len(texts), "encoding")

    def flush():
        nonlocal last
        if pending_t:
            cache.store(pending_t, np.concatenate(pending_v))
            pending_t.clear(), pending_v.clear()
            # Encoding batches of varying shapes leaves freed blocks in glibc's heap: measured ~2.5 KB
            # a line with the 768-d layer-less model (+105 MB over 40k lines, all returned by a trim),
            # gigabytes over the whole corpus before the index even starts. Hand them back.
            files.release_freed_memory()
        last = time.monotonic()

    for s in range(0, len(texts), CHUNK):
        chunk = texts[s:s + CHUNK]
        found = cache.contains(chunk)
        cached += int(found.sum())
        bar.update(int(found.sum()))
        missing = [t for t, f in zip(chunk, found) if not f]
        if missing:
            pending_v.append(encoder.encode(missing, progress=bar.update))
            pending_t.extend(missing)
            encoded += len(missing)
        if len(pending_t) >= every or time.monotonic() - last >= COMMIT_SECONDS:
            flush()
        bar.set_postfix_str(f"from cache {cached:,}", refresh=False)
    flush()
    bar.close()
    return encoded, cached


def build_vectors(texts: list[str], encoder: Encoder, cache: EmbeddingCache, index_type: str, folder: Path,
                  progress: bool, ef_construction: int | None = None):
    """Stream vectors from the cache into a FAISS index; for approximate types, measure recall@10
    on a sample of the corpus's own lines and tune the search depth to reach RECALL_TARGET."""
    n = len(texts)
    kind = vectors.resolve_index_type(index_type, n)
    vec = vectors.Vectors.create(kind, encoder.dimension, n, folder, ef_construction=ef_construction)
    rng = np.random.default_rng(0)
    if vec.needs_training:
        sample = np.sort(rng.choice(n, size=vec.training_size(n), replace=False))
        found, train = cache.lookup([texts[i] for i in sample])
        vec.train(train[found])
    q_ids = np.sort(rng.choice(n, size=min(n, RECALL_SAMPLE), replace=False)) if not vec.exact_type else np.empty(0, np.int64)
    q_vecs = cache.lookup([texts[i] for i in q_ids])[1] if len(q_ids) else None
    k = min(10, n)
    truth = TopK(len(q_ids), k)
    bar = _progress(progress, n, f"indexing ({kind})")
    # Graph indexes add in parallel within a call: give them big batches.
    step = CHUNK if vec.exact_type else 16 * CHUNK
    for s in range(0, n, step):
        parts = []
        for c in range(s, min(n, s + step), CHUNK):
            chunk = texts[c:c + CHUNK]
            found, vecs = cache.lookup(chunk)
            if not found.all():  # the cache lost rows under us (deleted mid-build): encode them again
                missing = [t for t, f in zip(chunk, found) if not f]
                vecs[~found] = encoder.encode(missing)
                cache.store(missing, vecs[~found])
            parts.append(vecs)
        vecs = np.concatenate(parts)
        vec.add(s, vecs)
        if q_vecs is not None:
            # exact top-10 of the recall sample, computed as the vectors stream past (a chunk at a
            # time: 1,000 × 65,536 scores and ids at once would be ~0.8 GB)
            for c in range(0, len(vecs), CHUNK):
                part = vecs[c:c + CHUNK]
                truth.add(q_vecs @ part.T, np.arange(s + c, s + c + len(part)))
        bar.update(len(vecs))
    bar.close()
    vec.finish(folder)
    quality: dict = {"exact": vec.exact_type}
    if not vec.exact_type:
        quality.update(vec.tune(q_vecs, truth.result()[0], k, RECALL_TARGET))
    return vec, kind, quality


# -- the build -------------------------------------------------------------------------------


def build_index(corpus: str | Path = DEFAULT_CORPUS, index_dir: str | Path = DEFAULT_INDEX, model: str = DEFAULT_MODEL, *,
                precision: str = "auto", device: str = "auto", batch_size: int | None = None,
                index_type: str = "auto", cache_dir: str | Path | None = None, strict: bool = False,
                progress: bool = False, lexical_only: bool = False, onnx: bool = True,
                ef_construction: int | None = None, ray: str | None = None, ray_workers: int | None = None) -> BuildReport:
    """Build (or rebuild) the index at ``index_dir`` from ``corpus`` with ``model``.

    ``lexical_only``: no model and no vectors; the lexical index (find, poem) alone. ``onnx``: also
    put the ONNX query encoder in it (see ``encode.onnx_export``). ``ef_construction``: the HNSW graph's
    build depth (default ``vectors.HNSW_EF_CONSTRUCTION``). ``ray``: encode the lines the cache
    lacks on a Ray cluster (``"auto"`` or its address; ``build.ray_encode``) with ``ray_workers``
    actors; the rest of the build is the same, and the manifest says where the vectors came from."""
    t0 = time.perf_counter()
    say = log.info
    target = Path(index_dir)
    _check_target(target)
    every = commit_every()
    ray_connected = False
    reader = CorpusReader(corpus, strict=strict, echo=lambda m: log.warning(m.removeprefix("warning: ")))
    if lexical_only:
        encoder = None
        say("lexical only: no model is loaded and no vectors are built")
    elif ray:
        from .ray_encode import connect, probe_cluster

        if lexical_only:
            raise UsageProblem("--ray encodes lines: it makes no sense with --lexical-only")
        ray_connected = connect(ray)
        resolved = resolve_model(model)  # every node must hold these very files
        ray_plan = probe_cluster(model, address=ray, device=device, precision=precision, concurrency=ray_workers,
                                 batch_size=batch_size, expect_fingerprint=resolved.fingerprint)
        # the driver's own encoder: the cache key, the ONNX export, re-encoding a line the cache lost
        encoder = Encoder(model, device="cpu", precision=ray_plan.precision, batch_size=batch_size)
        say(f"model {encoder.resolved.spec} on Ray at {ray_plan.address}: {ray_plan.concurrency} worker(s) on "
            f"{ray_plan.device}, precision {ray_plan.precision}")
    else:
        encoder = Encoder(model, device=device, precision=precision, batch_size=batch_size)
        say(f"model {encoder.resolved.spec} ({encoder.resolved.source}, {encoder.dimension} dimensions) "
            f"on {encoder.device}, precision {encoder.precision}")
    target.parent.mkdir(parents=True, exist_ok=True)
    for p in clean_stale(target):
        say(f"removed {p.name}, left by an interrupted build")
    tmp = target.with_name(f".{target.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cache = None
    try:
        tmp.mkdir()
        store = Store(tmp / DB_NAME, create=True)
        text_ids = load_corpus(reader, store, progress)
        texts = list(text_ids)
        del text_ids
        if not texts:
            raise CorpusError(f"{corpus} holds no lines to index: check the folder (poetry-search corpus {corpus})")
        t_lex = time.perf_counter()
        lexical = build_lexicon(store, reader.root, fold, texts, folder=tmp)  # near.npz: before files.json
        lexical["build_seconds"] = round(time.perf_counter() - t_lex, 2)
        store.commit()
        prosody = build_prosody(store, texts, reader.normalizer(), progress)
        store.commit()
        if lexical_only:
            encoded = from_cache = 0
            encode_seconds = 0.0
            vec, kind, quality = None, None, {}
            described = {"model": None, "lexical_only": True}
        else:
            cache = EmbeddingCache(cache_dir, cache_key(encoder.describe()))
            t_enc = time.perf_counter()
            if ray:
                from .ray_encode import BLOCK_LINES, encode_missing_on_ray

                encoded, from_cache, ray_report = encode_missing_on_ray(
                    texts, cache, ray_plan, commit_every=every, commit_seconds=COMMIT_SECONDS,
                    block_lines=min(BLOCK_LINES, every), progress=progress)
            else:
                encoded, from_cache = encode_missing(texts, encoder, cache, progress, every)
            encode_seconds = time.perf_counter() - t_enc
            vec, kind, quality = build_vectors(texts, encoder, cache, index_type, tmp, progress, ef_construction)
            described = encoder.describe()
            if ray:
                described.update(device=ray_plan.device, **ray_report.manifest())
        onnx_record = _export_onnx(encoder.resolved, cache_dir, tmp, texts, target, say) if onnx and not lexical_only else None
        counts = {"poems": store.count("poems"), "lines": store.count("lines"), "texts": len(texts),
                  "authors": store.count("authors")}
        manifest = {
            "poetry_search_version": __version__,
            "schema_version": SCHEMA_VERSION,
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **described,
            "normalize_version": NORMALIZE_VERSION,
            "corpus": str(Path(corpus).resolve()),
            "corpus_fingerprint": corpus_fingerprint(reader.root, reader.collections),
            "collections": reader.collections,
            "skipped_files": reader.warnings.skipped,
            "counts": counts,
            "index_type": kind,
            "faiss_factory": vectors.factory_string(kind, len(texts)) if kind else None,
            "search_depth": vec.depth() if vec is not None else {},
            "lexical": lexical,
            "prosody": prosody,
            **quality,
            "build_seconds": round(time.perf_counter() - t0, 2),
            "encoded": encoded,
            "from_cache": from_cache,
        }
        if onnx_record:
            manifest["onnx"] = onnx_record
        store.set_manifest(manifest)
        store.commit()
        store.close()
        if vec is not None:
            vec.save(tmp)
        integrity.write_records(tmp)  # last: the record of every file as it is now
        files.fsync_tree(tmp)
        files.swap_in(tmp, target)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, (PoetrySearchError, KeyboardInterrupt)):
            raise
        if isinstance(e, (OSError, sqlite3.Error, MemoryError)):
            raise BuildError(f"the build failed ({type(e).__name__}: {e}); the index at {target} was left as it was") from e
        raise
    finally:
        if cache is not None:
            cache.close()
        if ray and ray_connected:
            import ray as ray_lib

            ray_lib.shutdown()
    return BuildReport(str(target), counts["poems"], counts["lines"], len(texts), encoded, from_cache,
                       time.perf_counter() - t0, encode_seconds, manifest)


def _check_lines(texts: Sequence[str], n: int = 48) -> list[str]:
    """Corpus lines spread over the whole table, for checking an export against torch."""
    return list(texts[::max(1, len(texts) // n)][:n])


def _export_onnx(resolved, cache_dir, folder: Path, texts: Sequence[str], target: Path, say) -> dict | None:
    """The ONNX query encoder, into ``folder``; a failure costs only query speed, so it warns."""
    from ..encode.onnx_export import export_encoder, install

    t = time.perf_counter()
    try:
        export, record = export_encoder(resolved, cache_dir, _check_lines(texts))
        record = install(export, record, folder)
    except Exception as e:  # noqa: BLE001 - any export failure leaves a working (torch-queried) index
        log.warning(f"the ONNX query encoder was not made ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}): "
                    f"queries will load torch; try again with `poetry-search index --index {target} --export-onnx`")
        return None
    say(f"ONNX query encoder ready in {time.perf_counter() - t:.1f}s (min cosine to torch {record['checked']['min_cosine']})")
    return record


def add_onnx_export(index_dir: str | Path = DEFAULT_INDEX, cache_dir: str | Path | None = None) -> dict:
    """Add the ONNX query encoder to an existing index, re-encoding nothing; returns its record."""
    from ..encode.onnx_export import export_encoder, install
    from ..errors import IndexNotFoundError, ModelMismatchError

    say = log.info
    target = Path(index_dir)
    if not (target / DB_NAME).exists():
        raise IndexNotFoundError(f"no index at {target}: build one with `poetry-search index --index {target}`")
    store = Store(target / DB_NAME)
    try:
        m = store.manifest()
        if not m.get("counts"):
            raise IndexNotFoundError(f"{target} holds an unfinished build: rebuild it with `poetry-search index --index {target}`")
        if m.get("lexical_only") or not m.get("model"):
            raise UsageProblem(f"the index at {target} has no model (built with --lexical-only): nothing to export; "
                               f"rebuild it with `poetry-search index --index {target} --model M`")
        resolved = resolve_model(m["model"], {"fingerprint": m.get("model_fingerprint"), "files": m.get("model_files")})
        if resolved.fingerprint != m.get("model_fingerprint"):
            raise ModelMismatchError(f"the files of model {m['model']} changed since the index at {target} was built "
                                     f"(fingerprint {resolved.fingerprint}, index has {m.get('model_fingerprint')}): "
                                     f"rebuild it with `poetry-search index --index {target} --model {m['model']}`")
        t = time.perf_counter()
        export, record = export_encoder(resolved, cache_dir, store.spread_texts(48))
        if record["dimension"] != m.get("dimension"):
            raise BuildError(f"the export has dimension {record['dimension']}, the index {m.get('dimension')}: rebuild the index")
        record = install(export, record, target)
        store.set_manifest({"onnx": record})
        store.commit()
        integrity.write_records(target)  # the database and the new files, as they are now
        say(f"ONNX query encoder added to {target} in {time.perf_counter() - t:.1f}s "
            f"(min cosine to torch {record['checked']['min_cosine']})")
        return record
    finally:
        store.close()


__all__ = ["build_index", "add_onnx_export", "BuildReport"]
