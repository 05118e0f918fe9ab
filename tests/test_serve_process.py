"""`poetry-search serve` as a process: loopback by default, the URL printed when ready, and what
reaches it over a real socket (requests no HTTP client library would send)."""

from __future__ import annotations

import json
import socket
import urllib.request
from urllib.parse import quote, urlparse

import pytest
from conftest import ROOT, run_cli
from live_server import live_server

from poetry_search.errors import UsageProblem
from poetry_search.server.run import bind, is_loopback


@pytest.fixture(scope="module")
def server(sample_index):
    with live_server(sample_index, cwd=ROOT) as url:
        yield url


def raw_request(url: str, target: bytes, body: bytes = b"", method: bytes = b"GET",
                length: int | None = None) -> tuple[int, dict]:
    u = urlparse(url)
    length = len(body) if length is None else length
    with socket.create_connection((u.hostname, u.port), timeout=60) as s:
        s.sendall(method + b" " + target + b" HTTP/1.1\r\nHost: " + u.netloc.encode() + b"\r\nConnection: close\r\n"
                  + (b"Content-Type: application/json\r\nContent-Length: " + str(length).encode() + b"\r\n" if length else b"")
                  + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(payload)


def healthy(url: str) -> bool:
    with urllib.request.urlopen(url + "healthz", timeout=30) as r:
        return r.status == 200 and json.load(r)["status"] == "ok"


def test_serves_on_loopback_and_says_where(server):
    assert urlparse(server).hostname == "127.0.0.1"
    assert healthy(server)
    with urllib.request.urlopen(server, timeout=30) as r:
        html = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html") and "Content-Security-Policy" in r.headers
    assert "<title>寻诗" in html and "/static/app.js" in html


def test_a_100_kb_query_is_a_json_400(server):
    q = quote("春" * 34_000)  # 102 kB of UTF-8, 306 kB percent-encoded
    status, body = raw_request(server, b"/api/search?q=" + q.encode())
    assert status == 400 and "characters long" in body["error"]["message"]
    assert healthy(server)


def test_non_utf8_bytes_are_a_json_400(server):
    status, body = raw_request(server, b"/api/search?q=%FF%FE%E6")
    assert status == 400 and "not UTF-8" in body["error"]["message"]
    status, body = raw_request(server, b"/api/similarity", body=b'{"texts": ["\xff\xfe", "\xe6\x98"]}', method=b"POST")
    assert status == 400 and "not UTF-8" in body["error"]["message"]
    assert healthy(server)


def test_a_big_body_is_refused(server):
    # announced, not sent: the server answers from the header without reading 10 MB
    status, body = raw_request(server, b"/api/similarity", method=b"POST", length=10_000_000)
    assert status == 413 and body["error"]["code"] == "body_too_large" and "bytes" in body["error"]["message"]
    assert healthy(server)


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("::")


def test_a_taken_port_names_the_fix():
    taken = bind("127.0.0.1", 0)
    try:
        with pytest.raises(UsageProblem, match="pass another --port"):
            bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


def test_serve_on_a_missing_index_is_a_clear_error_not_a_traceback(tmp_path):
    # the server still starts (503 until an index is built there); the CLI says so on stderr
    r = run_cli("serve", "--index", str(tmp_path / "none"), "--port", "-5")
    assert r.returncode == 2 and "--port -5 is not a port number" in r.stderr and "Traceback" not in r.stderr
