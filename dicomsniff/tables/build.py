"""``dicomsniff tables``: capture files in, a partitioned Parquet dataset out, incrementally.

Plan of a run:

1. List the inputs (files, directories, globs); hash each file (SHA-256; a file whose path, size and
   modification time are those recorded is not read again). Files whose hash the dataset already holds
   are skipped: only new content is indexed. A recorded path whose content changed (a ring buffer's
   newest file, indexed while still being written) drops its group: its files are indexed again.
2. *Scan* each new file on its own, one task per file (on Dask: a local cluster on all cores, or
   ``--scheduler tcp://HOST:PORT``), with a light decode (no data sets): its edge facts, did an
   association start before it (no A-ASSOCIATE-RQ seen), is one still open at its end?
3. *Group*: in time order (first frame), two neighbouring files belong to one group when the first
   ends with something open, or the second begins with an association under way on a connection open
   at the end of a file of the group. The last group
   already in the dataset is reopened when it ended open (its rows were provisional, ``open_at_end``)
   or the first new file continues one of its connections. A group grows to at most ``max_group_bytes`` (2 GB by
   default): on traffic that never pauses, the work of a task and of a rerun stays bounded, and the
   associations open across that boundary are cut there (said by ``open_at_end`` and
   ``started_mid_association``).
4. Decode each group in full as one capture, one task per group (largest first), so streams crossing
   files are joined; a reopened group's old rows are removed.
5. Write each group's rows as one Parquet file per table and date, then the state file (atomically).
   Parts not named in the state (left by an interrupted run) are removed at the start of the next.

Nothing taken from traffic names a path: part files are named by the group id (hex, from file hashes)
and partitions by dates the indexer computes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field

from ..tls.keylog import configured as configured_keylogs
from .index import FileFacts, FileMeta, GroupResult, file_meta, index_group, scan_file
from .schema import SCHEMA_VERSION, TABLES

STATE = "_dicomsniff_tables.json"
# A file group (files sharing streams, decoded together; the last one decoded again when a file arrives) is
# kept within this size, so the work of one task and of a rerun stays bounded on traffic that never pauses.
DEFAULT_MAX_GROUP = 2_000_000_000
TABLE_NAMES = tuple(TABLES)


class TablesError(Exception):
    """A problem the user can fix (bad input, an output folder that is not ours): one line."""


@dataclass
class Report:
    files_seen: int = 0
    files_new: int = 0
    files_skipped: int = 0
    groups_written: int = 0
    groups_reopened: int = 0
    groups_replaced: int = 0
    rows: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    seconds: float = 0.0
    bytes_indexed: int = 0
    workers: int = 0


# -- inputs -------------------------------------------------------------------

def expand_inputs(inputs, out_dir: str, skipped: list | None = None) -> list[str]:
    """Capture files named, in a directory or matched by a glob (the capture sets' rules:
    :func:`~dicomsniff.capture.captureset.expand_inputs`), each once, as absolute paths."""
    from ..capture.captureset import expand_inputs as expand
    seen, out = set(), []
    for p in expand(inputs, skipped):
        if str(p) == "-":
            raise TablesError("-: standard input cannot be indexed (name files or a directory)")
        r = os.path.realpath(p)
        if r not in seen:
            seen.add(r)
            out.append(os.path.abspath(p))
    return out


# -- state --------------------------------------------------------------------

def load_state(out_dir: str) -> dict:
    path = os.path.join(out_dir, STATE)
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except FileNotFoundError:
        return {"schema_version": SCHEMA_VERSION, "groups": []}
    except (OSError, ValueError) as e:
        raise TablesError(f"{path}: unreadable state file ({e})") from None
    if state.get("schema_version") != SCHEMA_VERSION:
        raise TablesError(f"{out_dir}: written with table schema {state.get('schema_version')}, this is "
                          f"{SCHEMA_VERSION}: index into a new folder")
    return state


def save_state(out_dir: str, state: dict) -> None:
    path = os.path.join(out_dir, STATE)
    tmp = os.path.join(out_dir, f".{STATE}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _check_out_dir(out_dir: str) -> None:
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise TablesError(f"{out_dir}: not a directory")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, STATE)):
        raise TablesError(f"{out_dir}: not empty and not a dicomsniff tables folder")
    os.makedirs(out_dir, exist_ok=True)


# -- parts ----------------------------------------------------------------------

def _part_files(out_dir: str):
    """(table, date directory, group id, path) of every part file in the dataset."""
    for t in TABLE_NAMES:
        tdir = os.path.join(out_dir, t)
        if not os.path.isdir(tdir):
            continue
        for d in os.listdir(tdir):
            ddir = os.path.join(tdir, d)
            if not d.startswith("date=") or not os.path.isdir(ddir):
                continue
            for f in os.listdir(ddir):
                if f.startswith("part-") and f.endswith(".parquet"):
                    yield t, ddir, f[5:-8], os.path.join(ddir, f)


def remove_groups(out_dir: str, gids: set[str]) -> None:
    for _, ddir, gid, path in list(_part_files(out_dir)):
        if gid in gids:
            os.unlink(path)
            try:
                os.rmdir(ddir)
            except OSError:
                pass


def write_group(out_dir: str, result: GroupResult) -> dict:
    """One Parquet file per table and date for the group (written beside, then renamed into place)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    counts = {}
    for t, table in result.tables.items():
        counts[t] = table.num_rows
        if not table.num_rows:
            continue
        dates = table.column("date")
        for day in sorted(set(dates.to_pylist())):
            part = table.filter(pc.equal(dates, day)).drop_columns(["date"])
            ddir = os.path.join(out_dir, t, f"date={day}")
            os.makedirs(ddir, exist_ok=True)
            target = os.path.join(ddir, f"part-{result.group_id}.parquet")
            tmp = os.path.join(ddir, f".part-{result.group_id}.{os.getpid()}.tmp")
            pq.write_table(part, tmp, compression="zstd")
            os.replace(tmp, target)
    return counts


