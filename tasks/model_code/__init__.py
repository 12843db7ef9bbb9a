"""Scripts MLflow logs as "models from code": loading a registered lmforge model runs one of these files (lmforge's
own code, installed where the model is loaded) instead of unpickling a cloudpickled object. Each only names its model
with `mlflow.models.set_model`; nothing imports them."""
