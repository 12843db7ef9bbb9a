"""resolve: what a run stands on, settled before it starts. The checkpoints its params name are pinned (a Hub id to the
commit it resolves to now, tasks/hub/pins.py) and checked against the task kind and this machine's memory; as the
first DVC stage of each pipeline, `python -m tasks.resolve FILE` writes the params file resolved (every key filled
in, Hub ids pinned) beside the pipeline's dataset, so that the other stages read their params from it."""

from __future__ import annotations

import sys

from tasks.core.config import Params


def prepare_checkpoints(params: Params) -> Params:
    """Params with Hub ids pinned, once each named checkpoint is known to suit the kind and fit the machine."""
    from tasks.hub.models import checkpoint_folder
    from tasks.hub.pins import pin_params
    from tasks.kinds import get_kind
    from tasks.training.fit import check_family, check_memory

    pinned = pin_params(params)
    trust = params.model.trust_remote_code
    auto_class = get_kind(params.task).AUTO_CLASS
    if pinned.model.pretrained:
        folder = checkpoint_folder(pinned.model.pretrained, trust)
        check_family(folder, auto_class, params.task, "model.pretrained", trust)
        check_memory(folder, "model.pretrained", params.train.lora is not None, params.train.precision)
    return pinned


def resolve_stage(params: Params) -> str:
    """The DVC stage: the resolved params written, and a Hub dataset or URL fetched into data/<name>/source/, the
    input DVC checks before it runs ingest@NAME (a pinned source already fetched asks nothing of the network)."""
    from tasks.core.resolved import write_resolved
    from tasks.hub.sources import fetch_source

    written = write_resolved(params.source_file, prepare_checkpoints(params))
    fetch_source(params)
    return written


if __name__ == "__main__":
    from tasks.core.runtime import run_entry

    run_entry(lambda params: print(resolve_stage(params)), sys.argv[1:])
