"""Hand-made captures for the HTML report tests (``dicomsniff report``), and an HTML reader.

- :func:`hostile_capture`: AE titles, an implementation version, element values and an Error Comment
  that are HTML and script (a peer controls these bytes); the C-STORE fails with 0xA700.
- :func:`echo_flood`: one association with ``n`` C-ECHOs, for the per-association caps.
- :func:`deidentified_store`: a C-STORE whose object says Patient Identity Removed = YES.
"""

from __future__ import annotations

from html.parser import HTMLParser

from pydicom.dataset import Dataset

import dimse_fixtures as D
import evidence_fixtures as E
import pdu_fixtures as P

HOSTILE_CALLING = "<script>x"                      # 9 of the 16 bytes an AE title has
HOSTILE_CALLED = "\"'><b>&amp;"                    # quotes and an entity: attribute and text escaping
HOSTILE_VERSION = "<img src=x>"
HOSTILE_NAME = "</pre><script>alert(1)</script>"   # a Patient Name that closes our <pre> and opens a script
HOSTILE_COMMENT = "<svg onload=alert(2)>"          # an Error Comment (0000,0902)


def hostile_capture() -> bytes:
    c = E.Timed(("10.0.0.1", 40000), ("10.0.0.2", 104))
    c.send(0, P.assoc_rq(HOSTILE_CALLING, HOSTILE_CALLED, contexts=[(1, P.CT_STORAGE, [P.IMPLICIT_LE])],
                         impl_version=HOSTILE_VERSION))
    c.send(1, P.assoc_ac(HOSTILE_CALLING, HOSTILE_CALLED, results=[(1, 0, P.IMPLICIT_LE)],
                         impl_version=HOSTILE_VERSION))
    ds = Dataset()
    ds.SOPClassUID = P.CT_STORAGE
    ds.SOPInstanceUID = "1.2.3.4"
    ds.PatientName = HOSTILE_NAME
    ds.PatientID = "<i>PID</i>"
    ds.StudyDescription = "a & b < c > d"
    c.send(0, E.cmd(1, D.store_rq(1)))
    c.send(0, E.data(1, D.encode(ds)))
    c.at(c.clock + 20 * E.MS)
    c.send(1, E.cmd(1, E.store_rsp(1, 0xA700, ErrorComment=HOSTILE_COMMENT)))
    return E.pcap_of(E.released(c))


def echo_flood(n: int) -> bytes:
    c = E.established([(1, P.VERIFICATION)], calling="FLOODSCU", called="FLOODSCP")
    for i in range(1, n + 1):
        c.send(0, E.cmd(1, D.echo_rq(i)))
        c.send(1, E.cmd(1, D.echo_rsp(i)))
    return E.pcap_of(E.released(c))


def echo_associations(n: int, failing: tuple[int, ...] = (), *, servers: int = 1) -> bytes:
    """``n`` associations 50 ms apart, one C-ECHO each, to ``servers`` SCP ports in turn (104, 105, …); those
    numbered in ``failing`` (1-based) are refused 0x0122."""
    convs = []
    for i in range(n):
        c = E.established([(1, P.VERIFICATION)], client=("10.0.0.1", 41000 + i), server=("10.0.0.2", 104 + i % servers),
                          t=E.T0 + i * 50 * E.MS)
        c.send(0, E.cmd(1, D.echo_rq(1)))
        c.send(1, E.cmd(1, D.echo_rsp(1, 0x0122 if i + 1 in failing else 0)))
        convs.append(E.released(c))
    return E.pcap_of(*convs)


def deidentified_store() -> bytes:
    c = E.established([(1, P.CT_STORAGE)], calling="ANONSCU", called="ANONSCP")
    ds = Dataset()
    ds.SOPClassUID = P.CT_STORAGE
    ds.SOPInstanceUID = "2.25.1"
    ds.PatientName = "ANONYMOUS"
    ds.PatientID = "ANON0001"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "Basic Application Level Confidentiality Profile"
    c.send(0, E.cmd(1, D.store_rq(1, "2.25.1")))
    c.send(0, E.data(1, D.encode(ds)))
    c.send(1, E.cmd(1, E.store_rsp(1, 0, "2.25.1")))
    return E.pcap_of(E.released(c))


class Page(HTMLParser):
    """What the tests read of a page: every element (tag, attributes, text inside), the script elements,
    and the text content."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.texts: list[str] = []
        self._in_script = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    def having(self, tag: str, **attrs) -> list[dict]:
        """Elements of ``tag`` whose attributes include ``attrs`` (``class_`` matches one class)."""
        out = []
        for t, a in self.elements:
            if t != tag:
                continue
            ok = True
            for k, v in attrs.items():
                if k == "class_":
                    ok = ok and v in (a.get("class") or "").split()
                else:
                    ok = ok and a.get(k.replace("_", "-")) == v
            if ok:
                out.append(a)
        return out
