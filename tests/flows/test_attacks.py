"""The attack battery: each door tried the way an attacker would, against real servers and a real registry. Keep it
growing: a new door, or a new way through one, gets its test here.

In the faults tier (`make test-faults`, which .ci/run runs): it starts several servers and trains twice."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tasks.servers.auth import add_token
from tests.conftest import free_port, invoke, make_project, merge, registry, start_prefect_server, working_in
from tests.flows.test_approval import answer, decisions_of, start_run, wait_for_pause
from tests.flows.test_overlap import TINY
from tests.serving import serving, wait_for_challenger

pytestmark = [pytest.mark.flow, pytest.mark.faults]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def served(prefect_harness, tmp_path_factory):
    """A champion (version 1) and a challenger (version 2) of a tiny model, and a token store."""
    root = make_project(tmp_path_factory.mktemp("attacks") / "project", TINY)
    with working_in(root):
        for extra in ([], ["--set", "train.max_steps=20"]):
            done = invoke("run", *extra)
            assert done.exit_code == 0, done.output
    return root


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the server's workers), in MB."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    return total / 1024


def test_serve_beyond_loopback_admits_only_tokens_and_their_scopes(served, monkeypatch):
    monkeypatch.chdir(served)
    monkeypatch.delenv("LMFORGE_SERVE_TOKENS", raising=False)
    refused = subprocess.run([str(BIN / "lmforge"), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "needs tokens for its callers and none are set" in refused.stderr, refused.stderr
    store = served / "tokens.yaml"
    scorer, sender = add_token(store, "scorer", []), add_token(store, "sender", ["feedback"])
    monkeypatch.setenv("LMFORGE_SERVE_TOKENS", store.read_text())
    body = json.dumps({"inputs": ["fine"]}).encode()
    with serving("--host", "0.0.0.0") as send:
        assert send(body)[0] == 401
        assert send(body, headers={"Authorization": "Bearer lmf_guess"})[0] == 401
        assert send(body, headers={"Authorization": "Basic c2NvcmVyOng="})[0] == 401
        assert send(b"{}", "/v1/chat/completions")[0] == 401, "every route, not only /invocations"
        status, answer = send(body, headers={"Authorization": f"Bearer {scorer}"})
        assert status == 200 and answer["predictions"], answer
        assert send(b"{}", "/feedback", headers={"Authorization": f"Bearer {scorer}"})[0] == 403
        assert send(b"", "/ping")[0] == 200, "probes need no token"
        del sender


def test_mlflow_and_prefect_refuse_callers_without_credentials(tmp_path, monkeypatch):
    from tasks.core.errors import LmforgeError
    from tasks.core.identity import current_identity
    from tasks.servers.doors import check_locks, mlflow_auth
    from tasks.servers.ui import wait_answer

    with pytest.raises(LmforgeError, match="needs authentication"):
        check_locks("0.0.0.0", {})
    secrets = {"MLFLOW_AUTH_ADMIN_PASSWORD": "admin-pass-9", "MLFLOW_FLASK_SERVER_SECRET_KEY": "k" * 32,
               "PREFECT_SERVER_API_AUTH_STRING": "ops:prefect-pass-9"}
    check_locks("0.0.0.0", secrets)
    args, env = mlflow_auth(tmp_path / "auth")
    port = free_port()
    mlflow = subprocess.Popen([str(BIN / "mlflow"), "server", *args, "--backend-store-uri",
                               f"sqlite:///{tmp_path / 'mlflow.db'}", "--artifacts-destination", str(tmp_path / "a"),
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              env=os.environ | env | secrets, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    prefect, api = start_prefect_server(tmp_path / "prefect", secrets)
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_answer(f"{url}/health", mlflow, 120) == "answered"
        assert status_of(f"{url}/api/2.0/mlflow/registered-models/search") == 401
        assert status_of(f"{url}/api/2.0/mlflow/registered-models/search", "admin:wrong") == 401
        assert status_of(f"{url}/api/2.0/mlflow/registered-models/search", "admin:admin-pass-9") == 200
        assert status_of(f"{api}/flow_runs/filter", method="POST") == 401
        assert status_of(f"{api}/flow_runs/filter", "ops:guess", method="POST") == 401
        assert status_of(f"{api}/flow_runs/filter", "ops:prefect-pass-9", method="POST") == 200
        # The identity behind an approval is the one the server authenticated, not the name sent.
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "admin-pass-9")
        assert current_identity(url) == "mlflow:admin"
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-it")
        with pytest.raises(LmforgeError, match="refused MLFLOW_TRACKING_USERNAME 'admin'"):
            current_identity(url)
    finally:
        for process in (mlflow, prefect):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def status_of(url: str, basic: str | None = None, method: str = "GET") -> int:
    import base64
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None,
                                     headers={"Content-Type": "application/json"})
    if basic:
        request.add_header("Authorization", "Basic " + base64.b64encode(basic.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_required_approval_has_no_way_around(served, monkeypatch):
    import yaml

    monkeypatch.chdir(served)
    strict = yaml.safe_load((served / "params.yaml").read_text())
    strict.setdefault("promote", {})["approval"] = "required"
    (served / "strict.yaml").write_text(yaml.safe_dump(strict))
    for attempt in (["run", "--params", "strict.yaml", "--set", "promote.approval=auto"],
                    ["run", "--params", "strict.yaml", "--set", "promote.approval_separation=false"]):
        done = invoke(*attempt)
        assert done.exit_code == 1 and "may not change" in done.output, done.output
    done = invoke("promote", "2", "--reason", "trust me", "--params", "strict.yaml")
    assert done.exit_code == 1 and "no version is promoted by hand" in done.output, done.output
    assert str(registry(served).get_model_version_by_alias("test-reviews", "champion").version) == "1"


def test_a_huge_body_is_refused_at_once_and_costs_no_memory(served, monkeypatch):
    monkeypatch.chdir(served)
    with serving() as send:
        port = int(send.base_url.rsplit(":", 1)[1])
        pid = server_pid(port)
        before = rss_mb(pid)
        for declared in (True, False):  # a Content-Length of 1 GB; then 1 GB streamed with no length at all
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.monotonic()
            connection.putrequest("POST", "/invocations")
            connection.putheader("Content-Type", "application/json")
            connection.putheader(*(("Content-Length", str(10 ** 9)) if declared else ("Transfer-Encoding", "chunked")))
            connection.endheaders()
            chunk = b'{"inputs": ["' + b"a" * (1 << 20)
            try:
                for _ in range(1024):  # stops when the server answers and closes
                    connection.send(chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    if declared:
                        break  # the length alone decides; the server answers before reading on
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = connection.getresponse()
            took = time.monotonic() - started
            assert answer.status == 413 and took < 1.0, (answer.status, took, declared)
            print(f"1 GB body ({'Content-Length' if declared else 'chunked'}) refused in {took * 1000:.0f} ms")
            connection.close()
        grown = rss_mb(pid) - before
        assert grown < 50, f"the server grew by {grown:.0f} MB"
        print(f"server memory: {before:.0f} MB before, grew {grown:+.1f} MB")
        assert send(json.dumps({"inputs": ["fine"]}).encode())[0] == 200


def server_pid(port: int) -> int:
    found = subprocess.run(["ss", "-ltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(found.split("pid=")[1].split(",")[0])


def test_a_thousand_malformed_bodies_are_all_client_errors_and_ping_stays_quick(served, monkeypatch):
    monkeypatch.chdir(served)
    bad = [b"", b"{", b"[]", b"null", b'"text"', b"{}", b'{"inputs": 5}', b'{"inputs": [[[[[]]]]]}',
           b'{"inputs": [null]}', b'{"inputs": ["\\ud800"]}', b"[" * 100_000, b'{"inputs": ' + b"[" * 5000,
           b'{"dataframe_split": {"columns": 3}}', b'{"dataframe_records": [1, 2]}', b'{"inputs": {"text": 7}}',
           b'\xff\xfe{"inputs": ["x"]}', b'{"inputs": [' + b'"x",' * 300 + b'"x"]}', b'{"inputs": []}']
    with serving() as send:
        pings, stop = [], threading.Event()

        def ping():
            while not stop.is_set():
                started = time.monotonic()
                assert send(b"", "/ping")[0] == 200
                pings.append(time.monotonic() - started)
                time.sleep(0.02)
        watcher = threading.Thread(target=ping)
        watcher.start()
        try:
            statuses = [send(bad[i % len(bad)])[0] for i in range(1000)]
        finally:
            stop.set()
            watcher.join()
    assert all(400 <= status < 500 for status in statuses), sorted(set(statuses))
    assert pings and max(pings) < 0.1, f"/ping took up to {max(pings) * 1000:.0f} ms"
    print(f"1000 malformed bodies: statuses {sorted(set(statuses))}; /ping {len(pings)} times, max "
          f"{max(pings) * 1000:.1f} ms")


def test_client_errors_on_the_canary_side_never_roll_it_back(served, monkeypatch):
    """The worst case: a client that may pick its side (trust_client_key) sends 300 bad requests to the canary."""
    from tasks.servers.traffic import takes_canary

    monkeypatch.chdir(served)
    options = ["--set", "serve.canary.share=0.5", "--set", "serve.canary.min_requests=20", "--set",
               "serve.canary.trust_client_key=true", "--set", "serve.refresh_s=0.5", "--set",
               "paths.inference_log=data/inference-attack"]
    canary_key = next(f"key-{i}" for i in range(100) if takes_canary(f"key-{i}", 0.5))
    good = json.dumps({"inputs": ["fine"]}).encode()
    bad = [b"{", b'{"inputs": []}', b'{"inputs": [7]}', b'{"inputs": ["\\ud800"]}', b'{"inputs": ' + b"[" * 5000]
    with serving(*options) as send:
        wait_for_challenger(send, "2")
        statuses = [send(bad[i % len(bad)], headers={"X-Canary-Key": canary_key})[0] for i in range(300)]
        answered = [send(good, headers={"X-Canary-Key": f"caller-{i}"})[0] for i in range(100)]
        ping = send(b"", "/ping")[1]
    assert all(status == 400 for status in statuses), sorted(set(statuses))
    assert set(answered) == {200}
    figures = ping["challenger"]["canary_figures"]
    assert min(side["requests"] for side in figures.values()) >= 20, figures  # both sides judged
    assert not ping["challenger"]["canary_rolled_back"], ping["challenger"]
    assert all(side["errors"] == 0 for side in figures.values()), figures
    print(f"canary after 300 client errors: {figures}")


def test_no_secret_reaches_any_output(served, monkeypatch, tmp_path):
    secrets = {"HF_TOKEN": "hf_attackSecretValue123", "password": "pw-Secret-42", "query": "qs-Secret-43"}
    monkeypatch.chdir(served)
    monkeypatch.setenv("HF_TOKEN", secrets["HF_TOKEN"])
    token = add_token(tmp_path / "t.yaml", "ops", [])
    monkeypatch.setenv("LMFORGE_SERVE_TOKENS", (tmp_path / "t.yaml").read_text())
    outputs = []
    uri = f"http://alice:{secrets['password']}@127.0.0.1:{free_port()}/?token={secrets['query']}"
    for command in (["models"], ["predict", "fine"], ["models", "--json"]):
        done = subprocess.run([str(BIN / "lmforge"), *command], capture_output=True, text=True, timeout=300,
                              env=os.environ | {"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                                                "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
        outputs.append(done.stdout + done.stderr)
    with serving("--set", "serve.auth.required=always") as send:
        send(json.dumps({"inputs": ["fine"]}).encode(), headers={"Authorization": f"Bearer {token}"})
        send(b"{", headers={"Authorization": f"Bearer {token}"})
    outputs.append(send.output() if hasattr(send, "output") else "")
    written = [path.read_bytes() for path in served.rglob("*") if path.is_file() and path.stat().st_size < 5_000_000
               and ".git" not in path.parts]
    for name, secret in [*secrets.items(), ("serve token", token)]:
        assert not any(secret in text for text in outputs), (name, [t[-500:] for t in outputs])
        assert not any(secret.encode() in data for data in written), f"{name} was written to a file"


FORGE_RESUME = """
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run
with get_client(sync_client=True) as client:
    paused = [r for r in client.read_flow_runs() if r.state and r.state.is_paused()]
