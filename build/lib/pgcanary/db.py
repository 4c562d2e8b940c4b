"""Connections: a pool from DATABASE_URL, or the caller's own connection.

Every RPC wrapper takes `conn=None`. With a connection, the call runs in the caller's
transaction (the caller commits). Without one, it borrows a pooled connection and commits.
"""

from __future__ import annotations

import getpass
import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from pgcanary.errors import translate

_pool: ConnectionPool | None = None
_pool_lock = threading.Lock()


def database_url(url: str | None = None) -> str:
    url = url or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("no database: set DATABASE_URL or pass --database-url")
    return url


def pool(url: str | None = None) -> ConnectionPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ConnectionPool(database_url(url), min_size=1,
                                   max_size=int(os.environ.get("PGCANARY_POOL_SIZE", "4")),
                                   kwargs=connect_kwargs(), open=True)
        return _pool


def close_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None


def connect_kwargs() -> dict[str, str]:
    """Session settings for our connections: the actor that audit rows name when there is no
    JWT (PGCANARY_ACTOR, else the OS user), as PostgREST's claims would for an RPC."""
    actor = os.environ.get("PGCANARY_ACTOR") or f"cli:{getpass.getuser()}"
    actor = "".join(ch for ch in actor if ch.isalnum() or ch in "@._:-")
    return {"application_name": "pgcanary", "options": f"-c pgcanary.actor={actor}"}


@contextmanager
def connection(conn: psycopg.Connection | None = None) -> Iterator[psycopg.Connection]:
    if conn is not None:
        yield conn
        return
    with pool().connection() as pooled:
        yield pooled


def rpc(function: str, args: dict[str, tuple[Any, str]], *, conn: psycopg.Connection | None = None,
        setof: bool = False) -> Any:
    """Calls public.<function>(name => value::type, ...) as PostgREST does (named arguments,
    explicit casts). Returns the single value, or all rows for a set-returning function.
    Parameters are never logged: they may hold client ids and phone numbers."""
    call = sql.SQL("select * from public.{}({})" if setof else "select public.{}({})").format(
        sql.Identifier(function),
        sql.SQL(", ").join(
            sql.SQL("{} => {}::{}").format(sql.Identifier(name), sql.Placeholder(name), sql.SQL(cast))
            for name, (_, cast) in args.items()),
    )
    params = {name: value for name, (value, _) in args.items()}
    with connection(conn) as c:
        try:
            cur = c.cursor(row_factory=tuple_row)
            cur.execute(call, params)
            rows = cur.fetchall()
        except psycopg.Error as exc:
            raise translate(exc) from exc
    return rows if setof else rows[0][0]
