"""Protocol rules: P-DATA-TF over the receiver's max PDU length (PS3.8 §D.1), PDV fragmentation (PS3.8
Annex E), command sets and data sets that do not decode (PS3.7 §6.3.1), and the Upper Layer dissector's
expert findings. All rest on the bytes of one direction: after loss they fold into ``capture-loss``."""

from __future__ import annotations

from ...field import ERROR, NOTE
from ...textsafe import safe_text
from ...uids import uid_name
from ..association import Association
from ..findings import Finding
from .base import Options, _command_findings, _dataset_findings, _f, _facts
from .registry import group_of, register, rule


@rule(code="pdu-exceeds-max", severity=ERROR, group="protocol",
      summary="P-DATA-TF longer than the receiver's negotiated Maximum Length Received (PS3.8 §D.1)",
      evidence="PDU lengths, A-ASSOCIATE-RQ/AC max PDU", test="tests/test_model_diagnosis.py", fragile=True)
def max_pdu(a: Association, opts: Options) -> list[Finding]:
    """P-DATA-TF longer than the receiver's Maximum Length Received (PS3.8 §D.1), and tiny max PDUs."""
    out: list[Finding] = []
    facts = _facts(a, opts)
    for d, kept in facts.over.items():
        sender, receiver = a.side(d), a.side(1 - d)
        big, limit = facts.over_max[d]
        out.append(_f(a, ERROR, "pdu-exceeds-max",
                      f"{facts.over_count[d]} P-DATA-TF from the {sender} longer than the {receiver}'s negotiated"
                      f" max PDU length {limit} (largest {big} bytes, first in frame {kept[0][0]})",
                      [fr for fr, _n in kept],
                      f"the {sender} ignores the Maximum Length Received the {receiver} announced; many"
                      f" implementations abort on this: fix the {sender}'s max PDU handling", direction=d))
    return out


@rule(code="pdv-out-of-sequence", severity=ERROR, group="protocol",
      summary="a command fragment while a data set was open, or the reverse (PS3.8 Annex E)",
      evidence="PDV message control headers in stream order", test="tests/test_model_diagnosis.py", fragile=True)
@rule(code="pdv-last-missing", severity=ERROR, group="protocol",
      summary="an A-RELEASE while a command or data set never got its last fragment (PS3.8 Annex E)",
      evidence="PDV message control headers in stream order", test="tests/test_model_diagnosis.py", fragile=True)
def pdv_sequence(a: Association, opts: Options) -> list[Finding]:
    """PDV fragments: command then data, each ended by its last fragment (PS3.8 Annex E)."""
    out: list[Finding] = []
    raised = {f.code for f in a.findings}
    for issue in _facts(a, opts).pdv_issues:
        if issue[0] == "sequence":
            _, kind, ctx, frame, prev_kind, prev_frame, d = issue
            if {"dataset-missing", "orphan-data"} & raised:
                continue           # the assembler already said it, with the same frames
            out.append(_f(a, ERROR, "pdv-out-of-sequence",
                          f"a {kind} fragment on context {ctx} in frame {frame} while the {prev_kind} begun in"
                          f" frame {prev_frame} had no last fragment", [prev_frame, frame],
                          "the sender's PDV fragmentation is broken (PS3.8 Annex E): each command and data set"
                          " must end with a fragment flagged last", direction=d))
        else:
            _, side, name, frame, kind, ctx, begun, d = issue
            out.append(_f(a, ERROR, "pdv-last-missing",
                          f"{name} from the {side} in frame {frame} while a {kind} on context {ctx} (begun in"
                          f" frame {begun}) never got its last fragment", [begun, frame],
                          "the sender never flagged the last fragment of this message: its PDV fragmentation"
                          " is broken (PS3.8 Annex E)", direction=d))
    return out


@rule(code="command-undecodable", severity=ERROR, group="malformed",
      summary="a command set without a Command Field (PS3.7 §6.3.1)", evidence="command set bytes",
      test="tests/test_model_diagnosis.py", fragile=True)
@rule(code="datasets-not-checked", severity=NOTE, group="info",
      summary="data sets left unchecked for encoding errors (the capture's decoding budget was spent)",
      evidence="decoding budget", test="tests/test_model_diagnosis.py")
def decoding(a: Association, opts: Options) -> list[Finding]:
    """Command sets that do not decode (errors), data sets that do not match their transfer syntax."""
    out: list[Finding] = []
    unchecked = 0
    for m in a.messages:
        cmd = m.command
        if not m.complete and m.data_spans is None:
            continue        # cut short: the model's message-incomplete / command-incomplete says so
        if cmd is None or cmd.command_field is None:
            out.append(_f(a, ERROR, "command-undecodable",
                          f"message {m.index} on context {m.context_id}: the command set does not decode"
                          " (no Command Field)", m.frames[:3],
                          "the sender's command set is malformed (PS3.7 §6.3.1: implicit VR little endian,"
                          " group 0000)", direction=m.direction, last=m.frames[-1:]))
        if cmd is not None:
            for x in _command_findings(cmd, opts.command_cache):
                out.append(_f(a, x.severity, x.code, f"{m.name} (message {m.index}): {x.message}",
                              m.frames[:3], "the sender's command set breaks PS3.7 §6.3.1 / §9.3: check"
                                            " the sender's DICOM stack", direction=m.direction,
                              last=m.frames[-1:]))
        data = m.data
        if data is not None:
            found = _dataset_findings(data, opts)
            if found is None:
                unchecked += 1
                continue
            for x in found:
                ts = safe_text(uid_name(m.transfer_syntax)) if m.transfer_syntax else "?"
                out.append(_f(a, x.severity, x.code,
                              f"{m.name} (message {m.index}) data set in {ts}: {x.message}",
                              (m.data_spans.frames if m.data_spans else m.frames)[:3],
                              "the data set does not match the negotiated transfer syntax or is malformed:"
                              " check that the sender encodes it in the accepted transfer syntax",
                              direction=m.direction, last=m.frames[-1:]))
    if unchecked:
        out.append(_f(a, NOTE, "datasets-not-checked",
                      f"{unchecked} data sets of this association were not checked for encoding errors"
                      " (decoding budget of the capture spent)", [],
                      "use `dicomsniff dump -V` on the frames of interest to decode them"))
    return out


@register
def pdu_findings(a: Association, opts: Options) -> list[Finding]:
    """Expert findings of the Upper Layer dissector (warnings and errors), per PDU, under their own codes.

    The first few of each code are kept with their frame; the line of the last kept one counts the rest.
    """
    seen = {(f.code, tuple(f.frames)) for f in a.findings}
    facts = _facts(a, opts)
    out = []
    last: dict[str, Finding] = {}
    for sev, code, msg, frame, d in facts.expert:
        if (code, (frame,)) in seen:
            continue
        hint = ("the capture lost or cut these bytes: not the sender's fault" if group_of(code) == "capture"
                else "the sender's PDU breaks PS3.8 §9.3: check the sender's DICOM stack")
        f = last[code] = _f(a, sev, code, msg, [frame], hint, direction=d)
        out.append(f)
    for code, f in last.items():
        kept = sum(1 for x in facts.expert if x[1] == code)
        f.count += max(0, facts.expert_counts.get(code, 0) - kept)
    return out
