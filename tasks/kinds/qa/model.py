"""The registered form of a question answering model: an MLflow pyfunc that answers "QUESTION || CONTEXT" texts.

    model = mlflow.pyfunc.load_model("models:/NAME@champion")
    model.predict(["Where did Tom go? || Tom went to Oslo on Monday."])  # [{"answer": "Oslo", "score": 0.97}]

As the seq2seq model, the model folder (weights, tokenizer, lmforge.json with the window and span settings) travels
as an artifact of this small PythonModel. Only eager PyTorch serves it: qa has no ONNX or torch.export export yet.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from tasks.registry.pyfunc import BACKEND_PARAM, INPUT_SEPARATOR, log_pyfunc, read_model_folder, read_texts



def split_text(text: str) -> tuple[str, str]:
    """(question, context) of one input text, split on the first INPUT_SEPARATOR."""
    from tasks.core.errors import LmforgeError

    question, found, context = text.partition(INPUT_SEPARATOR)
    if not found:
        raise LmforgeError(f"a qa input is 'QUESTION{INPUT_SEPARATOR}CONTEXT', but {text[:60]!r} has no "
                           f"'{INPUT_SEPARATOR.strip()}'; join each question and its context with it.")
    return question, context


class Answerer(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.folder, self.run_id, self.params = read_model_folder(context)
        self.answerers: dict[str, object] = {}

    def load_backend(self, backend: str):
        """The (questions, contexts)-to-answers function of a backend, loaded once: a server calls predict often."""
        from tasks.core.errors import LmforgeError

        if backend != "eager":
            raise LmforgeError(f"qa models are served by eager PyTorch only; backend {backend!r} has no qa export yet, "
                               "so leave the backend out or pass eager.")
        if backend not in self.answerers:
            from transformers import AutoModelForQuestionAnswering, AutoTokenizer

            from tasks.kinds.qa.evaluate import answer_questions

            model = AutoModelForQuestionAnswering.from_pretrained(str(self.folder)).eval()
            tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
            self.answerers[backend] = lambda questions, contexts: answer_questions(model, tokenizer, questions,
                                                                                   contexts, self.params)
        return self.answerers[backend]

    # A DataFrame hint, as the classifier's: MLflow infers no schema from it, so the logged signature (with its
    # backend parameter) stands.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[dict]:
        import torch

        answer = self.load_backend((params or {}).get(BACKEND_PARAM) or "eager")
        pairs = [split_text(text) for text in read_texts(model_input)]
        with torch.inference_mode():
            found = answer([q for q, _ in pairs], [c for _, c in pairs])
        return [{"answer": text, "score": score} for text, score in found]


def log_answerer(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "answerer.py", [f"a question{INPUT_SEPARATOR}its context"],
                      [{"answer": "a span", "score": 0.5}])
