"""Fault injection for the tests: with LMFORGE_FAILPOINT=<name>, a run stops dead at that point, saying so, and waits
for the test's `kill -9`. Unset (always, outside tests), a failpoint does nothing."""

from __future__ import annotations

import os
import time

from tasks.core.runtime import say


def failpoint(name: str) -> None:
    if os.environ.get("LMFORGE_FAILPOINT") == name:
        say(f"[failpoint] {name}: waiting to be killed")
        time.sleep(3600)
