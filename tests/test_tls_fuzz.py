"""Damaged DICOM-over-TLS traffic never raises: real TLS captures (with their key logs) with frames dropped,
bytes flipped, records cut, run through the whole pipeline, the diagnosis and the JSON export."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dicomsniff.capture.reader import open_capture
from dicomsniff.model.diagnosis import diagnose
from dicomsniff.output.describe import outcome_text, tls_dump_lines, tls_lines
from dicomsniff.output.json_export import association_json
from dicomsniff.pipeline import Analyzer
from dicomsniff.tls.keylog import KeyLog

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
NAMES = ["tls13_store", "tls12_dcmtk", "tls12_suites", "tls13_suites", "tls_expired", "tls13_untrusted_client"]
FRAMES = {n: list(open_capture(CAPTURES / f"{n}.pcap")) for n in NAMES}
KEYS = {}
for n in NAMES:
    KEYS[n] = KeyLog()
    KEYS[n].add_file(CAPTURES / f"{n}.keys")
HEADERS = 66            # Ethernet + IPv4 + TCP with timestamps on lo: payload bytes start here


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**32 - 1), keys=st.booleans(),
       how=st.sampled_from(["flip", "drop", "cut", "mixed"]))
def test_damaged_tls_never_raises(name, seed, keys, how):
    rnd = random.Random(seed)
    frames = []
    for fr in FRAMES[name]:
        data = bytearray(fr.data)
        if how in ("drop", "mixed") and rnd.random() < 0.1:
            continue
        if how in ("flip", "mixed") and len(data) > HEADERS and rnd.random() < 0.2:
            for _ in range(rnd.randint(1, 4)):
                data[rnd.randrange(HEADERS, len(data))] ^= 1 << rnd.randrange(8)
        if how == "cut" and len(data) > HEADERS and rnd.random() < 0.1:
            data = data[:rnd.randrange(HEADERS, len(data))]
        frames.append(dataclasses.replace(fr, data=bytes(data)))
    an = Analyzer(keep_pdus=True, tls_keylog=KEYS[name] if keys else KeyLog())
    for fr in frames:
        an.feed(fr)
    an.finish()
    for f in diagnose(an.associations):
        assert f.message
    for a in an.associations:
        json.dumps(association_json(a))
        outcome_text(a)
        tls_lines(a, an.first_ts or 0)
        tls_dump_lines(a, an.first_ts or 0)
