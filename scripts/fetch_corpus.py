"""Fetch the chinese-poetry dataset (MIT) as the npm package chinese-poetry@2.0.1.

    python scripts/fetch_corpus.py [DEST]        # default data/chinese-poetry (what `make corpus` runs)

`npm pack` fetches the tarball from npm's registry (the npm client knows where that is) and checks
it against the registry's sha512 integrity; we check it again ourselves, unpack its dist/ into a
temporary folder beside DEST, check every file's size against the package's file list, and only
then move it into place with a marker. A second run finds the marker and the files intact and
does nothing; a partial or damaged folder is detected and replaced, never half-used.
Needs only the standard library and npm.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

PACKAGE = "chinese-poetry@2.0.1"
MARKER = ".complete.json"


def _check(dest: Path) -> str | None:
    """None if dest holds the complete package, else what is wrong."""
    marker = dest / MARKER
    if not marker.exists():
        return "no completion marker (a partial download?)" if dest.exists() else "not downloaded yet"
    try:
        info = json.loads(marker.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return "the completion marker is damaged"
    if info.get("package") != PACKAGE:
        return f"it holds {info.get('package')}, not {PACKAGE}"
    for rel, size in info["files"].items():
        p = dest / rel
        if not p.is_file() or p.stat().st_size != size:
            return f"{rel} is missing or has the wrong size"
    return None


def _pack(workdir: Path) -> tuple[Path, dict]:
    cmd = ["npm", "pack", PACKAGE, "--json", "--pack-destination", str(workdir)]
    for attempt in (1, 2):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            sys.exit("error: npm is not installed: install Node.js and npm (apt-get install npm), then run `make corpus` again")
        if r.returncode == 0:
            info = json.loads(r.stdout)[0]
            return workdir / info["filename"], info
        if attempt == 1 and "EINTEGRITY" in r.stderr:
            # npm's own cache holds a damaged copy: verify (drops bad entries) and fetch again
            subprocess.run(["npm", "cache", "verify"], capture_output=True, check=False)
            continue
        last = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
        sys.exit(f"error: `{' '.join(cmd[:3])}` failed: {last}\nCheck that the npm registry is reachable, then run `make corpus` again.")
    raise AssertionError("unreachable")


def _verify_integrity(tarball: Path, integrity: str) -> None:
    algo, _, expected = integrity.partition("-")
    h = hashlib.new(algo)
    with open(tarball, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if base64.b64encode(h.digest()).decode() != expected:
        sys.exit(f"error: {tarball.name} does not match the registry's {algo} integrity: run `npm cache clean --force`, then `make corpus`")


def main(dest_arg: str = "data/chinese-poetry") -> int:
    dest = Path(dest_arg)
    problem = _check(dest)
    if problem is None:
        print(f"{dest}: {PACKAGE} already complete, nothing to do")
        return 0
    if dest.exists() or dest.is_symlink():
        print(f"{dest}: {problem}; fetching it again", file=sys.stderr)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.with_name(f".{dest.name}.download-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        tarball, info = _pack(work)
        _verify_integrity(tarball, info["integrity"])
        sizes = {f["path"].removeprefix("dist/"): f["size"] for f in info["files"] if f["path"].startswith("dist/")}
        unpacked = work / "dist"
        with tarfile.open(tarball, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("package/dist/")]
            for m in members:
                m.name = m.name.removeprefix("package/")
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(work, members=members, **kwargs)
        (unpacked / MARKER).write_text(json.dumps({"package": PACKAGE, "integrity": info["integrity"], "files": sizes},
                                                  ensure_ascii=False), "utf-8")
        if _check(unpacked) is not None:
            sys.exit(f"error: the unpacked package is incomplete ({_check(unpacked)}): run `make corpus` again")
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        elif dest.exists():
            shutil.rmtree(dest)
        os.rename(unpacked, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = sum(sizes.values())
    print(f"{dest}: {PACKAGE}, {len(sizes):,} files, {total / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
