"""Data sources and versioning: reading a source, DVC versions and pipelines, freshness, and the expectation
builders every kind's checks use. Imports no step and no kind."""
