"""Concurrent keep-alive clients from wrk (a C load generator, `apt-get install wrk`) instead of Python threads: on
a 2-core machine the Python clients' own CPU (about 0.15 ms a request) is taken from the server they measure, as
callers on other machines would not take it. Same requests, same keys as serve_batching.concurrent's answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

# One body per text, in turn; the answer's figures written as JSON by wrk's done() hook.
SCRIPT = """
local bodies, n = {}, 0
for line in io.lines(os.getenv("WRK_BODIES")) do n = n + 1; bodies[n] = line end
local i = 0
wrk.method, wrk.headers["Content-Type"] = "POST", "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, "/invocations", nil, bodies[(i % n) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p95_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95)))
end
"""


def wrk_concurrent(port: int, texts: list[str], seconds: float, clients: int = 32) -> dict:
    """requests/s, p50, p95 and errors (non-2xx answers and socket errors) of `clients` connections for `seconds`."""
    if shutil.which("wrk") is None:
        raise SystemExit("--client wrk needs wrk on PATH (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="lmforge-wrk-") as folder:
        bodies, script = Path(folder) / "bodies.jsonl", Path(folder) / "post.lua"
        bodies.write_text("".join(json.dumps({"inputs": [text]}) + "\n" for text in texts))
        script.write_text(SCRIPT)
        found = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script),
                                f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True,
                               env={"WRK_BODIES": str(bodies), "PATH": "/usr/bin:/bin"})
    figures = json.loads(found.stdout.strip().splitlines()[-1])
    at = f"c{clients}"
    return {f"{at}_requests_per_s": (figures["requests"] - figures["errors"]) / (figures["duration_us"] / 1e6),
            f"{at}_p50_ms": figures["p50_us"] / 1000, f"{at}_p95_ms": figures["p95_us"] / 1000,
            f"{at}_errors": figures["errors"]}
