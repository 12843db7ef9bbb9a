"""The registered form of a causal language model: an MLflow pyfunc that continues prompts.

    model = mlflow.pyfunc.load_model("models:/NAME@champion")
    model.predict(["mia had five"])                          # the greedy continuation of each prompt
    model.unwrap_python_model().score_texts(["a text"])     # (nll, tokens) per text: what promotion's perplexity uses

The model folder (weights, or base weights plus a LoRA adapter; tokenizer; lmforge.json with the params) travels as
an artifact of this small PythonModel, as the seq2seq model's does. Only eager PyTorch runs it: no export is built.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from tasks.registry.pyfunc import BACKEND_PARAM, log_pyfunc, read_model_folder, read_texts


class LanguageModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.folder, self.run_id, self.params = read_model_folder(context)
        self.loaded = None

    def load_backend(self, backend: str):
        """(model, tokenizer), loaded once: a server calls predict for every request."""
        from tasks.core.errors import LmforgeError

        if backend != "eager":
            raise LmforgeError(f"backend {backend!r} is not available for causal_lm models: no export is built for "
                               "them; use backend eager.")
        if self.loaded is None:
            from tasks.kinds.causal_lm.evaluate import load_causal_lm

            self.loaded = load_causal_lm(self.folder)
        return self.loaded

    # A DataFrame hint, as the classifier's: MLflow infers no schema from it, so the logged signature (with its
    # backend parameter) stands; from a list[str] hint it inferred one without parameters and dropped the backend.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[str]:
        from tasks.kinds.causal_lm.evaluate import generate_continuations

        model, tokenizer = self.load_backend((params or {}).get(BACKEND_PARAM) or "eager")
        return generate_continuations(model, tokenizer, read_texts(model_input), self.params)

    def score_texts(self, texts: list[str]):
        """(summed negative log-likelihoods, predicted token counts), arrays with one value per text, scored in the
        packed blocks (tasks.kinds.causal_lm.metrics.score_texts)."""
        from tasks.kinds.causal_lm.metrics import score_texts

        model, tokenizer = self.load_backend("eager")
        return score_texts(model, tokenizer, [str(text) for text in texts], self.params.tokenize.block_size,
                           self.params.evaluate.batch_size)


def log_language_model(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "language_model.py", ["a prompt"], ["its continuation"])
