"""The registered form of a causal language model: an MLflow pyfunc that continues prompts.

    model = mlflow.pyfunc.load_model("models:/NAME@champion")
    model.predict(["mia had five"])                          # the greedy continuation of each prompt
    model.unwrap_python_model().score_texts(["a text"])     # (nll, tokens) per text: what promotion's perplexity uses

The model folder (weights, or base weights plus a LoRA adapter; tokenizer; lmforge.json with the params) travels as
an artifact of this small PythonModel, as the seq2seq model's does.

    model.predict(["mia had five"], params={"backend": "onnx"})  # greedy on the version's ONNX export (or onnx-int8)

The exports sit on the version's run under export/ and are used only when they passed their parity check (greedy
continuations of the test prompts identical to eager's); perplexity (score_texts, what promotion compares) is always
computed by eager PyTorch, from the logged weights.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from tasks.decoders.serving import WritesAnswers
from tasks.registry.pyfunc import BACKEND_PARAM, log_pyfunc, read_model_folder, read_texts


class LanguageModel(WritesAnswers, mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.folder, self.run_id, self.params = read_model_folder(context)
        self.loaded = None
        self.generators: dict[str, object] = {}

    def load_eager(self):
        """(model, tokenizer), loaded once: a server calls predict for every request."""
        if self.loaded is None:
            from tasks.kinds.causal_lm.evaluate import load_causal_lm

            self.loaded = load_causal_lm(self.folder)
        return self.loaded

    def load_backend(self, backend: str):
        """The prompts-to-continuations function of a backend, loaded once."""
        if backend not in self.generators:
            if backend == "eager":
                from tasks.kinds.causal_lm.evaluate import generate_continuations

                model, tokenizer = self.load_eager()
                self.generators[backend] = lambda texts: generate_continuations(model, tokenizer, texts, self.params)
            else:
                from tasks.registry.registered import fetch_run_export
                from tasks.kinds.causal_lm.onnx import OnnxGenerator

                OnnxGenerator.check_backend(backend)
                folder = fetch_run_export(mlflow.MlflowClient(), self.run_id, backend)
                self.generators[backend] = OnnxGenerator(folder, backend, self.params)
        return self.generators[backend]

    # A DataFrame hint, as the classifier's: MLflow infers no schema from it, so the logged signature (with its
    # backend parameter) stands; from a list[str] hint it inferred one without parameters and dropped the backend.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[str]:
        return self.load_backend((params or {}).get(BACKEND_PARAM) or "eager")(read_texts(model_input))

    def encode_request(self, tokenizer, prompt) -> list[int]:
        """OpenAI's prompt as training saw text: after an EOS; a conversation (a language model has no chat
        template) as its turns' contents, one per line, continued."""
        text = prompt if isinstance(prompt, str) else "\n".join(turn["content"] for turn in prompt)
        return [tokenizer.eos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]

    def score_texts(self, texts: list[str]):
        """(summed negative log-likelihoods, predicted token counts), arrays with one value per text, scored in the
        packed blocks (tasks.kinds.causal_lm.metrics.score_texts)."""
        from tasks.kinds.causal_lm.metrics import score_texts

        model, tokenizer = self.load_eager()
        return score_texts(model, tokenizer, [str(text) for text in texts], self.params.tokenize.block_size,
                           self.params.evaluate.batch_size)


def log_language_model(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "language_model.py", ["a prompt"], ["its continuation"])
