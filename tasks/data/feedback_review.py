"""Labels held for review: a classification label that contradicts what the champion answered with confidence
(its logged score at or above feedback.confident) is more often a mistake, or an attempt to teach the model a wrong
answer, than a fix. Such rows are not trained on: they go to their own folder beside the feedback source, with
what the champion answered, for a person to look at. Kinds whose log holds no confidence hold nothing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.core.config import Params

ANSWERED = ("champion_output", "champion_score")  # what a held row keeps of the champion's answer
NOT_CHAMPION = ("shadow", "canary")  # log roles whose rows are another model's answers (tasks/servers/traffic.py)


def review_folder(params: Params) -> Path:
    """Beside the feedback source, not in it: ingest, DVC and the watcher never see held rows."""
    return Path(f"{params.paths.feedback}-review")


def champion_answers(log: pd.DataFrame) -> pd.DataFrame:
    """Per request id, the champion's logged output and score (shadow and canary rows are other models')."""
    if log.empty:
        return pd.DataFrame(columns=list(ANSWERED))
    if "role" in log.columns:
        log = log[~log["role"].isin(NOT_CHAMPION)]
    answers = log.drop_duplicates("request_id").set_index("request_id")
    return answers[["output", "score"]].set_axis(list(ANSWERED), axis=1)


def find_contradictions(rows: pd.DataFrame, label: str, answers: pd.DataFrame, confident: float) -> pd.Series:
    """True for each row whose `label` differs from a champion answer scored at `confident` or more."""
    joined = answers.reindex(rows["request_id"])
    score = pd.to_numeric(joined["champion_score"], errors="coerce").to_numpy()
    output = joined["champion_output"].astype(object).to_numpy()
    held = [pd.notna(said) and pd.notna(sure) and sure >= confident and str(said) != str(given)
            for said, sure, given in zip(output, score, rows[label])]
    return pd.Series(held, index=rows.index)


def hold_contradictions(params: Params, rows: pd.DataFrame, label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to train on, rows held for review with the champion's answer)."""
    from tasks.data.inference_log import read_log

    if params.feedback.confident is None:  # holding turned off
        return rows, rows.iloc[:0]
    answers = champion_answers(read_log(params.paths.inference_log))
    held = find_contradictions(rows, label, answers, params.feedback.confident)
    review = rows[held].join(answers, on="request_id")
    return rows[~held], review
