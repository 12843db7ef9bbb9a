"""Training batches of similar length, in random order: most of the speed of length grouping, none of its bias."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

GROUP_BATCHES = 50  # batches per length-sorted group, as transformers' LengthGroupedSampler


class ShuffledLengthGroups(Sampler[int]):
    """Rows are shuffled, cut into groups of GROUP_BATCHES batches, sorted by length within a group and cut into
    batches; then the batches themselves are shuffled. transformers' LengthGroupedSampler keeps each group's batches
    in length order, so a small dataset trains long-to-short runs of look-alike batches: macro F1 on the built-in
    reviews fell from 0.84-0.97 to 0.79 with it."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """The order depends on the epoch only, so a resumed run replays the same batches."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        rows = torch.randperm(len(self.lengths), generator=generator).tolist()
        size = GROUP_BATCHES * self.batch_size
        batches = []
        for start in range(0, len(rows), size):
            group = sorted(rows[start:start + size], key=self.lengths.__getitem__, reverse=True)
            batches += [group[i:i + self.batch_size] for i in range(0, len(group), self.batch_size)]
        # The one short batch (the end of the last group) stays last: anywhere else it would shift every later
        # batch boundary, and batches would straddle two length groups.
        full = [batch for batch in batches if len(batch) == self.batch_size]
        for index in torch.randperm(len(full), generator=generator).tolist():
            yield from full[index]
        for batch in batches[len(full):] if len(full) < len(batches) else []:
            yield from batch


class LengthSorted(Sampler[int]):
    """Evaluation rows longest first: batches of look-alike lengths carry little padding. Trainer gathers predictions
    and labels in the same order, so the metrics are those of file order (SST-2 validation: 22,740 tokens with padding, not 67,013)."""

    def __init__(self, lengths: list[int]):
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(range(len(self.lengths)), key=self.lengths.__getitem__, reverse=True))


def length_grouped(trainer_class):
    """A Trainer class whose training batches are of similar length in random order and whose evaluation runs in
    length order: the classifier's and the qa windows' batches then waste little on padding."""

    class LengthGroupedTrainer(trainer_class):
        def _get_train_sampler(self, train_dataset=None):
            rows = train_dataset if train_dataset is not None else self.train_dataset
            # Grouped by the rows of all processes' micro-batches together: under DDP each process takes its slice
            # of every group, so 2 processes x 16 rows train the very batches 1 process x 32 rows does.
            return ShuffledLengthGroups([len(row["input_ids"]) for row in rows],
                                        self.args.train_batch_size * self.args.world_size, self.args.seed)

        def _get_eval_sampler(self, eval_dataset):
            return LengthSorted([len(row["input_ids"]) for row in eval_dataset])

    return LengthGroupedTrainer
