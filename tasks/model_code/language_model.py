"""The registered causal language model, as MLflow "models from code" (see tasks/lm_model.py)."""

import mlflow.models

from tasks.lm_model import LanguageModel

mlflow.models.set_model(LanguageModel())
