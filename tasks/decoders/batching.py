"""Continuous batching for a served decoder: the answers being written for concurrent requests advance together, one
token a step for all of them, over one KV cache.

A thread owns the model. Each step it takes the requests that arrived (up to `max_rows` rows in all), reads their
prompts in one left-padded pass, joins their cache rows to those already answering (padded on the left, masked),
chooses every row's next token, sends it to its request and reads all the chosen tokens in one pass. A row leaves as
soon as it ends (end-of-text, its max_new_tokens, the model's positions, or its client gone), so one long answer never
holds the others back and a request that arrives mid-answer starts at the next step, not after the batch.

Each request samples with its own generator (seeded when the request gives a seed), so its answer does not depend on
which others it shared steps with; greedy rows take the highest logit, as transformers' generate does.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import torch

from tasks.decoders.generate import pad_left, position_ids


@dataclass(eq=False)
class Job:
    """One prompt's answer: what it asks for, the tokens written so far, and how its consumer hears of them."""
    prompt: list[int]
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    tokens: list[int] = field(default_factory=list)
    pieces: queue.Queue = field(default_factory=queue.Queue)  # each token as written; None once it is done
    finished: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    error: BaseException | None = None

    def __post_init__(self):
        self.generator = torch.Generator()
        self.generator.manual_seed(self.seed if self.seed is not None else int(torch.randint(0, 2**62, ()).item()))

    def cancel(self) -> None:
        """Its client is gone: the row leaves at the next step, freeing its slot."""
        self.cancelled = True

    def result(self) -> list[int]:
        self.finished.wait()
        if self.error is not None:
            raise self.error
        return self.tokens

    def end(self, error: BaseException | None = None) -> None:
        self.error = error
        self.finished.set()
        self.pieces.put(None)


def choose_tokens(logits: torch.Tensor, jobs: list[Job]) -> list[int]:
    """Each row's next token: the highest logit at temperature 0, else sampled after temperature and top_p."""
    chosen = logits.argmax(-1).tolist()
    for row, job in enumerate(jobs):
        if job.temperature > 0:
            probs = torch.softmax(logits[row].float() / job.temperature, -1)
            if job.top_p < 1:
                ordered, order = probs.sort(descending=True)
                outside = ordered.cumsum(-1) - ordered > job.top_p  # the smallest head whose mass reaches top_p stays
                probs = probs.index_fill(0, order[outside], 0.0)
            chosen[row] = int(torch.multinomial(probs, 1, generator=job.generator))
    return chosen


