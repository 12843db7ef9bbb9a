"""The registered form of a seq2seq model: an MLflow pyfunc that translates a list of texts.

transformers 5 has no text2text pipeline for MLflow's transformers flavour to wrap, so the model folder (weights,
tokenizers, lmforge.json with the generation settings) travels as an artifact of this small PythonModel.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc


class Translator(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from tasks.config import Params
        from tasks.tokenize_pairs import target_tokenizer

        folder = Path(context.artifacts["model"])
        self.model = AutoModelForSeq2SeqLM.from_pretrained(str(folder)).eval()
        self.tokenizer, self.decoder = AutoTokenizer.from_pretrained(str(folder)), target_tokenizer(folder)
        self.params = Params.model_validate(json.loads((folder / "lmforge.json").read_text())["params"])

    def predict(self, context, model_input: list[str], params: dict | None = None) -> list[str]:
        from tasks.evaluate_seq2seq import generate

        return generate(self.model, self.tokenizer, self.decoder, list(model_input), self.params)


def log_translator(model_dir: str | Path, pip_requirements: list[str]):
    """Log the folder as a pyfunc model named "model" on the active run; returns MLflow's ModelInfo."""
    code = Path(__file__).with_name("model_code") / "translator.py"  # models from code: nothing pickled
    return mlflow.pyfunc.log_model(name="model", python_model=str(code), artifacts={"model": str(model_dir)},
                                   pip_requirements=pip_requirements)
