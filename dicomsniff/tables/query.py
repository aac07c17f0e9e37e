"""``dicomsniff query``: DuckDB, embedded, over the tables ``dicomsniff tables`` wrote.

Each table is a view named after it over its Parquet parts (hive partitioning: the ``date`` column).
The paths reach DuckDB through its Python API, never inside SQL text; named queries take their
thresholds as bound parameters. Session time zone: UTC.
"""

from __future__ import annotations

import csv
import io
import os

from .schema import TABLES, arrow_schema

# name -> (what it answers, SQL, parameter names). Parameters are bound (``?``), never formatted in.
NAMED: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "failures-by-ae": (
        "Failed operations and rejected associations per Calling/Called AE, command and status",
        """
        SELECT calling_ae, called_ae, command, printf('0x%04X', status) AS status, status_text, count(*) AS count,
               min(time) AS first, max(time) AS last
        FROM (
            SELECT calling_ae, called_ae, command, status, status_text, time FROM messages
            WHERE status_category = 'Failure'
            UNION ALL
            SELECT calling_ae, called_ae, 'A-ASSOCIATE-RJ', NULL, reject_text, start FROM associations
            WHERE state = 'rejected'
        )
        GROUP BY ALL ORDER BY count DESC, calling_ae, called_ae, command, status
        """, ()),
    "latency-by-scp": (
        "Request-to-final-response latency per SCP (Called AE and address) and command: count, mean, p50, p95, max",
        """
        SELECT called_ae, server, command, count(*) AS count, round(avg(latency_ms), 3) AS mean_ms,
               round(quantile_cont(latency_ms, 0.5), 3) AS p50_ms,
               round(quantile_cont(latency_ms, 0.95), 3) AS p95_ms, round(max(latency_ms), 3) AS max_ms
        FROM messages WHERE responds_to IS NULL AND latency_ms IS NOT NULL
        GROUP BY ALL ORDER BY called_ae, server, command
        """, ()),
    "aborts": (
        "Aborted associations: when, who, which peers, why",
        """
        SELECT start, calling_ae, called_ae, client_ip || ':' || client_port AS client,
               server_ip || ':' || server_port AS server, abort_by, abort_source, abort_reason, abort_text,
               messages, first_file
        FROM associations WHERE state = 'aborted' ORDER BY start, association_id
        """, ()),
    "slow-responses": (
        "Requests answered (final response) after --slow seconds or more, slowest first",
        """
        SELECT time, calling_ae, called_ae, command, message_id, latency_ms, file, file_frame
        FROM messages WHERE responds_to IS NULL AND latency_ms >= ? * 1000
        ORDER BY latency_ms DESC, time
        """, ("slow",)),
    "busiest-hours": (
        "Hours (UTC) by associations started: messages, objects, bytes, failures",
        """
        SELECT date_trunc('hour', start) AS hour, count(*) AS associations, sum(messages) AS messages,
               sum(objects) AS objects, sum(bytes_client + bytes_server) AS bytes, sum(failures) AS failures
        FROM associations WHERE start IS NOT NULL
        GROUP BY ALL ORDER BY associations DESC, hour LIMIT 24
        """, ()),
}


class QueryError(Exception):
    """SQL that DuckDB refused, or a folder that holds no tables: one line."""


def connect(directory: str):
    """An in-memory DuckDB connection with one view per table over ``directory``'s Parquet parts."""
    import duckdb
    import pyarrow as pa
    from .build import STATE
    if not os.path.isdir(directory) or not os.path.exists(os.path.join(directory, STATE)):
        raise QueryError(f"{directory}: not a dicomsniff tables folder (make one with 'dicomsniff tables')")
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for t in TABLES:
        parts = sorted(_parts(directory, t))
        if parts:
            rel = con.read_parquet(parts, hive_partitioning=True, union_by_name=True)
            rel.create_view(t)
        else:
            schema = arrow_schema(t)
            empty = pa.table({f.name: pa.array([], type=f.type) for f in schema}, schema=schema)
            empty = empty.append_column("date", pa.array([], type=pa.string()))
            con.from_arrow(empty).create_view(t)
    return con


def _parts(directory: str, table: str):
    tdir = os.path.join(directory, table)
    if not os.path.isdir(tdir):
        return
    for d in os.listdir(tdir):
        if d.startswith("date="):
            ddir = os.path.join(tdir, d)
            for f in os.listdir(ddir):
                if f.endswith(".parquet") and f.startswith("part-"):
                    yield os.path.join(ddir, f)


def run(directory: str, sql: str | None = None, *, named: str | None = None, params: dict | None = None):
    """(column names, rows) of a query or a named one."""
    import duckdb
    con = connect(directory)
    try:
        if named is not None:
            _, text, names = NAMED[named]
            args = [(params or {})[n] for n in names]
        else:
            text, args = sql, []
        try:
            cur = con.execute(text, args)
            cols = [d[0] for d in cur.description] if cur.description else []
            rows = cur.fetchall() if cur.description else []
        except duckdb.Error as e:
            raise QueryError(" ".join(str(e).split())) from None
        return cols, rows
    finally:
        con.close()


def _cell(v) -> str:
    import datetime
    if v is None:
        return ""
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, float):
        return f"{v:g}" if abs(v) < 1e15 else str(v)
    return str(v)


def _jsonable(v):
    import datetime
    import decimal
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(v, (datetime.date, datetime.time, datetime.timedelta)):
        return str(v)
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return v.hex()
    return v


def render(cols: list[str], rows: list, fmt: str, *, terminal: bool = False) -> str:
    """Rows as an aligned text table, CSV or JSON. Text from traffic is escaped for a terminal."""
    from ..textsafe import json_text, safe_text
    if fmt == "json":
        return json_text([dict(zip(cols, (_jsonable(v) for v in r))) for r in rows], indent=1) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([safe_text(_cell(v)) if terminal else _cell(v) for v in r])
        return buf.getvalue()
    cells = [[safe_text(_cell(v)) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and rows for i in range(len(cols))]
    def line(vals):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()
    out = [line(cols), line(["-" * w for w in widths])] + [line(r) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"
