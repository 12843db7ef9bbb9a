"""Watching a served model: the statistical tests of drift, the champion's own embeddings and token signals, and the
monitor's report. Imports no step and no kind."""