# -- planning -------------------------------------------------------------------

@dataclass
class _Unit:
    """A file, or an existing group reopened: what the grouping rule joins."""

    files: list[FileMeta]
    facts: list[FileFacts]
    old_group: str | None = None               # the existing group it replaces

    @property
    def first_ns(self):
        return self.facts[0].first_ns

    @property
    def open_at_start(self) -> bool:
        return self.facts[0].open_at_start

    @property
    def open_at_end(self) -> bool:
        return self.facts[-1].open_at_end


def _size(units) -> int:
    return sum(m.size for u in units for m in u.files)


def plan_groups(units: list[_Unit], max_bytes: int | None = None) -> list[list[_Unit]]:
    """Neighbours in time order join when the first ends open or the second begins mid-association,
    as long as the group stays within ``max_bytes`` (beyond it a new group starts: the associations open
    across that boundary are cut there, ``open_at_end`` on one side, started mid-association on the other)."""
    groups: list[list[_Unit]] = []
    for u in units:
        if groups and (groups[-1][-1].open_at_end or continues(groups[-1], u)) \
                and (max_bytes is None or _size(groups[-1]) + _size([u]) <= max_bytes):
            groups[-1].append(u)
        else:
            groups.append([u])
    return groups


def continues(group: list[_Unit], u: _Unit) -> bool:
    """``u`` begins with an association under way on a connection open at the end of a file of ``group``
    (one idle for a whole file is not open at that file's end, hence every file of the group)."""
    mid = set(u.facts[0].mid_keys)
    if not mid:
        return False
    opened = {k for x in group for f in x.facts for k in f.open_keys}
    return bool(mid & opened) or "*" in opened


# -- execution ------------------------------------------------------------------

