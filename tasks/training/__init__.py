"""Training machinery every kind shares: time budgets, checkpoints, torch distributed, weight averaging, batch
sampling and tokenizer files. Imports no step and no kind."""
