"""``dicomsniff dump``: one line per PDU in the spirit of Wireshark's packet list; ``-V`` adds trees.

A P-DATA-TF line says what the PDU carries, as Wireshark's Info column does:
the PDV that completes a command set shows the DIMSE command, message ID, SOP
class, status (with its meaning) and sub-operation counts
(``C-STORE-RQ ID=1 CT Image Storage (Command, Last)``, ``C-STORE-RSP ID=1 Success
(Command, Last)``); data-set fragments show their message, role and size
(``C-STORE-RQ ID=1 Data (Last) 1.4 KiB``).

The pipeline tells the command of a PDU after the PDU itself: a command with a
data set is known from its ``DataStarted`` event (emitted as the command set
completes, when the analyzer streams data) and otherwise from its
``MessageSeen`` (which comes after the data set). Lines are therefore held in a
small queue until the command they show is known, and written in the order of
their frames; the queue is bounded (:data:`MAX_HELD`), past which the oldest
line is written with what is known.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable

from ..dimse.status import status_info
from ..notice import Notice
from ..dimse.assembler import DataStarted
from ..pipeline import AssociationClosed, AssociationOpened, DataSeen, MessageSeen, PduSeen
from ..textsafe import safe_text
from ..uids import uid_name
from ..ul.pdus import P_DATA_TF
from .text import rel_time, size_text, tree_lines

# Lines held while waiting for the command of a PDU (a C-STORE's command waits for its
# data set when the analyzer does not stream data); past this, the oldest is written as is.
MAX_HELD = 4096
# Lines kept back so that a PDU reported late (cut by a reset or the capture's end) goes in
# its frame's place; when no association is open everything is written at once.
WINDOW = 256
# ... and for at most this long in capture time, so a live pipe (`tcpdump -w - | dicomsniff dump -`)
# shows a line about a second after its PDU, not 256 PDUs later.
HOLD_NS = 1_000_000_000
# PDVs described on one line; the rest are counted.
INFO_PDVS = 4


def pdu_frame(pdu) -> int:
    """The frame in which a PDU is complete (Wireshark shows reassembled PDUs there)."""
    return pdu.spans.last_frame


def pdu_line(ev: PduSeen, t0: int, info: str | None = None) -> str:
    a, pdu = ev.association, ev.pdu
    src, dst = (a.client, a.server) if pdu.direction == a.client_dir else (a.server, a.client)
    flag = "" if pdu.complete else "  [incomplete]"
    text = pdu.info if info is None else info
    return (f"{pdu_frame(pdu):>7} {rel_time(pdu.end_ts_ns, t0):>11} #{a.number:<3} {src} → {dst}  "
            f"{safe_text(text)}{flag}")


def message_header(ev: MessageSeen) -> str:
    m = ev.message
    cmd = m.command
    label = cmd.tree.display if cmd is not None else ""
    return f"    DIMSE {m.name} on context {m.context_id}" + (f" ({safe_text(label)})" if label else "")


def command_info(cmd) -> str:
    """A command set in a few words, as Wireshark's Info column: 'C-STORE-RQ ID=1 CT Image Storage',
    'C-FIND-RSP ID=1 0xFF00 Matches are continuing…', 'C-MOVE-RSP ID=1 C=3 Success'."""
    if cmd is None or cmd.command_field is None:
        return "Command (undecodable)"
    name = cmd.name
    if cmd.command_field & 0x8000:
        parts = [f"{name} ID={cmd.responds_to if cmd.responds_to is not None else '?'}"]
        counts = [f"{k}={v}" for k, v in (("R", cmd.remaining), ("C", cmd.completed),
                                          ("F", cmd.failed), ("W", cmd.warning)) if v]
        parts.extend(counts)
        if cmd.status is None:
            parts.append("(no Status)")
        elif cmd.status == 0:
            parts.append("Success")
        else:
            parts.append(status_info(cmd.status, cmd.command_field, cmd.affected_sop_class_uid).display)
        return safe_text(" ".join(parts))
    parts = [f"{name} ID={cmd.message_id if cmd.message_id is not None else '?'}"]
    sop = cmd.sop_class_uid
    if sop:
        parts.append(uid_name(sop))
    dest = cmd.move_destination
    if dest:
        parts.append(f"to {dest.strip()}")
    return safe_text(" ".join(parts))


class _Held:
    """One PDU line (and the verbose lines under it), possibly waiting for the command of one of its PDVs."""

    __slots__ = ("ev", "t0", "frame", "waits", "known", "sizes", "text", "extra")

    def __init__(self, ev: PduSeen | None, t0: int, frame: int, text: str | None = None):
        self.ev = ev
        self.t0 = t0
        self.frame = frame
        self.waits: set = set()        # (direction, context) whose command is not yet known
        self.known: dict = {}          # (direction, context) -> command set
        self.sizes: dict = {}          # pdv index -> data bytes of its message so far
        self.text = text
        self.extra: list[str] = []     # -V lines, notices: written after the line


class _Msg:
    """What dump knows of the message being sent on one (direction, context)."""

    __slots__ = ("cmd", "waiting", "waiters", "data", "early", "used", "in_cmd")

    def __init__(self):
        self.cmd = None                # its command set, once known
        self.waiting: _Held | None = None   # the line of its last command PDV, waiting for cmd
        self.waiters: list[_Held] = []      # every line waiting for cmd (that one and data lines after it)
        self.data = 0                  # data-set bytes so far
        self.early = None              # command announced (DataStarted) before its PDU's line
        self.used = None               # the command set shown (kept, so MessageSeen does not show it twice)
        self.in_cmd = False            # inside a command set (fragments before the last)


class DumpWriter:
    """Turns pipeline events into dump lines, in frame order, with the Info text above.

    Lines are written in frame order: a PDU cut by a reset or the end of the
    capture is reported when its stream closes, after lines of later frames; so
    the last :data:`WINDOW` lines, of at most the last :data:`HOLD_NS` of capture
    time, are kept back (and lines waiting for their command, up to
    :data:`MAX_HELD`) for it to go in its place. When no association is open
    nothing earlier can come, and everything is written.
    """

    def __init__(self, write: Callable[[str], None], *, verbose: bool, t0: Callable[[], int],
                 window: int | None = None):
        self.write = write
        self.verbose = verbose
        self.t0 = t0
        self.window = WINDOW if window is None else window
        self.now = 0                    # the latest PDU end time seen (capture clock)
        self.last: _Held | None = None  # the entry last put in the queue
        self.count = 0
        self.queue: deque[_Held] = deque()  # by frame
        self.held = 0                   # entries in the queue waiting for a command
        self.open = 0                   # associations open
        self.last_frame = 0
        self.msgs: dict[int, dict] = {}  # association number -> (direction, context) -> _Msg

    # -- events -------------------------------------------------------------

    def feed(self, ev) -> None:
        t = type(ev)
        if t is PduSeen:
            self.count += 1
            if ev.pdu.end_ts_ns > self.now:
                self.now = ev.pdu.end_ts_ns
            h = self._pdu(ev)
            if self.verbose:
                h.extra.extend("    " + line for line in tree_lines(ev.pdu.tree(), base=0))
        elif t is DataSeen:
            if type(ev.event) is DataStarted:
                self._command_known(ev.association, ev.event.message)
        elif t is MessageSeen:
            self._command_known(ev.association, ev.message, done=True)
            if self.verbose:
                lines = [message_header(ev)]
                m = ev.message
                if m.command is not None:
                    lines.extend("        " + line for line in tree_lines(m.command.tree))
                if m.data is not None:
                    lines.extend("        " + line for line in tree_lines(m.data.tree))
                lines.extend(f"        [{f.severity}] {safe_text(f.message)}" for f in m.findings)
                self._extra(lines)
        elif t is Notice:
            where = f" (frame {ev.frame})" if ev.frame else ""
            self._extra([f"        [{ev.severity}] {ev.where}: {safe_text(ev.message)}{where}"])
        elif t is AssociationOpened:
            self.open += 1
        elif t is AssociationClosed:
            self.open = max(0, self.open - 1)
            self._closed(ev.association)
        self._flush()

    def finish(self) -> int:
        self._flush(force=True)
        return self.count

    def _extra(self, lines: list[str]) -> None:
        """Lines that go under the PDU line last reported (messages, notices), wherever it was put."""
        last = self.last
        if last is not None and self.queue and (last is self.queue[-1] or last in self.queue):
            last.extra.extend(lines)
        elif self.queue:
            self.queue[-1].extra.extend(lines)
        else:
            for line in lines:
                self.write(line)

    def _insert(self, h: _Held) -> None:
        """Into the queue by frame, but never before a PDU of the same direction of the same
        association (stream order wins when out-of-order segments made frames disagree with it)."""
        q = self.queue
        self.last = h
        if not q or q[-1].frame <= h.frame:
            q.append(h)
            return
        i = len(q)
        pdu = h.ev.pdu if h.ev is not None else None
        while i > 0:
            prev = q[i - 1]
            if prev.frame <= h.frame or (pdu is not None and prev.ev is not None
                                         and prev.ev.association is h.ev.association
                                         and prev.ev.pdu.direction == pdu.direction):
                break
            i -= 1
        q.insert(i, h)

    # -- P-DATA-TF ----------------------------------------------------------

    def _msg(self, assoc, key) -> _Msg:
        st = self.msgs.get(assoc.number)
        if st is None:
            st = self.msgs[assoc.number] = {}
        m = st.get(key)
        if m is None:
            m = st[key] = _Msg()
        return m

    def _pdu(self, ev: PduSeen) -> _Held:
        pdu = ev.pdu
        h = _Held(ev, self.t0(), max(pdu_frame(pdu), 0))
        if pdu.pdu_type != P_DATA_TF or not pdu.pdvs:
            h.text = pdu.info
            self._insert(h)
            return h
        for i, pdv in enumerate(pdu.pdvs):
            key = (pdu.direction, pdv.context_id)
            m = self._msg(ev.association, key)
            if pdv.is_command:
                if not m.in_cmd:                       # a new message on this context
                    if m.waiting is not None:           # the previous command never got known
                        self._release(m)
                    m.cmd, m.data, m.in_cmd = None, 0, True
                if pdv.is_last:
                    m.in_cmd = False
                    if m.early is not None:            # its DataStarted came before this line
                        m.cmd, m.early = m.early, None
                        m.used = m.cmd
                        h.known[key] = m.cmd
                    else:
                        h.waits.add(key)
                        m.waiting = h
                        m.waiters.append(h)
            else:
                m.data += pdv.value_length
                h.sizes[i] = m.data
                if m.cmd is not None:
                    h.known[key] = m.cmd
                elif m.waiting is not None:
                    h.waits.add(key)                   # data of a command whose line waits
                    m.waiters.append(h)
        if h.waits:
            self.held += 1
        else:
            h.text = self._info(h)
        self._insert(h)
        return h

    def _command_known(self, assoc, msg, done: bool = False) -> None:
        key = (msg.direction, msg.context_id)
        m = self._msg(assoc, key)
        cmd = msg.command
        if cmd is None or (done and m.used is cmd):
            return
        w = m.waiting
        if w is None:
            if not done:
                m.early = cmd                          # announced before its PDU's line
            return
        m.cmd = cmd
        m.used = cmd
        self._release(m, key, cmd)

    def _release(self, m: _Msg, key=None, cmd=None) -> None:
        """The lines waiting for ``m``'s command: with it (``cmd``), or with what is known."""
        for h in m.waiters:
            if h.text is None:
                h.waits.discard(key)
                if cmd is not None:
                    h.known[key] = cmd
                else:
                    h.waits.clear()
                if not h.waits:
                    h.text = self._info(h)
                    self.held -= 1
        m.waiters = []
        m.waiting = None

    def _closed(self, assoc) -> None:
        for m in self.msgs.pop(assoc.number, {}).values():
            self._release(m)

    def _info(self, h: _Held) -> str:
        pdu = h.ev.pdu
        parts = []
        for i, pdv in enumerate(pdu.pdvs[:INFO_PDVS]):
            cmd = h.known.get((pdu.direction, pdv.context_id))
            role = "Last" if pdv.is_last else "More"
            if pdv.is_command:
                if pdv.is_last and cmd is not None and cmd.command_field is not None:
                    parts.append(f"{command_info(cmd)} (Command, Last)")
                else:
                    parts.append(f"ctx {pdv.context_id} Command ({role}) {size_text(pdv.value_length)}")
                continue
            size = size_text(pdv.value_length)
            total = h.sizes.get(i, pdv.value_length)
            if pdv.is_last and total != pdv.value_length:
                size += f", data set {size_text(total)}"
            if cmd is not None and cmd.command_field is not None:
                ident = cmd.responds_to if cmd.command_field & 0x8000 else cmd.message_id
                parts.append(f"{cmd.name} ID={ident if ident is not None else '?'} Data ({role}) {size}")
            else:
                parts.append(f"ctx {pdv.context_id} Data ({role}) {size}")
        if len(pdu.pdvs) > INFO_PDVS:
            parts.append(f"… (+{len(pdu.pdvs) - INFO_PDVS} PDVs)")
        return "P-DATA-TF " + "; ".join(parts)

    # -- output -------------------------------------------------------------

    def _flush(self, force: bool = False) -> None:
        q = self.queue
        while q:
            head = q[0]
            everything = force or self.open == 0 or self.held > MAX_HELD
            if head.text is None:
                if not everything:
                    return
                head.text = self._info(head)         # written with what is known
                self.held -= 1
                self._forget(head)
            elif not everything and len(q) <= self.window and self.now - head.ev.pdu.end_ts_ns < HOLD_NS:
                return
            q.popleft()
            self.write(pdu_line(head.ev, head.t0, head.text))
            for line in head.extra:
                self.write(line)

    def _forget(self, h: _Held) -> None:
        """A line written before its command was known: the lines waiting with it need not wait longer."""
        for m in self.msgs.get(h.ev.association.number, {}).values():
            if h in m.waiters:
                self._release(m)


def write_dump(events: Iterable, write: Callable[[str], None], *, verbose: bool, t0: Callable[[], int],
               window: int | None = None) -> int:
    """Write dump lines for ``events``; returns the number of PDUs shown.

    ``window``: lines kept back to put late ones (PDUs cut by a close) in frame order.
    """
    w = DumpWriter(write, verbose=verbose, t0=t0, window=window)
    for ev in events:
        w.feed(ev)
    return w.finish()
