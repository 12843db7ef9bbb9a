"""How lmforge opens ONNX Runtime sessions: threads that sleep between parallel sections (spinning ones took the
cores from the Python work between calls: bench/onnx_spinning.py), and a thread cap where one is asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_identity_graph(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_sessions_do_not_spin_and_keep_to_a_thread_cap(tmp_path, monkeypatch):
    from tasks.registry.backends import limit_session_threads, open_onnx_session

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    path = write_identity_graph(tmp_path / "identity.onnx")
    session = open_onnx_session(path)
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 0, "no cap asked for: ONNX Runtime's default of one thread per core"
    assert session.run(["y"], {"x": np.arange(3, dtype=np.float32)})[0].tolist() == [0.0, 1.0, 2.0]
    with limit_session_threads(1):
        capped = open_onnx_session(path).get_session_options()
    assert capped.intra_op_num_threads == 1
    assert capped.get_session_config_entry("session.intra_op.allow_spinning") == "0"
