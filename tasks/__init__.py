"""lmforge steps: each module holds a pure core, a thin Prefect task and a `python -m` entry."""

__version__ = "0.1.0"
