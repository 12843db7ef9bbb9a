"""The versions a server answers with: each follows a registry alias (or one pinned version), checked at most every
serve.refresh_s seconds, and a version that fails to load never replaces the one answering. Nor does one the gate did
not pass (tasks/servers/admissible.py): it is refused before any of its code is loaded, and /ping says why."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.core.config import Params
from tasks.core.errors import LmforgeError, redact_error


@dataclass
class Served:
    """A loaded version: `predict` answers requests (through its micro-batcher, when batching is on), `direct` calls
    the model itself (the shadow's own batches)."""
    version: str
    backend: str
    predict: Callable[[list[str]], list[dict]]
    tags: dict = field(default_factory=dict)
    direct: Callable[[list[str]], list[dict]] | None = None
    batcher: object | None = None
    model: object | None = None  # the loaded python model: what OpenAI's routes ask to generate (its `complete`)
    fallback: str | None = None  # why it runs eager rather than the export of serve.backend, when it does
    folder: str | None = None  # the checked copy of the model it was loaded from, removed with it
    warm_up_ms: float | None = None  # its warm-up request, answered before it replaced anything

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        if self.generating() is not None:
            self.generating().close()
        if self.folder is not None:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)

    def generating(self):
        """The continuous batcher of a model that writes answers (OpenAI's routes), once it started."""
        return getattr(self.model, "batcher", None)


# (params, a registry ModelVersion, ONNX threads or None) -> Served: the serve step's, which knows the task kinds.
Loader = Callable[[Params, object, "int | None"], Served]
# A registry ModelVersion -> why it must not be loaded, or None (tasks/servers/admissible.py).
Admit = Callable[[object], "str | None"]


