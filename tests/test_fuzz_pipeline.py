"""Robustness: hostile bytes never crash the analyzer, and every decoded span stays inside its unit.

Property tests (hypothesis, bounded) feed the pipeline random bytes inside TCP payloads,
mutated PDUs of real captures (bytes flipped, length fields set to extremes) and random
TCP segmentation; ``Analyzer.feed``/``finish`` must not raise, each input must be quick,
and every Field lies inside its parent and inside its unit (PDU, command set, data set).
Then the committed corpus in tests/malformed/ (and the generated big-count cases) goes
through ``dump -V``, ``summary`` and ``export``: exit 0 or 2, never 3, no traceback.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import struct
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "malformed"
sys.path.insert(0, str(HERE))

from dicomsniff.capture.packet import decode_tcp  # noqa: E402
from dicomsniff.capture.reader import open_capture  # noqa: E402
from dicomsniff.cli import main  # noqa: E402
from dicomsniff.pipeline import Analyzer, MessageSeen, PduSeen  # noqa: E402

_spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
MC = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(MC)

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIME_PER_INPUT = 10.0      # seconds; generous: the machine is shared


# -- checks -----------------------------------------------------------------------------------------


def check_tree(root, unit_length: int | None, what: str) -> None:
    """Every field inside its parent, the root inside [0, unit_length]."""
    assert root.offset >= 0 and root.length >= 0, what
    if unit_length is not None:
        assert root.end <= unit_length, f"{what}: root {root.offset}+{root.length} > unit {unit_length}"
    stack = [root]
    while stack:
        f = stack.pop()
        for c in f.children:
            assert c.length >= 0 and f.offset <= c.offset and c.end <= f.end, \
                f"{what}: {c.key} [{c.offset},{c.end}) outside {f.key} [{f.offset},{f.end})"
            stack.append(c)


def check_events(events) -> None:
    for ev in events:
        t = type(ev)
        if t is PduSeen:
            pdu = ev.pdu
            tree = pdu.tree()
            check_tree(tree, pdu.spans.length if not pdu.complete else 6 + pdu.length, f"{pdu.name} tree")
            _ = pdu.info
        elif t is MessageSeen:
            m = ev.message
            if m.command is not None:
                check_tree(m.command.tree, m.command_spans.length, "command set")
            if m.data is not None:
                info = m.data.decode()
                check_tree(info.tree, None if m.data.inflated else max(m.data.length, m.data.kept), "data set")
                m.data.json  # noqa: B018  (must not raise)


def run_pipeline(pcap: bytes) -> list:
    """Feed every frame; no exception may escape; return the events."""
    start = time.monotonic()
    an = Analyzer()
    events = []
    for fr in open_capture(pcap):
        events.extend(an.feed(fr))
    events.extend(an.finish())
    check_events(events)
    for a in an.associations:
        from dicomsniff.output.json_export import association_json
        association_json(a)
    assert time.monotonic() - start < TIME_PER_INPUT
    return events


# -- inputs -----------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def real_pdus(name: str) -> tuple[tuple[int, bytes], ...]:
    """The PDUs of a real capture's first connection as (direction, bytes), in the order they began."""
    streams = [bytearray(), bytearray()]
    starts: list[tuple[int, int, int]] = []     # (order, direction, offset)
    client = None
    order = 0
    for fr in open_capture(ROOT / "captures" / name):
        seg = decode_tcp(fr)
        if seg is None or not len(seg.payload):
            continue
        key = (seg.src_ip, seg.sport, seg.dst_ip, seg.dport)
        if client is None:
            client = key
        d = 0 if key == client else 1 if key == (client[2], client[3], client[0], client[1]) else None
        if d is None:
            continue
        streams[d] += bytes(seg.payload)
        order += 1
    out = []
    for d in (0, 1):
        s, i = bytes(streams[d]), 0
        while i + 6 <= len(s):
            n = struct.unpack_from(">I", s, i + 2)[0]
            out.append((i, d, s[i:i + 6 + n]))
            i += 6 + n
    # interleave: client PDU k before server PDU k (request before answer), good enough for fuzzing
    c = [p for p in out if p[1] == 0]
    sv = [p for p in out if p[1] == 1]
    merged = []
    for k in range(max(len(c), len(sv))):
        merged += [(p[1], p[2]) for p in (c[k:k + 1] + sv[k:k + 1])]
    return tuple(merged)


