"""``dicomsniff anonymize``: a capture whose DICOM payload has had PS3.15 Annex E applied, still analyzable.

Two passes over the input: :mod:`.streams` reads it through the decoder and rebuilds every TCP
direction's bytes (data sets and command sets anonymized by :mod:`.profile` on the raw encoding of
:mod:`.dataset`, PDVs and PDUs re-cut with recomputed lengths, offset maps old → new); then
:mod:`.container` copies the file record by record in its own format while :mod:`.packets` gives each
frame its new payload, sequence and acknowledgement numbers, IP length and checksums. Nothing the
rewriter cannot decode is copied: it is zeroed at its own length and listed in :attr:`Report.problems`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .packets import AddressMap, rewrite_frame
from .profile import PROFILES, Cleaner, Mapper, Options
from .streams import Problem, collect, rewrite_streams

__all__ = ["PROFILES", "Options", "Report", "anonymize"]


@dataclass
class Report:
    format: str = ""
    frames: int = 0
    rewritten: int = 0
    associations: int = 0
    commands: int = 0
    datasets: int = 0
    uids: int = 0
    problems: list[Problem] = field(default_factory=list)
    oversize: list[Problem] = field(default_factory=list)
    table: dict = field(default_factory=dict)
    kept_tls: list[int] = field(default_factory=list)
    dropped_secrets: int = 0


def anonymize(src, dst, options: Options | None = None, *, ports=frozenset(), ips: bool = False,
              map_path=None) -> Report:
    """Write the anonymized copy of capture ``src`` to ``dst`` (through :mod:`dicomsniff.safeio`)."""
    from ..safeio import check_target
    check_target(dst)                      # before the first pass, which may take long
    if map_path is not None:
        check_target(map_path)
    options = options or Options()
    mapper = Mapper(options)
    cleaner = Cleaner(mapper)
    cap = collect(src, ports)
    try:
        return _write(cap, src, dst, options, mapper, cleaner, ips, map_path)
    finally:
        cap.close()


def _write(cap, src, dst, options, mapper, cleaner, ips, map_path) -> Report:
    from ..safeio import open_output
    from .container import rewrite_file
    folder = os.path.dirname(os.path.abspath(os.fsdecode(dst)))
    result = rewrite_streams(cap, cleaner, folder if os.path.isdir(folder) else None)
    report = Report(frames=cap.frames, associations=len(cap.associations), commands=result.commands,
                    datasets=result.datasets, problems=list(result.zeroed), oversize=list(result.oversize))
    amap = AddressMap() if ips else None
    unsupported: dict[str, list[int]] = {}
    dropped: list[int] = []

    def transform(number: int, linktype: int, data: bytes, orig_len: int):
        where = None
        if number < len(cap.frame_stream) and cap.frame_stream[number] >= 0:
            key = (cap.frame_stream[number], cap.frame_dir[number])
            d = cap.dirs.get(key)
            if d is not None:
                where = (d, cap.dirs.get((key[0], 1 - key[1])))
        new = rewrite_frame(linktype, data, orig_len, where, amap)
        if isinstance(new, str):                  # a frame this rewriter cannot edit: payload zeroed
            unsupported.setdefault(new, []).append(number)
            return _zero_tcp_payload(linktype, data, orig_len)
        if new is not None and new[0] != data:
            report.rewritten += 1
        return new

    with open(src, "rb") as f, open_output(dst) as out:
        report.format = rewrite_file(f, out, transform, drop_names=ips, dropped=dropped)
    report.kept_tls = list(result.kept_tls)
    report.dropped_secrets = len(dropped)
    why = {"unsupported": "in an encapsulation the rewriter does not edit",
           "too-big": "that would pass IP's 65,535-byte limit with the new payload"}
    for kind, frames in unsupported.items():
        report.problems.append(Problem(frames[0], 0, f"{len(frames)} frame(s) {why[kind]} (first: frame "
                                       f"{frames[0]}): their TCP payload"))
    report.uids = len(mapper.uids)
    report.table = {"profile": options.profile, "keep_pixels": options.keep_pixels, **mapper.table()}
    if amap is not None:
        report.table.update(amap.table())
    if map_path is not None:
        with open_output(map_path) as out:
            out.write(json.dumps(report.table, indent=1, ensure_ascii=True).encode() + b"\n")
    return report


def _zero_tcp_payload(linktype: int, data: bytes, orig_len: int):
    from ..capture.frame import Frame
    from ..capture.packet import decode_tcp
    seg = decode_tcp(Frame(0, 0, linktype, data, orig_len))
    if seg is None:
        return None
    start = seg.payload_offset
    end = start + len(seg.payload)
    return data[:start] + bytes(end - start) + data[end:], orig_len


def describe(report: Report, src, dst) -> list[str]:
    """The closing lines printed by the command."""
    from ..textsafe import safe_text
    def n(count: int, what: str) -> str:
        return f"{count} {what}" + ("" if count == 1 else "s")
    lines = [f"{safe_text(os.fsdecode(dst))}: {report.format}, {n(report.frames, 'frame')} ({report.rewritten} changed), "
             f"{n(report.associations, 'association')}, {n(report.commands, 'command set')} and "
             f"{n(report.datasets, 'data set')} anonymized, {n(report.uids, 'UID')} replaced"]
    if report.kept_tls:
        lines.append(f"  kept encrypted: {len(report.kept_tls)} TLS stream(s), payload copied as it was (not decrypted)")
    if report.dropped_secrets:
        lines.append(f"  left out: {report.dropped_secrets} pcapng Decryption Secrets Block(s) (TLS keys)")
    for prefix, problems in (("zeroed", report.problems), ("note", report.oversize)):
        groups: dict[tuple[int, str], list[int]] = {}
        for p in problems:                  # one line per cause: repeats grouped with a count
            groups.setdefault((p.association, p.what), []).append(p.frame)
        for (assoc, what), frames in groups.items():
            count = f" ×{len(frames)}" if len(frames) > 1 else ""
            where = f"frame {frames[0]}" if len(frames) == 1 else f"frames {min(frames)} … {max(frames)}"
            if assoc:
                where += f", association #{assoc}"
            lines.append(f"  {prefix}{count} ({where}): {safe_text(what)}")
    return lines
