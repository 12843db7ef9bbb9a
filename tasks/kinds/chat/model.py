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

    def open_batcher(self, max_rows: int):
        """The continuous batcher that writes the OpenAI routes' answers (tasks/decoders/batching.py), started on
        the first request: up to `max_rows` answers (the server's serve.batch.max_size) advance together."""
        if getattr(self, "batcher", None) is None:
            from tasks.decoders.batching import DecodeBatcher
            from tasks.decoders.generate import position_limit

            model, tokenizer = self.load_eager()
            self.batcher = DecodeBatcher(model, tokenizer.eos_token_id, tokenizer.pad_token_id,
                                         max_rows, position_limit(model.config.to_dict()))
        return self.batcher

    def start(self, prompts: list, generation, serve) -> list:
        """Each prompt (a list of turns; a text for /v1/completions, continued as it is) encoded, its length
        checked, and its answer started on the batcher: [(prompt ids, job)]."""
        from tasks.kinds.chat.template import encode_prompt
        from tasks.servers.openai_protocol import OpenAIError

        _, tokenizer = self.load_eager()
        encoded = [encode_prompt(tokenizer, prompt) if isinstance(prompt, list) else
                   tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
        if max(map(len, encoded)) > serve.max_prompt_tokens:
            raise OpenAIError(f"the prompt has {max(map(len, encoded))} tokens, over this server's limit of "
                              f"{serve.max_prompt_tokens} (serve.max_prompt_tokens)", "messages")
        batcher = self.open_batcher(serve.batch.max_size)
        return [(ids, batcher.submit(ids, generation.max_new_tokens, generation.temperature, generation.top_p,
                                     generation.seed)) for ids in encoded]

    def complete(self, prompts: list, generation, serve) -> list[dict]:
        """OpenAI's requests: each prompt answered as `generation` (tasks.servers.openai_protocol.Generation) asks,
        within the server's limits (`serve`, its ServeParams): its text, token counts and why it ended."""
        _, tokenizer = self.load_eager()
        return [ending(tokenizer, ids, job.result(), tokenizer.decode(job.result(), skip_special_tokens=True),
                       generation) for ids, job in self.start(prompts, generation, serve)]

    def stream(self, turns: list, generation, serve):
        """One request's answer as it is written: yields pieces of text (a stop sequence and what follows it held
        back), then a last dict with the token counts and why it ended (as `complete` returns them). Closing the
        generator early (its client gone) ends the answer and frees its row."""
        from tasks.servers.openai_protocol import apply_stop

        _, tokenizer = self.load_eager()
        [(ids, job)] = self.start([turns], generation, serve)
        held = max((len(stop) for stop in generation.stop), default=1) - 1  # a stop's start may still be unseen
        written, sent = [], 0
        try:
            while (token := job.pieces.get()) is not None:
                written.append(token)
                text = tokenizer.decode(written, skip_special_tokens=True)
                if text.endswith("\ufffd"):  # a character split across tokens: wait for its other bytes
                    continue
                cut, stopped = apply_stop(text.lstrip(), generation.stop)
                safe = len(cut) if stopped else max(len(cut) - held, sent)
                if safe > sent:
                    yield cut[sent:safe]
                    sent = safe
                if stopped:
                    job.cancel()
                    break
            tokens = job.result() if not job.cancelled else written
            found = ending(tokenizer, ids, tokens, tokenizer.decode(written, skip_special_tokens=True), generation)
            if len(found["text"]) > sent:
                yield found["text"][sent:]
            yield found
        finally:
            job.cancel()  # a no-op once it ended


def ending(tokenizer, prompt: list[int], tokens: list[int], text: str, generation) -> dict:
    """An answer as OpenAI reports it: the text up to a stop sequence, the prompt's and the answer's tokens, and
    why it ended (stop: end-of-text or a stop sequence; length: max_tokens)."""
    from tasks.servers.openai_protocol import apply_stop, finish_reason

    cut, stopped = apply_stop(text.strip(), generation.stop)
    counted = len(tokenizer(cut, add_special_tokens=False)["input_ids"]) if stopped else len(tokens)
    return {"text": cut, "prompt_tokens": len(prompt), "completion_tokens": counted,
            "finish_reason": finish_reason(stopped, len(tokens), generation.max_new_tokens)}


def log_chat_model(model_dir: str | Path, pip_requirements: list[str]):
    return log_pyfunc(model_dir, pip_requirements, "chat_model.py", ["a question"], ["its answer"])
