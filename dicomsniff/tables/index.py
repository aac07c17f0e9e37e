"""Decoding a file group into table rows: the JSON export's record builders, flattened.

A *file group* is a run of consecutive capture files (in time order) decoded as one capture, with one
:class:`~dicomsniff.pipeline.Analyzer` fed the frames of each file in turn (frames numbered on across
the files, as in the ``mergecap`` of them): a TCP stream and its association that cross a file
boundary are joined. The rows are those of ``dicomsniff export`` (``message_json``,
``association_json``, the diagnosis' findings), never a second interpretation of the model.

This module is what a Dask task runs: plain data in (paths, hashes), plain data out (Arrow tables and
per-file facts), no shared state.
"""

from __future__ import annotations

import bisect
import hashlib
import os
from dataclasses import dataclass, field

from .schema import SCHEMA_VERSION, TABLES, arrow_schema

# As ``dicomsniff export`` runs the analyzer (cli.py): PDUs not kept, exchanges kept in detail capped.
STREAM_EXCHANGES = 200
KEEP_LIMIT = 256 << 10


@dataclass(slots=True)
class FileMeta:
    """A capture file as found on disk: where it is and what it holds (its content hash)."""

    path: str
    size: int
    mtime_ns: int
    sha256: str

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


@dataclass(slots=True)
class FileFacts:
    """What decoding a file found at its edges: they decide which files are decoded together."""

    sha256: str
    first_ns: int | None = None
    last_ns: int | None = None
    frames: int = 0
    open_at_start: bool = False     # an association under way when the file began (no A-ASSOCIATE-RQ seen)
    open_at_end: bool = False       # an association (or a stream not yet classified) open when it ended
    mid_keys: list = field(default_factory=list)     # connections of the associations first seen mid-way
    open_keys: list = field(default_factory=list)    # connections open at its end ("*": a stream not yet known)


@dataclass
class GroupResult:
    group_id: str
    files: list[FileMeta]
    facts: list[FileFacts]
    tables: dict = field(default_factory=dict)        # table name -> pyarrow.Table
    error: str | None = None                          # a file that is no capture: said, and left out


def file_meta(path: str) -> FileMeta:
    """Stat and hash a file (SHA-256 of its content, read in 1 MiB blocks)."""
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return FileMeta(os.path.abspath(path), st.st_size, st.st_mtime_ns, h.hexdigest())


def group_id(files: list[FileMeta]) -> str:
    """A file group's id: from its files' hashes (hex; it names Parquet parts, so it is never from traffic)."""
    return hashlib.sha256("\n".join(f.sha256 for f in files).encode()).hexdigest()[:20]


def association_id(a) -> str:
    """Stable across file groupings: client, server and first-PDU time of the association."""
    from ..capture.frame import endpoint_text
    key = f"{endpoint_text(a.client.ip, a.client.port)}>{endpoint_text(a.server.ip, a.server.port)}@{a.start_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def connection_key(a) -> str:
    """The TCP connection of an association, either way round (for matching streams across files)."""
    from ..capture.frame import endpoint_text
    return "|".join(sorted((endpoint_text(a.client.ip, a.client.port), endpoint_text(a.server.ip, a.server.port))))


def open_keys(an) -> list[str]:
    """Connections of the associations still open in an analyzer, and "*" if a stream is not yet classified."""
    keys = sorted({connection_key(a) for a in an.associations})
    return keys + ["*"] if getattr(an, "pending", None) else keys


def ts_us(ns: int | None) -> int | None:
    """Nanoseconds since 1970 as the microseconds of a Parquet timestamp; None when no calendar can show it."""
    if ns is None:
        return None
    us = ns // 1000
    return us if -62135596800_000000 <= us <= 253402300799_999999 else None


def date_of(ns: int | None) -> str:
    """The partition of a row: its UTC day, computed here (``date=unknown`` when there is no usable time)."""
    import datetime
    us = ts_us(ns)
    if us is None:
        return "unknown"
    return (datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)).strftime("%Y-%m-%d")