class Executor:
    """Runs tasks in this process (``workers=0``) or on Dask (a LocalCluster, or a scheduler's address)."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        self.client = None
        self.cluster = None
        self.workers = 0
        if scheduler is None and workers == 0:
            return
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise TablesError(MISSING) from None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as e:
                raise TablesError(f"{scheduler}: cannot reach the Dask scheduler ({e})") from None
            self.workers = len(self.client.scheduler_info().get("workers", {}))
        else:
            n = workers or os.cpu_count() or 1
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=40)
            self.client = Client(self.cluster)
            self.workers = n

    def map(self, fn, items: list, **kw) -> list:
        if self.client is None:
            return [fn(x, **kw) for x in items]
        futures = self.client.map(fn, items, pure=False, **kw)
        return self.client.gather(futures)

    def as_completed(self, fn, items: list, **kw):
        """(index, result) of each task as it finishes, so results are written and dropped one by one."""
        if self.client is None:
            for i, x in enumerate(items):
                yield i, fn(x, **kw)
            return
        from dask.distributed import as_completed
        futures = self.client.map(fn, items, pure=False, **kw)
        index = {f.key: i for i, f in enumerate(futures)}
        for f in as_completed(futures):
            yield index[f.key], f.result()
            f.release()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


MISSING = "the tables need pyarrow, duckdb and dask: pip install 'dicomsniff[tables]'"


def require() -> None:
    """One line naming the extra when a dependency of the tables is missing."""
    import importlib.util
    for mod in ("pyarrow", "duckdb", "dask", "distributed"):
        if importlib.util.find_spec(mod) is None:
            raise TablesError(MISSING)


def _hash_all(paths: list[str], state: dict) -> list[FileMeta]:
    """Metadata of every input; a file whose path, size and mtime are recorded keeps its recorded hash."""
    known = {}
    for g in state["groups"]:
        for f in g["files"]:
            known[(f["path"], f["size"], f["mtime_ns"])] = f["sha256"]
    out = []
    for p in paths:
        st = os.stat(p)
        sha = known.get((os.path.abspath(p), st.st_size, st.st_mtime_ns))
        out.append(FileMeta(os.path.abspath(p), st.st_size, st.st_mtime_ns, sha) if sha else file_meta(p))
    return out


def _order_key(u: _Unit):
    return (u.first_ns is None, u.first_ns or 0, u.files[0].path)


def build(inputs, out_dir: str, *, workers: int | None = None, scheduler: str | None = None,
          ports: tuple[int, ...] = (), slow_s: float = 5.0, idle_s: float = 10.0, say=lambda line: None,
          executor: Executor | None = None, max_group_bytes: int | None = DEFAULT_MAX_GROUP) -> Report:
    """Index ``inputs`` into the dataset at ``out_dir`` (see the module docstring for the plan)."""
    require()
    t0 = time.monotonic()
    rep = Report()
    _check_out_dir(out_dir)
    skipped: list = []
    paths = expand_inputs(inputs, out_dir, skipped)
    state = load_state(out_dir)
    known_gids = {g["id"] for g in state["groups"]}
    orphans = {gid for _, _, gid, _ in _part_files(out_dir)} - known_gids
    if orphans:
        remove_groups(out_dir, orphans)
    metas = _hash_all(paths, state)
    rep.files_seen = len(metas)
    stale = _stale_groups(state, metas)
    if stale:                # a file indexed while it was still being written has grown: its group again
        remove_groups(out_dir, stale)
        state["groups"] = [g for g in state["groups"] if g["id"] not in stale]
        save_state(out_dir, state)
        rep.groups_replaced = len(stale)
    indexed = {f["sha256"] for g in state["groups"] for f in g["files"]}
    new, hashes = [], set()
    for m in metas:
        if m.sha256 in indexed or m.sha256 in hashes:
            rep.files_skipped += 1
            continue
        hashes.add(m.sha256)
        new.append(m)
    rep.files_new = len(new)
    if not new:
        rep.seconds = time.monotonic() - t0
        return rep
    own = executor is None
    ex = executor or Executor(workers, scheduler)
    rep.workers = ex.workers
    try:
        # --tls-keylog files travel with each task: a Dask worker is another process (SSLKEYLOGFILE it inherits).
        keylogs = configured_keylogs()
        opts = {"ports": tuple(ports), "slow_s": slow_s, "idle_s": idle_s, "tls_keylog": keylogs}
        units = []
        for m, (facts, err) in zip(new, ex.map(scan_file, new, ports=tuple(ports), tls_keylog=keylogs)):
            if err or not facts.frames:
                rep.errors.append(err or f"{m.path}: no frames")
                continue
            units.append(_Unit([m], [facts]))
        units.sort(key=_order_key)
        last = _reopenable(state, units)
        if last is not None and (max_group_bytes is None or _size([last, units[0]]) <= max_group_bytes):
            units.insert(0, last)
        groups = plan_groups(units, max_group_bytes)
        # Every group is decoded in full, one task each (largest first, so the long ones start early);
        # each is written as soon as it is done.
        order = sorted(range(len(groups)), key=lambda i: -sum(m.size for u in groups[i] for m in u.files))
        for k, r in ex.as_completed(index_group, [[m for u in groups[i] for m in u.files] for i in order], **opts):
            g = groups[order[k]]
            if r.error:                 # a file changed or vanished since the scan: the group waits for the next run
                rep.errors.append(r.error)
                continue
            old = {u.old_group for u in g if u.old_group}
            rep.groups_reopened += len(old)
            counts = write_group(out_dir, r)
            if old - {r.group_id}:
                remove_groups(out_dir, old - {r.group_id})
            state["groups"] = [x for x in state["groups"] if x["id"] not in old and x["id"] != r.group_id]
            state["groups"].append({"id": r.group_id, "files": [
                {**asdict(m), **{key: v for key, v in asdict(ff).items() if key != "sha256"}}
                for m, ff in zip(r.files, r.facts)]})
            save_state(out_dir, state)
            rep.groups_written += 1
            rep.bytes_indexed += sum(m.size for m in r.files if m in new)
            for t, n in counts.items():
                rep.rows[t] = rep.rows.get(t, 0) + n
    finally:
        if own:
            ex.close()
    rep.seconds = time.monotonic() - t0
    return rep


def _stale_groups(state: dict, metas: list[FileMeta]) -> set[str]:
    """Groups holding a file that is now at the same path with other content (the newest file of a ring
    buffer, indexed while it was still being written): their rows are replaced."""
    now = {m.path: m.sha256 for m in metas}
    return {g["id"] for g in state["groups"] for f in g["files"]
            if f["path"] in now and now[f["path"]] != f["sha256"]}


def _reopenable(state: dict, units: list[_Unit]) -> _Unit | None:
    """The dataset's last group, as a unit to decode again with the new files, when it must be."""
    if not state["groups"] or not units:
        return None
    def end(g):
        return max((f.get("last_ns") or 0) for f in g["files"])
    g = max(state["groups"], key=end)
    files = g["files"]
    first_new = units[0]
    if (first_new.first_ns or 0) < end(g):
        return None                     # new files older than the dataset's last: they do not continue it
    old_facts = [FileFacts(f["sha256"], open_keys=f.get("open_keys", [])) for f in files]
    if not (files[-1].get("open_at_end") or continues([_Unit([], old_facts)], first_new)):
        return None
    metas, facts = [], []
    for f in files:
        try:
            st = os.stat(f["path"])
        except OSError:
            return None                 # a file of it is gone (ring buffer): its rows stay as they are
        if (st.st_size, st.st_mtime_ns) != (f["size"], f["mtime_ns"]):
            return None
        metas.append(FileMeta(f["path"], f["size"], f["mtime_ns"], f["sha256"]))
        facts.append(FileFacts(f["sha256"], f.get("first_ns"), f.get("last_ns"), f.get("frames", 0),
                               f.get("open_at_start", False), f.get("open_at_end", False),
                               f.get("mid_keys", []), f.get("open_keys", [])))
    return _Unit(metas, facts, g["id"])
