"""A throwaway PostgreSQL 15 server for the tests, the demo and the benchmarks.

Built on testing.postgresql. `initdb` and `postgres` refuse to run as root, and CI and the
development machines run as root, so when we are root both programs run as the `postgres`
user through `setpriv`, in a base directory that user owns (DESIGN.md §6).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile

import testing.postgresql

PG_BIN = os.environ.get("PGCANARY_PG_BIN", "/usr/lib/postgresql/15/bin")

# Durability off: the data is thrown away, and the benchmarks compare ratios measured
# against baselines that pay the same commit cost in the same server.
SERVER_ARGS = (
    "-h 127.0.0.1 -F -c logging_collector=off -c fsync=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=256MB"
)


def _as_postgres_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


class ThrowawayPostgres(testing.postgresql.Postgresql):
    """testing.postgresql.Postgresql that also works as root."""

    def __init__(self, **kwargs):
        for tool in ("initdb", "postgres"):
            path = os.path.join(PG_BIN, tool)
            if not os.path.exists(path):
                raise RuntimeError(
                    f"{path} not found: install postgresql-15 (make deps does it)"
                )
            kwargs.setdefault(tool, path)
        kwargs.setdefault("postgres_args", SERVER_ARGS)
        if os.geteuid() == 0 and "base_dir" not in kwargs:
            # A base_dir we create is still removed on stop: testing.postgresql only
            # removes the ones it created itself, so we do ours in stop().
            self._own_dir = tempfile.mkdtemp(prefix="pgcanary-pg-")
            kwargs["base_dir"] = self._own_dir
        else:
            self._own_dir = None
        super().__init__(**kwargs)

    def initialize_database(self):
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for root, dirs, files in os.walk(self.base_dir):
                os.chown(root, pg.pw_uid, pg.pw_gid)
                for name in files:
                    os.chown(os.path.join(root, name), pg.pw_uid, pg.pw_gid)
        if os.path.exists(os.path.join(self.base_dir, "data", "PG_VERSION")):
            return
        argv = [self.initdb, "-D", os.path.join(self.base_dir, "data"), "--lc-messages=C",
                "-E", "UTF8", *self.settings["initdb_args"].split()]
        done = subprocess.run(_as_postgres_user(argv), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr}")

    def get_server_commandline(self):
        return _as_postgres_user(super().get_server_commandline())

    def stop(self, *args, **kwargs):
        try:
            super().stop(*args, **kwargs)
        finally:
            if self._own_dir and os.path.exists(self._own_dir):
                shutil.rmtree(self._own_dir, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start the server on the same data directory and port (fault tests)."""
        self.terminate()
        self.start()
