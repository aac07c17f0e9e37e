"""The tables' schema: one declaration per column (name, Arrow type, meaning), versioned.

``docs/tables.md`` is this module in prose; ``dicomsniff tables --schema`` prints it from here, so the
documentation cannot drift from what is written. Bump :data:`SCHEMA_VERSION` when a column changes
meaning or type; adding a column at the end is compatible (readers use ``union_by_name``).
Every table is partitioned by ``date`` (``DIR/<table>/date=YYYY-MM-DD/part-<group>.parquet``): the UTC
day an association started (capture-level findings: the day their file group started; ``files``: the
day of its first frame), computed by the indexer, never taken from traffic.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# (name, type, meaning). Types: str, i64, i32, f64, bool, ts (timestamp µs UTC), list<i64>, list<str>.
_ASSOC_KEY = [
    ("association_id", "str", "stable id of the association: hash of client, server and start time (any file grouping gives the same)"),
    ("group_id", "str", "the file group it was decoded in (files sharing streams are decoded together)"),
    ("association", "i32", "its number within the group (for a group of one file: the number `dicomsniff summary` shows)"),
]

TABLES: dict[str, list[tuple[str, str, str]]] = {
    "associations": _ASSOC_KEY + [
        ("calling_ae", "str", "Calling AE Title (as on the wire; data, not a name to trust)"),
        ("called_ae", "str", "Called AE Title"),
        ("client_ip", "str", "address of the association requestor"),
        ("client_port", "i32", "its TCP port"),
        ("server_ip", "str", "address of the association acceptor"),
        ("server_port", "i32", "its TCP port"),
        ("state", "str", "released, rejected, aborted or incomplete"),
        ("start", "ts", "first PDU"),
        ("end", "ts", "last PDU or close"),
        ("duration_ms", "f64", "end - start"),
        ("started_mid_association", "bool", "the capture began after the A-ASSOCIATE-RQ"),
        ("open_at_end", "bool", "still open at the end of the last indexed file: provisional, re-indexed when the next file arrives"),
        ("reject_result", "i32", "A-ASSOCIATE-RJ result"), ("reject_source", "i32", "A-ASSOCIATE-RJ source"),
        ("reject_reason", "i32", "A-ASSOCIATE-RJ reason"), ("reject_text", "str", "the reason in words"),
        ("abort_source", "i32", "A-ABORT source"), ("abort_reason", "i32", "A-ABORT reason"),
        ("abort_text", "str", "the reason in words"), ("abort_by", "str", "client or server (who sent the A-ABORT)"),
        ("max_pdu_requestor", "i64", "Maximum Length Received announced by the requestor"),
        ("max_pdu_acceptor", "i64", "Maximum Length Received announced by the acceptor"),
        ("requestor_implementation_uid", "str", "Implementation Class UID of the requestor"),
        ("requestor_implementation_version", "str", "its Implementation Version Name"),
        ("acceptor_implementation_uid", "str", "Implementation Class UID of the acceptor"),
        ("acceptor_implementation_version", "str", "its Implementation Version Name"),
        ("user_identity_type", "i32", "user identity negotiation type (passwords are never stored)"),
        ("contexts_proposed", "i32", "presentation contexts proposed"),
        ("contexts_accepted", "i32", "presentation contexts accepted"),
        ("pdus", "i64", "PDUs"), ("messages", "i64", "DIMSE messages"), ("objects", "i64", "C-STORE objects"),
        ("bytes_client", "i64", "bytes sent by the client"), ("bytes_server", "i64", "bytes sent by the server"),
        ("failures", "i64", "exchanges whose final status is a failure"),
        ("gaps", "i64", "bytes the capture lost (TCP gaps), counted as holes"),
        ("first_file", "str", "the capture file holding its first frame"),
    ],
    "contexts": _ASSOC_KEY + [
        ("context_id", "i32", "Presentation Context ID"),
        ("abstract_syntax", "str", "SOP class UID proposed"),
        ("abstract_syntax_name", "str", "its name"),
        ("transfer_syntaxes", "list<str>", "transfer syntaxes proposed"),
        ("result", "i32", "A-ASSOCIATE-AC result (null: not answered)"),
        ("result_text", "str", "the result in words"),
        ("transfer_syntax", "str", "the transfer syntax accepted"),
    ],
    "messages": _ASSOC_KEY + [
        ("index", "i32", "order of the message within its association"),
        ("command", "str", "C-STORE-RQ, C-FIND-RSP, ..."),
        ("direction", "str", "client or server (the sender)"),
        ("time", "ts", "when its first byte was seen"),
        ("message_id", "i32", "Message ID (requests)"),
        ("responds_to", "i32", "Message ID Being Responded To (responses)"),
        ("context_id", "i32", "Presentation Context ID"),
        ("affected_sop_class_uid", "str", "Affected SOP Class UID"),
        ("affected_sop_instance_uid", "str", "Affected SOP Instance UID"),
        ("status", "i32", "Status (responses)"),
        ("status_text", "str", "its meaning"),
        ("status_category", "str", "Success, Pending, Warning, Failure, Cancel"),
        ("frames", "list<i64>", "frames holding its bytes (numbered within the file group)"),
        ("complete", "bool", "command set and data set complete"),
        ("cut", "str", "why an incomplete message is incomplete"),
        ("transfer_syntax", "str", "transfer syntax of its data set"),
        ("data_set_length", "i64", "bytes of its data set (null: none)"),
        ("calling_ae", "str", "the association's Calling AE Title"),
        ("called_ae", "str", "the association's Called AE Title"),
        ("server", "str", "the association acceptor, ip:port"),
        ("request_time", "ts", "the request's time (on requests and responses)"),
        ("response_time", "ts", "the final response's time (on requests and responses)"),
        ("latency_ms", "f64", "final response time minus request time"),
        ("file", "str", "the capture file holding its first frame"),
        ("file_frame", "i64", "that frame's number within that file"),
    ],
    "findings": _ASSOC_KEY + [
        ("severity", "str", "error, warning or note"),
        ("code", "str", "the rule (`dicomsniff diagnose --list-rules`)"),
        ("rule_group", "str", "protocol, sequence, response code, ..."),
        ("message", "str", "the finding in words"),
        ("frames", "list<i64>", "frames it rests on (at most 100)"),
        ("count", "i64", "repeats grouped into it"),
        ("first_frame", "i64", "first frame"),
        ("last_frame", "i64", "last frame"),
        ("hint", "str", "what the evidence suggests"),
    ],
    "objects": _ASSOC_KEY + [
        ("message_index", "i32", "the C-STORE-RQ's index in the association"),
        ("time", "ts", "when the C-STORE-RQ began"),
        ("sop_class_uid", "str", "Affected SOP Class UID"),
        ("sop_instance_uid", "str", "Affected SOP Instance UID"),
        ("transfer_syntax", "str", "transfer syntax of the data set"),
        ("size", "i64", "bytes of the data set"),
        ("complete", "bool", "the whole data set was captured"),
        ("source_ae", "str", "AE Title of the sender"),
        ("destination_ae", "str", "AE Title of the receiver"),
        ("status", "i32", "status of the C-STORE-RSP"),
        ("status_category", "str", "its category"),
    ],
    "files": [
        ("path", "str", "the file as given on the command line (absolute)"),
        ("name", "str", "its base name"),
        ("size", "i64", "bytes"),
        ("mtime_ns", "i64", "modification time when indexed"),
        ("sha256", "str", "content hash: a file with a known hash is not indexed again"),
        ("group_id", "str", "its file group"),
        ("first_time", "ts", "its first frame"),
        ("last_time", "ts", "its last frame"),
        ("frames", "i64", "frames in it"),
        ("indexed_at", "ts", "when it was indexed"),
        ("schema_version", "i32", "schema version of the rows"),
    ],
}

MEANING = {t: {c: m for c, _, m in cols} for t, cols in TABLES.items()}


def arrow_type(kind: str):
    import pyarrow as pa
    return {"str": pa.string(), "i64": pa.int64(), "i32": pa.int32(), "f64": pa.float64(), "bool": pa.bool_(),
            "ts": pa.timestamp("us", tz="UTC"), "list<i64>": pa.list_(pa.int64()),
            "list<str>": pa.list_(pa.string())}[kind]


def arrow_schema(table: str):
    import pyarrow as pa
    return pa.schema([pa.field(n, arrow_type(k)) for n, k, _ in TABLES[table]],
                     metadata={"dicomsniff.table": table, "dicomsniff.schema_version": str(SCHEMA_VERSION)})


def schema_text() -> str:
    """The schema as Markdown (what ``docs/tables.md`` lists and ``tables --schema`` prints)."""
    out = [f"Schema version {SCHEMA_VERSION}. Every table also has the partition column `date` (YYYY-MM-DD, UTC)."]
    for t, cols in TABLES.items():
        out += ["", f"### {t}", "", "| column | type | meaning |", "| --- | --- | --- |"]
        out += [f"| `{n}` | {k} | {m} |" for n, k, m in cols]
    return "\n".join(out) + "\n"
