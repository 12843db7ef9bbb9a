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

from tasks.registry.pyfunc import BACKEND_PARAM, log_pyfunc, read_model_folder, read_texts


class ChatModel(mlflow.pyfunc.PythonModel):
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


    def complete(self, prompts: list, generation, max_prompt_tokens: int) -> list[dict]:
        """OpenAI's requests: each prompt (a list of turns; a text for /v1/completions, continued as it is) answered
        as `generation` (tasks.servers.openai_protocol.Generation) asks: its text, token counts and why it ended."""
        from tasks.decoders.generate import answer_ids
        from tasks.kinds.chat.template import encode_prompt
        from tasks.servers.openai_protocol import OpenAIError, apply_stop, finish_reason

        model, tokenizer = self.load_eager()
        encoded = [encode_prompt(tokenizer, prompt) if isinstance(prompt, list) else
                   tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
        if max(map(len, encoded)) > max_prompt_tokens:
            raise OpenAIError(f"the prompt has {max(map(len, encoded))} tokens, over this server's limit of "
                              f"{max_prompt_tokens} (serve.max_prompt_tokens)", "messages")
        rows = answer_ids(model, tokenizer, encoded, generation.max_new_tokens, generation.temperature,
                          generation.top_p, generation.seed)
        answers = []
        for prompt, row in zip(encoded, rows):
            text, stopped = apply_stop(tokenizer.decode(row, skip_special_tokens=True).strip(), generation.stop)
            tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"]) if stopped else len(row)
            answers.append({"text": text, "prompt_tokens": len(prompt), "completion_tokens": tokens,
                            "finish_reason": finish_reason(stopped, len(row), generation.max_new_tokens)})
        return answers


    def stream(self, turns: list, generation, max_prompt_tokens: int):
        """One request's answer as it is written: yields pieces of text (a stop sequence and what follows it held
        back), then a last dict with the token counts and why it ended (as `complete` returns them)."""
        import threading

        from transformers import TextIteratorStreamer

        from tasks.decoders.generate import answer_ids
        from tasks.kinds.chat.template import encode_prompt
        from tasks.servers.openai_protocol import OpenAIError, apply_stop, finish_reason

        model, tokenizer = self.load_eager()
        encoded = encode_prompt(tokenizer, turns) if isinstance(turns, list) else \
            tokenizer(turns, add_special_tokens=False)["input_ids"]
        if len(encoded) > max_prompt_tokens:
            raise OpenAIError(f"the prompt has {len(encoded)} tokens, over this server's limit of {max_prompt_tokens} "
                              "(serve.max_prompt_tokens)", "messages")
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        found: dict = {}
        worker = threading.Thread(target=lambda: found.setdefault("rows", answer_ids(
            model, tokenizer, [encoded], generation.max_new_tokens, generation.temperature, generation.top_p,
            generation.seed, streamer)), daemon=True)
        worker.start()
        held = max((len(stop) for stop in generation.stop), default=1) - 1  # a stop's start may still be unseen
        text, sent, stopped = "", 0, False
        for piece in streamer:
            text += piece
            cut, stopped = apply_stop(text.lstrip(), generation.stop)
            safe = len(cut) if stopped else max(len(cut) - held, sent)
            if safe > sent:
                yield cut[sent:safe]
                sent = safe
            if stopped:
                break
        worker.join()
        cut, stopped = apply_stop(text.strip(), generation.stop)
        if len(cut) > sent:
            yield cut[sent:]
        row = found.get("rows", [[]])[0]
        tokens = len(tokenizer(cut, add_special_tokens=False)["input_ids"]) if stopped else len(row)
        yield {"prompt_tokens": len(encoded), "completion_tokens": tokens, "text": cut,
               "finish_reason": finish_reason(stopped, len(row), generation.max_new_tokens)}


def log_chat_model(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "chat_model.py", ["a question"], ["its answer"])
