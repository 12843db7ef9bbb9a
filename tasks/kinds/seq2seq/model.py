"""The registered form of a seq2seq model: an MLflow pyfunc that translates a list of texts, with a backend choice.

    model = mlflow.pyfunc.load_model("models:/NAME@champion")
    model.predict(["a text"])                              # eager PyTorch beam search, from the logged weights
    model.predict(["a text"], params={"backend": "onnx"})  # the version's ONNX export (or onnx-int8) on ONNX Runtime

transformers 5 has no text2text pipeline for MLflow's transformers flavour to wrap, so the model folder (weights,
tokenizers, lmforge.json with the generation settings) travels as an artifact of this small PythonModel. The exports
sit on the version's run under export/ and are used only when they passed their parity check, as for the classifier.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from tasks.registry.pyfunc import BACKEND_PARAM, log_pyfunc, read_model_folder, read_texts


class Translator(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.folder, self.run_id, self.params = read_model_folder(context)
        self.translators: dict[str, object] = {}

    def load_backend(self, backend: str):
        """The texts-to-texts function of a backend, loaded once: a server calls predict for every request."""
        if backend not in self.translators:
            if backend == "eager":
                self.translators[backend] = self.load_eager()
            else:
                from tasks.registry.registered import fetch_run_export
                from tasks.kinds.seq2seq.onnx import OnnxTranslator

                OnnxTranslator.check_backend(backend)
                folder = fetch_run_export(mlflow.MlflowClient(), self.run_id, backend)
                self.translators[backend] = OnnxTranslator(folder, backend, self.params)
        return self.translators[backend]

    def load_eager(self):
        from transformers import AutoModelForSeq2SeqLM

        from tasks.training.loading import load_trained

        from tasks.kinds.seq2seq.evaluate import generate
        from tasks.kinds.seq2seq.tokenize import load_pair_tokenizers

        model = load_trained(AutoModelForSeq2SeqLM, self.folder)
        tokenizer, decoder = load_pair_tokenizers(self.folder, self.params)
        return lambda texts: generate(model, tokenizer, decoder, texts, self.params)

    # A DataFrame hint, as the classifier's: MLflow infers no schema from it, so the logged signature (with its
    # backend parameter) stands; from a list[str] hint it inferred one without parameters and dropped the backend.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[str]:
        return self.load_backend((params or {}).get(BACKEND_PARAM) or "eager")(read_texts(model_input))


def log_translator(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "translator.py", ["a text"], ["its output"])
