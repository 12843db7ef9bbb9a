"""The registered question answering model, as MLflow "models from code" (see tasks/kinds/qa/model.py)."""

import mlflow.models

from tasks.kinds.qa.model import Answerer

mlflow.models.set_model(Answerer())