class VersionHolder:
    """The version an alias points to (with `pinned`, that version only, whatever the alias says).

    The champion's holder loads on the request that finds the alias moved (the first one waits for it); a challenger's
    (`optional`) loads in a thread of its own and is None meanwhile, when the alias is missing, or when `unless` says
    the version is one already served (the challenger alias on the champion after a promotion)."""

    def __init__(self, params: Params, load: Loader, alias: str, pinned: str | None = None, optional: bool = False,
                 unless: Callable[[str], bool] = lambda version: False, threads: int | None = None,
                 admit: Admit | None = None):
        from tasks.registry import tracking

        self.params, self.client, self.alias, self.pinned = params, tracking.client(params), alias, pinned
        self.load, self.optional, self.unless, self.threads = load, optional, unless, threads
        self.lock, self.current, self.checked = threading.Lock(), None, float("-inf")
        self.broken: str | None = None  # a version that failed to load is not tried again on every refresh
        self.admit = admit or self.check_admissible
        self.refused: dict | None = None  # {"version", "reason"}: the version the alias names, not served (/ping)
        self.told: set[str] = set()  # versions whose refusal is in the log already: once each, not once a refresh
        self.code_checked: dict[str, str | None] = {}  # a version's model code, checked once (its files stay)

    def due(self) -> bool:
        return time.monotonic() - self.checked >= self.params.serve.refresh_s

    def get(self) -> Served | None:
        if not self.due():
            return self.serving()
        if self.optional:  # never on a request's time: the request goes on with what is loaded
            if self.lock.acquire(blocking=False):
                threading.Thread(target=self.refresh_locked, name=f"load-{self.alias}", daemon=True).start()
            return self.current
        # One request checks the alias (and loads a new version); the others meanwhile get the version loaded now.
        if not self.lock.acquire(blocking=self.current is None):
            return self.current
        try:
            if (self.current is None and self.refused is None) or self.due():
                self.refresh()
            return self.serving()
        finally:
            self.lock.release()

    def serving(self) -> Served | None:
        """The version answering; a champion's holder with none, because the alias names a version refused, raises
        why (each request gets 503 with it until the next check)."""
        if self.current is None and self.refused is not None and not self.optional:
            raise LmforgeError(f"version {self.refused['version']} of {self.params.registry.model_name} is not "
                               f"served: {self.refused['reason']}.")
        return self.current

    def refresh_locked(self) -> None:
        try:
            self.refresh()
        except Exception as error:  # noqa: BLE001 - a challenger that cannot load leaves the champion answering
            print(f"lmforge serve: @{self.alias} could not be loaded ({redact_error(error)}); serving without it.",
                  file=sys.stderr, flush=True)
            self.checked = time.monotonic()
        finally:
            self.lock.release()

    def refresh(self) -> None:
        name = self.params.registry.model_name
        try:
            version = self.client.get_model_version(name, self.pinned) if self.pinned else \
                self.client.get_model_version_by_alias(name, self.alias)
        except Exception as error:  # noqa: BLE001 - the registry is down or has no such alias
            if self.optional and f"alias {self.alias} not found" in str(error):  # MLflow's words for no alias
                self.replace(None)  # no challenger (any more)
                version = None
            elif self.current is None and not self.optional:
                wanted = f"version {self.pinned}" if self.pinned else f"@{self.alias}"
                raise LmforgeError(f"{name} has no {wanted} to serve ({redact_error(error, 120)}); run "
                                   "`lmforge run` first.") from None
            else:
                version = None  # keep answering with the version already loaded
        if version is not None and self.unless(str(version.version)):
            self.replace(None)
            version = None
        if version is not None and str(version.version) == self.broken:
            version = None
        if version is not None and (self.current is None or self.current.version != str(version.version)):
            if not self.admitted(version):
                version = None  # keep answering with the version already loaded, if any
        elif version is not None:
            self.refused = None  # the alias is back on the version answering
        if version is not None and (self.current is None or self.current.version != str(version.version)):
            try:
                self.replace(self.load(self.params, version, self.threads))
            except Exception as error:  # noqa: BLE001 - a broken new version must not stop the one serving
                if self.current is None and not self.optional:
                    raise
                self.broken = str(version.version)
                print(f"lmforge serve: version {version.version} could not be loaded ({redact_error(error)}); "
                      + (f"version {self.current.version} keeps answering." if self.current else "serving without it."),
                      file=sys.stderr, flush=True)
        elif version is not None:
            self.current.tags = dict(version.tags)  # a canary rolled back by another server shows here
        self.checked = time.monotonic()

    def admitted(self, version) -> bool:
        """Whether the version may be loaded; if not, why goes to /ping and (once) to the log, and a champion
        holder with nothing loaded yet raises it (503 until a version the gate passed holds the alias)."""
        number, reason = str(version.version), self.admit(version)
        if reason is None:
            self.refused = None
            return True
        self.refused = {"version": number, "reason": reason}
        if number not in self.told:
            self.told.add(number)
            print(f"lmforge serve: version {number} (@{self.alias}) is not served: {reason}; "
                  + (f"version {self.current.version} keeps answering." if self.current else "nothing answers yet."),
                  file=sys.stderr, flush=True)
        if self.current is None and not self.optional:
            self.checked = time.monotonic()  # the next check in serve.refresh_s, not on every request meanwhile
            self.serving()
        return False

    def check_admissible(self, version) -> str | None:
        """(a) the gate's record, then (b) the model code, checked once per version (tasks/servers/admissible.py). A
        pinned version was chosen on the command line by whoever starts the server (the gate's serving check does so
        before it decides): (b) only."""
        from tasks.servers.admissible import check_model_code, check_promotion

        reason = None if self.pinned else check_promotion(self.client, self.params, version, self.alias)
        number = str(version.version)
        if reason is None and number not in self.code_checked:
            self.code_checked[number] = check_model_code(self.client, self.params, version)
        return reason or self.code_checked.get(number)

    def replace(self, served: Served | None) -> None:
        """The new version answers from now on; the old one's batcher answers what it holds, then stops."""
        old, self.current = self.current, served
        if old is not None and old is not served:
            old.close()
