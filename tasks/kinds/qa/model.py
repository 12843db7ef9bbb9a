"""The registered form of a question answering model: an MLflow pyfunc that answers "QUESTION || CONTEXT" texts.

    model = mlflow.pyfunc.load_model("models:/NAME@champion")
    model.predict(["Where did Tom go? || Tom went to Oslo on Monday."])  # [{"answer": "Oslo", "score": 0.97}]
    model.predict([...], params={"backend": "onnx"})  # the version's ONNX export (or onnx-int8, torch-export)

As the seq2seq model, the model folder (weights, tokenizer, lmforge.json with the window and span settings) travels
as an artifact of this small PythonModel. The exports sit on the version's run under export/ and are used only when
they passed their parity check, as for the classifier; every backend's start/end logits go through the same windows
and span post-processing (tasks.kinds.qa.evaluate).
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
        from tasks.registry.backends import BACKENDS

        if backend not in BACKENDS:
            raise LmforgeError(f"backend {backend!r} is unknown; use one of {', '.join(BACKENDS)}.")
        if backend not in self.answerers:
            from tasks.training.loading import load_trained_tokenizer

            from tasks.kinds.qa.evaluate import answer_questions
            from tasks.kinds.qa.spans import load_spans

            folder = self.folder
            if backend != "eager":
                from tasks.registry.registered import fetch_run_export

                folder = fetch_run_export(mlflow.MlflowClient(), self.run_id, backend)
            spans = load_spans(folder, backend)
            tokenizer = load_trained_tokenizer(folder)
            self.answerers[backend] = lambda questions, contexts: answer_questions(spans, tokenizer, questions,
                                                                                   contexts, self.params)
        return self.answerers[backend]

    # A DataFrame hint, as the classifier's: MLflow infers no schema from it, so the logged signature (with its
    # backend parameter) stands.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[dict]:
        answer = self.load_backend((params or {}).get(BACKEND_PARAM) or "eager")
        pairs = [split_text(text) for text in read_texts(model_input)]
        found = answer([q for q, _ in pairs], [c for _, c in pairs])
        return [{"answer": text, "score": score} for text, score in found]


def log_answerer(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "answerer.py", [f"a question{INPUT_SEPARATOR}its context"],
                      [{"answer": "a span", "score": 0.5}])
