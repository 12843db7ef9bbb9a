"""The registered form of a classifier: an MLflow pyfunc over the model folder whose predict takes a backend.

    model = mlflow.pyfunc.load_model("models:/NAME@champion")
    model.predict(["a text"])                              # eager PyTorch, from the weights logged with the model
    model.predict(["a text"], params={"backend": "onnx"})  # the version's ONNX export (or onnx-int8, torch-export)

The exports are written after registration (the export step, for a new champion, or `lmforge export N`) and sit on
the version's run under export/; a backend is used only when its export passed the parity check, else predict says
so in one sentence. Rows come back as {"label", "score"}, in the texts' order.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from tasks.registry.pyfunc import BACKEND_PARAM, log_pyfunc, read_model_folder, read_texts


class Classifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.folder, self.run_id, _ = read_model_folder(context, with_params=False)  # labels are in config.json
        self.scorers: dict[str, tuple[Path, object]] = {}

    def load_backend(self, backend: str):
        """The loaded model for a backend, loaded once: a server calls predict for every request."""
        from tasks.registry.backends import BACKENDS, TextScorer
        from tasks.core.errors import LmforgeError

        if backend not in BACKENDS:
            raise LmforgeError(f"backend {backend!r} is unknown; use one of {', '.join(BACKENDS)}.")
        if backend not in self.scorers:
            folder = self.folder
            if backend != "eager":
                from tasks.registry.registered import fetch_run_export

                folder = fetch_run_export(mlflow.MlflowClient(), self.run_id, backend)
            self.scorers[backend] = (folder, TextScorer(folder, backend))
        return self.scorers[backend]

    # The hint is one MLflow infers no schema from (the logged signature does that): without any, MLflow warns
    # "Add type hints to the predict method" on every load.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[dict]:
        from tasks.registry.backends import label_texts

        _folder, scorer = self.load_backend((params or {}).get(BACKEND_PARAM) or "eager")
        return [{"label": label, "score": score} for label, score in label_texts(scorer, read_texts(model_input))]


def log_classifier(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "classifier.py", ["a text"], [{"label": "a label", "score": 0.5}])
