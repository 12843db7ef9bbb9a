"""Module paths of earlier lmforge layouts. A registered version's models-from-code file (tasks/model_code/*.py as it
was when the version was logged) imports its model class by the path of that day: these names keep such versions
loading, predicting and serving after the code moved."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "tasks.classifier_model": "tasks.kinds.classification.model",
    "tasks.seq2seq_model": "tasks.kinds.seq2seq.model",
    "tasks.qa_model": "tasks.kinds.qa.model",
    "tasks.lm_model": "tasks.kinds.causal_lm.model",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old path with the module now at the new one (the same module object, so classes are identical)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        return None  # a plain module, replaced below

    def exec_module(self, module) -> None:
        # The import system returns whatever sys.modules holds under the name once this returns.
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__])


def install_moved() -> None:
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
