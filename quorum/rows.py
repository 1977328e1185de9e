"""Hand-written SELECTs on the annotator's hot path, read back as ordinary model instances.

Every annotator request runs the same few fixed queries (the API token, the stream or assignment
with the user's standing, the live lease). Compiling them through the ORM costs 0.5-2.5 ms of CPU
each (joins and subqueries are rebuilt and recompiled on every call), several times what the
database spends on them. Their SQL is written once instead; the column lists come from the models'
``_meta`` (a new field is selected without editing any SQL), and each row becomes instances through
the converters the ORM itself applies (``connection.ops.get_db_converters``, the fields' own
``from_db_value``), so the values are exactly what a queryset would have returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]
Converters = tuple[tuple[int, Any, list[Converter]], ...]


@cache
def columns(model: type[Model], alias: str = "") -> str:
    """``alias."col", ...`` (``"col", ...`` without an alias) for every concrete field of
    ``model``, in ``_meta`` order (as ``instance`` reads them back)."""
    quote = connection.ops.quote_name
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{quote(str(field.column))}" for field in model._meta.concrete_fields)


@cache
def _converters(model: type[Model], vendor: str) -> tuple[tuple[str, ...], Converters]:
    """The attribute names of ``model``'s concrete fields and, for the fields that need them, the
    converters a queryset would apply (e.g. JSON text -> Python, SQLite's text datetimes)."""
    del vendor  # part of the cache key only: converters depend on the database backend
    names = []
    converters = []
    for index, field in enumerate(model._meta.concrete_fields):
        names.append(field.attname)
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((index, col, found))
    return tuple(names), tuple(converters)


def instance(model: type[M], row: Sequence[Any], start: int = 0) -> M:
    """The ``model`` instance held in ``row[start:]`` (selected with ``columns(model, ...)``)."""
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the ``connection`` proxy is a lookup
    names, converters = _converters(model, db.vendor)
    values = list(row[start : start + len(names)])
    for index, col, functions in converters:
        value = values[index]
        for function in functions:
            value = function(value, col, db)
        values[index] = value
    return model.from_db(db.alias, names, values)


def width(model: type[Model]) -> int:
    """How many columns ``columns(model, ...)`` selects."""
    return len(model._meta.concrete_fields)


def fetch_one(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The first row of ``sql`` (``%(name)s`` or ``%s`` placeholders), or None."""
    with cursor() as c:
        c.execute(sql, params)
        row = c.fetchone()
    return tuple(row) if row is not None else None


def execute(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> int:
    """Runs a hand-written write; returns how many rows it changed."""
    with cursor() as c:
        c.execute(sql, params)
        return int(c.rowcount)


@cache
def _insert_sql(model: type[Model], vendor: str) -> tuple[str, tuple[Any, ...]]:
    del vendor  # part of the cache key only
    quote = connection.ops.quote_name
    pk = model._meta.pk
    assert pk is not None
    fields = tuple(field for field in model._meta.concrete_fields if field is not pk)
    names = ", ".join(quote(str(field.column)) for field in fields)
    marks = ", ".join("%s" for _ in fields)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks}) RETURNING {quote(str(pk.column))}"  # noqa: S608 - names from the model
    return sql, fields


def insert(obj: M) -> M:
    """Inserts a new ``obj`` (automatic primary key) as ``obj.save()`` would, values prepared by
    the fields themselves, and sets its primary key. No signals are sent: callers use it only for
    models without receivers."""
    sql, fields = _insert_sql(type(obj), connection.vendor)
    values = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
    row = fetch_one(sql, values)
    assert row is not None
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return obj


def cursor() -> Any:
    """A cursor for the hand-written statements. On PostgreSQL (unless ``DB_PREPARED_STATEMENTS``
    is off) it binds parameters on the server and prepares each statement on its first run in a
    connection: planning these statements anew on every call cost the database several times
    what running them does. Wrapped as Django wraps its own cursors, so errors are translated
    (``IntegrityError``...) and queries are logged and counted like any other."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
        return db.cursor()
    # What db.cursor() does, with this cursor class instead of Django's client-side one.
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        # _prepare_cursor: Django's own wrapping (thread check, logging); not in django-stubs.
        return db._prepare_cursor(_prepared_cursor_class()(db.connection))  # type: ignore[attr-defined]


@cache
def _prepared_cursor_class() -> type[Any]:
    import psycopg

    class PreparedCursor(psycopg.Cursor[Any]):
        # Django passes no ``prepare`` argument; psycopg keeps up to ``prepared_max`` (100)
        # statements per connection, and these are the only ones prepared.
        def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None) -> Any:
            return super().execute(query, params, prepare=True, binary=binary)

    return PreparedCursor