class DecodeBatcher:
    def __init__(self, model, eos_id: int, pad_id: int, max_rows: int, positions: int):
        self.model, self.eos, self.pad, self.max_rows, self.positions = model, eos_id, pad_id, max_rows, positions
        self.waiting: list[Job] = []
        self.ready = threading.Condition()
        self.closed = False
        self.rows: list[Job] = []  # the jobs answering now, in the cache's row order
        self.cache = self.mask = self.logits = None
        self.steps = self.jobs_done = self.cancelled = 0
        self.rows_stepped = 0  # rows over all steps: against steps, how full the batches ran
        threading.Thread(target=self.run, name="decode-batcher", daemon=True).start()

    def submit(self, prompt: list[int], max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
               seed: int | None = None) -> Job:
        job = Job(list(prompt), max_new_tokens, temperature, top_p, seed)
        with self.ready:
            if self.closed:
                raise RuntimeError("this model is no longer served")
            self.waiting.append(job)
            self.ready.notify()
        return job

    def take(self) -> list[Job] | None:
        """The requests that may join now (all of them when none is answering: waits for one); None once closed."""
        with self.ready:
            while not self.waiting and not self.rows:
                if self.closed:
                    return None
                self.ready.wait()
            room = self.max_rows - len(self.rows)
            joining, self.waiting = self.waiting[:room], self.waiting[room:]
            return joining

    def run(self) -> None:
        try:
            while (joining := self.take()) is not None:
                with torch.inference_mode():
                    if joining:
                        self.join(joining)
                    self.step()
        except BaseException as error:  # a fault of this thread's own: no request may wait on it forever
            with self.ready:
                self.closed = True
                stranded, self.waiting, self.rows = [*self.rows, *self.waiting], [], []
            for job in stranded:
                job.end(error)
            raise

    def join(self, jobs: list[Job]) -> None:
        """The new prompts read in one pass; their cache rows, mask and next-token logits joined to the batch's."""
        from transformers import DynamicCache

        ids, mask = (torch.from_numpy(array) for array in pad_left([job.prompt for job in jobs], self.pad))
        cache = DynamicCache()
        positions = torch.from_numpy(position_ids(mask.numpy()))
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True,
                            logits_to_keep=1).logits[:, -1]
        if self.rows:
            width = max(self.mask.shape[1], mask.shape[1])
            for old, new in zip(self.cache.layers, cache.layers):
                old.keys = torch.cat([pad_columns(old.keys, width, -2), pad_columns(new.keys, width, -2)])
                old.values = torch.cat([pad_columns(old.values, width, -2), pad_columns(new.values, width, -2)])
            mask = torch.cat([pad_columns(self.mask, width, -1), pad_columns(mask, width, -1)])
            logits, cache = torch.cat([self.logits, logits]), self.cache
        self.rows, self.cache, self.mask, self.logits = self.rows + jobs, cache, mask, logits

    def step(self) -> None:
        """Every row's next token chosen and sent; the rows that ended leave; the others' tokens read in one pass."""
        chosen = choose_tokens(self.logits, self.rows)
        lengths = self.mask.sum(-1).tolist()  # each row's real tokens, read once a step, not once a row
        keep = []
        for row, (job, token) in enumerate(zip(self.rows, chosen)):
            if token != self.eos and not job.cancelled:
                job.tokens.append(token)
                job.pieces.put(token)
            room = self.positions - lengths[row] - 1
            if token == self.eos or job.cancelled or len(job.tokens) >= min(job.max_new_tokens, room):
                self.jobs_done, self.cancelled = self.jobs_done + 1, self.cancelled + job.cancelled
                job.end()
            else:
                keep.append(row)
        self.steps, self.rows_stepped = self.steps + 1, self.rows_stepped + len(self.rows)
        if not keep:
            self.rows, self.cache = [], None
            return
        if len(keep) < len(self.rows):
            index = torch.tensor(keep)
            self.cache.batch_select_indices(index)
            self.rows, self.mask = [self.rows[i] for i in keep], self.mask[index]
            self.trim_padding()
        tokens = torch.tensor([[chosen[i]] for i in keep])
        positions = self.mask.sum(-1, keepdim=True)  # a row's next position: how many real tokens it has
        self.mask = torch.cat([self.mask, torch.ones_like(tokens)], -1)
        self.logits = self.model(input_ids=tokens, attention_mask=self.mask, position_ids=positions,
                                 cache=self.cache, use_cache=True).logits[:, -1]

    def trim_padding(self) -> None:
        """Columns that no remaining row reads (a longer prompt's row has left) dropped from the cache and mask."""
        start = int(self.mask.any(0).int().argmax())
        if start:
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[..., start:, :], layer.values[..., start:, :]
            self.mask = self.mask[:, start:]

    def status(self) -> dict:
        return {"answering": len(self.rows), "waiting": len(self.waiting), "steps": self.steps,
                "answers": self.jobs_done, "ended_early": self.cancelled,
                "rows_per_step": round(self.rows_stepped / self.steps, 2) if self.steps else 0.0}

    def close(self) -> None:
        """Finish the answers under way and those waiting, then stop the thread."""
        with self.ready:
            self.closed = True
            self.ready.notify_all()


def pad_columns(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """`tensor` padded with zeros on the left of dimension `dim` to `width` (a mask's zeros hide them)."""
    missing = width - tensor.shape[dim]
    if not missing:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim)
