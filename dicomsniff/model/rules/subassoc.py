"""C-MOVE sub-associations (PS3.4 §C.4.2): each C-MOVE linked to the association its SCP opened to the
move destination, by Move Originator (AE, Message ID) in its C-STOREs, or by AE titles and time. A rule
across associations: it reads the small :class:`Digest` kept of each."""

from __future__ import annotations

from dataclasses import dataclass

from ...field import NOTE, WARN
from ...textsafe import safe_text
from ..association import Association
from ..findings import Finding
from .base import C_MOVE, C_STORE, Options
from .registry import rule


@dataclass(slots=True)
class MoveDigest:
    """What the sub-association rule needs of one C-MOVE request."""

    message_id: int | None
    destination: str
    start_ns: int
    end_ns: int
    request_frame: int
    final_frame: int
    suboperations: int | None        # largest completed + failed + warning count reported, None if never
    failed: bool                     # final status a failure other than 0xA801 (no sub-association expected)


@dataclass(slots=True)
class Digest:
    """An association as the rules across associations see it: small, kept after the association is gone."""

    number: int
    calling: str
    called: str
    client_ip: bytes
    server_ip: bytes
    server_port: int
    start_ns: int | None
    first_frame: int
    outcome: str
    moves: list[MoveDigest]
    stores: int                                   # C-STORE requests (kept and folded)
    origins: set[tuple[str, int | None]]          # (Move Originator AE, Message ID) of its C-STOREs, bounded
    has_origin: bool                              # some C-STORE carried a Move Originator Message ID
    single_store: bool                            # exactly one C-STORE and nothing but C-ECHO besides
    closing: object = None                        # how it ended (set by a digest hook, see termination.py)

    MAX_ORIGINS = 64

    @classmethod
    def of(cls, a: Association) -> "Digest":
        moves = []
        for ex in a.exchanges:
            req = ex.request
            if req is None or req.command is None or ex.command_field != C_MOVE:
                continue
            final = ex.final
            counts = [(c.completed or 0) + (c.failed or 0) + (c.warning or 0)
                      for c in (r.command for r in ex.responses) if c is not None]
            info = ex.status_info
            moves.append(MoveDigest(
                ex.message_id, (req.command.move_destination or "").strip(), req.ts_ns,
                final.end_ts_ns if final is not None else (a.end_ns or req.ts_ns), req.frames[0] if req.frames else 0,
                (final.frames[0] if final is not None and final.frames else (req.frames[0] if req.frames else 0)),
                max(counts) if counts else None,
                info is not None and info.category == "Failure" and ex.status != 0xA801))
        origins: set[tuple[str, int | None]] = set()
        has_origin = False
        kept_stores = 0
        for m in a.messages:
            c = m.command
            if c is None or c.command_field != C_STORE:
                continue
            kept_stores += 1
            if c.move_originator_message_id is not None:
                has_origin = True
                if len(origins) < cls.MAX_ORIGINS:
                    origins.add(((c.move_originator_ae or "").strip(), c.move_originator_message_id))
        folded_stores = sum(n for (name, _c, _t), n in a.folded.items() if name == "C-STORE-RQ")
        store_ex = [ex for ex in a.exchanges if ex.command_field == C_STORE]
        others = [ex for ex in a.exchanges if ex.command_field not in (C_STORE, 0x0030)]
        return cls(a.number, (a.calling_ae or "").strip(), (a.called_ae or "").strip(), a.client.ip, a.server.ip,
                   a.server.port, a.start_ns, a.first_frame, a.outcome, moves, kept_stores + folded_stores,
                   origins, has_origin, len(store_ex) == 1 and not others and not a.folded)


@rule(code="move-sub-association", severity=NOTE, group="info", scope="capture",
      summary="a C-MOVE and the sub-association that carried its C-STOREs, linked both ways",
      evidence="Move Originator AE/Message ID, AE titles, times", test="tests/test_model_diagnosis.py")
@rule(code="move-sub-association-missing", severity=WARN, group="capture", scope="capture",
      summary="a C-MOVE reports sub-operations but its sub-association is not in the capture",
      evidence="C-MOVE-RSP sub-operation counts, associations in the capture", test="tests/test_model_diagnosis.py")
def sub_associations(assocs: list[Digest], opts: Options, links: list | None = None) -> list[Finding]:
    """Link each C-MOVE to the C-STORE association its SCP opened to the move destination (PS3.4 §C.4.2).

    Candidates: an association from the C-MOVE's called AE to its Move Destination, opened between
    1 s before the request and its final response. A candidate whose C-STOREs carry a Move Originator
    (AE, Message ID) must name this C-MOVE; every such match is linked (an SCP may open one per SOP class),
    and only without one the first association by AE titles and time. ``links``, when given, receives
    one (association number, C-MOVE message ID, [sub-association numbers]) per linked C-MOVE (the viewer's tree).
    """
    out: list[Finding] = []
    used: set[int] = set()
    for a in assocs:
        for mv in a.moves:
            dest, scp = mv.destination, a.called
            by_origin: list[Digest] = []          # C-STOREs naming this C-MOVE: all of them are its sub-associations
            by_time: list[Digest] = []
            for b in assocs:
                if b is a or b.number in used or b.start_ns is None:
                    continue
                if b.calling != scp or b.called != dest:
                    continue
                if not (mv.start_ns - 1_000_000_000 <= b.start_ns <= mv.end_ns):
                    continue
                if b.has_origin:
                    if (a.calling, mv.message_id) in b.origins:
                        by_origin.append(b)
                    # else: these C-STOREs say they belong to another C-MOVE
                else:
                    by_time.append(b)
            # An SCP may open several sub-associations for one C-MOVE (Orthanc: one per SOP class); those
            # that name it by Move Originator are all its own. Without that evidence, the first by time only.
            subs, how = (by_origin, "Move Originator in its C-STOREs") if by_origin else \
                (by_time[:1], "AE titles and time")
            label = f"C-MOVE #{mv.message_id}"
            if subs:
                used.update(b.number for b in subs)
                if links is not None:
                    links.append((a.number, mv.message_id, [b.number for b in subs]))
                where = " and ".join(f"#{b.number} ({safe_text(b.calling or '?')} → {safe_text(b.called or '?')},"
                                     f" {b.stores} C-STORE, {b.outcome})" for b in subs)
                out.append(Finding(NOTE, "move-sub-association",
                                   f"{label} to '{safe_text(dest)}': its sub-operations ran on association"
                                   f"{'s' if len(subs) > 1 else ''} {where}; matched by {how}", a.number,
                                   [mv.request_frame] if mv.request_frame else []))
                for b in subs:
                    out.append(Finding(NOTE, "move-sub-association",
                                       f"sub-association #{b.number} carries {label} of association #{a.number}"
                                       f" ({safe_text(a.calling or '?')} → {safe_text(a.called or '?')})",
                                       b.number, [b.first_frame] if b.first_frame else []))
                continue
            if (mv.suboperations or 0) > 0:       # a refused C-MOVE (0 sub-operations) opens none
                out.append(Finding(WARN, "move-sub-association-missing",
                                   f"{label} to '{safe_text(dest)}' reports {mv.suboperations or 0}"
                                   f" sub-operations but no association from '{safe_text(scp)}' to"
                                   f" '{safe_text(dest)}' appears in the capture", a.number,
                                   [mv.final_frame] if mv.final_frame else [],
                                   "capture the SCP's outgoing connection too (the move destination's host and"
                                   " port may be outside this capture filter), and check the host/port the SCP"
                                   f" has configured for '{safe_text(dest)}'"))
    return out
