"""docs/params-reference.md is generated from the params schema: a key, default or description changed in the code
without `make docs` fails here."""

from __future__ import annotations

from tests.conftest import REPO


def test_the_committed_reference_matches_the_schema():
    from tasks.core.reference import render_reference

    committed = (REPO / "docs/params-reference.md").read_text()
    assert committed == render_reference(), "docs/params-reference.md is stale: run `make docs` and commit it"


def test_every_key_of_the_schema_is_in_the_reference():
    from tasks.core.config import Params
    from tasks.core.reference import list_fields, render_reference

    page = render_reference()
    keys = [key for key, *_ in list_fields(Params)]
    assert "train.precision" in keys and "data.splits.validation" in keys
    assert all(f"| `{key}` |" in page for key in keys)