class _Rows:
    """Row buffers per table (dicts), turned into Arrow tables at the end."""

    def __init__(self):
        self.rows: dict[str, list[dict]] = {t: [] for t in TABLES}

    def add(self, table: str, row: dict) -> None:
        self.rows[table].append(row)

    def arrow(self) -> dict:
        import pyarrow as pa
        out = {}
        for t, rows in self.rows.items():
            schema = arrow_schema(t)
            names = [n for n, _, _ in TABLES[t]] + ["date"]
            cols = {n: [r.get(n) for r in rows] for n in names}
            fields = list(schema) + [pa.field("date", pa.string())]
            out[t] = pa.table({f.name: pa.array(cols[f.name], type=f.type) for f in fields},
                              schema=pa.schema(fields, metadata=schema.metadata))
        return out


class GroupIndexer:
    """Turns the events of one file group into rows. Feed events with :meth:`event`; :meth:`close` at the end."""

    def __init__(self, gid: str, analyzer, *, slow_s: float = 5.0, idle_s: float = 10.0):
        from ..model.diagnosis import Diagnoser, PduWatch
        self.gid = gid
        self.an = analyzer
        self.watch = PduWatch()
        self.diag = Diagnoser(slow_s=slow_s, idle_s=idle_s, watch=self.watch)
        self.rows = _Rows()
        self.findings: list = []
        self.notices: list = []
        self.pending: dict[int, list] = {}         # association number -> its message rows (until it closes)
        self.requests: dict[int, dict] = {}        # id(request message) -> its row (until answered or closed)
        self.objects: dict[int, list] = {}         # association number -> object rows
        self.assoc_of: dict[int, tuple[str, str]] = {}   # number -> (association_id, date)
        self.open_at_end = False                   # set while the analyzer's finish() runs
        self.runs: list[tuple[int, int, int]] = []    # (group frame, file index, frames of that file before it)
        self.file_names: list[str] = []
        self.current_file = 0
        self.opened_in: dict[int, int] = {}        # association number -> index of the file it was first seen in
        self.mid_files: dict[int, set] = {}        # file index -> connections first seen mid-way in it

    def where(self, frame: int | None) -> tuple[str | None, int | None]:
        """The file holding a group frame, and the frame's number in it."""
        if not frame or not self.runs:
            return None, None
        i = bisect.bisect_right(self.runs, (frame, 1 << 62)) - 1
        if i < 0:
            return None, None
        first, k, before = self.runs[i]
        return self.file_names[k], before + frame - first + 1

    def event(self, ev) -> None:
        from ..notice import Notice
        from ..pipeline import AssociationClosed, AssociationOpened, MessageSeen, PduSeen
        from ..ul.events import BRIEF_SPANS
        t = type(ev)
        if t is PduSeen:
            self.watch.event(ev)
        elif t is MessageSeen:
            self._message(ev)
            if ev.message.data_spans is not None:
                ev.message.data_spans.trim(BRIEF_SPANS)
        elif t is AssociationOpened:
            self.opened_in[ev.association.number] = self.current_file
        elif t is AssociationClosed:
            self._closed(ev.association)
        elif t is Notice and ev.where in ("capture", "tcp"):
            if ev.severity in ("error", "warning") and len(self.notices) < 1000:
                self.notices.append(ev)

    def _message(self, ev) -> None:
        from ..capture.frame import endpoint_text
        from ..output.json_export import message_json
        a, msg, ex = ev.association, ev.message, ev.exchange
        j = message_json(a, msg, ex, t0=0)
        frames = j["frames"] or []
        fname, fframe = self.where(frames[0] if frames else None)
        row = {k: j[k] for k in ("index", "command", "direction", "message_id", "responds_to", "context_id",
                                 "affected_sop_class_uid", "affected_sop_instance_uid", "status", "status_text",
                                 "status_category", "frames", "complete", "cut", "transfer_syntax",
                                 "data_set_length")}
        row.update(association=a.number, time=ts_us(msg.ts_ns), calling_ae=a.calling_ae, called_ae=a.called_ae,
                   server=endpoint_text(a.server.ip, a.server.port), file=fname, file_frame=fframe,
                   _ts_ns=msg.ts_ns)
        cmd = msg.command
        if ex is not None and ex.request is not None and ex.request is not msg:
            rq = self.requests.get(id(ex.request))
            row["request_time"] = ts_us(ex.request.ts_ns)
            final = ex.final
            if final is msg:                    # the final response: the request's latency is known now
                lat = round((msg.end_ts_ns - ex.request.ts_ns) / 1e6, 3)
                row["response_time"] = ts_us(msg.end_ts_ns)
                row["latency_ms"] = lat
                if rq is not None:
                    rq["response_time"] = row["response_time"]
                    rq["latency_ms"] = lat
                    rq["_final"] = (j["status"], j["status_category"])
                    self.requests.pop(id(ex.request), None)
        elif cmd is not None and cmd.message_id is not None and cmd.responds_to is None:
            row["request_time"] = ts_us(msg.ts_ns)
            row["_key"] = id(msg)
            self.requests[id(msg)] = row
        self.pending.setdefault(a.number, []).append(row)
        if j["command"] == "C-STORE-RQ" and msg.data_spans is not None:
            src, dst = (a.calling_ae, a.called_ae) if msg.direction == a.client_dir else (a.called_ae, a.calling_ae)
            self.objects.setdefault(a.number, []).append({
                "message_index": msg.index, "time": ts_us(msg.ts_ns), "sop_class_uid": j["affected_sop_class_uid"],
                "sop_instance_uid": j["affected_sop_instance_uid"], "transfer_syntax": j["transfer_syntax"],
                "size": j["data_set_length"], "complete": j["complete"], "source_ae": src, "destination_ae": dst,
                "_request": row})

    def _closed(self, a) -> None:
        from ..output.json_export import association_json, outcome_counts
        aid, day = association_id(a), date_of(a.start_ns)
        self.assoc_of[a.number] = (aid, day)
        if a.started_mid:
            self.mid_files.setdefault(self.opened_in.get(a.number, 0), set()).add(connection_key(a))
        self.findings.extend(self.diag.association(a, forget=True))
        j = association_json(a, trees=False, findings=[], streamed=True)
        key = {"association_id": aid, "group_id": self.gid, "association": a.number, "date": day}
        rj, ab = j["reject"] or {}, j["abort"] or {}
        impl = j["implementation"]
        ctxs = j["contexts"]
        self.rows.add("associations", {
            **key, "calling_ae": j["calling_ae"], "called_ae": j["called_ae"],
            "client_ip": j["client"]["ip"], "client_port": j["client"]["port"],
            "server_ip": j["server"]["ip"], "server_port": j["server"]["port"], "state": j["state"],
            "start": ts_us(a.start_ns), "end": ts_us(a.end_ns), "duration_ms": j["duration_ms"],
            "started_mid_association": j["started_mid_association"], "open_at_end": self.open_at_end,
            "reject_result": rj.get("result"), "reject_source": rj.get("source"), "reject_reason": rj.get("reason"),
            "reject_text": rj.get("reason_text"), "abort_source": ab.get("source"), "abort_reason": ab.get("reason"),
            "abort_text": ab.get("reason_text"), "abort_by": ab.get("by"),
            "max_pdu_requestor": j["max_pdu"]["requestor"], "max_pdu_acceptor": j["max_pdu"]["acceptor"],
            "requestor_implementation_uid": (impl["requestor"] or {}).get("class_uid"),
            "requestor_implementation_version": (impl["requestor"] or {}).get("version"),
            "acceptor_implementation_uid": (impl["acceptor"] or {}).get("class_uid"),
            "acceptor_implementation_version": (impl["acceptor"] or {}).get("version"),
            "user_identity_type": (j["user_identity"] or {}).get("type"),
            "contexts_proposed": len(ctxs), "contexts_accepted": sum(1 for c in ctxs if c["result"] == 0),
            "pdus": j["counts"]["pdus"], "messages": j["counts"]["messages"], "objects": j["counts"]["objects"],
            "bytes_client": j["counts"]["bytes_client"], "bytes_server": j["counts"]["bytes_server"],
            "failures": j["counts"]["failures"], "gaps": j["counts"]["gaps"],
            "first_file": self.where(a.first_frame)[0]})
        for c in ctxs:
            self.rows.add("contexts", {**key, "context_id": c["id"], "abstract_syntax": c["abstract_syntax"],
                                       "abstract_syntax_name": c["abstract_syntax_name"],
                                       "transfer_syntaxes": c["transfer_syntaxes"], "result": c["result"],
                                       "result_text": c["result_text"], "transfer_syntax": c["transfer_syntax"]})
        for row in self.pending.pop(a.number, []):
            self.requests.pop(row.get("_key"), None)        # unanswered: forgotten with its association
            row.pop("_ts_ns", None)
            self.rows.add("messages", {**key, **row})
        for o in self.objects.pop(a.number, []):
            status, category = o.pop("_request").get("_final", (None, None))
            self.rows.add("objects", {**key, **o, "status": status, "status_category": category})
        self.an.forget(a)

    def close(self, start_ns: int | None) -> None:
        """After the analyzer's finish(): the diagnosis across associations, then the findings' rows."""
        from ..model.diagnosis import ordered
        from ..output.diagnose import notice_findings
        for a in list(self.an.associations):      # never closed (should not happen): indexed anyway
            self._closed(a)
        self.findings.extend(self.diag.finish())
        for f in ordered(self.findings) + notice_findings(self.notices):
            j = f.to_json()
            aid, day = self.assoc_of.get(j["association"], (None, date_of(start_ns)))
            self.rows.add("findings", {
                "association_id": aid, "group_id": self.gid, "association": j["association"], "date": day,
                "severity": j["severity"], "code": j["code"], "rule_group": j["group"], "message": j["message"],
                "frames": j["frames"], "count": j["count"], "first_frame": j["first_frame"],
                "last_frame": j["last_frame"], "hint": j["hint"]})


