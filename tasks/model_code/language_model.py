"""The registered causal language model, as MLflow "models from code" (see tasks/kinds/causal_lm/model.py)."""

import mlflow.models

from tasks.kinds.causal_lm.model import LanguageModel

mlflow.models.set_model(LanguageModel())
