"""A real Ray head node on loopback for the tests: one per test session, ended by its process group.

On Linux Ray registers a node at the machine's network address even when told 127.0.0.1, unless
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is in the environment: then the head, its workers and
every driver use 127.0.0.1. Token authentication stays on (``RAY_AUTH_MODE=token``) with a token
made for this session and handed over in ``RAY_AUTH_TOKEN``, so ``~/.ray/auth_token`` (another
session's, perhaps) is neither read nor written.

The head runs as ``ray start --head --block`` in a session of its own and is ended by signalling
that process group; ``ray stop`` is never used, since it ends every Ray process on the machine.
Its workers put themselves in process groups of their own but stay in the head's session, so what
is still alive in that session afterwards is killed by pid, and the fixture checks that nothing is
left.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 3.0  # after SIGTERM; a `ray start --block` head takes ~30 s to end on SIGTERM alone


@dataclass
class RayHead:
    """A running head node: its address, the environment a driver needs, and how it started."""

    address: str
    pid: int  # of `ray start`: also its process group and session id
    temp_dir: Path
    env: dict[str, str]  # what a driver (or `ray` command) must have in its environment to connect
    startup_seconds: float
    log: Path = field(default=None)


def driver_env(token: str) -> dict[str, str]:
    """The variables that keep a Ray process on loopback with token authentication on."""
    return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
            "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _ray_command() -> str:
    exe = Path(sys.executable).with_name("ray")
    return str(exe) if exe.exists() else "ray"


def _session_members(sid: int) -> list[int]:
    """Live (not zombie) processes whose session id is ``sid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[3]) == sid:
            out.append(int(entry.name))
    return out


def start_head(num_cpus: int = 2, timeout: float = 90.0) -> RayHead:
    """Start ``ray start --head --block`` on 127.0.0.1 in its own process group and wait until a
    driver can connect (the GCS port accepts and the raylet has registered)."""
    token = secrets.token_hex(32)
    env = {**os.environ, **driver_env(token)}
    # Short: Ray puts unix sockets under it (108-byte limit on their paths).
    temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    port = _free_port()
    # Every port pinned to a free one, so a Ray another session runs here is never in the way.
    cmd = [_ray_command(), "start", "--head", "--block", f"--node-ip-address={LOOPBACK}", f"--port={port}",
           f"--num-cpus={num_cpus}", "--num-gpus=0", "--include-dashboard=false",
           f"--dashboard-port={_free_port()}", f"--dashboard-agent-listen-port={_free_port()}",
           f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    log = temp_dir / "head.log"
    t0 = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    head = RayHead(f"{LOOPBACK}:{port}", proc.pid, temp_dir, driver_env(token), 0.0, log)
    head._proc = proc
    while True:
        if proc.poll() is not None:
            text = log.read_text()[-2000:]
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise RuntimeError(f"ray start --head exited with {proc.returncode}:\n{text}")
        if "Ray runtime started" in log.read_text():
            break
        if time.monotonic() - t0 > timeout:
            stop_head(head)
            raise RuntimeError(f"the Ray head did not start within {timeout:.0f}s; see {log}")
        time.sleep(0.2)
    head.startup_seconds = time.monotonic() - t0
    return head


def stop_head(head: RayHead, timeout: float = 30.0) -> list[int]:
    """End the head by its process group (SIGTERM, then SIGKILL after a short grace), then kill by
    pid whatever of its session outlived it (its workers); returns the pids still alive (none)."""
    sid = head.pid
    try:
        os.killpg(sid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        os.killpg(sid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while True:
        left = _session_members(sid)
        if not left or time.monotonic() > deadline:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    proc = getattr(head, "_proc", None)
    if proc is not None:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    shutil.rmtree(head.temp_dir, ignore_errors=True)
    return left


def _refresh_ray_auth() -> None:
    """Where ray was imported already, make it read the authentication settings again (private API)."""
    if "ray" not in sys.modules:
        return
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def ray_head_fixture(num_cpus: int = 2):
    """A session-scoped fixture: one head node for every test that asks for it; the driver (this
    test process) is connected with ``poetry_search``'s own connect, so the workers import the
    package under test, and disconnected before the head is ended."""

    @pytest.fixture(scope="session")
    def ray_head():
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            pytest.skip("ray is not installed: pip install 'poetry-search[ray]'")
        head = start_head(num_cpus=num_cpus)
        saved = {k: os.environ.get(k) for k in head.env}
        # Before `import ray`: Ray reads the authentication mode and the token once, when it loads;
        # a process that imported it without them hangs in ray.init against a token-auth cluster.
        os.environ.update(head.env)
        _refresh_ray_auth()
        import ray

        try:
            yield head
        finally:
            if ray.is_initialized():
                ray.shutdown()
            left = stop_head(head)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            assert not left, f"Ray processes left behind after the head was ended: {left}"

    return ray_head
