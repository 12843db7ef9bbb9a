"""The DVC driver end to end: `dvc repro` of one small pipeline in two fresh projects, with different hash seeds,
records the same hash for every output in dvc.lock. Each step keeps the facts of its run (MLflow run ids, times,
speeds) out of what it made; a step that wrote one into its output would fail this."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import FAST_PARAMS, REPO, make_project, merge

pytestmark = [pytest.mark.flow, pytest.mark.matrix]  # two rebuilds from scratch: make test-matrix

# The gate lets the model through (no floor, no significance, no baseline): this checks that DVC runs every stage
# and repeats its outputs. 20 steps learn nothing (every row gets the majority label, exactly the majority baseline's
# macro F1), which promote.beat_baseline would rightly refuse.
TINY = merge(FAST_PARAMS, {"data": {"sample": {"rows": 600}}, "train": {"max_steps": 20},
                           "promote": {"floors": {"f1_macro": 0.0}, "significance": {"test": "none"},
                                       "beat_baseline": False},
                           "registry": {"model_name": "test-dvc"}})


def repro(root: Path, hash_seed: str) -> dict[tuple[str, str], str]:
    """`dvc repro` of the project's params.yaml through its model card; each dvc.lock output's md5."""
    reviews = yaml.safe_load((REPO / "pipelines.yaml").read_text())["pipelines"]["reviews"]
    (root / "pipelines.yaml").write_text(yaml.safe_dump({"pipelines": {"reviews": reviews}}))
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["dvc", "repro", "card@reviews"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    stages = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    return {(stage, out["path"]): out["md5"] for stage, entry in stages.items() for out in entry.get("outs", [])}


def test_dvc_repro_twice_from_scratch_records_the_same_output_hashes(tmp_path):
    first = repro(make_project(tmp_path / "first", TINY), "1")
    second = repro(make_project(tmp_path / "second", TINY), "2")
    assert len(first) >= 8 and first.keys() == second.keys(), (first, second)
    differ = {output: (digest, second[output]) for output, digest in first.items() if second[output] != digest}
    assert not differ, f"these outputs hash differently on a second run from scratch: {differ}"
    model = tmp_path / "second" / "data" / "model"
    assert (model / "run.json").is_file(), "the run's facts are kept beside the model, left out of its hash"
    # The last stage: the registered version's card, in the registry and under paths.card, holding its own figures.
    card = (tmp_path / "second" / "data" / "card" / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: test-dvc version 1") and "- **verdict**: promoted" in card, card[:2000]
