"""Property-based: a params file (or --set) with a wrong type, an unknown key or an out-of-range value at any depth
fails at load time in one sentence that names the key's dotted path, never a traceback or a pydantic dump."""

from __future__ import annotations

import copy
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.core.config import load_params
from tasks.core.errors import LmforgeError
from tests.conftest import REPO

EXAMPLES = int(os.environ.get("LMFORGE_FUZZ_EXAMPLES", "200"))
BASES = {name: yaml.safe_load((REPO / name).read_text()) for name in ("params.yaml", "params.seq2seq.yaml")}


def walk_keys(node: dict, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """Every key at every depth with its value."""
    found = []
    for key, value in node.items():
        found.append((prefix + (key,), value))
        if isinstance(value, dict):
            found.extend(walk_keys(value, prefix + (key,)))
    return found


KEYS = {name: walk_keys(base) for name, base in BASES.items()}
# A mapping where a number, text, flag or list belongs, and a list where a mapping belongs: wrong for every key.
wrong_types = st.sampled_from([{"nested": [1]}, {"a": {"b": None}}])
out_of_range = st.sampled_from([-10**12, -1, 0, 10**12, -0.5, 1e300, float("nan"), ""])


@st.composite
def mutations(draw) -> tuple[str, dict, tuple[str, ...], str, bool]:
    """(base file, mutated params, the key's path, how, whether it must fail)."""
    name = draw(st.sampled_from(sorted(BASES)))
    raw = copy.deepcopy(BASES[name])
    path, value = draw(st.sampled_from(KEYS[name]))
    how = draw(st.sampled_from(["unknown key", "wrong type", "out of range"]))
    parent = raw
    for part in path[:-1]:
        parent = parent[part]
    if how == "unknown key":
        section = parent[path[-1]] if isinstance(value, dict) else parent
        key = draw(st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True).filter(lambda k: k not in section))
        section[key] = draw(st.one_of(st.integers(), st.text(max_size=5), st.none()))
        return name, raw, (path if isinstance(value, dict) else path[:-1]) + (key,), how, True
    if how == "wrong type" or isinstance(value, dict):
        parent[path[-1]] = [1, 2] if isinstance(value, dict) else draw(wrong_types)
        return name, raw, path, "wrong type", True
    parent[path[-1]] = draw(out_of_range)
    return name, raw, path, how, False


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(case=mutations(), via_set=st.booleans())
def test_any_bad_key_is_named_by_its_dotted_path(tmp_path_factory, case, via_set):
    name, raw, path, how, must_fail = case
    dotted = ".".join(path)
    folder = tmp_path_factory.mktemp("params")
    # The same value given on the command line instead (--set cannot name a key that holds a dot: sweep.space's keys).
    if via_set and how != "unknown key" and len(path) > 1 and not any("." in part for part in path):
        value = raw
        for part in path:
            value = value[part]
        file, overrides = REPO / name, [f"{dotted}={yaml.safe_dump(value, default_flow_style=True).strip()}"]
    else:
        file, overrides = folder / name, []
        file.write_text(yaml.safe_dump(raw))
    try:
        load_params(file, overrides)
    except LmforgeError as error:
        message = str(error)
        assert "\n" not in message and "pydantic" not in message and "Traceback" not in message, message
        # The bad key, or (when it is a section replaced by a list, or a check across keys) the key it lies in.
        named = {dotted, dotted.rsplit(".", 1)[0]} if "." in dotted else {dotted}
        assert any(f" {key} " in message or f" {key}." in message or f" {key}:" in message for key in named), (how, dotted, message)
        return
    assert not must_fail, f"{how} at {dotted} was accepted"


def test_an_unknown_key_deep_in_a_section_is_named_in_full(tmp_path):
    raw = copy.deepcopy(BASES["params.yaml"])
    raw["promote"]["significance"]["resampels"] = 10
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(LmforgeError, match=r"promote\.significance\.resampels is not a known key"):
        load_params(tmp_path / "params.yaml")
