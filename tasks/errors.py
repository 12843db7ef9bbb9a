"""The one exception lmforge raises for bad input: its message is the sentence the user sees."""


class LmforgeError(Exception):
    """Bad input or state, said in one sentence: what, where, and how to fix it."""


def describe_failure(error: BaseException) -> str:
    """What the MLflow run's `error` tag says; Prefect turns SIGTERM into a TerminationSignal without a message."""
    import signal

    if isinstance(getattr(error, "signal", None), int):
        return f"stopped by {signal.Signals(error.signal).name}"
    return str(error) or type(error).__name__
