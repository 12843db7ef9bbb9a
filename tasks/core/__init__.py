"""Configuration and errors: the params schema and its defaults, the records steps pass, the one-sentence errors,
and the runtime every entry point sets up (logging, seeds, locks). Imports no step, no kind, no other infrastructure."""
