"""`lmforge predict`, `score`, `feedback` and `watch`: the loop after promotion, from the champion's answers to labels
that come back and data that changes (which a Prefect trigger turns into a retrain)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cli.shared import (Backend, DebugOption, JsonOption, ParamsOption, SetOption, command, echo_json,
                        note_old_spelling, run_prefect_flow, version_keys)
from tasks.registry.model_refs import FORMS


def predict(texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
            model: Annotated[str | None, typer.Option(help=f"The version: {FORMS}; default the champion.")] = None,
            file: Annotated[Path | None, typer.Option(help="A CSV, JSONL, Parquet or .txt file of inputs (a .txt: one "
                                                           "per line).")] = None,
            text_column: Annotated[str | None, typer.Option(help="Column of --file; default data.text_column "
                                                                 "(data.source_column for seq2seq).")] = None,
            backend: Annotated[Backend, typer.Option(help="eager (PyTorch), or one of the version's exports that passed "
                                                          "its parity check.")] = Backend.eager,
            params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
            debug: DebugOption = False) -> None:
    """Print label and score for each text (or each row of --file); seq2seq models print their output text."""
    with command(debug):
        from tasks.core.config import load_params
        from tasks.core.errors import LmforgeError
        from tasks.predict import map_input_columns, load_texts, log_predictions, predict_texts
        from tasks.registry import tracking
        from tasks.registry.model_refs import find_model_version, parse_model_ref

        settings = load_params(params, set_)
        from tasks.kinds import get_kind

        columns = map_input_columns(settings)
        if text_column:
            first = get_kind(settings.task).INPUT_KEYS[0]
            columns = {first: text_column, **{key: name for key, name in columns.items() if key != first}}
        rows = list(texts or []) + (load_texts(file, settings, columns) if file else [])
        if not rows:
            raise LmforgeError("nothing to predict: give texts as arguments, or --file with a CSV, JSONL, Parquet or "
                               ".txt file.")
        ref = parse_model_ref(model, settings.registry.model_name, settings.registry.champion_alias)
        found = find_model_version(tracking.client(settings), ref)  # once: an alias may move while it answers
        started = time.perf_counter()
        outputs = predict_texts(settings, f"models:/{found.name}/{found.version}", rows, backend.value)
        request_ids = log_predictions(settings, found, ref.uri, backend.value, rows, outputs,
                                      time.perf_counter() - started)
        predictions = list(zip(rows, outputs))
        if as_json:
            answers = [{"input": text, "output": output, "score": score}
                       | ({"request_id": request_ids[i]} if request_ids else {})
                       for i, (text, (output, score)) in enumerate(predictions)]
            echo_json(version_keys(found.name, found.version)
                      | {"model": ref.uri, "backend": backend.value, "predictions": answers})
            return
        for text, (label, score) in predictions:
            typer.echo(f"{label}\t{text}" if score is None else f"{label}\t{score:.4f}\t{text}")


def score(file: Annotated[Path, typer.Option("--file", help="Inputs: a CSV, JSONL, Parquet or .txt file (the data.* "
                                                            "input columns, as in the training data).")],
          out: Annotated[Path, typer.Option("--out", help="Where the predictions go: .parquet, .csv or .jsonl.")],
          model: Annotated[str | None, typer.Option(help=f"The version: {FORMS}; default the champion.")] = None,
          backend: Annotated[Backend, typer.Option(help="eager (PyTorch) or one of the version's exports that passed "
                                                        "its parity check.")] = Backend.eager,
          batch_rows: Annotated[int, typer.Option(min=1, help="Inputs per model call (length-sorted).")] = 64,
          params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
          debug: DebugOption = False) -> None:
    """Score a file of any size with the champion (a Prefect flow): predictions with the version that made them and
    a request id each, every answer logged for the monitor."""
    with command(debug):
        from tasks.core.config import load_params
        from tasks.registry.tracking import check_server

        from tasks.registry.model_refs import parse_model_ref

        settings = load_params(params, set_)
        parse_model_ref(model, settings.registry.model_name)  # a name that names no version fails before Prefect starts
        check_server(settings)

        def load_flow():
            from flows.score import score_flow

            return score_flow

        result = run_prefect_flow(load_flow, as_json, debug, str(file), str(out), str(params), set_ or [], model,
                                  backend.value, batch_rows)
    if as_json:
        echo_json(result)
        return
    from tasks.score import ScoreResult

    typer.echo(ScoreResult(**result).summary())


def feedback(file: Annotated[Path | None, typer.Option("--file", help="A CSV, JSONL or Parquet file with request_id "
                                                                     "and label columns (label: the right class, "
                                                                     "target text or answer).")] = None,
             labels: Annotated[Path | None, typer.Argument(help="The older spelling of --file.", hidden=True,
                                                           show_default=False)] = None,
             params: ParamsOption = Path("params.yaml"), set_: SetOption = None, as_json: JsonOption = False,
             debug: DebugOption = False) -> None:
    """Join labels to logged requests by request id and append them to the feedback source (paths.feedback), which
    the next retrain reads as training rows. The whole file or nothing."""
    if (file or labels) is None:  # a usage error, exit 2, as a missing argument was
        raise typer.BadParameter("give the labels file (request_id and label columns).", param_hint="--file")
    with command(debug):
        from tasks.core.config import load_params
        from tasks.core.identity import local_identity
        from tasks.feedback import feed_back

        if labels is not None:
            note_old_spelling(f"lmforge feedback {labels}", f"lmforge feedback --file {labels}")
        settings = load_params(params, set_)
        fed = feed_back(settings, file or labels, local_identity())
    if as_json:
        echo_json({"rows": fed.rows, "segment": str(fed.segment or ""), "feedback": settings.paths.feedback,
                   "held": fed.held, "review": str(fed.review or ""), "sent_by": fed.sent_by})
        return
    if fed.segment is not None:
        typer.echo(f"{fed.rows} labelled rows appended to {settings.paths.feedback}/ ({fed.segment.name}) as sent by "
                   f"{fed.sent_by}; the next retrain trains on them (lmforge run --params {params}, or the "
                   "lmforge.data.changed trigger when `lmforge watch` runs)")
    if fed.held:
        typer.echo(f"{fed.held} rows held for review (they contradict the champion at >= "
                   f"{settings.feedback.confident or 0:g} confidence): {fed.review}; they are not trained on")


def watch(params: ParamsOption = Path("params.yaml"), debug: DebugOption = False,
          interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks at the inputs.")] = 30.0,
          settle: Annotated[float, typer.Option(min=0, help="Seconds a new fingerprint must hold before it is "
                                                            "reported (a copy in progress is not new data).")] = 60.0,
          repeat: Annotated[float, typer.Option(min=1, help="Seconds after which a change ingest has still not read "
                                                            "is reported again.")] = 600.0,
          once: Annotated[bool, typer.Option(help="Look once, report a change at once, and exit.")] = False,
          as_json: JsonOption = False) -> None:
    """Emit lmforge.data.changed to the Prefect server (PREFECT_API_URL) when the source's files or the labels fed
    back change; prefect.yaml's trigger runs the retrain deployment on it (with the params file as it is, so the
    watch takes no --set)."""
    with command(debug):
        import os

        from tasks.core.config import load_params
        from tasks.core.errors import LmforgeError, redact

        settings = load_params(params)
        if not os.environ.get("PREFECT_API_URL"):
            raise LmforgeError("lmforge watch sends its events to the Prefect server whose automations run the "
                               "retrain deployment; set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api from "
                               "`lmforge ui`).")
        from prefect.events import emit_event
        from prefect.events.worker import EventsWorker

        from tasks.data.watch import changed_event, watch_inputs

        def emit(change) -> None:
            emit_event(**changed_event(settings, change))
            EventsWorker.drain_all()  # on the server before the next look (and before --once exits)
            if as_json:  # a JSON line per event
                echo_json({"event": "lmforge.data.changed", "source": redact(settings.data.source),
                           "fingerprint": change.fingerprint, "previous": change.previous}, indent=None)
                return
            typer.echo(f"lmforge.data.changed: {redact(settings.data.source)} fingerprint {change.fingerprint} "
                       f"(was {change.previous or 'never ingested'})")

        if not once:
            typer.echo(f"watching {redact(settings.data.source)} and {settings.paths.feedback}/ every {interval:g} s "
                       f"(Ctrl-C stops)", err=True)
        try:
            emitted = watch_inputs(settings, emit, interval, settle, once, repeat)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
        if once and not emitted:
            if as_json:
                echo_json({"event": None, "source": redact(settings.data.source)}, indent=None)
            else:
                typer.echo("unchanged since the last ingest: no event")
