"""A real `lmforge serve` for the tests that need one: started as a user starts it, stopped after."""

from __future__ import annotations

import contextlib
import json


@contextlib.contextmanager
def serving(*options: str):
    """`lmforge serve` as a user starts it, in the current folder; yields send(body, path) -> (status, JSON) once it
    answers /ping (send.base_url: the server's address), and stops it after."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("lmforge")), "serve", "--port", str(port), *options],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def send(body: bytes, path: str = "/invocations", headers: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body or None,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    try:
        for _ in range(120):
            try:
                send(b"", "/ping")
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        send.base_url = f"http://127.0.0.1:{port}"  # for a client of its own (OpenAI's)
        yield send
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for_challenger(send, version: str) -> dict:
    """/ping once the server has loaded the challenger (it loads in the background, after the champion)."""
    import time

    for _ in range(120):
        status, ping = send(b"", "/ping")
        if status == 200 and (ping["challenger"] or {}).get("version") == version:
            return ping
        time.sleep(0.5)
    raise AssertionError(f"the challenger never loaded: {ping}")
