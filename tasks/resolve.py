"""resolve: the first DVC stage of each pipeline, `python -m tasks.resolve FILE`: writes the params file resolved
(every key filled in) beside the pipeline's dataset, so that the other stages read their params from it."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from tasks.core.resolved import write_resolved
    from tasks.core.runtime import run_entry

    run_entry(lambda params: print(write_resolved(params.source_file)), sys.argv[1:])
