"""Shared fixtures: one tiny random BERT and one sample index per test session, built locally and
loaded through the same code paths users take. No network."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from ray_cluster import ray_head_fixture

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"

# Never reach for a hub from a test, and keep the embedding cache out of the user's home.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("embedding-cache")
    old = os.environ.get("POETRY_SEARCH_CACHE")
    os.environ["POETRY_SEARCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("POETRY_SEARCH_CACHE", None)
    else:
        os.environ["POETRY_SEARCH_CACHE"] = old


# One Ray head on 127.0.0.1 for the whole session, shared by every test file that asks for it.
ray_head = ray_head_fixture(num_cpus=2)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    from random_models import make_random_bert

    return str(make_random_bert(tmp_path_factory.mktemp("models") / "tiny-bert", "tiny", seed=0))


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, tiny_model) -> Path:
    from poetry_search import build_index

    path = tmp_path_factory.mktemp("indexes") / "sample"
    build_index(SAMPLE, path, model=tiny_model, precision="fp32")
    return path


@pytest.fixture(scope="session")
def hnsw_index(tmp_path_factory, tiny_model) -> Path:
    """The sample as an HNSW index (approximate search), shared by every file that only reads it."""
    from poetry_search import build_index

    path = tmp_path_factory.mktemp("indexes") / "sample-hnsw"
    build_index(SAMPLE, path, model=tiny_model, precision="fp32", index_type="hnsw")
    return path


@pytest.fixture(scope="session")
def ivf_index(tmp_path_factory, tiny_model) -> Path:
    """The sample as an IVF index."""
    from poetry_search import build_index

    path = tmp_path_factory.mktemp("indexes") / "sample-ivf"
    build_index(SAMPLE, path, model=tiny_model, precision="fp32", index_type="ivf")
    return path


@pytest.fixture(scope="session")
def lexical_sample_index(tmp_path_factory) -> Path:
    """The sample built --lexical-only (no model, no vectors)."""
    from poetry_search import build_index

    path = tmp_path_factory.mktemp("indexes") / "sample-lexical"
    build_index(SAMPLE, path, lexical_only=True)
    return path


@pytest.fixture(scope="session")
def opened(sample_index):
    from poetry_search import Index

    return Index.open(sample_index)


class Reference:
    """The reference method with plain transformers, written independently of poetry_search:
    ``torch.mean(model(tokenizer.encode(line, return_tensors='pt')).last_hidden_state, dim=1)``,
    divided by its norm."""

    def __init__(self, model_path: str):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModel.from_pretrained(model_path).eval()

    def one(self, line: str) -> np.ndarray:
        with self.torch.inference_mode():
            v = self.torch.mean(self.model(self.tok.encode(line, return_tensors="pt")).last_hidden_state, dim=1)[0]
        return (v / v.norm()).numpy()

    def many(self, lines: list[str]) -> np.ndarray:
        """The same mean, batched with padding masked out by hand (fast enough for 15k lines)."""
        torch = self.torch
        out = []
        with torch.inference_mode():
            for s in range(0, len(lines), 256):
                enc = self.tok(lines[s:s + 256], padding=True, return_tensors="pt")
                h = self.model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).float()
                v = (h * m).sum(1) / m.sum(1)
                out.append(torch.nn.functional.normalize(v, dim=-1).numpy())
        return np.concatenate(out)


@pytest.fixture(scope="session")
def reference(tiny_model) -> Reference:
    return Reference(tiny_model)


@pytest.fixture(scope="session")
def texts_table(opened) -> list[str]:
    rows = opened.store.conn.execute("SELECT id, text FROM texts ORDER BY id").fetchall()
    assert [r[0] for r in rows] == list(range(len(rows)))
    return [r[1] for r in rows]


@pytest.fixture(scope="session")
def sample_lines() -> list[tuple[str, object]]:
    """Every line of the sample as (normalised text, its Poem), straight from the corpus files:
    an account of the corpus that does not go through SQLite."""
    from poetry_search.corpus.reader import CorpusReader, poem_lines

    reader = CorpusReader(SAMPLE)
    norm = reader.normalizer()
    return [(line.text, poem) for poem in reader.poems() for line in poem_lines(poem, norm)]


@pytest.fixture(scope="session")
def poem_membership(sample_lines, texts_table) -> tuple[dict[int, set], dict[str, set]]:
    """From the corpus files: each text id's poems, and each poem's text ids."""
    id_of = {t: i for i, t in enumerate(texts_table)}
    poems_of: dict[int, set] = {}
    texts_of: dict[str, set] = {}
    for text, poem in sample_lines:
        poems_of.setdefault(id_of[text], set()).add(poem.id)
        texts_of.setdefault(poem.id, set()).add(id_of[text])
    return poems_of, texts_of


@pytest.fixture(scope="module")
def client(sample_index):
    """The HTTP API over the sample index, in process (server tests; needs fastapi)."""
    from fastapi.testclient import TestClient

    from poetry_search.server.app import create_app

    with TestClient(create_app(sample_index)) as c:
        yield c


def as_json(x):
    """What a value looks like after a JSON round trip (as the API returns it)."""
    return json.loads(json.dumps(x, ensure_ascii=False))


@pytest.fixture(scope="session")
def reference_matrix(reference, texts_table) -> np.ndarray:
    return reference.many(texts_table)


def run_cli(*args, input=None, env=None):
    """Run the real console entry point in a subprocess (exit codes, stderr, no traceback)."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "poetry_search", *args], input=input, capture_output=True,
                          text=True, env=full_env, cwd=ROOT)


def assert_error_body(r, status: int, code: str) -> None:
    """An API error as every route answers it: the status, and the JSON body ``{"error": {"code",
    "message", "status"}}`` with the stable code that status belongs to, a one-line message."""
    from poetry_search.server import models
    from poetry_search.server.errors import CODES

    assert r.status_code == status, r.text
    got = r.json()
    assert list(got) == ["error"] and sorted(got["error"]) == ["code", "message", "status"]
    assert got["error"]["status"] == status and got["error"]["code"] == code and CODES[code] == status
    assert got["error"]["message"] and "\n" not in got["error"]["message"] and "Traceback" not in got["error"]["message"]
    models.ErrorBody.model_validate(got)


# pytest-xdist (`make test` runs it with --dist loadgroup): a test file's tests stay together on
# one worker, so its module fixtures are built once; every test on the Ray head shares one
# worker, so the session starts one head.
def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group("ray" if "ray_head" in item.fixturenames else item.path.name))
