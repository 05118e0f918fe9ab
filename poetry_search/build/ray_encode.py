"""Encoding on a Ray cluster with Ray Data: the same Encoder, batching and precision as a local build.

The driver keeps the corpus, the distinct lines and the embedding cache; only the lines the cache
lacks travel, as a dataset of (id, text) blocks. ``map_batches`` runs them through a pool of
actors, each of which loads the project's ``Encoder`` once; the vectors stream back with
``iter_batches`` and are handed to ``on_batch`` (typically a ``CacheWriter``) as they arrive, so
the driver holds a bounded window of vectors, never the corpus's.

Before anything is encoded, one small task per node (``probe_cluster``) reports the node's
hardware and resolves the model there: a node that cannot reach the model, or holds other files
under its name, stops the build with one line that names the node. The precision is chosen once,
on the driver, from what every node can do, so one cache key and one manifest describe the
whole build.

Ray's addresses, authentication and environment are Ray's own: ``address`` is what ``ray.init``
takes (``"auto"``: the cluster started on this machine with ``ray start --head``), the token is
read from ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH`` (default ``~/.ray/auth_token``).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BuildError, MissingDependencyError, PoetrySearchError, UsageProblem
from ..options import DEVICES, PRECISIONS

log = logging.getLogger("poetry_search")

BLOCK_LINES = 4096  # lines per dataset block and per actor call: the local build's encoder call
WINDOW = 2  # blocks of vectors fetched ahead by the driver, beyond the one being committed
# A worker process that dies (OOM, a killed node) is restarted and its call retried this many
# times; a bounded number, so that a worker that always crashes fails the build instead of looping.
MAX_RESTARTS = 4
MAX_TASK_RETRIES = 4
PROBE_TIMEOUT = 600.0  # seconds for every node to answer (a GPU node waits for a free GPU)
_MARK = "[poetry-search worker] "  # how a worker's one-line failure is found in Ray's wrapped errors


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"Ray is not installed ({e}): pip install 'poetry-search[ray]'") from None
    return ray


def _package_dir() -> str:
    import poetry_search

    return str(Path(poetry_search.__file__).resolve().parent)


def connect(address: str = "auto") -> bool:
    """Connect this process to the Ray cluster at ``address``; returns True when it connected now
    (and so should disconnect), False when it already was connected.

    The workers import this very ``poetry_search`` (shipped with the job), so they run the
    driver's code whatever version a node has installed."""
    ray = _ray()
    if ray.is_initialized():
        return False
    from ray.exceptions import AuthenticationError

    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                 runtime_env={"py_modules": [_package_dir()]})
    except AuthenticationError:
        raise BuildError(f"the Ray cluster at {address} refused this driver's token: set RAY_AUTH_TOKEN (or "
                         "RAY_AUTH_TOKEN_PATH) to the cluster's token (`ray get-auth-token` on the head node)") from None
    except (ConnectionError, ValueError, RuntimeError) as e:
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise BuildError(f"cannot reach a Ray cluster at {address} ({reason}): start one with `ray start --head`, "
                         "or pass --ray HOST:PORT of a running head node") from None
    return True


# -- what the nodes have -----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeFacts:
    """One node's answer to the probe."""

    node_id: str
    ip: str
    hostname: str
    cpus: float  # Ray's CPU resource on the node
    gpus: float
    fast_bf16: bool  # CPU with AMX or AVX512-BF16
    cuda_bf16: bool | None  # None: no GPU probed
    gpu_name: str | None
    model_path: str | None
    model_fingerprint: str | None
    model_error: str | None

    def name(self) -> str:
        return f"{self.ip} ({self.hostname})"


def _node_facts(model: str, gpus: float) -> dict:
    """Runs on a node: its hardware, and where the model resolves there."""
    import ray

    from ..encode.encoder import cpu_has_fast_bf16, resolve_model

    facts = {"ip": ray.util.get_node_ip_address(), "hostname": socket.gethostname(),
             "fast_bf16": cpu_has_fast_bf16(), "cuda_bf16": None, "gpu_name": None,
             "model_path": None, "model_fingerprint": None, "model_error": None}
    if gpus:
        import torch

        if torch.cuda.is_available():
            facts["cuda_bf16"] = bool(torch.cuda.is_bf16_supported())
            facts["gpu_name"] = torch.cuda.get_device_name(0)
    try:
        resolved = resolve_model(model)
        facts["model_path"], facts["model_fingerprint"] = resolved.path, resolved.fingerprint
    except PoetrySearchError as e:
        facts["model_error"] = str(e).splitlines()[0]
    return facts