def _records(files: list[FileMeta]):
    """(record, index of its file) of a group, records as :meth:`CaptureReader.records` gives them (the
    analyzer's fast path reads them in place): one file as it is, several merged by time as one capture
    (:func:`~dicomsniff.capture.captureset.open_capture_set`, frames numbered across the set, as mergecap
    would). Yields the reader first, for its notices."""
    from ..capture.reader import open_capture
    if len(files) == 1:
        reader = open_capture(files[0].path)
        yield reader
        try:
            for rec in reader.records():
                yield rec, 0
        finally:
            reader.close()
        return
    from ..capture.captureset import open_capture_set
    index = {os.path.realpath(m.path): i for i, m in enumerate(files)}
    cs = open_capture_set([m.path for m in files])
    yield cs
    try:
        last, k = None, 0
        for rec in cs.records():
            if cs.current is not last:
                last = cs.current
                k = index.get(os.path.realpath(last), 0)
            yield rec, k
    finally:
        cs.close()


def _use_keylogs(paths: tuple[str, ...]) -> None:
    """The run's --tls-keylog files, in whatever process decodes (a Dask worker knows only its environment)."""
    if paths:
        from ..tls.keylog import configure
        configure(paths)


def index_group(files: list[FileMeta], *, ports: tuple[int, ...] = (), slow_s: float = 5.0,
                idle_s: float = 10.0, tls_keylog: tuple[str, ...] = ()) -> GroupResult:
    """Decode ``files`` as one capture; rows of every table and each file's edge facts.

    A file that is no capture (or cannot be read) is returned as the error, with no rows.
    """
    _use_keylogs(tls_keylog)
    from ..capture.reader import CaptureFormatError
    from ..pipeline import Analyzer
    import time
    gid = group_id(files)
    an = Analyzer(ports=set(ports), keep_pdus=False, keep_exchanges=STREAM_EXCHANGES, keep_limit=KEEP_LIMIT)
    ix = GroupIndexer(gid, an, slow_s=slow_s, idle_s=idle_s)
    ix.file_names = [m.path for m in files]
    facts = [FileFacts(m.sha256) for m in files]
    counts = [0] * len(files)
    it = _records(files)
    try:
        reader = next(it)
    except (CaptureFormatError, OSError) as e:
        return GroupResult(gid, files, [], {}, f"{getattr(e, 'filename', None) or files[0].path}: "
                                               f"{getattr(e, 'strerror', None) or e}")
    notices = reader.notices
    seen = 0
    cur = -1
    feed, event = an.feed_record, ix.event
    for rec, k in it:
        if k != cur:                              # a run of frames of one file: where its frames are
            cur = k
            ix.runs.append((rec[0], k, counts[k]))
            if facts[k].first_ns is None:
                facts[k].first_ns = rec[1]
            ix.current_file = k
        counts[k] += 1
        facts[k].last_ns = rec[1]
        for ev in feed(rec):
            event(ev)
        if len(notices) > seen:
            for n in notices[seen:]:
                event(n)
            seen = len(notices)
        if counts[k] == 1 and k > 0:              # the edge between files: was anything open there?
            facts[k - 1].open_keys = open_keys(an)
            facts[k - 1].open_at_end = bool(facts[k - 1].open_keys)
    for n in notices[seen:]:
        event(n)
    facts[-1].open_keys = open_keys(an)
    facts[-1].open_at_end = bool(facts[-1].open_keys)
    ix.open_at_end = True
    for ev in an.finish():
        event(ev)
    ix.close(min((f.first_ns for f in facts if f.first_ns is not None), default=None))
    ts = time.time_ns()
    for k, (meta, ff) in enumerate(zip(files, facts)):
        ff.frames = counts[k]
        ff.mid_keys = sorted(ix.mid_files.get(k, ()))
        ff.open_at_start = bool(ff.mid_keys)
        ix.rows.add("files", {"path": meta.path, "name": meta.name, "size": meta.size, "mtime_ns": meta.mtime_ns,
                              "sha256": meta.sha256, "group_id": gid, "first_time": ts_us(ff.first_ns),
                              "last_time": ts_us(ff.last_ns), "frames": ff.frames, "indexed_at": ts_us(ts),
                              "schema_version": SCHEMA_VERSION, "date": date_of(ff.first_ns)})
    return GroupResult(gid, files, facts, ix.rows.arrow(), None)


