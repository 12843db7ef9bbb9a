"""The registered classifier, as MLflow "models from code" (see tasks/classifier_model.py)."""

import mlflow.models

from tasks.classifier_model import Classifier

mlflow.models.set_model(Classifier())
