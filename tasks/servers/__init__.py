"""Servers lmforge starts or talks to: Prefect's API, the UI servers, and the scoring protocol's requests. Imports no
step and no kind."""
