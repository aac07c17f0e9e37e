"""Tables for query engines: capture files indexed into a partitioned Parquet dataset (``dicomsniff tables``),
queried with embedded DuckDB (``dicomsniff query``), indexing spread over Dask.

Needs the ``tables`` extra (pyarrow, duckdb, dask[distributed]); imported only by those commands.
Schema: :mod:`.schema` (``docs/tables.md``).
"""
