"""The seq2seq baseline: the better, by the primary metric, of copying the source and of its first sentence. Copying
is what a translation model that learnt nothing emits when source and target share words; the first sentence ("lead")
is the summarization baseline papers report. Both are scored with the kind's own metrics on the test pairs."""

from __future__ import annotations

import pandas as pd

from tasks.core.config import TASK_METRICS, Params

COPY, LEAD = "copying the source", "the source's first sentence"


def copy_or_lead_baseline(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> tuple[str, dict[str, float]]:
    """(which one, and why: both scores on the primary metric; its metrics). On a tie copying is kept: the first
    sentence of a one-sentence source is the source."""
    from tasks.kinds.seq2seq.metrics import corpus_scores
    from tasks.registry.baseline import first_sentence

    sources, refs = test["source"].astype(str).tolist(), test["target"].astype(str).tolist()
    guesses = {COPY: sources, LEAD: [first_sentence(source) for source in sources]}
    scored = {name: {metric: corpus_scores(hyps, refs)[metric] for metric in TASK_METRICS["seq2seq"]}
              for name, hyps in guesses.items()}
    primary = params.promote.primary_metric
    copy, lead = scored[COPY][primary], scored[LEAD][primary]
    if lead > copy:
        return f"{LEAD}, above {COPY} on {primary}: {lead:.2f} > {copy:.2f}", scored[LEAD]
    return f"{COPY}, not below {LEAD} on {primary}: {copy:.2f} >= {lead:.2f}", scored[COPY]
