"""What a served decoder's python model adds for OpenAI's routes (tasks/servers/openai_api.py): answers written by
the continuous batcher (tasks/decoders/batching.py), whole (`complete`) or piece by piece (`stream`), with OpenAI's
token counts and finish reasons.

The python model brings `load_eager()` -> (model, tokenizer) and `encode_request(tokenizer, prompt)` -> the prompt's
ids (a chat model renders a conversation with its template; a language model continues a text).
"""

from __future__ import annotations

import threading

_opening = threading.Lock()  # two first requests at once must not start two batchers on one model


class WritesAnswers:
    def open_batcher(self, max_rows: int):
        """The continuous batcher that writes the OpenAI routes' answers (tasks/decoders/batching.py), started on
        the first request: up to `max_rows` answers (the server's serve.batch.max_size) advance together."""
        with _opening:
            if getattr(self, "batcher", None) is None:
                from tasks.decoders.batching import DecodeBatcher
                from tasks.decoders.generate import position_limit

                model, tokenizer = self.load_eager()
                self.batcher = DecodeBatcher(model, tokenizer.eos_token_id, tokenizer.pad_token_id,
                                             max_rows, position_limit(model.config.to_dict()))
            return self.batcher

    def start(self, prompts: list, generation, serve) -> list:
        """Each prompt (a list of turns, or a text) encoded, its length checked, and its answer started on the
        batcher: [(prompt ids, job)]."""
        from tasks.servers.openai_protocol import OpenAIError

        _, tokenizer = self.load_eager()
        encoded = [self.encode_request(tokenizer, prompt) for prompt in prompts]
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
        started = self.start(prompts, generation, serve)
        return [ending(tokenizer, ids, tokens, tokenizer.decode(tokens, skip_special_tokens=True), generation)
                for ids, tokens in ((ids, job.result()) for ids, job in started)]

    def stream(self, prompt, generation, serve):
        """One request's answer as it is written: yields pieces of text (a stop sequence and what follows it held
        back), then a last dict with the token counts and why it ended (as `complete` returns them). Closing the
        generator early (its client gone) ends the answer and frees its row."""
        from tasks.servers.openai_protocol import apply_stop

        _, tokenizer = self.load_eager()
        [(ids, job)] = self.start([prompt], generation, serve)
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
