"""Continuous batching of served answers (tasks/decoders/batching.py) on a tiny random GPT-2: the answers written
together are those written one at a time, requests join mid-answer, a client gone frees its row."""

from __future__ import annotations

import random
import threading
import time

import pytest

torch = pytest.importorskip("torch")

EOS = 0


@pytest.fixture(scope="module")
def model():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(3)
    config = GPT2Config(vocab_size=64, n_positions=128, n_embd=32, n_layer=2, n_head=2, bos_token_id=EOS,
                        eos_token_id=EOS, pad_token_id=EOS)
    return GPT2LMHeadModel(config).eval()


@pytest.fixture
def batcher(model):
    from tasks.decoders.batching import DecodeBatcher

    found = DecodeBatcher(model, EOS, EOS, max_rows=4, positions=128)
    yield found
    found.close()


def prompts(count: int) -> list[list[int]]:
    rng = random.Random(5)
    return [[rng.randrange(1, 64) for _ in range(rng.randrange(2, 12))] for _ in range(count)]


def alone(model, prompt: list[int], new_tokens: int) -> list[int]:
    """transformers' own greedy generate on the prompt alone: what each batched answer must equal."""
    from tasks.decoders.generate import answer_ids

    class Tokenizer:
        eos_token_id = pad_token_id = EOS
    return answer_ids(model, Tokenizer(), [prompt], new_tokens)[0]


def test_answers_written_together_and_joining_mid_answer_are_those_written_alone(model, batcher):
    asked = prompts(10)
    found: dict[int, list[int]] = {}

    def ask(i: int) -> None:
        time.sleep(0.004 * i)  # arrivals spread over others' steps; more than max_rows at once wait for a row
        found[i] = batcher.submit(asked[i], 12 + i).result()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asked))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [found[i] for i in range(len(asked))] == [alone(model, prompt, 12 + i) for i, prompt in enumerate(asked)]
    status = batcher.status()
    assert status["answers"] == len(asked) and status["answering"] == 0 and status["rows_per_step"] > 1
    assert all(len(found[i]) <= 12 + i for i in found)


def test_a_seeded_sampled_answer_does_not_depend_on_its_neighbours(batcher):
    prompt = prompts(1)[0]
    lone = batcher.submit(prompt, 20, temperature=1.0, top_p=0.9, seed=11).result()
    crowd = [batcher.submit(other, 20, temperature=1.5) for other in prompts(3)]
    again = batcher.submit(prompt, 20, temperature=1.0, top_p=0.9, seed=11)
    assert again.result() == lone
    assert all(job.result() is not None for job in crowd)


def test_a_cancelled_answer_leaves_at_the_next_step_and_frees_its_row(model):
    from tasks.decoders.batching import DecodeBatcher

    endless = DecodeBatcher(model, eos_id=-1, pad_id=EOS, max_rows=4, positions=128)  # no token ends an answer
    job = endless.submit(prompts(1)[0], 100)
    other = endless.submit(prompts(2)[1], 10)
    first = job.pieces.get(timeout=30)
    job.cancel()
    job.result()
    assert first is not None and len(job.tokens) < 100 and len(other.result()) == 10
    assert endless.status()["answering"] == 0 and endless.status()["ended_early"] == 1
    endless.close()


def test_a_closed_batcher_finishes_what_it_took_and_refuses_more(model):
    from tasks.decoders.batching import DecodeBatcher

    batcher = DecodeBatcher(model, EOS, EOS, max_rows=2, positions=128)
    jobs = [batcher.submit(prompt, 8) for prompt in prompts(3)]
    batcher.close()
    assert all(len(job.result()) <= 8 for job in jobs)
    with pytest.raises(RuntimeError, match="no longer served"):
        batcher.submit([1, 2], 4)
