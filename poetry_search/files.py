"""File-system helpers shared by the build, the cache and the export: the atomic swap, leftovers of
killed processes, fsync, file digests. Nothing here knows what an index is."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
import sys
from pathlib import Path


def exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EINVAL)):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(a))


def swap_in(built: Path, target: Path) -> None:
    """Put the folder ``built`` at ``target``; the old one (if any) is removed only after the swap."""
    if not target.exists():
        os.rename(built, target)
        return
    if exchange(built, target):
        shutil.rmtree(built, ignore_errors=True)  # ``built`` now holds the old folder
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.rename(target, old)
    os.rename(built, target)
    shutil.rmtree(old, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_pid(path: Path) -> int | None:
    """The pid a temporary name ends with (``….partial-1234``), or None."""
    pid = path.name.rpartition("-")[2]
    return int(pid) if pid.isdigit() else None


def remove_if_orphaned(path: Path) -> bool:
    """Remove ``path`` (named ``…-PID``) if the process that made it is gone; True if removed."""
    pid = owner_pid(path)
    if pid is None or pid == os.getpid() or pid_alive(pid):
        return False
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True


def fsync_file(fh) -> None:
    """Flush a file object to the disk."""
    fh.flush()
    os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """fsync a folder (its entries: a rename into it survives a crash); quiet where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file of ``folder`` (one level) and the folder itself."""
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_digest(path: Path) -> bytes:
    """sha256 of a file's content, read in blocks."""
    with open(path, "rb") as fh:
        if hasattr(hashlib, "file_digest"):
            return hashlib.file_digest(fh, "sha256").digest()
        h = hashlib.sha256()
        while block := fh.read(1 << 20):
            h.update(block)
        return h.digest()


def tree_digest(root: Path, files) -> str:
    """16 hex digits of sha256 over each file's path relative to ``root`` and its content digest."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).relative_to(root).as_posix().encode())
        h.update(file_digest(f))
    return h.hexdigest()[:16]


def file_hexdigest(path: Path) -> str:
    """sha256 of a file's content as 64 hex digits (recorded in manifests)."""
    return file_digest(path).hex()


_malloc_trim = None


def release_freed_memory() -> None:
    """Hand memory freed by the process back to the system (glibc ``malloc_trim``; no-op elsewhere)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)
