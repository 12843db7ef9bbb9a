"""The registered question answering model, as MLflow "models from code" (see tasks/qa_model.py)."""

import mlflow.models

from tasks.qa_model import Answerer

mlflow.models.set_model(Answerer())
