"""The registered form of a chat model: an MLflow pyfunc that answers conversations.

    model = mlflow.pyfunc.load_model("models:/NAME@champion")
    model.predict(["which day comes after monday?"])          # a prompt: one user turn, answered
    model.predict(['[{"role": "user", "content": "hi"}]'])     # a conversation (JSON of turns), its next answer

The model folder (weights; tokenizer with its chat template; lmforge.json with the params) travels as an artifact of
this small PythonModel, as the other kinds' do. Answers are greedy, up to evaluate.max_new_tokens, rendered with the
template the model was trained with.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from tasks.decoders.serving import WritesAnswers
from tasks.registry.pyfunc import BACKEND_PARAM, log_pyfunc, read_model_folder, read_texts


class ChatModel(WritesAnswers, mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.folder, self.run_id, self.params = read_model_folder(context)
        self.loaded = None

    def load_eager(self):
        """(model, tokenizer), loaded once: a server calls predict for every request."""
        if self.loaded is None:
            from tasks.kinds.chat.evaluate import load_chat_model

            self.loaded = load_chat_model(self.folder)
        return self.loaded

    def load_backend(self, backend: str):
        """Only eager PyTorch runs a chat model (no export is built for it yet); loaded once."""
        if backend != "eager":
            from tasks.core.errors import LmforgeError

            raise LmforgeError(f"a chat model has no {backend} export; it is served by eager PyTorch "
                               "(--backend eager).")
        return self.load_eager()

    # A DataFrame hint, as the other kinds': MLflow then keeps the logged signature with its backend parameter.
    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[str]:
        from tasks.kinds.chat.conversations import read_turns
        from tasks.kinds.chat.evaluate import answer_turns

        model, tokenizer = self.load_backend((params or {}).get(BACKEND_PARAM) or "eager")
        return answer_turns(model, tokenizer, [read_turns(text) for text in read_texts(model_input)],
                            self.params.evaluate)

    def encode_request(self, tokenizer, prompt) -> list[int]:
        """A conversation (a list of turns) rendered with the model's template up to the assistant's answer; a text
        (/v1/completions) continued as it is."""
        from tasks.kinds.chat.template import encode_prompt

        return encode_prompt(tokenizer, prompt) if isinstance(prompt, list) else \
            tokenizer(prompt, add_special_tokens=False)["input_ids"]


def log_chat_model(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "chat_model.py", ["a question"], ["its answer"])