@dataclass(frozen=True)
class RayPlan:
    """How a build will run on the cluster: decided once, on the driver, before anything is encoded."""

    address: str
    model: str
    model_fingerprint: str
    device: str  # "cpu" or "cuda", for every worker
    precision: str  # "fp32" or "bf16", for every worker
    concurrency: int  # actors
    cpus_per_worker: float
    gpus_per_worker: float
    batch_size: int | None
    nodes: tuple[NodeFacts, ...]


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _fix_model(model: str) -> str:
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        return (f"the model must be reachable from every node: put the folder at {model} on each node (shared "
                "storage, or a copy at the same path), or pass a Hugging Face id that is in each node's cache (HF_HOME)")
    return (f"the model must be reachable from every node: put {model} in each node's Hugging Face cache "
            "(HF_HOME; `hf download` there), or pass a folder that every node has at the same path (shared storage)")


def probe_cluster(model: str, *, address: str = "auto", device: str = "auto", precision: str = "auto",
                  concurrency: int | None = None, batch_size: int | None = None,
                  expect_fingerprint: str | None = None) -> RayPlan:
    """Ask every node what it has and whether the model resolves there, then fix the device, the
    precision and the pool for the whole build.

    ``device``: "auto" is cuda where the cluster has GPUs, else cpu. ``precision``: "auto" is bf16
    only when every node can run it fast (every GPU supports it, or every CPU has AMX/AVX512-BF16),
    else fp32. ``concurrency``: actors; by default one per GPU, or one per node on CPUs, each with
    the node's cores. ``expect_fingerprint``: the driver's model fingerprint, which every node's
    files must match (the vectors must come from the same weights as the driver's cache key)."""
    if device not in DEVICES:
        raise UsageProblem(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise UsageProblem(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if concurrency is not None and concurrency < 1:
        raise UsageProblem("the number of Ray workers must be at least 1")
    ray = _ray()
    connect(address)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    alive = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) + n["Resources"].get("GPU", 0) > 0]
    if not alive:
        raise BuildError(f"the Ray cluster at {address} has no live node with CPUs or GPUs: start one with `ray start --address`")
    total_gpus = sum(n["Resources"].get("GPU", 0) for n in alive)
    if device == "auto":
        device = "cuda" if total_gpus else "cpu"
    if device == "cuda" and not total_gpus:
        raise UsageProblem(f"--device cuda but the Ray cluster at {address} has no GPUs: use --device cpu, or add GPU nodes")
    probe = ray.remote(_node_facts)
    refs = []
    for n in alive:
        gpus = n["Resources"].get("GPU", 0) if device == "cuda" else 0
        refs.append(probe.options(num_cpus=0, num_gpus=1 if gpus else 0, max_retries=1,
                                  scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                    .remote(model, gpus))
    try:
        answers = ray.get(refs, timeout=PROBE_TIMEOUT)
    except ray.exceptions.GetTimeoutError:
        raise BuildError(f"not every Ray node answered within {PROBE_TIMEOUT:.0f}s: check `ray status` "
                         "(a GPU node answers only when one of its GPUs is free)") from None
    except ray.exceptions.RayError as e:
        raise BuildError(f"a Ray node could not run the probe ({_one_line(str(e), 200)}): install poetry-search "
                         "with its dependencies (pip install 'poetry-search[ray]') on every node") from None
    nodes = tuple(NodeFacts(n["NodeID"], a["ip"], a["hostname"], n["Resources"].get("CPU", 0),
                            n["Resources"].get("GPU", 0), a["fast_bf16"], a["cuda_bf16"], a["gpu_name"],
                            a["model_path"], a["model_fingerprint"], a["model_error"]) for n, a in zip(alive, answers))
    for node in nodes:
        if node.model_error:
            raise BuildError(f"Ray worker node {node.name()} cannot load model {model} ({_one_line(node.model_error, 200)}): "
                             f"{_fix_model(model)}")
    fingerprint = expect_fingerprint or nodes[0].model_fingerprint
    for node in nodes:
        if node.model_fingerprint != fingerprint:
            raise BuildError(f"Ray worker node {node.name()} holds other files for model {model} (fingerprint "
                             f"{node.model_fingerprint[:12]}, the driver's {fingerprint[:12]}): put the same model files on every node")
    workers = [n for n in nodes if (n.gpus if device == "cuda" else n.cpus)]
    if precision == "auto":
        fast = all(n.cuda_bf16 for n in workers) if device == "cuda" else all(n.fast_bf16 for n in workers)
        precision = "bf16" if fast else "fp32"
    if device == "cuda":
        concurrency = concurrency or int(total_gpus)
        cpus, gpus = 1.0, 1.0
    else:
        concurrency = concurrency or len(workers)
        total_cpus = sum(n.cpus for n in workers)
        # Each actor gets an equal share of the cluster's cores (torch's threads follow Ray's num_cpus).
        cpus, gpus = float(max(1, min(max(n.cpus for n in workers), total_cpus // concurrency))), 0.0
    return RayPlan(address, model, fingerprint, device, precision, concurrency, cpus, gpus, batch_size, nodes)


# -- the workers ------------------------------------------------------------------------------


def _fault_tolerance() -> dict:
    """Each actor's restart budget (Ray Data's default is to restart and retry without end)."""
    return {"max_restarts": MAX_RESTARTS, "max_task_retries": MAX_TASK_RETRIES}


def _map_batches(ds, fn, **kwargs):
    """``ds.map_batches`` with a bounded restart budget for its actors, where this Ray still takes one.

    Ray 2.60 deprecates both ways of giving actors' remote options (extra keywords and
    ``ray_remote_args_fn``) and drops them in 2.64; there, Ray Data's own default (restart and
    retry without end) applies instead."""
    import inspect
    import warnings

    if "ray_remote_args_fn" in inspect.signature(ds.map_batches).parameters:
        kwargs["ray_remote_args_fn"] = _fault_tolerance
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
        return ds.map_batches(fn, **kwargs)


class _WorkerFailure(Exception):
    """A worker's one-line reason to stop the build (found again in Ray's wrapped error)."""


class EncodeWorker:
    """The ``map_batches`` callable: loads the project's Encoder once per actor, then encodes blocks."""

    def __init__(self, model: str, device: str, precision: str, batch_size: int | None, fingerprint: str,
                 threads: int | None):
        import ray

        t = time.perf_counter()
        ip, host = ray.util.get_node_ip_address(), socket.gethostname()
        where = f"{ip} ({host})"
        try:
            if device == "cpu" and threads:
                import torch

                torch.set_num_threads(int(threads))
            from ..encode.encoder import Encoder

            self.encoder = Encoder(model, device=device, precision=precision, batch_size=batch_size)
        except PoetrySearchError as e:
            raise _WorkerFailure(f"{_MARK}Ray worker {where} cannot load model {model} "
                                 f"({_one_line(str(e), 200)}): {_fix_model(model)}") from None
        if self.encoder.resolved.fingerprint != fingerprint:
            raise _WorkerFailure(f"{_MARK}Ray worker {where} holds other files for model {model} (fingerprint "
                                 f"{self.encoder.resolved.fingerprint[:12]}, the driver's {fingerprint[:12]}): "
                                 "put the same model files on every node")
        if device == "cuda":
            import torch

            what = f"cuda:{','.join(str(g) for g in ray.get_gpu_ids())} {torch.cuda.get_device_name(0)}"
        else:
            import torch

            what = f"cpu x{torch.get_num_threads()}"
        # ip|hostname|pid|load seconds|device: one string per row, so the driver can count each worker's lines
        self.name = f"{ip}|{host}|{os.getpid()}|{time.perf_counter() - t:.3f}|{what}"

    def __call__(self, batch: dict) -> dict:
        t = time.perf_counter()
        vectors = self.encoder.encode([str(x) for x in batch["text"]])
        n = len(vectors)
        per_line = (time.perf_counter() - t) / max(n, 1)
        return {"id": np.asarray(batch["id"], dtype=np.int64), "vector": vectors,
                "worker": np.full(n, self.name), "seconds": np.full(n, per_line)}


# -- the run ----------------------------------------------------------------------------------


@dataclass
class WorkerReport:
    """One actor's share of the build (an actor restarted by Ray appears again with its new pid)."""

    ip: str
    hostname: str
    pid: int
    device: str
    lines: int = 0
    seconds: float = 0.0  # inside Encoder.encode
    load_seconds: float = 0.0  # the actor's Encoder load (imports, model resolution and weights)

    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


@dataclass
class RayReport:
    """What a run on Ray did: for the CLI to print, the manifest to record and benchmarks to read."""

    address: str
    device: str
    precision: str
    concurrency: int
    cpus_per_worker: float
    lines: int
    batches: int
    seconds: float  # on the driver, from the call to the last vector committed
    first_batch_seconds: float  # from the call to the first vectors: start-up (pool, model loads)
    commit_seconds: float  # inside on_batch
    workers: list[WorkerReport] = field(default_factory=list)

    def manifest(self) -> dict:
        """What an index's manifest records of a build on Ray."""
        return {"ray": {"address": self.address, "device": self.device, "precision": self.precision,
                        "concurrency": self.concurrency, "lines": self.lines,
                        "workers": [{"node": w.ip, "hostname": w.hostname, "pid": w.pid, "device": w.device,
                                     "lines": w.lines} for w in self.workers]}}


def _blocks(ids: np.ndarray, texts: Sequence[str], block_lines: int):
    import pyarrow as pa

    for s in range(0, len(texts), block_lines):
        yield pa.table({"id": pa.array(ids[s:s + block_lines], pa.int64()),
                        "text": pa.array(list(texts[s:s + block_lines]), pa.string())})


def _worker_failure(e: BaseException) -> str | None:
    """The worker's own one-line reason, wherever Ray put it in the error it raised here."""
    seen, todo = set(), [e]
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        m = re.search(re.escape(_MARK) + r"([^\n]*)", str(x))
        if m:
            return m.group(1).strip().rstrip("')\"")
        todo += [getattr(x, "cause", None), x.__cause__, x.__context__]
    return None


def encode_on_ray(ids: Sequence[int] | np.ndarray, texts: Sequence[str], model: str, *,
                  on_batch: Callable[[np.ndarray, np.ndarray], None], precision: str = "auto",
                  device: str = "auto", batch_size: int | None = None, address: str = "auto",
                  concurrency: int | None = None, plan: RayPlan | None = None,
                  block_lines: int = BLOCK_LINES, window: int = WINDOW, progress: bool = False) -> RayReport:
    """Encode ``texts`` (whose ids are ``ids``: positions, or the texts table's keys) on Ray and hand
    each block of results to ``on_batch(ids, vectors)`` as it arrives, in no particular order.

    ``plan``: from ``probe_cluster`` (the driver needs the precision before it looks in the cache);
    without one, the cluster is probed here with ``model``, ``precision``, ``device``,
    ``concurrency`` and ``batch_size``. Raises BuildError, with one line naming the worker and the
    fix, when a worker cannot load the model."""
    t0 = time.perf_counter()
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) != len(texts):
        raise UsageProblem(f"{len(ids)} ids for {len(texts)} texts: pass one id per text")
    if block_lines < 1:
        raise UsageProblem("block_lines must be at least 1")
    ray = _ray()
    connected_here = connect(plan.address if plan else address)
    try:
        if plan is None:
            plan = probe_cluster(model, address=address, device=device, precision=precision,
                                 concurrency=concurrency, batch_size=batch_size)
        report = RayReport(plan.address, plan.device, plan.precision, plan.concurrency, plan.cpus_per_worker,
                           0, 0, 0.0, 0.0, 0.0)
        if not len(texts):
            report.seconds = time.perf_counter() - t0
            return report
        from ray.data import ActorPoolStrategy, DataContext

        ctx = DataContext.get_current()
        saved = (ctx.enable_progress_bars, ctx.max_consecutive_actor_init_deaths)
        ctx.enable_progress_bars = progress
        data_log = logging.getLogger("ray.data")
        saved_level = data_log.level
        if not progress:  # Ray Data's per-run notices ("Starting execution ...") are progress
            data_log.setLevel(logging.WARNING)
        # An actor that dies while loading the model fails the build at once: a model that does not
        # load on a node will not load on the next try either.
        ctx.max_consecutive_actor_init_deaths = 0
        try:
            ds = ray.data.from_arrow(list(_blocks(ids, texts, block_lines)))
            ds = _map_batches(ds, EncodeWorker, batch_size=block_lines, batch_format="numpy",
                              fn_constructor_kwargs=dict(model=plan.model, device=plan.device, precision=plan.precision,
                                                         batch_size=plan.batch_size, fingerprint=plan.model_fingerprint,
                                                         threads=int(plan.cpus_per_worker) if plan.device == "cpu" else None),
                              compute=ActorPoolStrategy(size=plan.concurrency), num_cpus=plan.cpus_per_worker,
                              num_gpus=plan.gpus_per_worker or None)
            workers: dict[str, WorkerReport] = {}
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=window):
                if not report.batches:
                    report.first_batch_seconds = time.perf_counter() - t0
                names = np.unique(batch["worker"])
                for name in names:
                    rows = batch["worker"] == name
                    w = workers.get(name)
                    if w is None:
                        ip, host, pid, load, what = str(name).split("|", 4)
                        w = workers[name] = WorkerReport(ip, host, int(pid), what, load_seconds=float(load))
                    w.lines += int(rows.sum())
                    w.seconds += float(batch["seconds"][rows].sum())
                t = time.perf_counter()
                on_batch(np.asarray(batch["id"], dtype=np.int64), np.ascontiguousarray(batch["vector"], dtype=np.float32))
                report.commit_seconds += time.perf_counter() - t
                report.lines += len(batch["id"])
                report.batches += 1
                del batch
        except PoetrySearchError:
            raise
        except Exception as e:  # noqa: BLE001 - Ray wraps a worker's failure in its own error types
            reason = _worker_failure(e)
            if reason:
                raise BuildError(reason) from None
            raise BuildError(f"the encoding on Ray failed ({type(e).__name__}: {_one_line(str(e), 200)}); "
                             "the vectors committed so far stay in the cache: run the build again") from None
        finally:
            ctx.enable_progress_bars, ctx.max_consecutive_actor_init_deaths = saved
            data_log.setLevel(saved_level)
        report.workers = sorted(workers.values(), key=lambda w: (w.ip, w.pid))
        if report.lines != len(texts):
            raise BuildError(f"Ray returned {report.lines:,} vectors for {len(texts):,} lines: run the build again "
                             "(the vectors committed so far stay in the cache)")
        report.seconds = time.perf_counter() - t0
        return report
    finally:
        if connected_here:
            ray.shutdown()


class CacheWriter:
    """An ``on_batch`` for ``encode_on_ray``: buffers vectors and commits them to an
    ``EmbeddingCache`` every ``every`` vectors or ``seconds`` (as the local build does), so a killed
    driver loses at most that much and the rerun encodes only what is missing.

    ``texts``: the text of each id (a sequence indexed by id, or a mapping). Call ``flush()`` at
    the end (``encode_on_ray`` does not know the writer)."""

    def __init__(self, cache, texts, every: int = 16_384, seconds: float = 10.0):
        self.cache, self.texts, self.every, self.seconds = cache, texts, every, seconds
        self._t: list[str] = []
        self._v: list[np.ndarray] = []
        self._last = time.monotonic()
        self.committed = 0

    def __call__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._t.extend(self.texts[int(i)] for i in ids)
        self._v.append(vectors)
        if len(self._t) >= self.every or time.monotonic() - self._last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        from .. import files as fsutil

        if self._t:
            self.cache.store(self._t, np.concatenate(self._v))
            self.committed += len(self._t)
            self._t, self._v = [], []
            fsutil.release_freed_memory()
        self._last = time.monotonic()


def encode_missing_on_ray(texts: Sequence[str], cache, plan: RayPlan, *, commit_every: int = 16_384,
                          commit_seconds: float = 10.0, chunk: int = BLOCK_LINES, block_lines: int = BLOCK_LINES,
                          window: int = WINDOW, progress: bool = False) -> tuple[int, int, RayReport]:
    """What ``encode_missing`` does for a local build, on Ray: make sure every text has a vector in
    ``cache``; returns (encoded now, found in the cache, the run's report).

    Only the texts the cache lacks go to the cluster, under their positions in ``texts``; the
    vectors are committed every ``commit_every`` vectors or ``commit_seconds`` as they arrive, so a
    killed driver loses at most that much and the next run encodes only the rest."""
    found = np.zeros(len(texts), dtype=bool)
    for s in range(0, len(texts), chunk):
        found[s:s + chunk] = cache.contains(texts[s:s + chunk])
    missing = np.flatnonzero(~found)
    writer = CacheWriter(cache, texts, every=commit_every, seconds=commit_seconds)
    report = encode_on_ray(missing, [texts[i] for i in missing], plan.model, on_batch=writer, plan=plan,
                           block_lines=block_lines, window=window, progress=progress)
    writer.flush()
    return len(missing), int(found.sum()), report


__all__ = ["connect", "encode_missing_on_ray", "probe_cluster", "encode_on_ray", "CacheWriter", "RayPlan", "RayReport", "WorkerReport",
           "NodeFacts"]
