"""The registered seq2seq model, as MLflow "models from code" (see tasks/kinds/seq2seq/model.py)."""

import mlflow.models

from tasks.kinds.seq2seq.model import Translator

mlflow.models.set_model(Translator())
