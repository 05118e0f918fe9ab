"""Run a command and sample its process's memory every second: peak VmHWM and VmRSS, and the wall time.

    python bench/driver_rss.py [--head CPUS] [--json OUT] -- COMMAND...

The sampled process is COMMAND itself (``nice poetry-search …`` execs, so it is the driver).
``--head CPUS``: first start a Ray head node on 127.0.0.1 with CPUS CPUs in a process group of its
own (tests/ray_cluster.py, token authentication on), so that Ray's workers are not the driver's
children; ``{address}`` in COMMAND is replaced with its address, and the head is ended by its
process group afterwards. Example (the figure in docs/ray.md)::

    python bench/driver_rss.py --head 2 -- nice poetry-search index --corpus data/chinese-poetry \\
        --index /tmp/idx-ray --model models/layerless768 --index-type flat --cache /tmp/cache-ray \\
        --ray {address} --ray-workers 1 --no-onnx
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the test harness's head node


FIELDS = ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")


def status(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS and its parts (anonymous, file-backed, shared memory) of ``pid`` in bytes
    (empty once it has exited)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in FIELDS:
                    out[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


# A progress bar's name, as the build writes it to stderr ("encoding:  45%|...", "reading corpus: 3.00kpoem"):
# each sample is counted in the stage whose bar was written last.
BAR = re.compile(r"^([a-z][a-z ()]{2,40}):\s+\d")
RAY_DATA = "Starting execution of Dataset"  # Ray Data's first line: the encoding on Ray, which has no bar of ours


def _follow_stages(stream, stage: list[str]) -> None:
    """Copy the child's stderr through, noting the name of the last progress bar seen."""
    buf = b""
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
        buf += chunk
        *parts, buf = re.split(rb"[\r\n]", buf)
        for part in parts:
            line = part.decode("utf-8", "replace").strip()
            m = BAR.match(line)
            if m:
                stage[0] = m.group(1)
            elif RAY_DATA in line:
                stage[0] = "encoding (Ray Data)"


def watch(cmd: list[str], env: dict | None = None, every: float = 1.0) -> dict:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    stage = ["start"]
    reader = threading.Thread(target=_follow_stages, args=(proc.stderr, stage), daemon=True)
    reader.start()
    peaks = dict.fromkeys(FIELDS, 0)
    stages: dict[str, dict] = {}  # stage -> its seconds and peak VmRSS, in the order first seen
    timeline = []  # (seconds since start, VmRSS, RssAnon, RssShmem) in bytes, one a sample
    while proc.poll() is None:
        s = status(proc.pid)
        if s:
            for k in FIELDS:
                peaks[k] = max(peaks[k], s.get(k, 0))
            now = round(time.monotonic() - t0, 1)
            timeline.append((now, s.get("VmRSS", 0), s.get("RssAnon", 0), s.get("RssShmem", 0)))
            st = stages.setdefault(stage[0], {"from_seconds": now, "to_seconds": now, "peak_vmrss_bytes": 0,
                                              "peak_rss_shmem_bytes": 0})
            st["to_seconds"] = now
            st["peak_vmrss_bytes"] = max(st["peak_vmrss_bytes"], s.get("VmRSS", 0))
            st["peak_rss_shmem_bytes"] = max(st["peak_rss_shmem_bytes"], s.get("RssShmem", 0))
        time.sleep(every)
    reader.join(timeout=5)
    return {"command": cmd, "returncode": proc.returncode, "wall_seconds": round(time.monotonic() - t0, 1),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - (time.monotonic() - t0))),
            "samples": len(timeline), "peak_vmhwm_bytes": peaks["VmHWM"], "peak_vmrss_bytes": peaks["VmRSS"],
            "peak_rss_anon_bytes": peaks["RssAnon"], "peak_rss_shmem_bytes": peaks["RssShmem"],
            "stages": stages, "timeline": timeline}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--head", type=int, metavar="CPUS", help="start a Ray head on 127.0.0.1 with CPUS CPUs first")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        parser.error("give the command after --")
    head = None
    env = dict(os.environ)
    if args.head:
        from ray_cluster import start_head

        head = start_head(num_cpus=args.head)
        env.update(head.env)
        cmd = [c.replace("{address}", head.address) for c in cmd]
        print(f"ray head at {head.address} (pid {head.pid}), up in {head.startup_seconds:.1f}s", flush=True)
    try:
        result = watch(cmd, env)
    finally:
        if head is not None:
            from ray_cluster import stop_head

            left = stop_head(head)
            if left:
                print(f"ray processes left behind: {left}", file=sys.stderr)
    result["ray_head"] = bool(head)
    mib = 1024 * 1024
    print(f"driver peak VmHWM {result['peak_vmhwm_bytes'] / mib:,.0f} MiB, peak VmRSS "
          f"{result['peak_vmrss_bytes'] / mib:,.0f} MiB (anonymous {result['peak_rss_anon_bytes'] / mib:,.0f}, shared "
          f"memory {result['peak_rss_shmem_bytes'] / mib:,.0f}), wall {result['wall_seconds']:.1f}s, exit {result['returncode']}")
    for name, st in result["stages"].items():
        print(f"  {name:<20} {st['from_seconds']:>7.0f}-{st['to_seconds']:<7.0f}s  peak VmRSS "
              f"{st['peak_vmrss_bytes'] / mib:>8,.0f} MiB  (shared memory {st['peak_rss_shmem_bytes'] / mib:,.0f})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result["returncode"]


if __name__ == "__main__":
    sys.exit(main())
