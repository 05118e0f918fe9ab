"""Starting the server: bind (loopback unless told otherwise), open and warm the index, serve."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageProblem
from ..options import DEFAULT_HOST, DEFAULT_INDEX, DEFAULT_PORT, MAX_BATCH

# h11 refuses request lines over 16 KiB with a plain-text 400 before the app sees them; let a
# long query through to the app, which answers with a JSON message (the app bounds every input).
MAX_REQUEST_LINE = 1024 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a message naming the fix when the address is taken or wrong."""
    if not 0 <= port <= 65535:
        raise UsageProblem(f"--port {port} is not a port number: use 1-65535 (0 picks a free one)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UsageProblem(f"--host {host[:60]} cannot be resolved ({e.strerror}): pass an address such as 127.0.0.1") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        import errno

        if e.errno in (errno.EADDRINUSE, errno.EACCES):  # the port is taken, or below 1024
            raise UsageProblem(f"cannot listen on {host}:{port} ({e.strerror}): pass another --port") from None
        # EADDRNOTAVAIL and the like: the address is not one of this machine's
        raise UsageProblem(f"cannot listen on {host}:{port} ({e.strerror}): pass another --host, an address of "
                           "this machine such as 127.0.0.1 (or 0.0.0.0 for every one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(index: str | Path = DEFAULT_INDEX, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          echo: Callable[[str], None] = print, check_interval: float = 1.0, max_batch: int = MAX_BATCH) -> None:
    """Serve ``index`` until interrupted; ``echo`` gets the start-up lines (the URL when ready)."""
    import uvicorn

    from .app import create_app

    sock = bind(host, port)
    started = time.monotonic()
    if max_batch < 1:
        raise UsageProblem(f"--max-batch {max_batch}: use 1 (no batching) or more")
    app = create_app(index, check_interval=check_interval, max_batch=max_batch)
    holder = app.state.holder
    try:
        holder.get()
    except Exception as e:  # noqa: BLE001 - a missing index is served as 503s until one is built
        echo(f"warning: {e}")
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{real_port}/"

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                if not is_loopback(host):
                    echo(f"warning: listening on {host}, reachable from other machines; the API has no "
                         "authentication (drop --host to serve only this machine)")
                echo(f"poetry-search: serving {Path(index)} at {url} (API docs at {url}docs; "
                     f"ready in {time.monotonic() - started:.1f}s; Ctrl-C stops)")

    # keep-alive 30 s (uvicorn: 5): a pooled client that sends on a connection just as the server
    # closes it for idleness sees a reset, not an answer; a longer idle limit makes that rarer.
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, timeout_keep_alive=30,
                            h11_max_incomplete_event_size=MAX_REQUEST_LINE, timeout_graceful_shutdown=5)
    Server(config).run(sockets=[sock])
