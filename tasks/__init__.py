"""lmforge steps: each module holds a pure core, a thin Prefect task and a `python -m` entry. Infrastructure lies in
core/, data/, training/, registry/, servers/ and monitoring/; each task kind in kinds/<kind>/."""

from tasks.registry.moved import install_moved

__version__ = "0.1.0"

# Only an import hook, no work: versions registered before kinds became packages import their old module paths.
install_moved()
