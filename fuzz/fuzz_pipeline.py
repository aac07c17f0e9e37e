"""Long-running fuzz target for the whole analysis pipeline (capture reader → TCP → UL → DIMSE → model → JSON).

    python fuzz/fuzz_pipeline.py --minutes 60            # atheris (libFuzzer) when installed
    python fuzz/fuzz_pipeline.py --minutes 60 --hypothesis   # or hypothesis, looped until time is up
    python fuzz/fuzz_pipeline.py --minutes 60 --walk     # the compiled walk against the pure path

An input is either a whole capture file (mode byte even: seeds are captures/*.pcap and
tests/malformed/*) or, mode byte odd, the client side of a DICOM conversation after a valid
A-ASSOCIATE-RQ/AC, cut into TCP segments of the size in the next byte. A finding is any
exception escaping ``Analyzer.feed``/``finish``/``association_json``, a Field outside its
parent or unit, or an input slower than ``--timeout`` seconds. atheris writes failing inputs
to fuzz/artifacts/; ``python fuzz/fuzz_pipeline.py --replay FILE`` re-runs one.

``--walk`` fuzzes the compiled record walk (issue 18) instead: random changes (the suite's ``_mutated``) of the lossy
C-STORE copies the equivalence tests build, each read as ``summary`` reads it with and without the walk (two inputs
in four) or written as ``export --jsonl --no-trees`` writes it with the walk and by the general path (the other
two), every other one with the association's findings bound lowered to a few (``association.MAX_FINDINGS``, and
``MAX_CUTS_KEPT``) so that the walk's own loss counting runs; a finding is any difference in events, frames,
associations or PduFacts, or in a line export writes (saved to fuzz/artifacts/walk-*.pcap, ``-export`` in the name
for export's; ``--walk --replay FILE`` re-runs one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "malformed"))

from dicomsniff.capture.reader import CaptureFormatError, open_capture  # noqa: E402
from dicomsniff.output.json_export import association_json  # noqa: E402
from dicomsniff.pipeline import Analyzer  # noqa: E402

import make_corpus as MC  # noqa: E402
import test_fuzz_pipeline as T  # noqa: E402  (the CI-sized version of the same properties)

TIMEOUT = 20.0
PREFIX = MC.assoc()


class Finding(AssertionError):
    pass


def run_capture(data: bytes) -> None:
    start = time.monotonic()
    try:
        reader = open_capture(data)
        frames = iter(reader)
        an = Analyzer()
        events = []
        for fr in frames:
            events.extend(an.feed(fr))
    except CaptureFormatError:
        return
    events.extend(an.finish())
    T.check_events(events)          # the invariants of tests/test_fuzz_pipeline.py: spans inside units
    for a in an.associations:
        association_json(a)
    took = time.monotonic() - start
    if took > TIMEOUT:
        raise Finding(f"slow input: {took:.1f} s")


def one_input(data: bytes) -> None:
    if not data:
        return
    if data[0] % 2 == 0:
        run_capture(data[1:])
        return
    seg = max(1, data[1] * 64 if len(data) > 1 else 1500)
    run_capture(MC.conversation_pcap(PREFIX + [(0, data[2:])], seg=seg, fin=bool(data[0] & 2)))


def seeds() -> list[bytes]:
    out = []
    for p in sorted((ROOT / "captures").glob("*.pcap")) + sorted((ROOT / "tests" / "malformed").glob("*.pcap*")):
        if p.stat().st_size < 64 << 10:
            out.append(b"\x00" + p.read_bytes())
    for name in ("echo.pcap", "pynetdicom.pcap", "find_mwl.pcap"):
        client = b"".join(b for d, b in T.real_pdus(name) if d == 0)
        rq_len = 6 + int.from_bytes(client[2:6], "big")
        out.append(b"\x01\x17" + client[rq_len:])
    return out


def run_atheris(minutes: float, workdir: Path) -> int:
    import atheris
    corpus = workdir / "corpus"
    artifacts = workdir / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seeds()):
        (corpus / f"seed-{i:03d}").write_bytes(s)
    args = [sys.argv[0], str(corpus), f"-max_total_time={int(minutes * 60)}", f"-timeout={int(TIMEOUT) + 10}",
            "-rss_limit_mb=2048", "-max_len=70000", f"-artifact_prefix={artifacts}/", "-print_final_stats=1"]
    atheris.instrument_all()
    atheris.Setup(args, one_input)
    atheris.Fuzz()
    return 0


def walk_input(path: Path, lowered: bool, export: bool = False) -> None:
    """``path`` read as summary reads it, with and without the compiled walk (``export``: written as ``export --jsonl
    --no-trees`` writes it, with the walk and by the general path): the same (else AssertionError)."""
    import test_fastpath_equivalence as E
    from dicomsniff.model import association
    bounds = association.MAX_FINDINGS, association.MAX_CUTS_KEPT
    if lowered:
        association.MAX_FINDINGS, association.MAX_CUTS_KEPT = 2, 3
    try:
        if export:
            E._export_agrees(path)
        else:
            E._walk_agrees(path, dict(E.OPTIONS["summary"], quiet_pdus=True))
    finally:
        association.MAX_FINDINGS, association.MAX_CUTS_KEPT = bounds


def run_walk(minutes: float, workdir: Path, seed: int) -> int:
    import random
    import tempfile
    import test_fastpath_equivalence as E
    from dicomsniff import pipeline
    if pipeline._cwalk is None:
        print("the compiled walk is not built (pip install .)", file=sys.stderr)
        return 2
    artifacts = workdir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    found = 0
    with tempfile.TemporaryDirectory() as tmp:
        variants = E.build_variants(Path(tmp))
        seeds = [next(p for p in variants if p.name == name).read_bytes()
                 for name in E.LOSSY_SEEDS + (E.HEADERS_LOST,) + E.FLUSH_SEEDS]
        rnd = random.Random(seed)
        deadline = time.monotonic() + minutes * 60
        path = Path(tmp) / "input.pcap"
        n = 0
        while time.monotonic() < deadline:
            data = E._mutated(rnd, seeds[n // 4 % len(seeds)])     # (each seed four ways: summary and export, with
                                                                    # and without the bounds lowered)
            path.write_bytes(data)
            export = n % 4 >= 2
            try:
                walk_input(path, lowered=n % 2 == 1, export=export)
            except AssertionError:
                found += 1
                out = artifacts / f"walk-{seed}-{n}{'-lowered' if n % 2 else ''}{'-export' if export else ''}.pcap"
                out.write_bytes(data)
                print(f"finding: {out}", flush=True)
            n += 1
            if n % 500 == 0:
                print(f"walk: {n} inputs, {found} findings", flush=True)
    print(f"walk: {n} inputs, {found} findings")
    return 1 if found else 0


def run_hypothesis(minutes: float) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    deadline = time.monotonic() + minutes * 60
    rounds = 0

    @settings(max_examples=500, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(T.mutated_conversation(), T.random_payloads()))
    def prop(pcap):
        run_capture(pcap)

    while time.monotonic() < deadline:
        prop()
        rounds += 1
        print(f"hypothesis round {rounds} ok ({rounds * 500} inputs)", flush=True)
    return 0


def main() -> int:
    global TIMEOUT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds allowed per input")
    ap.add_argument("--hypothesis", action="store_true", help="use hypothesis even if atheris is installed")
    ap.add_argument("--workdir", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--replay", type=Path, nargs="*", help="run these inputs once and report")
    ap.add_argument("--walk", action="store_true", help="fuzz the compiled walk against the pure path")
    ap.add_argument("--seed", type=int, default=1, help="--walk: the random changes' seed")
    a = ap.parse_args()
    TIMEOUT = a.timeout
    if a.replay:
        for p in a.replay:
            if a.walk:
                walk_input(p, lowered="-lowered" in p.name, export="-export" in p.name)
            else:
                one_input(p.read_bytes())
            print(f"{p}: ok")
        return 0
    if a.walk:
        return run_walk(a.minutes, a.workdir, a.seed)
    if not a.hypothesis:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris not installed (pip install atheris): using hypothesis", file=sys.stderr)
            a.hypothesis = True
    if a.hypothesis:
        return run_hypothesis(a.minutes)
    sys.argv = [sys.argv[0]]
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    os.chdir(a.workdir)
    return run_atheris(a.minutes, a.workdir)


if __name__ == "__main__":
    sys.exit(main())
