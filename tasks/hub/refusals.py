"""What the Hub refuses, in the user's words, for a model and a dataset alike: a gated repository without a token
that may read it, a revision it does not have, a repository it does not have (or will not show). Never the token."""

from __future__ import annotations

from tasks.core.errors import LmforgeError


def describe_refusal(error: Exception, key: str, repo_id: str, revision: str, what: str) -> LmforgeError | None:
    """One sentence naming `key` for huggingface_hub's refusals; None for any other error. `what`: model or dataset."""
    from huggingface_hub import errors

    if isinstance(error, errors.GatedRepoError):
        return LmforgeError(f"{key}: {repo_id} is gated: accept its conditions on its Hub page with your account, "
                            "then set HF_TOKEN to a token of that account (lmforge never records it).")
    if isinstance(error, errors.RevisionNotFoundError):
        return LmforgeError(f"{key}: {repo_id} has no revision {revision!r}; name a branch, tag or commit it has "
                            "after @ (e.g. @main), or drop the @REVISION.")
    if isinstance(error, errors.RepositoryNotFoundError):
        where = "huggingface.co" if what == "model" else "huggingface.co/datasets"
        return LmforgeError(f"{key}: the Hub has no {what} {repo_id!r} (or it is private and HF_TOKEN cannot read "
                            f"it); check the id's spelling on {where}, or set HF_TOKEN.")
    return None