def scan_file(meta: FileMeta, *, ports: tuple[int, ...] = (), tls_keylog: tuple[str, ...] = (),
              **_ignored) -> tuple[FileFacts, str | None]:
    """A file's edge facts only, from a light decode (no data sets decoded, nothing kept): ~5× cheaper
    than :func:`index_group`, and what decides the file groups before the groups are decoded.
    Returns (facts, error): the error of a file that is no capture, with empty facts."""
    from ..capture.reader import CaptureFormatError, open_capture
    from ..pipeline import Analyzer, AssociationClosed
    _use_keylogs(tls_keylog)
    ff = FileFacts(meta.sha256)
    mid: set[str] = set()
    an = Analyzer(ports=set(ports), keep_pdus=False, decode_data=False, keep_limit=0, keep_exchanges=1)
    try:
        reader = open_capture(meta.path)
    except (CaptureFormatError, OSError) as e:
        return ff, f"{meta.path}: {getattr(e, 'strerror', None) or e}"

    def closed(evs) -> None:
        for ev in evs:
            if type(ev) is AssociationClosed:
                if ev.association.started_mid:
                    mid.add(connection_key(ev.association))
                an.forget(ev.association)
    try:
        feed = an.feed_record
        for rec in reader.records():
            if ff.first_ns is None:
                ff.first_ns = rec[1]
            ff.last_ns = rec[1]
            ff.frames += 1
            evs = feed(rec)
            if evs:
                closed(evs)
    finally:
        reader.close()
    ff.open_keys = open_keys(an)
    ff.open_at_end = bool(ff.open_keys)
    closed(an.finish())
    ff.mid_keys = sorted(mid)
    ff.open_at_start = bool(mid)
    return ff, None
