"""A build on Ray whose driver is killed (SIGKILL to its process group) mid-encoding: its actors are
reclaimed, the head still serves, no index appears at the target, and the rerun takes from the cache
every vector committed before the kill and encodes only the rest, equal to a local build."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from conftest import ROOT, SAMPLE

from poetry_search.options import COMMIT_EVERY_ENV

COMMIT = 256  # vectors per cache commit (and lines per Ray block) of the killed run: the sample is caught mid-way
START_TIMEOUT = 600  # a loaded machine can take minutes to import, read the sample and start the pool
REAP_TIMEOUT = 60  # for Ray to notice the dead driver and end its job's actors


def committed_lines(cache: Path) -> int:
    """Distinct texts with a vector in the cache's complete segments (a merged segment and the
    sources it replaced are counted once)."""
    keys = [np.load(seg / "keys.npy") for seg in cache.glob("vectors-*/seg-*") if "partial" not in seg.name]
    return len(np.unique(np.concatenate(keys), axis=0)) if keys else 0


def any_committed(cache: Path) -> bool:
    return any("partial" not in seg.name for seg in cache.glob("vectors-*/seg-*"))


def index_command(address: str, target: Path, cache: Path, model: str) -> list[str]:
    return [sys.executable, "-m", "poetry_search", "index", "--corpus", str(SAMPLE), "--index", str(target),
            "--model", model, "--precision", "fp32", "--cache", str(cache), "--ray", address, "--ray-workers", "1",
            "--no-onnx", "--quiet"]


def actors() -> dict:
    """Every actor the GCS knows of: actor id -> its row (JobID, State, Pid, ActorClassName)."""
    from ray._private import state

    return state.actors()


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_killed_driver_loses_only_its_uncommitted_vectors(ray_head, tiny_model, sample_index, tmp_path):
    import ray

    from poetry_search import Index
    from poetry_search.build.ray_encode import connect

    connect(ray_head.address)  # this process only reads the GCS's actor table
    before = set(actors())
    local = Index.open(sample_index)
    distinct = len(local)
    target, cache = tmp_path / "index", tmp_path / "cache"
    env = {**os.environ, COMMIT_EVERY_ENV: str(COMMIT)}
    cmd = index_command(ray_head.address, target, cache, tiny_model)
    log = tmp_path / "killed-build.log"  # a file, not a pipe: a full pipe would stall the build
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while not any_committed(cache) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # Stopped first, so that the cache holds still while it is counted and the actors are listed.
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        assert proc.poll() is None, f"the build ended before it could be killed:\n{log.read_text()[-2000:]}"
        committed = committed_lines(cache)
        assert 0 < committed < distinct, (committed, distinct)
        mine = {aid: a for aid, a in actors().items() if aid not in before}
        workers = {aid: a for aid, a in mine.items() if "EncodeWorker" in a["ActorClassName"] and a["State"] == "ALIVE"}
        assert len(workers) == 1, mine  # --ray-workers 1
        jobs = {a["JobID"] for a in workers.values()}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # Ray ends the dead driver's job: every actor of its own is DEAD and its process gone. What
    # outlives it are Ray Data's detached singletons (stats, autoscaling), one per cluster, named,
    # and taken over by the next job (checked after the rerun).
    t = time.monotonic()
    deadline = t + REAP_TIMEOUT
    while True:
        theirs = {aid: a for aid, a in actors().items() if a["JobID"] in jobs}
        left = {aid: (a["ActorClassName"], a["State"], a["Pid"]) for aid, a in theirs.items()
                if not a["IsDetached"] and (a["State"] != "DEAD" or (a["Pid"] and pid_alive(a["Pid"])))}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, f"actors of the killed driver's job still running after {REAP_TIMEOUT}s: {left}"
    reap_seconds = time.monotonic() - t
    assert set(workers) <= set(theirs) and all(theirs[aid]["State"] == "DEAD" for aid in workers)
    singletons = {aid: a for aid, a in theirs.items() if a["IsDetached"]}
    assert all(a["Name"] for a in singletons.values()), singletons
    assert [n["Alive"] for n in ray.nodes()] == [True]  # the head outlives the driver
    assert not target.exists()  # no partial index at the target: the build wrote only beside it
    assert len(list(tmp_path.glob(".index.building-*"))) == 1  # what the killed build left (the rerun removes it)

    # The rerun on the same head, with the default commit window: the committed vectors from the
    # cache, only the rest on Ray.
    t = time.monotonic()
    env.pop(COMMIT_EVERY_ENV)
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=START_TIMEOUT)
    rerun_seconds = time.monotonic() - t
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    m = re.search(r"([\d,]+) encoded, ([\d,]+) from cache", rerun.stdout + rerun.stderr)
    assert m, rerun.stdout + rerun.stderr
    encoded, from_cache = (int(g.replace(",", "")) for g in m.groups())
    # The driver was stopped before it was killed, so the cache holds exactly what was counted.
    assert from_cache == committed and encoded == distinct - committed and encoded > 0
    assert not list(tmp_path.glob(".index.building-*"))
    remote = Index.open(target)
    assert remote.manifest["from_cache"] == from_cache and remote.manifest["encoded"] == encoded
    assert remote.manifest["ray"]["lines"] == encoded  # only the missing lines travelled to the cluster
    assert len(remote.manifest["ray"]["workers"]) == 1
    detached = [a["ActorClassName"] for a in actors().values() if a["IsDetached"] and a["State"] == "ALIVE"]
    assert sorted(set(detached)) == sorted(detached), detached  # the rerun took the singletons over, no copies
    assert set(a["ActorClassName"] for a in singletons.values()) <= set(detached)

    # The same index as a local build: texts and ids, and every vector.
    texts = lambda idx: [r for r in idx.store.conn.execute("SELECT id, text FROM texts ORDER BY id")]  # noqa: E731
    a, b = texts(local), texts(remote)
    assert len(a) == len(b) == distinct and a == b
    cos = np.einsum("nd,nd->n", local.vectors.rows(0, distinct), remote.vectors.rows(0, distinct))
    assert len(cos) == distinct and cos.min() >= 0.99999
    print(f"committed before the kill {committed:,} of {distinct:,}; actors reclaimed in {reap_seconds:.1f}s; "
          f"rerun {rerun_seconds:.1f}s")
