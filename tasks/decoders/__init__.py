"""Decoder-only models as more than one kind uses them (causal_lm continues texts, chat answers conversations): built
from a checkpoint or from scratch, adapted with LoRA and saved, and generating in left-padded batches."""