resume_flow_run(paused[0].id, run_input={"approve": True, "reason": "forged", "record": "nothing"})
print("resumed")
"""


def test_the_starter_may_not_approve_and_a_bare_resume_moves_nothing(tmp_path):
    root = make_project(tmp_path / "separate", merge(TINY, {"promote": {"approval": "required",
                                                                        "approval_timeout_s": 25}}))
    with start_run(root, "test-separate") as (process, log):
        name, version, run, api = wait_for_pause(process, log).groups()
        done = answer(root, run, api, "--reason", "my own model looks fine")
        assert done.returncode == 1 and "may not approve it (promote.approval_separation)" in done.stderr, done.stderr
        # Prefect's own API, as anyone who reaches it could: the input without lmforge approve's record.
        forged = subprocess.run([sys.executable, "-c", FORGE_RESUME], env=os.environ | {"PREFECT_API_URL": api},
                                capture_output=True, text=True, timeout=120)
        assert forged.returncode == 0 and "resumed" in forged.stdout, forged.stdout + forged.stderr
        assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "an answer was refused (it has no decision record" in text, text[-3000:]
    assert "champion" not in registry(root).get_registered_model(name).aliases
    version = registry(root).get_model_version(name, "1")
    assert version.tags["promotion_verdict"] == "rejected", version.tags
    kinds = [d["kind"] for d in decisions_of(root, name)]
    assert kinds[:2] == ["approval asked", "approval refused"] and kinds[-1] == "automatic", kinds


def test_a_hand_moved_alias_or_altered_model_code_is_never_served(served, monkeypatch):
    """Last in this file: it alters version 1's files in the artifact store and puts them back after."""
    import yaml
    from mlflow.artifacts import download_artifacts

    monkeypatch.chdir(served)
    client, name = registry(served), "test-reviews"
    client.set_registered_model_alias(name, "champion", "2")  # in the MLflow UI, by someone who can write there
    try:
        with serving() as send:
            status, ping = send(b"", "/ping")
        # Version 2 was rejected by the gate: no promotion record, and no recorded move either.
        refused = ping.get("refused") or {}
        assert status == 503 and refused.get("version") == "2" and "promotion record" in refused.get("reason", ""), ping
    finally:
        client.set_registered_model_alias(name, "champion", "1")
    folder = Path(download_artifacts(client.get_model_version_download_uri(name, "1")))  # the store's own folder
    code = folder / Path(yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
                         ["model_code_path"]).name
    marker = served / "ran-the-planted-code"
    original = code.read_bytes()
    code.write_bytes(f"open({str(marker)!r}, 'w').close()\n".encode() + original)
    try:
        with serving() as send:
            status, ping = send(b"", "/ping")
            answered = send(json.dumps({"inputs": ["fine"]}).encode())[0]
        assert status == 503 and "differs from this lmforge's own" in ping["refused"]["reason"], ping
        assert answered == 503 and not marker.exists(), "the planted code must never run"
    finally:
        code.write_bytes(original)
