"""What the database benchmarks share: the admin connection that creates and drops their
throwaway databases, and ``insert_select``, which generates their rows in SQL."""

from __future__ import annotations

from typing import Any


def admin_connect(url: str) -> Any:
    """An autocommit connection to the server's ``postgres`` database (``url`` ends with ``/``)."""
    import psycopg

    return psycopg.connect(url + "postgres", autocommit=True)


def insert_select(model: Any, exprs: dict[str, str], source: str) -> int:
    """INSERT INTO model SELECT ...: columns not in ``exprs`` get their field's Python default,
    so the generators keep working when other apps add columns with defaults."""
    from django.db import connection

    columns, values, args = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.column in exprs:
            values.append(exprs[f.column])
        else:
            values.append("%s")
            args.append(f.get_db_prep_save(f.get_default(), connection))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.rowcount
