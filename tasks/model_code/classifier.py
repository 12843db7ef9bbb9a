"""The registered classifier, as MLflow "models from code" (see tasks/kinds/classification/model.py)."""

import mlflow.models

from tasks.kinds.classification.model import Classifier

mlflow.models.set_model(Classifier())