EXTREMES = [0, 1, 2, 5, 6, 0x7F, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFF0]


@st.composite
def mutated_conversation(draw):
    name = draw(st.sampled_from(["echo.pcap", "pynetdicom.pcap", "store.pcap", "find_mwl.pcap"]))
    pdus = [list(p) for p in real_pdus(name)]
    for _ in range(draw(st.integers(1, 6))):
        k = draw(st.integers(0, len(pdus) - 1))
        d, b = pdus[k]
        b = bytearray(b)
        how = draw(st.sampled_from(["flip", "length32", "length16", "truncate", "insert", "pdu_len"]))
        pos = draw(st.integers(0, max(0, len(b) - 1)))
        if how == "flip" and b:
            b[pos] ^= draw(st.integers(1, 255))
        elif how == "length32" and len(b) >= 4:
            p = min(pos, len(b) - 4)
            b[p:p + 4] = struct.pack(draw(st.sampled_from([">I", "<I"])), draw(st.sampled_from(EXTREMES)))
        elif how == "length16" and len(b) >= 2:
            p = min(pos, len(b) - 2)
            b[p:p + 2] = struct.pack(draw(st.sampled_from([">H", "<H"])), draw(st.sampled_from(EXTREMES)) & 0xFFFF)
        elif how == "truncate":
            b = b[:pos]
        elif how == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif how == "pdu_len" and len(b) >= 6:
            b[2:6] = struct.pack(">I", draw(st.sampled_from(EXTREMES)))
        pdus[k] = [d, bytes(b)]
    seg = draw(st.sampled_from([1 << 16, 1500, 100, 7]))
    if seg == 7 and sum(len(b) for _, b in pdus) > 20_000:
        seg = 1500
    return MC.conversation_pcap([tuple(p) for p in pdus], seg=seg)


@settings(max_examples=60, **SETTINGS)
@given(mutated_conversation())
def test_mutated_real_pdus(pcap):
    run_pipeline(pcap)


@st.composite
def random_payloads(draw):
    """A good association start, then random bytes (some PDU-shaped) in random segments."""
    prefix = MC.assoc() if draw(st.booleans()) else []
    chunks = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["raw", "pdu", "pdata"]))
        if kind == "raw":
            body = draw(st.binary(max_size=300))
        elif kind == "pdu":
            body = struct.pack(">BBI", draw(st.integers(0, 8)), 0, draw(st.sampled_from(EXTREMES + [10, 40])))
            body += draw(st.binary(max_size=200))
        else:
            pdv = draw(st.binary(max_size=120))
            body = MC.P.pdata([(draw(st.sampled_from([1, 3, 0, 255])), draw(st.integers(0, 255)), pdv)])
        chunks.append((draw(st.integers(0, 1)), body))
    return MC.conversation_pcap(prefix + chunks, seg=draw(st.sampled_from([1 << 16, 64, 3])),
                                fin=draw(st.booleans()))


@settings(max_examples=60, **SETTINGS)
@given(random_payloads())
def test_random_bytes_in_tcp_payloads(pcap):
    run_pipeline(pcap)


@settings(max_examples=30, **SETTINGS)
@given(st.binary(min_size=0, max_size=2000), st.integers(0, 6))
def test_random_command_and_data_sets(blob, cut):
    """Random bytes as a command set and as a data set on every transfer syntax."""
    for ts in (MC.IMPLICIT, MC.EXPLICIT, MC.P.EXPLICIT_BE, MC.DEFLATED):
        pdus = MC.assoc(contexts=((1, MC.CT, [ts]),), results=((1, 0, ts),))
        pdus += [(0, MC.P.pdata([(1, 3, MC.command_set(0x0001, sop_class=MC.CT, has_data=True))])),
                 (0, MC.P.pdata([(1, 2, blob)])),
                 (0, MC.P.pdata([(1, 3, blob[cut:])]))]
        run_pipeline(MC.conversation_pcap(pdus))


