"""The registered chat model, as MLflow "models from code" (see tasks/kinds/chat/model.py)."""

import mlflow.models

from tasks.kinds.chat.model import ChatModel

mlflow.models.set_model(ChatModel())
