"""What every command promises a script: its exit codes and the shape of its --json output, in one place. docs/cli.md
shows both tables as generated from here (cli.reference); a test checks that every command with --json has its
shape here and that the doc is up to date."""

from __future__ import annotations

# 3 is "the answer is no" (drift found, a rebuild that differs, a card that disagrees), which scripts can tell from a
# failure of the command.
ANSWER_NO_EXIT = 3
EXIT_CODES = (
    (0, 'done (including a run skipped because nothing changed, and a challenger the gate rejected)'),
    (1, 'a handled failure: one sentence on stderr naming the file, key, column or server, and how to fix it'),
    (2, 'a usage error: an unknown option, a missing argument, a choice outside its list (`--backend`, `init '
         '--task`)'),
    (3, 'the answer is no (the command worked, and what it checked does not hold): `monitor` found drift; '
         '`reproduce`: the rebuild differs from the registered version; `card`: the card was printed, and a '
         'figure of it disagrees with its record (each named on stderr)'),
    (130, '`lmforge run` interrupted (Ctrl-C or SIGTERM): its MLflow run is marked FAILED; the next run resumes '
         'from its last checkpoint'),
)

# What promote and rollback print: the decision they record.
DECISION = ('the recorded decision: `{"model_name", "model_version" (the champion now), "time", "by", "kind", '
            '"champion_before", "champion_after", "verdict", "reasons": [text], ...}`')
# command -> the shape of what `--json` prints (Markdown). A registered version is always model_name + model_version.
JSON_SHAPES = {
    'run': '`{"outcome", "data_version", "run_id", "tracking_uri", "trigger", "data_push", "validation", "tokens", '
           '"metrics": {"eval_*": number}, "model_name", "model_version", "alias", "verdict", "baseline", '
           '"champion", "exports", "card", "seconds": {step: seconds}, "warnings": [sentence]}`; a run skipped as '
           'unchanged: `{"outcome", "data_version", "model_name", "model_version"}`',
    'models': '`{"model_name", "versions": [{"model_name", "model_version", "version", "aliases": [alias], '
              '"created" (ISO 8601), "metrics": {name: number or null}, "data_version", "promotion", "reason", '
              '"rolled_back", "canary_rolled_back", "rebuilt" (`reproduce`\'s last verdict, or "-")}]}`, newest first',
    'predict': '`{"model_name", "model_version", "model" (the URI asked for), "backend", "predictions": '
               '[{"input", "output" (label or text), "score" (number or null), "request_id" (when logged)}]}`',
    'promote': DECISION,
    'rollback': DECISION,
    'export': '`{"model_name", "model_version", "version", "exports": {backend: {"status", "agreement", ...}}}`',
    'params': '`[{"key" (dotted), "value", "origin"}]`',
    'compare': '`{"model_name", "window_hours", "shadow": [{"champion_version", "challenger_version", '
               '"requests", "agreement", "latency": {"champion", "challenger": {"p50_ms", "p95_ms"}}, '
               '"labelled": {"labelled", "metric", "champion", "challenger", "significance"} or null}], '
               '"canary": [{"champion_version", "challenger_version", "requests", "canary_share", "latency": '
               '{"champion", "canary": {"p50_ms", "p95_ms"}}}]}`',
    'monitor': '`{"drift", "rows" (requests in the window), "model_name", "model_version", "window_hours", '
               '"message", "tests": {name: {"statistic", "p_value", "reference_rows", "window_rows", "drift"}}, '
               '"signals": {name: number}, "examples": [text], "quality": {"metric", "value", "low", "high", '
               '"labelled", "test_value"} or {}, "checks": {name: {"success", "unexpected", "rows"}}, '
               '"run_id"}`',
    'score': '`{"out", "rows", "model_name", "model_version", "backend", "seconds", "logged", "read_as" (how '
             'the file was read: "one per line of questions.txt", "rows of new.csv")}`',
    'reproduce': '`{"model_name", "model_version", "verdict" (identical, within_tolerance or differs), "stage" '
                 'and "detail" (when not identical), "compared": {"files", "predictions", "metrics"}, "model", '
                 '"version", "commit", "data_version", "threads", "steps", "seconds", "original_seconds", '
                 '"what_if", "determinism": {"threads", "hash_seeds", "first_difference"} (with '
                 '--check-determinism)}`',
    'card': 'the card\'s JSON twin: `{"model_name", "model_version", "format", "model", "version", "sections": '
            '[{"title", "facts": [fact], "columns", "rows": [[name, fact, ...]]}], "check": {"holds", '
            '"problems": [sentence]}}`; a fact is `{"label", "value", "from" (version, tag, param, metric, run '
            'or artifact), "name", "key" (inside an artifact)}`',
    'approve': 'the decision record it wrote: `{"flow_run", "model", "version", "time", "kind": "approval", "by" (the '
               'authenticated identity), "decision" (approved or rejected), "reason", "id"}`',
    'feedback': '`{"rows" (appended), "segment" (its file; "" when every row was held), "feedback" (the folder), '
                '"held" (rows held for review), "review" (their file, or ""), "sent_by" (who sent it: local:ACCOUNT)}`',
    'init': '`{"params_file", "pipeline", "pipelines_file"}`',
    'sweep': '`{"sweep_id", "parent_run_id", "trials": [{"number", "state", "values", "value", "run_id", "model_path", '
             '"message", "overrides"}], "best" (a trial or null), "metrics", "model", "verdict", "model_name", '
             '"model_version"}`',
    'watch': 'a JSON line per event: `{"event": "lmforge.data.changed", "source", "fingerprint", "previous"}`; '
             '`--once` with nothing new: `{"event": null, "source"}`',
    'serve': 'one JSON line once it answers: `{"model_name", "model_version", "following" (an alias, or null when '
             'pinned), "backend", "url", "workers", "inference_log" (or null)}`',
    'ui': 'one JSON line once both servers answer: `{"prefect_ui", "mlflow_ui", "prefect_api_url"}`',
    'schedule': 'one JSON line once it serves: `{"deployment", "cron", "interval_s", "prefect_api_url"}`',
    'token': '`{"name", "token" (shown this once), "file", "scopes"}`',
}