# -- corpus -----------------------------------------------------------------------------------------

CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".pcap", ".pcapng"))
COMMANDS = [["dump", "-V"], ["summary"], ["export", "-o", "-"]]


def test_corpus_is_up_to_date_and_small():
    files = MC.corpus()
    assert sorted(files) == CORPUS_FILES
    readme = (CORPUS / "README.md").read_text()
    for name, (data, _) in files.items():
        assert len(data) < 20_000
        assert (CORPUS / name).read_bytes() == data, f"{name}: run python tests/malformed/make_corpus.py"
        assert f"| {name} |" in readme


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file_through_cli(name):
    for cmd in COMMANDS:
        start = time.monotonic()
        r = CliRunner().invoke(main, [*cmd[:1], str(CORPUS / name), *cmd[1:]])
        took = time.monotonic() - start
        assert r.exit_code in (0, 2), f"{cmd} {name}: exit {r.exit_code}\n{r.output[-2000:]}\n{r.exception!r}"
        assert "Traceback" not in r.output and "internal error" not in r.output
        assert took < 20, f"{cmd} {name}: {took:.1f} s"
        if r.exit_code == 2:
            assert len([ln for ln in r.output.splitlines() if ln.strip()]) <= 3


def test_corpus_hostile_text_is_escaped():
    for cmd in COMMANDS[:2]:
        r = CliRunner().invoke(main, [cmd[0], str(CORPUS / "ansi_markup_text.pcap"), *cmd[1:]])
        assert r.exit_code == 0
        assert "\x1b" not in r.output and "\x07" not in r.output
        assert "\\x1b[31mRED" in r.output


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("big")
    MC.write(d, MC.big_corpus())
    return d


@pytest.mark.parametrize("name", sorted(MC.big_corpus()))
def test_big_counts_bounded_time_and_memory(name, big_dir):
    """Real processes under a 2 GB address-space limit; 60 s each (the shared machine is slow)."""
    for cmd in (["summary"], ["export", "-o", os.devnull]):
        start = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "dicomsniff", cmd[0], str(big_dir / name), *cmd[1:]],
                           capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory)
        assert r.returncode in (0, 2), r.stderr[-2000:]
        assert "Traceback" not in r.stderr
        assert time.monotonic() - start < 60
    an = Analyzer()
    events = []
    for fr in open_capture(big_dir / name):
        events.extend(an.feed(fr))
    events.extend(an.finish())
    check_events(events)
    (a,) = an.associations
    if name.startswith("contexts"):
        assert a.rq is not None and a.calling_ae == "SCU"
    else:
        assert a.outcome == "released"


def test_incomplete_pdata_tree_stays_inside_received_bytes():
    """Regression (found by test_mutated_real_pdus): a P-DATA-TF whose PDU length runs past the end of
    the stream was given a tree root of 6 + PDU length bytes, beyond the bytes received."""
    cmd = MC.command_set(0x0030)
    pdata = bytearray(MC.P.pdata([(1, 3, cmd)]))
    pdata[2:6] = struct.pack(">I", len(pdata) - 6 + 50)            # claims 50 bytes more than sent
    events = run_pipeline(MC.conversation_pcap(MC.assoc() + [(0, bytes(pdata))]))
    (pdu,) = [ev.pdu for ev in events if type(ev) is PduSeen and ev.pdu.pdu_type == 4]
    assert not pdu.complete
    assert pdu.tree().end <= pdu.spans.length == len(pdata)


# Corpus files whose decode breaks the span invariant in a module this suite may not edit.


@pytest.mark.parametrize("name", [
    n for n in CORPUS_FILES if n not in ("empty.pcap", "not_a_capture.pcap", "truncated_global_header.pcap")])
def test_corpus_file_spans(name):
    run_pipeline((CORPUS / name).read_bytes())
