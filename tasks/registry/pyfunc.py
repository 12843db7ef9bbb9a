"""What every kind's registered model (an MLflow pyfunc "from code" over the model folder) shares: the backend
parameter of predict, reading its input texts, reading the folder's lmforge.json, and logging it with a signature."""

from __future__ import annotations

from pathlib import Path

BACKEND_PARAM = "backend"
INPUT_SEPARATOR = " || "  # joins the columns of one input when a kind reads several (qa: QUESTION || CONTEXT)


def read_texts(model_input) -> list[str]:
    """The texts of a pyfunc input: a list, or the first column of the DataFrame MLflow makes of it."""
    texts = model_input.iloc[:, 0].tolist() if hasattr(model_input, "iloc") else list(model_input)
    return [str(text) for text in texts]


def read_model_folder(context, with_params: bool = True):
    """(model folder, the run that trained it, its params or None) of a loaded pyfunc's context."""
    from tasks.core.config import Params
    from tasks.training.checkpoints import read_model_meta

    folder = Path(context.artifacts["model"])
    meta = read_model_meta(folder)
    return folder, meta.get("run_id", ""), Params.model_validate(meta["params"]) if with_params else None


def log_pyfunc(model_dir: str | Path, pip_requirements: list[str], code_name: str, example_input, example_output):
    """Log the folder as a pyfunc model named "model" on the active run, its code tasks/model_code/<code_name>
    (models from code: nothing pickled); returns MLflow's ModelInfo."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    # The signature declares the backend parameter: without one, MLflow drops params given to predict.
    signature = infer_signature(example_input, example_output, params={BACKEND_PARAM: "eager"})
    code = Path(__file__).parents[1] / "model_code" / code_name
    return mlflow.pyfunc.log_model(name="model", python_model=str(code), artifacts={"model": str(model_dir)},
                                   pip_requirements=pip_requirements, signature=signature)
