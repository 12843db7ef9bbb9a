"""The chat kind's conversations: what is accepted, and which tokens carry loss under a chat template."""

from __future__ import annotations

import json

import pytest

from tasks.kinds.chat.builtin import generate_conversations
from tasks.kinds.chat.conversations import conversation_problem, dump_conversation, last_answer, pair_conversation
from tasks.kinds.chat.template import CHATML, IGNORE, TemplateError, encode_conversation, encode_prompt, give_template

TALK = [{"role": "system", "content": "be brief."}, {"role": "user", "content": "which day comes after monday?"},
        {"role": "assistant", "content": "tuesday"}, {"role": "user", "content": "and after that?"},
        {"role": "assistant", "content": "wednesday"}]
ORDER = "has its roles out of order"


@pytest.fixture(scope="module")
def tokenizer():
    """A byte-level BPE learnt from the built-in conversations, with no chat template of its own."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    lines = [turn["content"] for row in generate_conversations(300, 1)["messages"] for turn in json.loads(row)]
    core.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


@pytest.mark.parametrize(("turns", "problem"), [
    (TALK, None),
    (TALK[1:3], None),
    (TALK[1:2], "has no assistant turn"),
    (TALK[:4], "ends on a user turn that nothing answers"),
    ([TALK[2], TALK[1], TALK[2]], ORDER),
    ([TALK[1], TALK[0], TALK[2]], ORDER),
    ([TALK[1], {"role": "assistant", "content": "  "}], "has an empty assistant turn"),
    ([{"role": "tool", "content": "x"}, TALK[2]], "has a role other than system, user and assistant (tool)"),
    ([TALK[1], {"role": "assistant", "content": None}], "has a turn whose content is not text"),
])
def test_a_conversation_is_accepted_or_named_by_what_is_wrong(turns, problem):
    found = conversation_problem(dump_conversation(turns))
    assert (found if found is None or "(" in problem else found.split(" (")[0]) == problem


def test_a_value_that_is_no_list_of_turns_is_named():
    assert conversation_problem('{"role": "user"}').startswith("is not a list of {role, content} turns")
    assert conversation_problem("not json").startswith("is not a list of {role, content} turns")
    assert conversation_problem(["hello"]).startswith("is not a list of {role, content} turns")


def test_a_prompt_and_response_become_one_exchange():
    turns = pair_conversation("add 2 and 3", "5", system="be brief.")
    assert [turn["role"] for turn in turns] == ["system", "user", "assistant"]
    assert last_answer(dump_conversation(turns)) == "5"


def test_only_the_assistants_tokens_carry_loss_in_every_turn(tokenizer):
    assert give_template(tokenizer, allow_default=True) and tokenizer.chat_template == CHATML
    encoded = encode_conversation(tokenizer, TALK)
    learnt = [token for token, label in zip(encoded["input_ids"], encoded["labels"]) if label != IGNORE]
    assert all(label in (IGNORE, token) for token, label in zip(encoded["input_ids"], encoded["labels"]))
    # Each answer and the end marker that teaches the model to stop; nothing of the system or user turns.
    assert tokenizer.decode(learnt) == "tuesday<|im_end|>\nwednesday<|im_end|>\n"
    prompt = encode_prompt(tokenizer, TALK[:2])
    assert tokenizer.decode(prompt).endswith("<|im_start|>assistant\n")
    assert encoded["input_ids"][:len(prompt)] == prompt  # what serving sends is how training saw it


def test_a_tokenizer_without_a_template_is_refused_unless_a_default_is_allowed(tokenizer):
    from transformers import PreTrainedTokenizerFast

    bare = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer, eos_token="<|endoftext|>")
    bare.chat_template = None
    with pytest.raises(TemplateError, match="has no chat template"):
        give_template(bare, allow_default=False)


def test_a_template_whose_renderings_do_not_extend_each_other_is_refused(tokenizer):
    # Numbering turns from the end: the first turn renders differently once another follows it.
    tokenizer = tokenizer.__class__(tokenizer_object=tokenizer.backend_tokenizer, eos_token="<|endoftext|>")
    tokenizer.chat_template = ("{% for m in messages %}{{ (messages|length - loop.index)|string + m['content'] }}"
                               "{% endfor %}")
    with pytest.raises(TemplateError, match="cannot be told apart"):
        encode_conversation(tokenizer, TALK[1:3])


def test_the_builtin_conversations_are_valid_distinct_and_the_same_for_a_seed():
    first, again = generate_conversations(500, 3), generate_conversations(500, 3)
    assert first.equals(again) and first["messages"].is_unique
    assert all(conversation_problem(row) is None for row in first["messages"])
    roles = [len(json.loads(row)) for row in first["messages"]]
    assert {2, 3, 4}.issubset(roles)  # plain, with a system prompt, with a follow-up
    assert not generate_conversations(500, 4).equals(first)


def test_ingest_reads_conversations_from_jsonl_and_from_prompt_and_response_columns(root):
    from tasks.core.config import Params
    from tasks.ingest import load_frames

    talk = [{"role": "user", "content": "hi", "name": "ignored"}, {"role": "assistant", "content": "hello"}]
    (root / "talk.jsonl").write_text(json.dumps({"messages": talk, "id": 1}) + "\n")
    params = Params.model_validate({"task": "chat", "data": {"source": "talk.jsonl"}})
    [(_, frame)] = load_frames(params.data, "chat")
    assert frame["messages"].tolist() == [dump_conversation(talk)]  # role and content only, compact
    (root / "alpaca.csv").write_text("instruction,output,persona\nadd 2 and 3,5,be brief.\nsay hi,,\n")
    params = Params.model_validate({"task": "chat", "data": {
        "source": "alpaca.csv", "prompt_column": "instruction", "response_column": "output",
        "system_column": "persona"}})
    [(_, frame)] = load_frames(params.data, "chat")
    assert list(frame.columns) == ["messages"]
    assert frame["messages"][0] == dump_conversation(pair_conversation("add 2 and 3", "5", "be brief."))
    assert frame["messages"][1] is None  # no response: validation's nulls check names it


def test_a_conversation_over_the_token_bound_is_named_by_its_tokens_as_tokenize_counts_them(tmp_path, monkeypatch):
    """validate's tokens check counts with the tokenizer tokenize will train (or load) and its template: a long
    conversation fails it; its character count alone would have passed."""
    import pandas as pd

    from tasks.core.config import load_params
    from tasks.kinds.chat.checks import chat_batches, chat_checks, count_tokens
    from tasks.kinds.chat.tokenize import template_tokenizer, turn_texts
    from tests.conftest import REPO

    monkeypatch.chdir(tmp_path)
    params = load_params(REPO / "params.chat.yaml", ["tokenize.max_length=80"])
    rows = generate_conversations(300, 4).assign(split="train")
    long = dump_conversation(pair_conversation(" ".join(["reverse these words: red blue green"] * 12), "green"))
    rows = pd.concat([rows, pd.DataFrame({"messages": [long, None], "split": ["test", "test"]})], ignore_index=True)
    counted = count_tokens(rows, params)
    tokenizer = template_tokenizer(params, None, turn_texts(rows[rows["split"] == "train"].iloc[:300]))
    assert counted.iloc[0] == len(encode_conversation(tokenizer, json.loads(rows["messages"][0]))["input_ids"])
    assert counted.iloc[-2] > 80 and pd.isna(counted.iloc[-1]) and (counted.iloc[:300] <= 80).all()
    [check] = [check for check in chat_checks(params) if check.name == "tokens"]
    assert check.offending(rows, params).tolist() == [False] * 300 + [True, False]
    assert "tokens" in chat_batches(rows, params)["rows"].columns
    assert len(long) < params.validate_.max_text_chars  # the character bound lets it through
