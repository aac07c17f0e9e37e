"""Response times of DIMSE exchanges, and their statistics (Wireshark's Service Response Time).

One computation for every view: the ladder's time column, the viewer's statistics
screen and its ``rtt`` filter all read :func:`exchange_times`.

A time runs from the end of the request (the capture's timestamp of its last
byte: from then on the responder has all it needs) to the start of a response
(the timestamp of its first byte), as the ``slow-response`` rule measures it:

- ``first``: request → first response (a C-FIND's first match, a C-MOVE's first pending);
- ``final``: request → final response (the one whose status is not Pending, PS3.7 §9.1.2).

A request without a response, or a response whose request the capture lacks, has no time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..dimse.commands import service_of

__all__ = ["ExchangeTimes", "Stat", "exchange_times", "percentile", "response_stats", "rtt_ns",
           "sent_ns", "since_request_ns"]


@dataclass(frozen=True, slots=True)
class ExchangeTimes:
    """Nanoseconds from the request's end to the first and the final response (None: not seen)."""

    first_ns: int | None
    final_ns: int | None


def sent_ns(ex) -> int | None:
    """When the request was completely sent (its last byte's timestamp); None without a request."""
    req = getattr(ex, "request", None)
    if req is None:
        return None
    return req.end_ts_ns or req.ts_ns


def exchange_times(ex) -> ExchangeTimes:
    """Request → first response and request → final response of one exchange; never raises."""
    try:
        sent = sent_ns(ex)
        if sent is None or not ex.responses:
            return ExchangeTimes(None, None)
        first = ex.responses[0].ts_ns - sent
        final_msg = ex.final
        final = final_msg.ts_ns - sent if final_msg is not None else None
        return ExchangeTimes(first, final)
    except (AttributeError, TypeError, IndexError):
        return ExchangeTimes(None, None)


def rtt_ns(ex) -> int | None:
    """Request → final response (the ``rtt`` of the filter language); None while unanswered."""
    return exchange_times(ex).final_ns


def since_request_ns(ex, message) -> int | None:
    """For a response row: the time from its request's end to this response's start (None otherwise)."""
    try:
        sent = sent_ns(ex)
        if sent is None or message is None or message is ex.request:
            return None
        return message.ts_ns - sent
    except (AttributeError, TypeError):
        return None


def percentile(values: list[int], p: float) -> int | None:
    """The nearest-rank ``p`` percentile (0 < p ≤ 100) of ``values``: an observed value, never interpolated."""
    if not values:
        return None
    s = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(s)))
    return s[min(len(s), rank) - 1]


def median(values: list[int]) -> float | None:
    """The median (the mean of the two middle values for an even count)."""
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return float(s[mid]) if n % 2 else (s[mid - 1] + s[mid]) / 2


@dataclass(slots=True)
class Stat:
    """Response times of one group (a command, or a command at one responding peer), in nanoseconds."""

    command: str
    peer: str = ""
    final: list[int] = field(default_factory=list)
    first: list[int] = field(default_factory=list)
    unanswered: int = 0

    @property
    def count(self) -> int:
        return len(self.final)

    def summary(self, which: str = "final") -> dict:
        """count, min, median, p95, max (nanoseconds; None when no time was measured)."""
        values = self.final if which == "final" else self.first
        return {"count": len(values), "min": min(values, default=None), "median": median(values),
                "p95": percentile(values, 95), "max": max(values, default=None)}


def responder(a, ex) -> str:
    """The peer that answered: AE title and address (the SCP of the exchange, whichever side opened)."""
    if ex.request is not None:
        client_asked = ex.request.direction == a.client_dir
    else:
        client_asked = not ex.responses or ex.responses[0].direction != a.client_dir
    if client_asked:
        ae, ep = a.called_ae, a.server
    else:
        ae, ep = a.calling_ae, a.client
    return f"{(ae or '?').strip()} {ep}"


def response_stats(associations) -> tuple[list[Stat], list[Stat]]:
    """(by command, by responding peer and command), each sorted by name; from every kept exchange.

    Exchanges without a request in the capture are left out; requests never answered are
    counted in ``unanswered``.
    """
    by_cmd: dict[str, Stat] = {}
    by_peer: dict[tuple[str, str], Stat] = {}
    for a in list(associations):
        for ex in list(a.exchanges):
            if ex.request is None:
                continue
            cmd = service_of(ex.command_field)
            peer = responder(a, ex)
            groups = (by_cmd.setdefault(cmd, Stat(cmd)), by_peer.setdefault((peer, cmd), Stat(cmd, peer)))
            t = exchange_times(ex)
            for g in groups:
                if t.final_ns is None:
                    g.unanswered += 1
                else:
                    g.final.append(t.final_ns)
                if t.first_ns is not None:
                    g.first.append(t.first_ns)
    return ([by_cmd[k] for k in sorted(by_cmd)], [by_peer[k] for k in sorted(by_peer)])
