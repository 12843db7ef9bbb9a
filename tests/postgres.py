"""A throwaway PostgreSQL server for tests: the OS package's binaries (`.ci/run` installs them), a cluster in a temp
folder, TCP on a free port of 127.0.0.1, trust authentication for one user, stopped and removed afterwards.

PostgreSQL refuses to run as root; as root the cluster belongs to the package's `postgres` user."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

USER = "lmforge"


def find_binaries() -> Path | None:
    """Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class Database:
    port: int

    def url(self, name: str, driver: str = "postgresql") -> str:
        return f"{driver}://{USER}@127.0.0.1:{self.port}/{name}"

    def query(self, name: str, sql: str):
        """The first column of the first row."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, dbname=name) as connection:
            return connection.execute(sql).fetchone()[0]


@contextmanager
def running_postgres(tmp_path: Path, databases: tuple[str, ...]):
    binaries = find_binaries()
    if binaries is None:
        if os.environ.get("LMFORGE_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL's initdb is not installed (apt-get install postgresql); .ci/run installs it")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    as_root = os.geteuid() == 0
    # Outside pytest's temp folder: its parents are private to root, and the server runs as `postgres`.
    home = Path(tempfile.mkdtemp(prefix="lmforge-pg-"))
    if as_root:
        shutil.chown(home, "postgres", "postgres")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    data, port = home / "data", free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "--no-sync")
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-w", "-o",
            f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        for name in databases:
            run(str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, name)
        yield Database(port)
    finally:
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
