"""The registered seq2seq model, as MLflow "models from code" (see tasks/seq2seq_model.py)."""

import mlflow.models

from tasks.seq2seq_model import Translator

mlflow.models.set_model(Translator())
