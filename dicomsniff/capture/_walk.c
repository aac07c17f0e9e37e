/* The compiled record walk of the analyzer's fast path (issue 18, item 5).
 *
 * walk() reads consecutive capture records of a reader's chunk buffer and takes, without returning to
 * Python, every record that Analyzer.feed_record would finish with `return ()` through
 *   (a) the pure-ACK branch (no payload, a known flow, the peer not waiting, or waiting behind a hole this
 *       ACK does not reach past), or
 *   (b) the _advance branch (in-order payload on a direction whose framer lane is armed, fewer bytes
 *       than the lane's budget: pdv_left for a message/orphan lane, pdv_skip for a skip lane; the first
 *       bytes of a PDV after a loss count one more orphan PDV, as _advance does), or
 *   (c) the buffer_after branch (payload continuing the bytes held after a hole the receiver has not
 *       acknowledged yet, or beginning past them after a new hole: appended to x.pending as a
 *       reassembly._Piece, within the buffer bound), or the hold branch (the first segment after a hole:
 *       hold_first), or
 *   (d) the _pdu_step branch that returns no event: on a _NEXT lane (a P-DATA-TF of a data set nobody reads
 *       just ended), a segment that begins the next one and ends inside its PDV (begin_pdu) — DCMTK on a
 *       TCP_NODELAY socket sends each P-DATA-TF's 12 header bytes as a segment of their own, or
 *   (e) the in-order branch whose bytes the framer only holds (PduFramer.hold_candidate): searching for the
 *       next PDU after a loss, with a candidate that needs more bytes than the segment brings, or
 *   (f) with an analyzer that counts quiet PDUs (Analyzer(quiet_pdus=True): summary, diagnose, export --no-trees,
 *       whose records of them the walk writes into Analyzer.quiet_out), the _pdu_step
 *       branch whose P-DATA-TFs are all counted, none emitted (end_quiet calls Analyzer._quiet_hook): the walk
 *       goes on past the ends of a data set's PDUs, or
 *   (g) for those analyzers (they give the hooks), the records around a capture loss that feed_record
 *       would answer with events: the pure ACK that declares a hole a gap (Analyzer._flush_hook) and the first
 *       segment after a hole already acknowledged (Analyzer._hold_hook). The walk applies what it took, calls the
 *       hook, arms its table again and goes on; a hook that made events leaves them in Analyzer._stash and the walk
 *       ends after that record, unless they are events the consumer reads the same later (notices, PDUs that carry
 *       their quiet counts: Analyzer._hook_done; with quiet_out they wait there, in order with its records:
 *       Analyzer._ordered_out). Before it holds the first segment after a hole inside a lane's
 *       data PDV, it reads the records after it (hole_settled): when the receiver's ACK past the hole comes before
 *       anything that would make an event, the hole is a gap at once (gap_ahead, Analyzer._take_gap) and the segment
 *       and those after it go on in order, as they would once held and delivered at that ACK. The usual holes,
 *       inside a message's or an after-loss lane's data PDV, and the ends of the P-DATA-TFs they cut, the walk takes
 *       itself (gap_pdv, cut_end: the framer's and the message's changes, and the association's counts, which wait
 *       with the quiet PDUs' once they make no finding: past the association's findings bound, MAX_FINDINGS; not
 *       with quiet_out, whose records of cut PDUs Python writes: Analyzer._cut_line).
 * A lane whose collector still keeps bytes (f.fast_feed) is left to Python: only it feeds collectors.
 * take_held() does (b), (e) and, for those analyzers, (f) for the pieces held after a hole, when the
 * receiver's ACK has them delivered (Analyzer._take_held).
 * It stops at the first record it cannot take and returns where that record starts, so the reader
 * yields it to Python as before (CaptureReader._walk_hook, Analyzer._walk_hook).
 *
 * Before walking it arms a small table from the reassembly directions it is given (arm(): the flow key,
 * whether pure ACKs may be taken, the lane's raw sequence number, budget, span capacities, read from the
 * same attributes feed_record reads); while walking it only counts, per direction; after, it applies
 * what it took in one step per direction (settle(): the reassembler's next offset and last frame, the
 * stream's last frame and time, the peer's ACK, the framer's remainders, offset and end time, the new
 * spans within their limits and `dropped` beyond, the message's end time, its collector's length).
 * Attribute access goes through the objects' slots, so the Python classes stay the one definition.
 *
 * Only plain CPython C API: the extension is optional (setup.py), the pure-Python path is the fallback.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <stdarg.h>
#include <signal.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define AVX2_SCAN 1
#endif

#define MAX_ENTRIES 8          /* directions: both of four streams */
#define MAX_IFACES 64
/* reader.SURELY_IN_CALENDAR: 2200-01-01 in ns. A pcapng stamp outside [0, this) goes to Python
 * (the reader's timestamp-out-of-range notice). */
#define SURELY_IN_CALENDAR (7258118400LL * 1000000000LL)
#define MAX_RECORD (256u << 20)

/* A function the walk's loop calls only around a capture loss: kept out of the loop's code (GCC and Clang). */
#if defined(__GNUC__)
#define RARE __attribute__((cold, noinline))
#else
#define RARE
#endif
#define B_EPB 6u

/* One direction of a stream (a value of TcpReassembler._flows, a reassembly._Dir) and what the walk may
 * take of it. The Python objects are held (strong references) for the walk's duration. */
typedef struct {
    PyObject *x, *st, *peer, *f, *m;   /* the _Dir, its _Stream, its peer _Dir, its framer, the lane's value */
    unsigned char key[12];      /* source IP, destination IP (4 bytes each), source, destination port (BE) */
    int full;                   /* the rest was read (lazily: at the first record of this direction) */
    int ack_ok;                 /* not x.peer.wait: its pure ACKs only record the acknowledgement */
    int ack_hole;               /* x.peer.wait: a pure ACK that does not reach past x.peer's first hole (or FIN)
                                 * only records the acknowledgement too (TcpReassembler._ack_flush finds nothing) */
    uint32_t hole_seq;          /* raw sequence number of x.peer's next expected byte: (peer.base + peer.nxt) */
    int armed;                  /* its framer lane is armed: in-order payload below the budget is advanced */
    int skip;                   /* the lane's budget is pdv_skip (the rest of a PDV a gap cut), not pdv_left */
    int data;                   /* a message lane: its data set's span map grows too (m.data_spans) */
    int next;                   /* the lane is _NEXT (a P-DATA-TF of a data set nobody reads just ended): a segment
                                 * that begins the next one and ends inside its one PDV is taken (begin_pdu) */
    PyObject *next_msg;         /* f.next_msg: the message (or _AFTER_LOSS) the next P-DATA-TF continues */
    int resync;                 /* the framer searches (f.fast None, f.state RESYNC) with a candidate that needs
                                 * budget more bytes: in-order payload below it is held (hold_candidate) */
    PyObject *rbuf, *rpieces;   /* f.rbuf (a bytearray) and f.rpieces of such a lane */
    long long next_ctx;         /* f.next_ctx: its presentation context */
    int counted;                /* an _AFTER_LOSS lane at a PDV's first bytes: taking some counts one PDV
                                 * (f.dicom.assembler.orphans_after_loss[f.direction] += 1, as _advance does) */
    uint32_t seq;               /* raw sequence number of the next in-order byte: (x.base + x.nxt) & 0xFFFFFFFF */
    long long budget;           /* n must stay below it (_advance) */
    long long fcap, flen;       /* f.spans: spans it may still store (limit - count), its length (unit offset) */
    long long dcap, dlen;       /* m.data_spans: the same */
    /* what the walk took */
    long long taken;            /* payload bytes advanced */
    long long last_data;        /* number of the last record whose payload was advanced (x.last_frame) */
    long long last_data_ts;     /* its time (f.end_ts, m.end_ts_ns) */
    long long last_any, last_any_ts;  /* the last record of this direction, any kind (st.last, st.ts) */
    uint32_t ack;               /* the last ACK this direction sent (x.peer.ack) */
    PyObject *fquads;           /* new spans: (unit offset, frame, frame offset, length) flat lists */
    PyObject *dquads;           /* the same for the data set, as machine integers (a bytearray: settle_raw) */
    long long fdrop, ddrop;     /* spans beyond the capacities (SpanMap.dropped) */
    /* held: bytes wait behind a hole (x.pending, no FIN, open, the last piece not cut): an in-order
     * continuation of the last piece is buffered (TcpReassembler.buffer_after), up to the buffer bound */
    int held;
    PyObject *pend;             /* x.pending */
    long long pend_end;         /* stream offset just past the last piece (seq = base + pend_end) */
    long long nxt_off;          /* x.nxt, the next byte to deliver (where a hole begins) */
    uint32_t nxt_seq;           /* its raw sequence number: a held segment's offset is reckoned from it, as
                                 * TcpReassembler._process does */
    long long held_room;        /* max_buffer - x.held: a segment may add at most this much */
    long long held_added;       /* bytes buffered by the walk (x.held grows by it) */
    int did_hold;               /* the walk held the first segment after a hole (hold_first): x is no longer ready */
    int stopped;                /* x.peer began to wait in this walk (hold_first): its payload is Python's */
    PyObject *assoc;            /* quiet_step: the association (f.dicom.assoc), read at its first call of a walk */
    /* a message lane whose collector keeps bytes (f.fast_feed, a DataSetCollector that is not inflating): the walk
     * appends the values to its _buf while it has room, as DataSetCollector.feed, and counts them (_advance) */
    PyObject *feed, *feedbuf;   /* the collector and its _buf (a bytearray) */
    long long room;             /* keep_limit - len(_buf) */
    long long fed;              /* bytes the collector was given (its length grows by them: settle_lane) */
    int saturated;              /* _buf is full: f.fast_coll = the collector, f.fast_feed = None (settle_lane) */
    long long coll_from;        /* then: d->taken when it filled (the bytes after it add to f.fast_coll.length) */
    /* the P-DATA-TFs quiet_step counted and not yet handed to the association (flush_quiet): the arguments of
     * Association.count_quiet, and when the last were counted (the walk's order of counting) */
    long long pcount, pbytes, pfirst, pstart, psecond, plast_first, plead, phi, plast, ptmin, ptmax, pend_ts, pctx,
              porder, pdir;
    /* of those, the P-DATA-TFs a capture loss cut (cut_end: Association.count_quiet_cut's counts, once it makes no
     * finding), and the (frame, holes, length) it would have kept of them (a list, or NULL) */
    long long pcuts;
    PyObject *pkept;
    /* the holes gap_pdv took and not yet handed to the association (Association.note_gaps: once note_gap makes no
     * finding and the direction had a hole before): how many, their bytes, the last one's frame and time */
    long long pgaps, pgbytes, pgframe, pgts;
    /* the segments held in this walk, not yet Python pieces (materialize: they join x.pending), in order: where
     * their payload is in the walk's buffer, their stream offset and length, frame, frame offset and time */
    struct Deferred { Py_ssize_t at; long long off, n, frame, fo, ts; } *def;
    int ndef, cdef;
    /* segments a walk before this one held, parked (park()) and given back to this entry (restore()): their bytes
     * (pbuf, owned; their Deferred.at reckoned from walk_base, as at_ptr() reads it); restored: x.ready and x.wait
     * are Python's values of the held path (settle set them), refreshed when the walk delivers what they held */
    unsigned char *pbuf;
    Py_ssize_t plen;            /* bytes used in pbuf */
    int restored;
} Entry;

/* What Association.quiet_ok reads of an association, as the walk moves it (quiet_step): read once a walk per
 * association and direction (Association.quiet_state), then kept here while the counts wait in the entries. */
typedef struct {
    PyObject *a;                /* the association (a strong reference) */
    long long max_end;          /* its latest PDU end, with the PDUs counted here */
    int ok;                     /* past its request */
    int read[2];                /* the direction's state is read */
    long long qctx[2];          /* the context of the direction's quiet PDUs PduFacts has not seen (-1: none) */
    long long limit[2];         /* the receiver's Maximum Length Received (0: none; -1: the hook's to compare) */
    long long cuts[2];          /* how many of the direction's quiet PDUs a capture loss cut (quiet[d][9]) */
    long long room[2];          /* how many more of those cuts it keeps (MAX_CUTS_KEPT) */
    int counts_only[2];         /* a hole of the direction and a cut PDU change only counts (no finding) */
} QAssoc;
static QAssoc qassoc[MAX_ENTRIES];
static int nqassoc;
static long long quiet_order;   /* quiet_step's acceptances in this walk */

typedef struct {
    int linktype;
    long long mul, div, off;
    int shift;
    int ok;                     /* its timestamp arithmetic fits the walk's integers */
} Iface;

static inline uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint32_t rd32(const unsigned char *p, int big) {
    return big ? be32(p) : ((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | (uint32_t)p[0]);
}

/* Append (unit offset, frame, frame offset, length) to a flat list: SpanMap.add_new, inline. */
static int add_quad(PyObject **list, long long *cap, long long *len, long long *drop,
                    long long frame, long long fo, long long n) {
    if (*cap > 0) {
        if (*list == NULL && (*list = PyList_New(0)) == NULL)
            return -1;
        long long v[4] = {*len, frame, fo, n};
        for (int i = 0; i < 4; i++) {
            PyObject *o = PyLong_FromLongLong(v[i]);
            if (o == NULL || PyList_Append(*list, o) < 0) {
                Py_XDECREF(o);
                return -1;
            }
            Py_DECREF(o);
        }
        (*cap)--;
    } else {
        (*drop)++;
    }
    *len += n;
    return 0;
}

static int ba_put(PyObject *ba, const void *src, Py_ssize_t k);
static int ba_put_upto(PyObject *ba, const void *src, Py_ssize_t k, Py_ssize_t most);

/* add_quad for a data set's spans (a typed SpanMap: its flat an array("q")): the quad as four machine integers
 * appended to the bytearray *raw. */
static int add_raw_quad(PyObject **raw, long long *cap, long long *len, long long *drop,
                        long long frame, long long fo, long long n) {
    if (*cap > 0) {
        if (*raw == NULL && (*raw = PyByteArray_FromStringAndSize(NULL, 0)) == NULL)
            return -1;
        long long v[4] = {*len, frame, fo, n};
        if (ba_put(*raw, v, sizeof v) < 0)
            return -1;
        (*cap)--;
    } else {
        (*drop)++;
    }
    *len += n;
    return 0;
}

/* Where an IPv4 header may start in buf[s:e] for a link type: Analyzer.feed_record's table
 * (Ethernet, Linux cooked v1/v2, raw IP, BSD loopback), -1 for anything else. */
static Py_ssize_t ip_start(int lt, const unsigned char *b, Py_ssize_t s, Py_ssize_t e) {
    Py_ssize_t len = e - s;
    switch (lt) {
    case 1:
        return len >= 54 && b[s + 12] == 8 && b[s + 13] == 0 ? s + 14 : -1;
    case 113:
        return len >= 56 && b[s + 14] == 8 && b[s + 15] == 0 ? s + 16 : -1;
    case 276:
        return len >= 60 && b[s] == 8 && b[s + 1] == 0 ? s + 20 : -1;
    case 101: case 228: case 12: case 14:
        return len >= 40 ? s : -1;
    case 0:
        return len >= 44 && (b[s] ? b[s] : b[s + 3]) == 2 ? s + 4 : -1;
    default:
        return -1;
    }
}

static int arm_rest(Entry *d);
static int arm_lane(Entry *d);
static int end_quiet(Entry *d, Py_ssize_t at, long long frame, long long fo, long long n, long long ts);
static int quiet_end(Entry *d, Entry *ent, int nent, PyObject *buf, const unsigned char *p, Py_ssize_t at,
                     long long frame, long long fo, long long n, long long ts);
/* Analyzer._quiet_hook of the walk under way, or NULL (ctx: the analyzer does not count quiet PDUs); the object
 * whose buffer the walk reads, and a memoryview of it made at the first call of the hook (walk() releases it). */
static PyObject *quiet_hook, *walk_obj, *walk_mv;
static PyObject *quiet_out;     /* Analyzer.quiet_out (a list: a record per quiet P-DATA-TF), or NULL */
/* Analyzer._flush_hook of the walk under way, or NULL; the direction and ACK of the record take() left to it. */
static PyObject *flush_hook, *flush_x;
static uint32_t flush_ack;
/* What hold_first leaves the look-ahead (it returned 4): the first segment after a hole (ahead_n bytes at raw sequence
 * ahead_seq of the flow ahead_key, whose hole begins at ahead_hole); with ahead_past, the receiver's ACK past the hole
 * (ahead_ack) is seen already. */
static uint32_t ahead_seq, ahead_hole, ahead_ack;
static int ahead_past;
static unsigned char ahead_key[12];
static Py_ssize_t ahead_n;
/* Analyzer._take_gap (hold_first's look-ahead: gap_ahead), or NULL */
static PyObject *take_gap_hook;
/* Analyzer._search_hook of the walk under way, or NULL; the direction whose held candidate bytes the record take()
 * left to it completes (it returned 5). */
static PyObject *search_hook, *search_x;
/* Analyzer._drain_hook of the walk under way, or NULL: what flush_c leaves to Python. */
static PyObject *drain_hook;
/* ACK flushes of segments held since an earlier walk it did in the walk (flush_mixed: stats() "mixed"), and
 * Analyzer._seal_hook calls in flushes (stats() "sealed") */
static long long st_mixed, st_sealed;
/* Analyzer._seal_hook of the walk under way, or NULL: in a flush of held segments, a hole gap_pdv does not declare
 * and a segment the lane does not take, each given to Python alone under the held path's sealing; the walk's ctx. */
static PyObject *seal_hook, *walk_ctx_arg;
/* What the walk did of the flushes of held segments since the module was loaded (stats(): for tests and benches):
 * ACK flushes done in the walk from its own buffer (flush_deferred), segments delivered so, flushes it began and
 * left to the drain hook, and flushes flush_c did without Python. */
static long long st_flushed, st_delivered, st_drained, st_flush_c;
/* Analyzer._hold_hook of the walk under way, or NULL; the direction, payload (at in the buffer, n bytes, at fo in its
 * frame), sequence number and ACK of the record take() left to it. */
static PyObject *hold_hook, *hold_x;
static Py_ssize_t hold_at, hold_n;
static uint32_t hold_seq, hold_ack;
static long long hold_fo;
static const unsigned char *walk_base;     /* the buffer's bytes */
static Py_ssize_t walk_len;                 /* and their number */
/* The bytes at `at` from walk_base: a record's payload in the walk's buffer (0 <= at < walk_len), or a restored
 * segment's in its entry's pbuf (a separate allocation: at is the difference of the two addresses, reckoned in
 * unsigned integers so that no pointer leaves its object). */
static inline const unsigned char *at_ptr(Py_ssize_t at) {
    return (const unsigned char *)((uintptr_t)walk_base + (uintptr_t)at);
}
static int quiet_step(Entry *d, const unsigned char *p, Py_ssize_t n, long long frame, long long fo, long long ts);
static int arm_resync(Entry *d);
static int begin_pdu(Entry *d, const unsigned char *p, Py_ssize_t n, long long frame, long long fo, long long ts);
/* reassembly._Piece and TcpReassembler.max_buffer of the walk under way (from its ctx argument). */
static PyObject *piece_type;
static long long max_buffer;
static PyObject *pdv_type;      /* ul.pdus.Pdv (ctx; declared with the other ctx values below) */

static PyObject *flush_c(PyObject *xa, long long number, long long ts, uint32_t ack);
static int defer_piece(Entry *d, const unsigned char *p, long long n, long long off, long long frame, long long fo,
                       long long ts);
/* Segments held at a walk's end, parked: kept here (their bytes copied, one buffer a direction) instead of made
 * Python pieces, and given back to the next walk that arms their direction (restore()), which goes on holding and
 * delivers them from that buffer as from its own; made pieces (unpark_at) only when something else must see them
 * in x.pending first: a record of their stream that Python takes (Analyzer.feed_record, feed; but one that continues
 * them is parked after them, park_after, and an ACK past their hole flushed as the walk flushes one, flush_parked),
 * a hook for their stream, the end of the capture (Analyzer.finish). Meanwhile x.held counts them (x.pending does
 * not) and their stream's `parked` is True. A walk's end parks only for the analyzers whose walk delivers held
 * segments itself (the drain hook: summary, diagnose, export --no-trees), where most of them are: another
 * association's hook made events, so the walk had to end (~50,000 pieces on the lossy copy of issue 18), or the
 * mapped window ended. */
typedef struct {
    PyObject *x, *st, *flows;   /* the _Dir, its _Stream, and the analyzer's flows (TcpReassembler._flows) */
    struct Deferred *def;       /* its segments in order, Deferred.at an offset into buf */
    int ndef, cdef;
    unsigned char *buf;
    Py_ssize_t len;             /* bytes used in buf (those of segments delivered since included) */
} Park;
static Park *parks;
static int nparks, cparks;
static long long st_parked, st_restored, st_unparked;   /* segments parked, given back to a walk, made pieces */

static int materialize(Entry *d, int i);
static int park_of(PyObject *x);
static int unpark_at(int i);
static int restore(Entry *d, int i);
static int flush_deferred(Entry *ent, int nent, Entry *d, uint32_t ack, long long number, long long ts);
static long long take_pending(Entry *e, long long off, int quiet);
static int refresh_dir(PyObject *d);
static int hook_record(PyObject *xa, long long number, long long ts, uint32_t ack);
static int walk_ctx(PyObject *ctx);
static int quiet_sink(PyObject *out, PyObject *parts, PyObject *iso);
static PyObject *new_piece(long long off, long long end, const char *data, Py_ssize_t n, long long frame,
                           long long foff, long long ts);
static int hold_first(Entry *ent, int nent, Entry *d, const unsigned char *p, Py_ssize_t n, uint32_t seq,
                      uint32_t rack, long long frame, long long fo, long long ts, int look);
static int hole_settled(const Entry *ent, int nent);
static int gap_ahead(Entry *ent, int nent, Entry *d, long long frame, long long ts);
static int gap_pdv(Entry *d, long long nxt, long long to, long long frame, long long ts);
static int cut_end(Entry *ent, int nent, Entry *d, long long frame, long long fo, long long n, long long ts);
static int cut_cross(Entry *ent, int nent, Entry *d, const unsigned char *p, long long n, long long frame,
                     long long fo, long long ts);

/* n payload bytes of frame (at ts) taken on d's lane: its budget, the bytes to settle, the last data record. */
static inline void took(Entry *d, long long n, long long frame, long long ts) {
    d->budget -= n;
    d->taken += n;
    d->last_data = frame;
    d->last_data_ts = ts;
}

/* The spans of n bytes at fo in frame taken on d's lane: the framer's, and a message lane's data set's. 0, -1. */
static int add_spans(Entry *d, long long frame, long long fo, long long n) {
    if (add_quad(&d->fquads, &d->fcap, &d->flen, &d->fdrop, frame, fo, n) < 0)
        return -1;
    return d->data ? add_raw_quad(&d->dquads, &d->dcap, &d->dlen, &d->ddrop, frame, fo, n) : 0;
}

/* PduFramer.hold_candidate for p[0:n] (at fo in frame, at ts) on d's searching lane: a piece [index in rbuf, frame,
 * frame offset, ts] and the bytes appended, and taken on the lane (took). 0, -1 error. */
static int hold_bytes(Entry *d, const unsigned char *p, Py_ssize_t n, long long frame, long long fo, long long ts) {
    Py_ssize_t at = PyByteArray_GET_SIZE(d->rbuf);
    PyObject *piece = Py_BuildValue("[nLLL]", at, frame, fo, ts);
    if (piece == NULL)
        return -1;
    int r = PyList_Append(d->rpieces, piece);
    Py_DECREF(piece);
    if (r < 0 || ba_put(d->rbuf, p, n) < 0)
        return -1;
    took(d, n, frame, ts);
    return 0;
}

/* take()'s steps for the payload of n bytes at pstart in the walk's buffer (raw sequence number seq; frame `number`,
 * fo into it, time ts) on d's lane that is not searching: the next P-DATA-TF begins (begin_pdu, _pdu_step), the PDV
 * ends there and the PDUs it ends are counted (end_quiet), or it is advanced (_advance, the collector fed). 1 taken,
 * 0 not, -1 error. */
static inline __attribute__((always_inline)) int in_order(Entry *d, Py_ssize_t pstart, Py_ssize_t n, uint32_t seq,
                                                         long long number, long long fo, long long ts) {
    const unsigned char *p = at_ptr(pstart);
    if (d->next) {                                      /* _pdu_step: the next P-DATA-TF begins */
        if (seq != d->seq)
            return 0;
        int r = begin_pdu(d, p, n, number, fo, ts);
        if (r == 0 && quiet_hook != NULL)               /* and more: quiet PDUs only? */
            r = end_quiet(d, pstart, number, fo, (long long)n, ts);
        return r;
    }
    if (n >= d->budget && quiet_hook != NULL) {         /* the PDV ends here: its PDU and those after counted? */
        if (!d->armed || seq != d->seq)
            return 0;
        return end_quiet(d, pstart, number, fo, (long long)n, ts);
    }
    if (!d->armed || seq != d->seq || n >= d->budget)   /* _advance: in order, below the budget */
        return 0;
    if (add_spans(d, number, fo, n) < 0)
        return -1;
    if (d->feed != NULL && !d->saturated) {             /* DataSetCollector.feed */
        long long k = n < d->room ? n : d->room;
        if (k > 0 && ba_put_upto(d->feedbuf, p, (Py_ssize_t)k,
                                 PyByteArray_GET_SIZE(d->feedbuf) + (Py_ssize_t)d->room) < 0)
            return -1;
        d->room -= k;
        d->fed += n;
        if (d->room <= 0) {
            d->saturated = 1;
            d->coll_from = d->taken + n;
        }
    }
    d->seq += (uint32_t)n;
    took(d, n, number, ts);
    return 1;
}

/* Take the record buf[s:e] (frame `number`, time `ts`) if feed_record would finish it with `return ()`
 * through the pure-ACK or the _advance branch; 1 taken, 0 not, -1 error (memory); 2: a pure ACK that reaches past
 * the first hole of bytes held (feed_record's flush), left to Analyzer._flush_hook (flush_x, flush_ack); 3: the first
 * segment after a hole the receiver has acknowledged already (feed_record's hold, then a gap), left to
 * Analyzer._hold_hook (hold_x and the others); 5: a segment taken that completes the bytes a search's candidate
 * needs (held, as PduFramer._resync holds them before it searches), the search left to Analyzer._search_hook
 * (search_x); 6: a pure ACK past the first hole of what the walk held (2's case) whose flush it began
 * (flush_deferred) and left to Analyzer._drain_hook (flush_x, flush_ack). */
static inline Entry *entry_of(Entry *ent, int nent, const unsigned char *h) {
    for (int i = 0; i < nent; i++)                      /* self._flows.get((src, sport, dst, dport)) */
        if (memcmp(h + 12, ent[i].key, 8) == 0 && memcmp(h + 20, ent[i].key + 8, 4) == 0)
            return &ent[i];
    return NULL;
}

/* The entry of the record b[s:e]'s flow (an IPv4 TCP segment as take() reads one), NULL none: where the walk
 * stopped, Python's next. */
static Entry *record_entry(Entry *ent, int nent, int lt, const unsigned char *b, Py_ssize_t s, Py_ssize_t e) {
    Py_ssize_t ip = ip_start(lt, b, s, e);
    if (ip < 0 || b[ip] != 0x45 || ip + 40 > e || b[ip + 9] != 6)
        return NULL;
    return entry_of(ent, nent, b + ip);
}

static int take(Entry *ent, int nent, int lt, const unsigned char *b, Py_ssize_t s, Py_ssize_t e,
                long long number, long long ts, long long *last_number, long long *last_ts) {
    Py_ssize_t ip = ip_start(lt, b, s, e);
    if (ip < 0 || b[ip] != 0x45)
        return 0;
    const unsigned char *h = b + ip;
    Py_ssize_t total = be16(h + 2);
    unsigned frag = be16(h + 6), proto = h[9], doff = h[32], flags = h[33];
    if (proto != 6 || (flags != 0x10 && flags != 0x18) || (frag & 0x3FFF) || total < 40 || doff < 0x50
            || ip + total > e)
        return 0;
    Entry *d = entry_of(ent, nent, h);
    if (d == NULL)
        return 0;
    if (!d->full && arm_rest(d) < 0)
        return -1;
    Py_ssize_t pstart = ip + 20 + ((doff >> 4) << 2);
    Py_ssize_t n = ip + total - pstart;
    if (n < 0)                                          /* a TCP header longer than its IP packet: Python's */
        return 0;
    int retaken = 0, searched = 0;
retake:
    if (n == 0) {                                       /* a pure ACK */
        if (pstart > e)
            return 0;
        if (!(d->ack_ok || (d->ack_hole && (int32_t)(be32(h + 28) - d->hole_seq) <= 0))) {
            if (!d->ack_hole || flush_hook == NULL)
                return 0;
            int fr = flush_deferred(ent, nent, d, be32(h + 28), number, ts);
            if (fr < 0)
                return -1;
            if (fr != 1) {
                flush_x = d->x;                         /* it reaches past the hole: the flush hook's (2), or the rest
                                                         * of what flush_deferred began, the drain hook's (6) */
                flush_ack = be32(h + 28);
                return fr == 6 ? 6 : 2;
            }
        }
    } else if (d->stopped) {                            /* (feed_record's lanes need the peer not waiting) */
        return 0;
    } else if (d->held) {                               /* buffer_after: continues the last piece, or */
        long long off = d->nxt_off + (int32_t)(be32(h + 24) - d->nxt_seq);     /* begins after a new hole */
        if (off < d->pend_end || n > d->held_room)
            return 0;
        if (defer_piece(d, b + pstart, n, off, number, (long long)(pstart - s), ts) < 0)
            return -1;
        d->seq = be32(h + 24) + (uint32_t)n;
        d->pend_end = off + n;
        d->held_room -= n;
        d->held_added += n;
    } else if ((d->armed || d->next || d->resync) && (int32_t)(be32(h + 24) - d->seq) > 0) {
        int r = hold_first(ent, nent, d, b + pstart, n, be32(h + 24), be32(h + 28), number, (long long)(pstart - s),
                           ts, !retaken);
        if (r == 4) {           /* a hole inside (or to the end of) the lane's PDV: do the records after it settle
                                 * it as a loss? */
            r = (ahead_past ? (int32_t)(ahead_ack - ahead_seq) >= 0 : hole_settled(ent, nent))
                ? gap_ahead(ent, nent, d, number, ts) : 0;
            if (r < 0)
                return -1;
            if (r == 1) {       /* a gap: the segment is in order now */
                retaken = 1;
                goto retake;
            }
            r = hold_first(ent, nent, d, b + pstart, n, be32(h + 24), be32(h + 28), number, (long long)(pstart - s),
                           ts, 0);      /* else held as before */
        }
        if (r != 1)                                     /* TcpReassembler.hold: the first segment after a hole */
            return r;
    } else if (d->resync) {                             /* hold_candidate: in order, below the budget */
        if (be32(h + 24) != d->seq || (n >= d->budget && search_hook == NULL))
            return 0;
        if (hold_bytes(d, b + pstart, n, number, (long long)(pstart - s), ts) < 0)
            return -1;
        d->seq += (uint32_t)n;
        if (d->budget <= 0) {                           /* the bytes the candidate needs: PduFramer._resync's search, */
            search_x = d->x;                            /* left to the search hook */
            searched = 1;
        }
    } else {
        int r = in_order(d, pstart, n, be32(h + 24), number, (long long)(pstart - s), ts);
        if (r <= 0)
            return r;
    }
    d->ack = be32(h + 28);
    d->last_any = number;
    d->last_any_ts = ts;
    *last_number = number;
    *last_ts = ts;
    return searched ? 5 : 1;
}

/* The per-record sink (the viewer's frame index: file offset, length, time of every record, walked or not):
 * three bytearrays the walk appends native integers to, of the widths the index's arrays have now, and the
 * file offset of the buffer's first byte. A record whose offset or length does not fit stops the walk (the
 * index widens in Python). */
typedef struct {
    PyObject *offs, *lens, *times;
    int osize, nsize;
    long long base;
} Sink;

/* ba += src[0:k]. A bytearray grows by an eighth when it must (PyByteArray_Resize), so appending a segment at a time
 * copies what it holds some eight times over; here it grows by half: the first resize asks for 1.5 times the new
 * size (an exact allocation), the second sets the size within it (no copy). */
static int ba_put(PyObject *ba, const void *src, Py_ssize_t k) {
    return ba_put_upto(ba, src, k, PY_SSIZE_T_MAX);
}

/* ba_put for a bytearray that will never hold more than `most` bytes (a collector's _buf: its keep_limit): it grows
 * by half at most up to that. */
static int ba_put_upto(PyObject *ba, const void *src, Py_ssize_t k, Py_ssize_t most) {
    Py_ssize_t n = PyByteArray_GET_SIZE(ba), want = n + k;
    Py_ssize_t grow = want < most - want / 2 ? want + want / 2 : most;
    if (want >= ((PyByteArrayObject *)ba)->ob_alloc && want > 64 && grow > want
            && PyByteArray_Resize(ba, grow) < 0)
        return -1;
    if (PyByteArray_Resize(ba, want) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(ba) + n, src, (size_t)k);
    return 0;
}

/* 1: the record fits the sink's widths (or there is no sink); 0: it does not. */
static int sink_fits(const Sink *k, Py_ssize_t s, Py_ssize_t e) {
    if (k == NULL)
        return 1;
    unsigned long long off = (unsigned long long)(k->base + s), len = (unsigned long long)(e - s);
    return (k->osize == 8 || off <= 0xFFFFFFFFULL) && (k->nsize == 4 || len <= 0xFFFFULL);
}

static int sink_put(const Sink *k, Py_ssize_t s, Py_ssize_t e, long long ts) {
    if (k == NULL)
        return 0;
    unsigned long long off = (unsigned long long)(k->base + s), len = (unsigned long long)(e - s);
    uint64_t o8 = off;
    uint32_t o4 = (uint32_t)off, n4 = (uint32_t)len;
    uint16_t n2 = (uint16_t)len;
    int64_t t = ts;
    if ((k->osize == 8 ? ba_put(k->offs, &o8, 8) : ba_put(k->offs, &o4, 4)) < 0
            || (k->nsize == 4 ? ba_put(k->lens, &n4, 4) : ba_put(k->lens, &n2, 2)) < 0
            || ba_put(k->times, &t, 8) < 0)
        return -1;
    return 0;
}

/* One record for the walk: 1 taken (and given to the sink), 0 not (the walk stops there), -1 error. */
static int take_record(Entry *ent, int nent, int lt, const unsigned char *b, Py_ssize_t s, Py_ssize_t e,
                       long long number, long long ts, long long *last_number, long long *last_ts,
                       const Sink *sink) {
    if (!sink_fits(sink, s, e))
        return 0;
    int t = take(ent, nent, lt, b, s, e, number, ts, last_number, last_ts);
    if (t <= 0)
        return t;
    return sink_put(sink, s, e, ts) < 0 ? -1 : t;
}

/* A record the walk may look at: its frame bytes [s, e), link type, time, and where the next record starts. */
typedef struct {
    Py_ssize_t s, e, next;
    int lt;
    long long ts;
} Rec;

/* The classic pcap record at pos (the reader's _iter_pcap; draft-ietf-opsawg-pcap §5): 1, or 0 when it is the
 * reader's to read (past the chunk: a refill; a frame cut by the snap length). */
static int pcap_record(const unsigned char *b, Py_ssize_t size, Py_ssize_t pos, int big, long long tick,
                       Py_ssize_t hdr, int lt, Rec *rec) {
    if (pos + hdr > size)
        return 0;
    const unsigned char *r = b + pos;
    uint32_t sec = rd32(r, big), frac = rd32(r + 4, big), caplen = rd32(r + 8, big), orig = rd32(r + 12, big);
    rec->s = pos + hdr;
    rec->e = rec->s + (Py_ssize_t)caplen;
    if ((Py_ssize_t)caplen > size || rec->e > size || caplen < orig)
        return 0;
    rec->next = rec->e;
    rec->lt = lt;
    rec->ts = (long long)sec * 1000000000LL + (long long)frac * tick;
    return 1;
}

/* The pcapng Enhanced Packet Block at pos (§4.3): 1, or 0 for any other block, a cut or odd one, an unknown
 * interface or a time the reader must judge. */
static int pcapng_record(const unsigned char *b, Py_ssize_t size, Py_ssize_t pos, int big, const Iface *ifc,
                         int nifc, Rec *rec) {
    if (pos + 28 > size)
        return 0;
    const unsigned char *r = b + pos;
    uint32_t btype = rd32(r, big), blen = rd32(r + 4, big), iface = rd32(r + 8, big), hi = rd32(r + 12, big),
             lo = rd32(r + 16, big), caplen = rd32(r + 20, big), orig = rd32(r + 24, big);
    if (btype != B_EPB || blen < 32 || (blen & 3) || blen > MAX_RECORD || pos + (Py_ssize_t)blen > size
            || iface >= (uint32_t)nifc || !ifc[iface].ok)
        return 0;
    rec->s = pos + 28;
    rec->e = rec->s + (Py_ssize_t)caplen;
    if (rec->e > pos + (Py_ssize_t)blen - 4 || caplen < orig)
        return 0;
    const Iface *f = &ifc[iface];
    unsigned __int128 units = (unsigned __int128)((uint64_t)hi << 32 | lo);
    unsigned __int128 q = ((units * (unsigned __int128)f->mul) >> f->shift) / (unsigned __int128)f->div;
    if (q >= (unsigned __int128)SURELY_IN_CALENDAR)
        return 0;
    if (__builtin_add_overflow((long long)q, f->off, &rec->ts) || rec->ts < 0 || rec->ts >= SURELY_IN_CALENDAR)
        return 0;
    rec->next = pos + (Py_ssize_t)blen;
    rec->lt = f->linktype;
    return 1;
}

/* Records the look-ahead reads at most before it holds the segment after a hole as before (look_ahead()). A receiver
 * may acknowledge a megabyte at a time (storescp on loopback: ~700 segments between two ACKs), but 4,096 records
 * let the walk's fuzzer find an input whose events differ from the pure path's (bench/README.md, 4 December): the
 * segments after a hole settled so far ahead are framed outside the held path's sealing. */
static int ahead_records = 256;

/* What the look-ahead reads the records after the walk's current one with: the walk's buffer and record format
 * (walk()'s arguments), and where the record after the current one starts. */
typedef struct {
    const unsigned char *b;
    Py_ssize_t size;
    int fmt, big;
    long long tick;
    Py_ssize_t hsize;
    int lt;
    const Iface *ifc;
    int nifc;
    Py_ssize_t next;
} AheadSrc;
static AheadSrc ahead_src;

/* hold_first's look-ahead: whether the records after the walk's current one (the first segment after a hole: ahead_n
 * bytes at raw sequence ahead_seq, the hole beginning at ahead_hole; ahead_key its flow) settle the hole as a loss
 * while nothing else would make an event: the receiver's pure ACK reaches past the hole to the segment, and until then
 *   - the sender's records are segments that TcpReassembler.buffer_after would hold (in order after the last, or past
 *     it after a new hole; within the buffer bound) and pure ACKs,
 *   - the receiver's are pure ACKs that do not reach into the hole (they only record the acknowledgement), and
 *   - those of other directions in the walk's table (ent[0:nent]: associations in parallel) are what take() takes
 *     without an event: pure ACKs that do not flush, payload below an armed lane's budget or held after a hole.
 * Then holding the sender's segments and delivering them at that ACK (the gap first) changes nothing that delivering
 * them now, after the gap, does not (Analyzer._take_gap: the hole inside the lane's PDV), and the events come in the
 * same order. 1, 0. */
static int hole_settled(const Entry *ent, int nent) {
    const AheadSrc *w = &ahead_src;
    const unsigned char *b = w->b;
    const unsigned char *key = ahead_key;
    uint32_t expect = ahead_seq + (uint32_t)ahead_n;
    long long held = (long long)ahead_n;
    uint32_t seq[MAX_ENTRIES];          /* the other directions' next in-order byte and budget, as take() moves them, */
    long long budget[MAX_ENTRIES], pend_end[MAX_ENTRIES], room[MAX_ENTRIES];    /* and what they hold */
    for (int i = 0; i < nent; i++) {
        seq[i] = ent[i].seq;
        budget[i] = ent[i].budget;
        pend_end[i] = ent[i].pend_end;
        room[i] = ent[i].held_room;
    }
    Py_ssize_t pos = w->next;
    Rec rec;
    for (int k = 0; k < ahead_records; k++) {
        if (!(w->fmt == 0 ? pcap_record(b, w->size, pos, w->big, w->tick, w->hsize, w->lt, &rec)
                          : pcapng_record(b, w->size, pos, w->big, w->ifc, w->nifc, &rec)))
            return 0;
        pos = rec.next;
        Py_ssize_t ip = ip_start(rec.lt, b, rec.s, rec.e);
        if (ip < 0 || b[ip] != 0x45)
            return 0;
        const unsigned char *h = b + ip;
        Py_ssize_t total = be16(h + 2);
        unsigned frag = be16(h + 6), doff = h[32], flags = h[33];
        if (h[9] != 6 || (frag & 0x3FFF) || total < 40 || doff < 0x50 || ip + total > rec.e
                || (flags != 0x10 && flags != 0x18))
            return 0;
        Py_ssize_t n = total - 20 - ((doff >> 4) << 2);
        if (n < 0)
            return 0;
        uint32_t sq = be32(h + 24);
        if (memcmp(h + 12, key, 8) == 0 && memcmp(h + 20, key + 8, 4) == 0) {          /* the sender */
            if (n) {
                if ((int32_t)(sq - expect) < 0)
                    return 0;                   /* (a retransmission, or a late segment that fills the hole) */
                expect = sq + (uint32_t)n;
                held += n;
                if (held > max_buffer)
                    return 0;
            }
            continue;
        }
        if (memcmp(h + 12, key + 4, 4) == 0 && memcmp(h + 16, key, 4) == 0 && memcmp(h + 20, key + 10, 2) == 0
                && memcmp(h + 22, key + 8, 2) == 0) {                                   /* the receiver */
            if (n)
                return 0;
            uint32_t ack = be32(h + 28);
            if ((int32_t)(ack - ahead_hole) <= 0)
                continue;
            return (int32_t)(ack - ahead_seq) >= 0;
        }
        int i = 0;                              /* another direction of the table (take()'s lookup) */
        while (i < nent && !(memcmp(h + 12, ent[i].key, 8) == 0 && memcmp(h + 20, ent[i].key + 8, 4) == 0))
            i++;
        if (i == nent || !ent[i].full)
            return 0;
        const Entry *o = &ent[i];
        if (n == 0) {
            if (!(o->ack_ok || (o->ack_hole && (int32_t)(be32(h + 28) - o->hole_seq) <= 0)))
                return 0;
        } else if (o->stopped) {
            return 0;
        } else if (o->held) {                   /* buffer_after */
            long long off = o->nxt_off + (int32_t)(sq - o->nxt_seq);
            if (off < pend_end[i] || n > room[i])
                return 0;
            pend_end[i] = off + n;
            room[i] -= n;
        } else {                                /* _advance */
            if (!o->armed || o->next || o->resync || sq != seq[i] || n >= budget[i])
                return 0;
            seq[i] += (uint32_t)n;
            budget[i] -= n;
        }
    }
    return 0;
}

/* Attribute names, interned once. */
enum { A_ST, A_FWD, A_REV, A_INDEX, A_PEER, A_WAIT, A_LANE, A_READY, A_FAST, A_OTHER, A_RBUF, A_PDV_DONE,
       A_PDV_LEFT, A_PDV_SKIP, A_BASE, A_NXT, A_SPANS, A_LIMIT, A_COUNT, A_LENGTH, A_DATA_SPANS, A_LAST,
       A_TS, A_ACK, A_LAST_FRAME, A_REMAINING, A_OFFSET, A_END_TS, A_FLAT, A_DROPPED, A_END_TS_NS,
       A_FAST_COLL, A_PENDING, A_HELD, A_FIN, A_CLOSED, A_END, A_CUT, A_OFF, A_FRAME, A_FOFF, A_DICOM,
       A_ASSEMBLER, A_ORPHANS, A_DIRECTION, A_DATA, A_NEXT_MSG, A_NEXT_CTX, A_PDVS, A_PDV, A_START_OFFSET,
       A_START_TS, A_HDR, A_PDVHDR, A_PDU_TYPE, A_PDV_START, A_STATE, A_FAST_FEED, A_RNEED, A_RPIECES,
       A_CONTROL, A_CONTEXT_ID, A_ASSOC, A_LOST, A_FINDINGS, A_BODY, A_BODY_DROPPED, A_HOLED, A_PDUS,
       A_PREV_LENGTH, A_QUIET_STATE, A_COUNT_QUIET, A_INFLATER, A_BUF, A_KEEP_LIMIT, A_SLOTS, A_MSG, A_CMD, A_HOLE,
       A_MCUT, A_PDV_OFF, A_PDV_LEN, A_NOTE_GAP, A_LOSS, A_GAPS, A_DHELD, A_QUIET_CUT_OK, A_COUNT_QUIET_CUT,
       A_LOSS_STATE, A_NOTE_GAPS, A_QUIET, A_PARKED, N_ATTR };
static const char *attr_names[N_ATTR] = {
    "st", "fwd", "rev", "index", "peer", "wait", "lane", "ready", "fast", "other", "rbuf", "pdv_done",
    "pdv_left", "pdv_skip", "base", "nxt", "spans", "limit", "count", "length", "data_spans", "last",
    "ts", "ack", "last_frame", "remaining", "offset", "end_ts", "flat", "dropped", "end_ts_ns",
    "fast_coll", "pending", "held", "fin", "closed", "end", "cut", "off", "frame", "foff", "dicom",
    "assembler", "orphans_after_loss", "direction", "data", "next_msg", "next_ctx", "pdvs", "pdv", "start_offset",
    "start_ts", "hdr", "pdvhdr", "pdu_type", "pdv_start", "state", "fast_feed", "rneed", "rpieces",
    "control", "context_id", "assoc", "lost", "findings", "body", "body_dropped", "holed", "pdus",
    "prev_length", "quiet_state", "count_quiet", "_inflater", "_buf", "keep_limit", "slots", "msg", "cmd", "hole",
    "cut", "offset", "length", "note_gap", "loss", "gaps", "held", "quiet_cut_ok", "count_quiet_cut",
    "_loss_state", "note_gaps", "quiet", "parked"};
/* (A_MCUT, A_PDV_OFF, A_PDV_LEN and A_DHELD name attributes of other types than A_CUT, A_OFFSET, A_LENGTH and A_HELD
 * do: a message, a Pdv, a _Dicom; each its own slot cache) */
static PyObject *attr[N_ATTR];

/* Attributes kept in __slots__ (reassembly._Dir, _Piece, the framer, span maps, messages): read and written at their
 * offset in the object, found once per attribute name and type (what PyObject_GenericGetAttr finds: a member
 * descriptor of an object slot, on a type with the generic attribute access), instead of looked up each time. */
typedef struct {
    PyTypeObject *tp;           /* borrowed: the type's version tag changes if it is modified (or freed) */
    unsigned int version;
    Py_ssize_t off;
} SlotCache;
/* Two types a name (a _Dir's cut and ts and a _Piece's, say: one entry each, not one found again at every turn),
 * the one found last first. */
static SlotCache slot_cache[N_ATTR][2];

static PyObject **slot_ptr(PyObject *obj, int name) {
    PyTypeObject *tp = Py_TYPE(obj);
    SlotCache *c = slot_cache[name];
    if (c->tp == tp && c->version == tp->tp_version_tag && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))
        return (PyObject **)((char *)obj + c->off);
    if (c[1].tp == tp && c[1].version == tp->tp_version_tag && (tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
        SlotCache t = c[1];
        c[1] = c[0];
        c[0] = t;
        return (PyObject **)((char *)obj + c->off);
    }
    if (tp->tp_getattro != PyObject_GenericGetAttr || tp->tp_setattro != PyObject_GenericSetAttr)
        return NULL;
    PyObject *descr = _PyType_Lookup(tp, attr[name]);          /* borrowed */
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) || !(tp->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))
        return NULL;
    PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY) || m->offset <= 0)
        return NULL;
    c[1] = c[0];
    c->tp = tp;
    c->version = tp->tp_version_tag;
    c->off = m->offset;
    return (PyObject **)((char *)obj + m->offset);
}

/* obj.<name> (a new reference; NULL with an exception), through its slot when it has one. */
static PyObject *get_attr(PyObject *obj, int name) {
    PyObject **p = slot_ptr(obj, name);
    if (p == NULL)
        return PyObject_GetAttr(obj, attr[name]);
    PyObject *v = *p;
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%U'", Py_TYPE(obj)->tp_name,
                     attr[name]);
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

/* obj.<name> = v (v borrowed), through its slot when it has one. 0, -1 error. */
static int set_attr(PyObject *obj, int name, PyObject *v) {
    PyObject **p = slot_ptr(obj, name);
    if (p == NULL)
        return PyObject_SetAttr(obj, attr[name], v);
    PyObject *old = *p;
    Py_INCREF(v);
    *p = v;
    Py_XDECREF(old);
    return 0;
}

/* obj.name as a long long: 0 done, 1 not an int that fits (the caller leaves the lane unarmed), -1 error. */
static int get_ll(PyObject *obj, int name, long long *out) {
    PyObject *v = get_attr(obj, name);
    if (v == NULL)
        return -1;
    int r = 0, overflow = 0;
    if (!PyLong_Check(v)) {
        r = 1;
    } else {
        *out = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow)
            r = 1;
    }
    Py_DECREF(v);
    return r;
}

/* obj.name truthiness: 1, 0, -1 error. */
static int get_true(PyObject *obj, int name) {
    PyObject *v = get_attr(obj, name);
    if (v == NULL)
        return -1;
    int r = PyObject_IsTrue(v);
    Py_DECREF(v);
    return r;
}

static int set_ll(PyObject *obj, int name, long long v) {
    PyObject *o = PyLong_FromLongLong(v);
    if (o == NULL)
        return -1;
    int r = set_attr(obj, name, o);
    Py_DECREF(o);
    return r;
}

/* reassembly._Piece(off, end, data, frame, foff, ts, False), its slots set directly (no Python __init__). */
static PyObject *new_piece(long long off, long long end, const char *data, Py_ssize_t n, long long frame,
                           long long foff, long long ts) {
    PyTypeObject *tp = (PyTypeObject *)piece_type;
    PyObject *p = tp->tp_alloc(tp, 0);
    if (p == NULL)
        return NULL;
    PyObject *bytes = PyBytes_FromStringAndSize(data, n);
    if (bytes == NULL || set_attr(p, A_DATA, bytes) < 0 || set_ll(p, A_OFF, off) < 0
            || set_ll(p, A_END, end) < 0 || set_ll(p, A_FRAME, frame) < 0 || set_ll(p, A_FOFF, foff) < 0
            || set_ll(p, A_TS, ts) < 0 || set_attr(p, A_CUT, Py_False) < 0) {
        Py_XDECREF(bytes);
        Py_DECREF(p);
        return NULL;
    }
    Py_DECREF(bytes);
    PyObject_GC_UnTrack(p);     /* (ints and bytes only: never in a cycle, nothing for the collector to visit) */
    return p;
}

/* ul.pdus.Pdv(offset, length, context_id, control), its slots set directly (no Python __init__). */
static PyObject *new_pdv(long long offset, long long length, long long ctx, long long control) {
    PyTypeObject *tp = (PyTypeObject *)pdv_type;
    PyObject *p = tp->tp_alloc(tp, 0);
    if (p == NULL)
        return NULL;
    if (set_ll(p, A_OFFSET, offset) < 0 || set_ll(p, A_LENGTH, length) < 0 || set_ll(p, A_CONTEXT_ID, ctx) < 0
            || set_ll(p, A_CONTROL, control) < 0) {
        Py_DECREF(p);
        return NULL;
    }
    return p;
}

static int add_ll(PyObject *obj, int name, long long delta);

/* n more bytes of message m's data set taken at ts on framer f's lane: the message's end time, and the length of
 * its collector if one only counts (f.fast_coll), as _advance and _pdu_step leave them. 0, -1 error. */
static int message_took(PyObject *f, PyObject *m, long long ts, long long n) {
    if (set_ll(m, A_END_TS_NS, ts) < 0)
        return -1;
    PyObject *coll = get_attr(f, A_FAST_COLL);
    if (coll == NULL)
        return -1;
    int r = coll == Py_None ? 0 : add_ll(coll, A_LENGTH, n);
    Py_DECREF(coll);
    return r;
}

/* obj.name += delta (Python ints: exact whatever the size). */
static int add_ll(PyObject *obj, int name, long long delta) {
    PyObject *v = get_attr(obj, name);
    if (v == NULL)
        return -1;
    PyObject *d = PyLong_FromLongLong(delta);
    PyObject *sum = d ? PyNumber_Add(v, d) : NULL;
    Py_DECREF(v);
    Py_XDECREF(d);
    if (sum == NULL)
        return -1;
    int r = set_attr(obj, name, sum);
    Py_DECREF(sum);
    return r;
}

/* SpanMap.add_new for the spans a walk made, in one step: flat += quads, count, dropped, length. */
static int settle_spans(PyObject *sp, PyObject *quads, long long drop, long long taken) {
    if (quads != NULL) {
        PyObject *flat = get_attr(sp, A_FLAT);
        if (flat == NULL)
            return -1;
        PyObject *r = PyNumber_InPlaceAdd(flat, quads);
        Py_DECREF(flat);
        if (r == NULL)
            return -1;
        int e = set_attr(sp, A_FLAT, r);
        Py_DECREF(r);
        if (e < 0 || add_ll(sp, A_COUNT, PyList_GET_SIZE(quads) / 4) < 0)
            return -1;
    }
    if (drop && add_ll(sp, A_DROPPED, drop) < 0)
        return -1;
    return add_ll(sp, A_LENGTH, taken);
}

static PyObject *str_frombytes, *str_typecode;

/* 1 if obj is an array("q") (a typed SpanMap's flat, 8-byte items), 0 if not (an exception cleared). */
static int is_q_array(PyObject *obj) {
    PyObject *tc = PyObject_GetAttr(obj, str_typecode);
    if (tc == NULL) {
        PyErr_Clear();
        return 0;
    }
    int r = PyUnicode_Check(tc) && PyUnicode_CompareWithASCIIString(tc, "q") == 0;
    Py_DECREF(tc);
    return r;
}

/* settle_spans for the machine-integer quads add_raw_quad made: a typed span map's array("q") takes them in one call
 * (array.frombytes). */
static int settle_raw(PyObject *sp, PyObject *raw, long long drop, long long taken) {
    Py_ssize_t size = raw == NULL ? 0 : PyByteArray_GET_SIZE(raw);
    if (size) {
        PyObject *flat = get_attr(sp, A_FLAT);
        if (flat == NULL)
            return -1;
        if (!is_q_array(flat)) {
            Py_DECREF(flat);
            PyErr_SetString(PyExc_TypeError, "walk: a data set's span map is typed (an array('q'))");
            return -1;
        }
        PyObject *res = PyObject_CallMethodOneArg(flat, str_frombytes, raw);
        int r = res == NULL ? -1 : 0;
        Py_XDECREF(res);
        Py_DECREF(flat);
        if (r < 0 || add_ll(sp, A_COUNT, size / (Py_ssize_t)(4 * sizeof(long long))) < 0)
            return -1;
    }
    if (drop && add_ll(sp, A_DROPPED, drop) < 0)
        return -1;
    return add_ll(sp, A_LENGTH, taken);
}

/* A span map's capacity (limit - count) and length. */
static int span_state(PyObject *owner, int name, long long *cap, long long *len) {
    PyObject *sp = get_attr(owner, name);
    if (sp == NULL)
        return -1;
    long long limit = 0, count = 0;
    int r = get_ll(sp, A_LIMIT, &limit);
    if (r == 0)
        r = get_ll(sp, A_COUNT, &count);
    if (r == 0)
        r = get_ll(sp, A_LENGTH, len);
    Py_DECREF(sp);
    *cap = limit - count;
    return r;
}

static void release(Entry *d) {
    Py_XDECREF(d->x);
    Py_XDECREF(d->st);
    Py_XDECREF(d->peer);
    Py_XDECREF(d->f);
    Py_XDECREF(d->m);
    Py_XDECREF(d->fquads);
    Py_XDECREF(d->dquads);
    Py_XDECREF(d->pend);
    Py_XDECREF(d->next_msg);
    Py_XDECREF(d->rbuf);
    Py_XDECREF(d->rpieces);
    Py_XDECREF(d->assoc);
    Py_XDECREF(d->feed);
    Py_XDECREF(d->feedbuf);
    Py_XDECREF(d->pkept);
    PyMem_Free(d->def);
    PyMem_Free(d->pbuf);
}

/* A direction that is not ready (TcpReassembler.buffer_after's conditions): bytes wait behind a hole,
 * no FIN, open, the last piece not cut: its in-order continuations are buffered. 1 (armed or not), -1 error. */
static int arm_held(Entry *d) {
    PyObject *x = d->x;
    int pk = nparks ? park_of(x) : -1;      /* segments a walk before parked: restore() */
    PyObject *pend = get_attr(x, A_PENDING);
    if (pend == NULL)
        return -1;
    if (!PyList_Check(pend) || (PyList_GET_SIZE(pend) == 0 && pk < 0)) {
        Py_DECREF(pend);
        return 1;               /* (a parked x not restored: made pieces by arm_all) */
    }
    d->pend = pend;
    PyObject *fin = get_attr(x, A_FIN);
    if (fin == NULL)
        return -1;
    int nofin = fin == Py_None;
    Py_DECREF(fin);
    int closed = get_true(x, A_CLOSED);
    if (closed < 0)
        return -1;
    if (!nofin || closed)
        return 1;
    if (pk >= 0)
        return restore(d, pk) < 0 ? -1 : 1;
    PyObject *last = PyList_GET_ITEM(pend, PyList_GET_SIZE(pend) - 1);     /* borrowed */
    int cut = get_true(last, A_CUT);
    if (cut != 0)
        return cut < 0 ? -1 : 1;
    long long end, held, base, nxt;
    int r;
    if ((r = get_ll(last, A_END, &end)) != 0 || (r = get_ll(x, A_HELD, &held)) != 0
            || (r = get_ll(x, A_BASE, &base)) != 0 || (r = get_ll(x, A_NXT, &nxt)) != 0)
        return r < 0 ? -1 : 1;
    d->pend_end = end;
    d->nxt_off = nxt;
    d->nxt_seq = (uint32_t)((unsigned long long)base + (unsigned long long)nxt);
    d->seq = (uint32_t)((unsigned long long)base + (unsigned long long)end);
    d->held_room = max_buffer - held;
    d->held = 1;
    return 1;
}

/* pipeline._NEXT and pipeline._WALK_KINDS ((sentinel, skip, first), ...) of the walk under way
 * (borrowed from its ctx argument; the GIL is held throughout). */
static PyObject *lane_next, *lane_kinds;
/* ul.pdus.Pdv, ul.framer.PDATA and ul.framer.RESYNC of the walk under way (ctx). */
static PyObject *pdv_type, *pdata_state, *resync_state, *header_state;

/* The lane's kind from _WALK_KINDS ((sentinel, skip, first), ...): sets d->skip and d->data (a message lane: any
 * value not in the table) and returns first: 0, 1 (its first bytes are reported: Python's), 2 (counted). */
static int lane_kind(Entry *d, PyObject *kinds) {
    d->data = 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kinds); i++) {
        PyObject *row = PyTuple_GET_ITEM(kinds, i);
        if (PyTuple_GET_ITEM(row, 0) == d->m) {
            d->skip = PyObject_IsTrue(PyTuple_GET_ITEM(row, 1));
            d->data = 0;
            return (int)PyLong_AsLong(PyTuple_GET_ITEM(row, 2));
        }
    }
    return 0;
}

/* 1 if the framer feeds a collector still keeping bytes (f.fast_feed: the pure fast path's, never the walk's),
 * 0 if not, -1 error. */
static int feeding(PyObject *f) {
    PyObject *v = get_attr(f, A_FAST_FEED);
    if (v == NULL)
        return -1;
    int r = v != Py_None;
    Py_DECREF(v);
    return r;
}

/* Only walk() feeds collectors (take_held delivers pieces, whose bytes are Python's). */
static int walk_feeds;

/* A message lane's collector (f.fast_feed, unless f.fast_coll counts: _advance): 1 none, or one the walk feeds
 * (walk_feeds, not inflating, _buf a bytearray with room below keep_limit: d->feed set), 0 one it does not (the
 * lane is Python's), -1 error. */
static int arm_feed(Entry *d) {
    PyObject *c = get_attr(d->f, A_FAST_COLL);
    if (c == NULL)
        return -1;
    int counting = c != Py_None;
    Py_DECREF(c);
    if (counting)
        return 1;
    if ((c = get_attr(d->f, A_FAST_FEED)) == NULL)
        return -1;
    if (c == Py_None) {
        Py_DECREF(c);
        return 1;
    }
    int ok = 0;
    long long limit = 0;
    PyObject *inf = walk_feeds ? get_attr(c, A_INFLATER) : NULL;
    PyObject *buf = inf == Py_None ? get_attr(c, A_BUF) : NULL;
    if (buf != NULL && PyByteArray_CheckExact(buf)) {
        int r = get_ll(c, A_KEEP_LIMIT, &limit);
        if (r < 0) {
            Py_XDECREF(inf);
            Py_DECREF(buf);
            Py_DECREF(c);
            return -1;
        }
        ok = r == 0 && limit > PyByteArray_GET_SIZE(buf);
    }
    Py_XDECREF(inf);
    if (PyErr_Occurred()) {
        Py_XDECREF(buf);
        Py_DECREF(c);
        return -1;
    }
    if (!ok) {
        Py_XDECREF(buf);
        Py_DECREF(c);
        return 0;
    }
    Py_XSETREF(d->feed, c);
    Py_XSETREF(d->feedbuf, buf);
    d->room = limit - PyByteArray_GET_SIZE(buf);
    d->fed = d->saturated = 0;
    d->coll_from = 0;
    return 1;
}

/* quiet_step's and begin_pdu's DataSetCollector.feed for n value bytes at p (d->feed set): kept while the collector
 * has room; fed_now counts them. 0, -1 error. */
static int feed_now(Entry *d, const unsigned char *p, long long n) {
    long long k = n < d->room ? n : d->room;
    if (k > 0 && ba_put_upto(d->feedbuf, p, (Py_ssize_t)k, PyByteArray_GET_SIZE(d->feedbuf) + (Py_ssize_t)d->room) < 0)
        return -1;
    if (k > 0)
        d->room -= k;
    return 0;
}

/* The collector's length grows by the n bytes feed_now gave it; full, from here on it only counts, as _pdu_step
 * decides (f.fast_coll = it, f.fast_feed = None). 0, -1 error. */
static int fed_now(Entry *d, long long n) {
    if (d->fed) {
        PyErr_SetString(PyExc_RuntimeError, "walk: a collector fed at a PDU's end before its bytes were settled");
        return -1;
    }
    if (n && add_ll(d->feed, A_LENGTH, n) < 0)
        return -1;
    if (d->room > 0)
        return 0;
    if (set_attr(d->f, A_FAST_COLL, d->feed) < 0 || set_attr(d->f, A_FAST_FEED, Py_None) < 0)
        return -1;
    Py_CLEAR(d->feed);
    Py_CLEAR(d->feedbuf);
    return 0;
}

/* Whether a lane whose kind says ``first`` may be taken now: 1 yes (d->counted set when taking counts a PDV),
 * 0 no (an orphan's first bytes, reported by Python), -1 error. */
static int lane_first(Entry *d, int first) {
    if (!first)
        return 1;
    long long v;
    int r = get_ll(d->f, A_PDV_DONE, &v);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (v)
        return 1;
    if (first != 2)
        return 0;
    d->counted = 1;
    return 1;
}

/* Put one direction in the table by its flow key: 1 in, 0 left out (its key no longer maps to it in
 * TcpReassembler._flows), -1 error. The rest is read at its first record (arm_rest). */
static int arm(Entry *d, PyObject *x, PyObject *flows) {
    long long index = 0;
    d->x = x;
    Py_INCREF(x);
    if ((d->st = get_attr(x, A_ST)) == NULL || get_ll(x, A_INDEX, &index) < 0)
        return -1;
    PyObject *key = get_attr(d->st, index ? A_REV : A_FWD);   /* _Stream.fwd / .rev */
    if (key == NULL)
        return -1;
    PyObject *cur = PyDict_GetItemWithError(flows, key);                     /* borrowed */
    int ok = cur == x && PyTuple_Check(key) && PyTuple_GET_SIZE(key) == 4;
    if (ok) {
        PyObject *src = PyTuple_GET_ITEM(key, 0), *dst = PyTuple_GET_ITEM(key, 2);
        long sport = PyLong_AsLong(PyTuple_GET_ITEM(key, 1)), dport = PyLong_AsLong(PyTuple_GET_ITEM(key, 3));
        ok = PyBytes_Check(src) && PyBytes_GET_SIZE(src) == 4 && PyBytes_Check(dst) && PyBytes_GET_SIZE(dst) == 4
             && sport >= 0 && sport < 65536 && dport >= 0 && dport < 65536;
        PyErr_Clear();
        if (ok) {
            memcpy(d->key, PyBytes_AS_STRING(src), 4);
            memcpy(d->key + 4, PyBytes_AS_STRING(dst), 4);
            d->key[8] = (unsigned char)(sport >> 8);
            d->key[9] = (unsigned char)sport;
            d->key[10] = (unsigned char)(dport >> 8);
            d->key[11] = (unsigned char)dport;
        }
    }
    Py_DECREF(key);
    if (PyErr_Occurred())
        return -1;
    return ok;
}

/* Read what feed_record's conditions read of a direction: whether its pure ACKs may be taken (not
 * peer.wait) and whether its lane is armed (lane, ready, fast not None nor _NEXT, the other framer not
 * searching, an orphan's first bytes done), with its raw sequence number, budget and span states. */
static int arm_rest(Entry *d) {
    PyObject *x = d->x;
    d->full = 1;
    if ((d->peer = get_attr(x, A_PEER)) == NULL)
        return -1;
    int wait = get_true(d->peer, A_WAIT);
    if (wait < 0)
        return -1;
    d->ack_ok = !wait;
    if ((d->f = get_attr(x, A_LANE)) == NULL)
        return -1;
    if (!d->ack_ok) {
        long long pbase, pnxt;
        int r;
        if ((r = get_ll(d->peer, A_BASE, &pbase)) != 0 || (r = get_ll(d->peer, A_NXT, &pnxt)) != 0)
            return r < 0 ? -1 : 1;
        d->hole_seq = (uint32_t)((unsigned long long)pbase + (unsigned long long)pnxt);
        d->ack_hole = 1;
        return 1;
    }
    int ready = get_true(x, A_READY);
    if (ready < 0)
        return -1;
    if (!ready)
        return arm_held(d);
    return arm_lane(d);
}

/* Room for one more item in an array of items of `size` bytes (*arr, *cap of them allocated, n used): doubled when
 * full, `first` at first. 0, -1 error. */
static int room(void **arr, int *cap, int n, size_t size, int first) {
    if (n < *cap)
        return 0;
    int c = *cap ? 2 * *cap : first;
    void *g = PyMem_Realloc(*arr, (size_t)c * size);
    if (g == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *arr = g;
    *cap = c;
    return 0;
}

/* Room for one more segment in a deferred list (*def, *cdef of them allocated, ndef used). 0, -1 error. */
static int def_room(struct Deferred **def, int *cdef, int ndef) {
    return room((void **)def, cdef, ndef, sizeof **def, 16);
}

/* A segment held after a hole (p[0:n] in the walk's buffer, at stream offset off): noted in d's deferred list, not
 * made a Python piece until something must see it in x.pending (materialize), so that the flush of an ACK later in
 * the walk (flush_deferred) delivers it from the buffer as a record. 0, -1 error. */
static int defer_piece(Entry *d, const unsigned char *p, long long n, long long off, long long frame, long long fo,
                       long long ts) {
    if (def_room(&d->def, &d->cdef, d->ndef) < 0)
        return -1;
    d->def[d->ndef++] = (struct Deferred){(Py_ssize_t)(p - walk_base), off, n, frame, fo, ts};
    return 0;
}

/* d's deferred segments, from the i-th, made Python pieces at the end of x.pending (reassembly._Piece), as
 * TcpReassembler.hold and buffer_after keep them. 0, -1 error. */
static int materialize(Entry *d, int i) {
    for (; i < d->ndef; i++) {
        struct Deferred *q = &d->def[i];
        PyObject *piece = new_piece(q->off, q->off + q->n, (const char *)at_ptr(q->at), (Py_ssize_t)q->n,
                                    q->frame, q->fo, q->ts);
        int r = piece == NULL ? -1 : PyList_Append(d->pend, piece);
        Py_XDECREF(piece);
        if (r < 0)
            return -1;
    }
    d->ndef = 0;
    return 0;
}

/* The index of x's parked segments, -1 none. */
static int park_of(PyObject *x) {
    for (int i = 0; i < nparks; i++)
        if (parks[i].x == x)
            return i;
    return -1;
}

/* parks[i] out of the table (its references and buffers the caller's), and its stream's `parked` False unless its
 * other direction is parked too. 0, -1 error. */
static int park_out(int i, Park *p) {
    *p = parks[i];
    parks[i] = parks[--nparks];
    for (int k = 0; k < nparks; k++)
        if (parks[k].st == p->st)
            return 0;
    return set_attr(p->st, A_PARKED, Py_False);
}

static void park_free(Park *p) {
    Py_XDECREF(p->x);
    Py_XDECREF(p->st);
    Py_XDECREF(p->flows);
    PyMem_Free(p->def);
    PyMem_Free(p->buf);
}

/* d's deferred segments parked at the walk's end, before settle(): it then finds none to make pieces of, and adds
 * them to x.held as ever. The bytes of those in the walk's buffer are copied after those restore() gave back, which
 * stay where they are in pbuf (moved to its start once most of it is bytes delivered since). 0, -1 error. */
static int park(Entry *d, PyObject *flows) {
    if (room((void **)&parks, &cparks, nparks, sizeof *parks, 8) < 0)
        return -1;
    uintptr_t pb = (uintptr_t)d->pbuf;
    Py_ssize_t len = d->plen, lo = -1, extra = 0;
    for (int i = 0; i < d->ndef; i++) {         /* in pbuf: its offset there (-1 - offset); else copied below */
        struct Deferred *q = &d->def[i];
        uintptr_t a = (uintptr_t)at_ptr(q->at);
        if (pb != 0 && a >= pb && a + (uintptr_t)q->n <= pb + (uintptr_t)len) {
            q->at = -1 - (Py_ssize_t)(a - pb);
            if (lo < 0)
                lo = (Py_ssize_t)(a - pb);
        } else {
            extra += (Py_ssize_t)q->n;
        }
    }
    unsigned char *buf = d->pbuf;
    if (lo < 0) {
        len = 0;
    } else if (lo > len / 2) {                  /* mostly delivered: what is left moved to the start */
        memmove(buf, buf + lo, (size_t)(len - lo));
        len -= lo;
    } else {
        lo = 0;
    }
    unsigned char *g = PyMem_Realloc(buf, (size_t)(len + extra > 0 ? len + extra : 1));
    if (g == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    d->pbuf = NULL;
    d->plen = 0;
    buf = g;
    for (int i = 0; i < d->ndef; i++) {
        struct Deferred *q = &d->def[i];
        if (q->at < 0 && lo >= 0) {
            q->at = -1 - q->at - lo;
        } else {
            memcpy(buf + len, at_ptr(q->at), (size_t)q->n);
            q->at = len;
            len += (Py_ssize_t)q->n;
        }
    }
    Py_INCREF(d->x);
    Py_INCREF(d->st);
    Py_INCREF(flows);
    parks[nparks++] = (Park){d->x, d->st, flows, d->def, d->ndef, d->cdef, buf, len};
    st_parked += d->ndef;
    d->def = NULL;
    d->ndef = d->cdef = 0;
    return set_attr(d->st, A_PARKED, Py_True);
}

/* parks[i] made pieces at the end of x.pending, as materialize() makes a walk's (x.held counts them already), and
 * out of the table. 0, -1 error. */
static int unpark_at(int i) {
    Park p;
    int r = park_out(i, &p);
    PyObject *pend = r < 0 ? NULL : get_attr(p.x, A_PENDING);
    if (pend == NULL)
        r = -1;
    for (int j = 0; r == 0 && j < p.ndef; j++) {
        struct Deferred *q = &p.def[j];
        PyObject *piece = new_piece(q->off, q->off + q->n, (const char *)p.buf + q->at, (Py_ssize_t)q->n, q->frame,
                                    q->fo, q->ts);
        r = piece == NULL ? -1 : PyList_Append(pend, piece);
        Py_XDECREF(piece);
    }
    st_unparked += p.ndef;
    Py_XDECREF(pend);
    park_free(&p);
    return r;
}

/* The segments parked for d's direction (parks[i]) given back to d, armed as a held entry (arm_held, x not ready,
 * its peer not waiting, d->pend read): as if this walk had held them after the pieces x.pending has (x.held less
 * their bytes, held_added theirs); with no such piece, after the hole at x.nxt (hold_first's state: d's lane armed
 * there, did_hold). d counts as taking a record already (last_any: the stream's clock; ack: the ACK x's sender last
 * sent), so that settle() applies it. 1 done, 0 not (nothing changed: the caller makes them pieces), -1 error. */
static int restore(Entry *d, int i) {
    Park *p = &parks[i];
    PyObject *x = d->x;
    long long held, base, nxt, last, ts, total = 0;
    int r;
    PyObject *ack = get_attr(d->peer, A_ACK);
    if (ack == NULL)
        return -1;
    int ok = PyLong_Check(ack);
    uint32_t a = ok ? (uint32_t)PyLong_AsUnsignedLongMask(ack) : 0;
    Py_DECREF(ack);
    if (!ok || PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if ((r = get_ll(x, A_HELD, &held)) != 0 || (r = get_ll(x, A_BASE, &base)) != 0
            || (r = get_ll(x, A_NXT, &nxt)) != 0 || (r = get_ll(d->st, A_LAST, &last)) != 0
            || (r = get_ll(d->st, A_TS, &ts)) != 0)
        return r < 0 ? -1 : 0;
    for (int j = 0; j < p->ndef; j++)
        total += p->def[j].n;
    int empty = PyList_GET_SIZE(d->pend) == 0;
    if (held < total || p->ndef == 0 || (empty && p->def[0].off <= nxt))
        return 0;
    if (!empty) {               /* (after the last piece, which the snap length did not cut) */
        PyObject *q = PyList_GET_ITEM(d->pend, PyList_GET_SIZE(d->pend) - 1);     /* borrowed */
        long long end;
        int cut = get_true(q, A_CUT);
        if (cut != 0)
            return cut < 0 ? -1 : 0;
        if ((r = get_ll(q, A_END, &end)) != 0 || end > p->def[0].off)
            return r < 0 ? -1 : 0;
    }
    if (set_ll(x, A_HELD, held - total) < 0)
        return -1;
    Park g;
    if (park_out(i, &g) < 0) {
        park_free(&g);
        return -1;
    }
    for (int j = 0; j < g.ndef; j++)
        g.def[j].at = (Py_ssize_t)((uintptr_t)g.buf + (uintptr_t)g.def[j].at - (uintptr_t)walk_base);
    PyMem_Free(d->def);
    d->def = g.def;
    d->ndef = g.ndef;
    d->cdef = g.cdef;
    d->pbuf = g.buf;
    d->plen = g.len;
    g.def = NULL;
    g.buf = NULL;
    st_restored += g.ndef;
    park_free(&g);
    struct Deferred *z = &d->def[d->ndef - 1];
    d->pend_end = z->off + z->n;
    d->nxt_off = nxt;
    d->nxt_seq = (uint32_t)((unsigned long long)base + (unsigned long long)nxt);
    d->held_room = max_buffer - held;
    d->held_added = total;
    d->held = d->restored = 1;
    d->last_any = last;
    d->last_any_ts = ts;
    d->ack = a;
    if (empty) {                /* hold_first's state: the lane armed at the hole */
        d->did_hold = 1;
        if (arm_lane(d) < 0)
            return -1;
    }
    d->seq = (uint32_t)((unsigned long long)base + (unsigned long long)d->pend_end);
    return 1;
}

/* feed_record's hold branch (TcpReassembler.hold) for the payload p[0:n] at raw sequence number seq, past the
 * next expected byte of the ready direction d (its lane armed, so d->seq is that byte's): buffered as the first
 * piece of x.pending, unless the snap length cut the segment before it (x.cut), it exceeds the buffer bound, or
 * the receiver's latest ACK for these bytes (one its entry took in this walk, else x.ack) already reaches past
 * the hole (then a gap is declared at once: 3, Analyzer._hold_hook's, when the walk has one). From here d is a held
 * entry (its continuations are buffer_after's), and the receiver's entry only takes pure ACKs that do not reach
 * past the hole (x.wait); settle() makes x not ready. With `look` (quiet PDUs counted: the analyzer's take_gap),
 * a hole inside the lane's PDV (or to its end) is first left to the look-ahead (4: ahead_seq and the others set,
 * nothing changed: take() asks hole_settled, and holds the segment only if the records after it do not settle the
 * hole as a loss). 1 taken, 0 not (nothing changed), 3, 4, -1 error. */
static int hold_first(Entry *ent, int nent, Entry *d, const unsigned char *p, Py_ssize_t n, uint32_t seq,
                      uint32_t rack, long long frame, long long fo, long long ts, int look) {
    if ((long long)n > max_buffer)
        return 0;
    int past = 0;               /* the receiver acknowledged bytes past the hole already: a gap at once */
    uint32_t pack = 0;          /* (that ACK) */
    int r = get_true(d->x, A_CUT);
    if (r != 0)
        return r < 0 ? -1 : 0;
    Entry *pe = NULL;
    for (int i = 0; i < nent; i++)
        if (ent[i].x == d->peer)
            pe = &ent[i];
    if (pe != NULL && pe->last_any) {
        pack = pe->ack;
        past = (int32_t)(pe->ack - d->seq) > 0;
    } else {
        PyObject *ack = get_attr(d->x, A_ACK);
        if (ack == NULL)
            return -1;
        if (ack != Py_None) {
            unsigned long long raw = PyLong_Check(ack) ? PyLong_AsUnsignedLongLongMask(ack) : 0;
            int bad = !PyLong_Check(ack) || PyErr_Occurred();
            Py_DECREF(ack);
            if (bad) {
                PyErr_Clear();
                return 0;
            }
            pack = (uint32_t)raw;
            past = (int32_t)((uint32_t)raw - d->seq) > 0;
        } else {
            Py_DECREF(ack);
        }
    }
    long long nxt;
    if ((r = get_ll(d->x, A_NXT, &nxt)) != 0)
        return r < 0 ? -1 : 0;
    long long off = nxt + d->taken + (int32_t)(seq - d->seq);     /* (settle_lane adds d->taken to x.nxt) */
    PyObject *pend = get_attr(d->x, A_PENDING);
    if (pend == NULL)
        return -1;
    int empty = PyList_CheckExact(pend) && PyList_GET_SIZE(pend) == 0;
    if (empty && look && take_gap_hook != NULL && d->armed && (long long)(int32_t)(seq - d->seq) <= d->budget) {
        Py_DECREF(pend);        /* a hole inside the lane's PDV (or to its end): the walk looks ahead before it holds */
        ahead_seq = seq;
        ahead_hole = d->seq;
        ahead_n = n;
        ahead_past = past;
        ahead_ack = pack;
        memcpy(ahead_key, d->key, sizeof ahead_key);
        return 4;
    }
    if (!empty || past) {
        Py_DECREF(pend);
        if (!empty || hold_hook == NULL)
            return 0;
        hold_x = d->x;          /* acknowledged past the hole: a gap at once (Analyzer._hold_hook's) */
        hold_at = (Py_ssize_t)(p - walk_base);
        hold_n = n;
        hold_seq = seq;
        hold_ack = rack;
        hold_fo = fo;
        return 3;
    }
    if (pe != NULL && !pe->full && arm_rest(pe) < 0) {     /* (read before x waits: as it was) */
        Py_DECREF(pend);
        return -1;
    }
    if (defer_piece(d, p, n, off, frame, fo, ts) < 0) {
        Py_DECREF(pend);
        return -1;
    }
    if (pe != NULL) {           /* the receiver's pure ACKs: taken while they do not reach past the hole */
        pe->ack_ok = 0;
        pe->ack_hole = 1;
        pe->hole_seq = d->seq;
        pe->stopped = 1;
    }
    d->pend = pend;
    d->held = 1;
    d->did_hold = 1;
    d->nxt_off = nxt + d->taken;
    d->nxt_seq = d->seq;
    d->pend_end = off + n;
    d->seq = seq + (uint32_t)n;
    d->held_room = max_buffer - n;
    d->held_added += n;
    return 1;
}

/* The raw sequence number of x's next in-order byte: 1, or 0 (base or nxt not an int), -1 error. */
static int next_seq(Entry *d) {
    long long base, nxt;
    int r;
    if ((r = get_ll(d->x, A_BASE, &base)) != 0 || (r = get_ll(d->x, A_NXT, &nxt)) != 0)
        return r < 0 ? -1 : 0;
    d->seq = (uint32_t)((unsigned long long)base + (unsigned long long)nxt);
    return 1;
}

/* A _NEXT lane: Analyzer._pdu_step's shape the walk takes (begin_pdu) needs the message's held events sent
 * (f.dicom.held[f.direction] empty), then reads f.next_msg and f.next_ctx. */
static int arm_next(Entry *d) {
    PyObject *f = d->f;
    PyObject *dd = get_attr(f, A_DICOM);
    if (dd == NULL)
        return -1;
    PyObject *held = get_attr(dd, A_HELD);
    Py_DECREF(dd);
    if (held == NULL)
        return -1;
    long long dirn = 0;
    int r = get_ll(f, A_DIRECTION, &dirn);
    int empty = r == 0 && PyList_Check(held) && dirn >= 0 && dirn < PyList_GET_SIZE(held)
                && PyList_Check(PyList_GET_ITEM(held, dirn)) && PyList_GET_SIZE(PyList_GET_ITEM(held, dirn)) == 0;
    Py_DECREF(held);
    if (r < 0)
        return -1;
    if (!empty)
        return 1;
    if ((r = arm_feed(d)) <= 0)     /* a collector to feed: the walk's (d->feed), or Python's */
        return r < 0 ? -1 : 1;
    if ((d->next_msg = get_attr(f, A_NEXT_MSG)) == NULL)
        return -1;
    if ((r = get_ll(f, A_NEXT_CTX, &d->next_ctx)) != 0 || (r = next_seq(d)) <= 0)
        return r < 0 ? -1 : 1;
    d->next = 1;
    return 1;
}

/* The lane part of arm_rest (also after begin_pdu): not armed unless f.fast is a lane the walk takes and the
 * other direction is not searching for a PDU; _NEXT: arm_next. */
static int arm_lane(Entry *d) {
    PyObject *x = d->x, *next = lane_next, *kinds = lane_kinds;
    if (d->fed) {
        PyErr_SetString(PyExc_RuntimeError, "walk: a lane armed again before its collector's bytes were settled");
        return -1;
    }
    Py_CLEAR(d->feed);
    Py_CLEAR(d->feedbuf);
    d->saturated = 0;
    if (d->f == Py_None)
        return 1;
    if ((d->m = get_attr(d->f, A_FAST)) == NULL)
        return -1;
    if (d->m == Py_None)
        return arm_resync(d);
    PyObject *other = get_attr(d->f, A_OTHER);
    if (other == NULL)
        return -1;
    int busy = get_true(other, A_RBUF);     /* the other direction is searching for a PDU */
    Py_DECREF(other);
    if (busy)
        return busy < 0 ? -1 : 1;
    if (d->m == next)
        return arm_next(d);
    int ok = lane_first(d, lane_kind(d, kinds));       /* Analyzer's _WALK_KINDS */
    if (ok <= 0)
        return ok < 0 ? -1 : 1;
    if (d->data && (ok = arm_feed(d)) <= 0)            /* a collector to feed: the walk's, or Python's */
        return ok < 0 ? -1 : 1;
    long long base, nxt;
    int r;
    if ((r = get_ll(x, A_BASE, &base)) != 0 || (r = get_ll(x, A_NXT, &nxt)) != 0
            || (r = get_ll(d->f, d->skip ? A_PDV_SKIP : A_PDV_LEFT, &d->budget)) != 0
            || (r = span_state(d->f, A_SPANS, &d->fcap, &d->flen)) != 0
            || (d->data && (r = span_state(d->m, A_DATA_SPANS, &d->dcap, &d->dlen)) != 0))
        return r < 0 ? -1 : 1;
    d->seq = (uint32_t)((unsigned long long)base + (unsigned long long)nxt);
    d->armed = 1;
    return 1;
}

static int count_orphan(PyObject *f);

/* 1 while take_held runs: a search may begin holding (f.rbuf empty, as a hole leaves it). Not in the walk, whose
 * other entries were armed because this direction held nothing (a record of the other direction then needs
 * PduFramer.settle: _tcp_event). */
static int resync_empty;

/* A lane with no fast value (f.fast None): armed when the framer searches for the next PDU (f.state RESYNC)
 * holding candidate bytes (f.rbuf not empty, or empty with resync_empty) that need more (f.rneed past their end)
 * at the reassembler's next offset, the other direction not searching (PduFramer.hold_candidate's conditions, as
 * _tcp_event reads them). 1 (armed or not), -1 error. */
static int arm_resync(Entry *d) {
    PyObject *f = d->f;
    long long need, off, nxt;
    int r;
    if ((r = get_ll(f, A_RNEED, &need)) != 0 || need <= 0)     /* (most lanes: no candidate waits) */
        return r < 0 ? -1 : 1;
    PyObject *state = get_attr(f, A_STATE);
    if (state == NULL)
        return -1;
    int eq = PyObject_RichCompareBool(state, resync_state, Py_EQ);
    Py_DECREF(state);
    if (eq <= 0)
        return eq < 0 ? -1 : 1;
    PyObject *other = get_attr(f, A_OTHER);
    if (other == NULL)
        return -1;
    int busy = get_true(other, A_RBUF);
    Py_DECREF(other);
    if (busy)
        return busy < 0 ? -1 : 1;
    if ((d->rbuf = get_attr(f, A_RBUF)) == NULL || (d->rpieces = get_attr(f, A_RPIECES)) == NULL)
        return -1;
    if (!PyByteArray_CheckExact(d->rbuf) || (PyByteArray_GET_SIZE(d->rbuf) == 0 && !resync_empty)
            || !PyList_CheckExact(d->rpieces))
        return 1;
    if ((r = get_ll(f, A_OFFSET, &off)) != 0
            || (r = get_ll(d->x, A_NXT, &nxt)) != 0 || (r = next_seq(d)) <= 0)
        return r < 0 ? -1 : 1;
    if (off != nxt || need <= PyByteArray_GET_SIZE(d->rbuf))
        return 1;
    d->budget = need - PyByteArray_GET_SIZE(d->rbuf);
    d->resync = 1;
    return 1;
}

/* SpanMap.add_new on the object itself. */
static int span_add(PyObject *sp, long long frame, long long fo, long long n) {
    long long limit = 0, count = 0, length = 0;
    int r;
    if ((r = get_ll(sp, A_LIMIT, &limit)) != 0 || (r = get_ll(sp, A_COUNT, &count)) != 0
            || (r = get_ll(sp, A_LENGTH, &length)) != 0 || length > LLONG_MAX - n) {
        if (r >= 0)
            PyErr_SetString(r ? PyExc_TypeError : PyExc_OverflowError,
                            r ? "walk: a span map's limit, count and length are ints" : "walk: a span map's length");
        return -1;
    }
    if (count < limit) {
        PyObject *flat = get_attr(sp, A_FLAT);
        if (flat == NULL)
            return -1;
        PyObject *res;
        if (PyList_CheckExact(flat)) {              /* list += (length, frame, fo, n) */
            long long v[4] = {length, frame, fo, n};
            r = 0;
            for (int i = 0; r == 0 && i < 4; i++) {
                PyObject *o = PyLong_FromLongLong(v[i]);
                r = o == NULL ? -1 : PyList_Append(flat, o);
                Py_XDECREF(o);
            }
        } else if (!is_q_array(flat)) {
            PyErr_SetString(PyExc_TypeError, "walk: a span map's flat is a list or an array('q')");
            r = -1;
        } else {                                    /* a typed map's array: the quad as machine integers */
            long long v[4] = {length, frame, fo, n};
            PyObject *mv = PyMemoryView_FromMemory((char *)v, sizeof v, PyBUF_READ);
            res = mv == NULL ? NULL : PyObject_CallMethodOneArg(flat, str_frombytes, mv);
            Py_XDECREF(mv);
            r = res == NULL ? -1 : 0;
            Py_XDECREF(res);
        }
        Py_DECREF(flat);
        if (r < 0 || set_ll(sp, A_COUNT, count + 1) < 0)
            return -1;
    } else if (add_ll(sp, A_DROPPED, 1) < 0) {
        return -1;
    }
    return set_ll(sp, A_LENGTH, length + n);
}

static int set_obj(PyObject *obj, int name, PyObject *v) {
    if (v == NULL)
        return -1;
    int r = set_attr(obj, name, v);
    Py_DECREF(v);
    return r;
}

/* The record p[0:n] (frame, fo, ts) on a _NEXT lane: if it begins the next P-DATA-TF of the data set (same
 * context, one PDV, no last-fragment bit needed) and ends inside that PDV, apply it as Analyzer._pdu_step's
 * `tail` branch (and feed_record's x.nxt, x.last_frame) does, then arm the lane it opens for the records after
 * it; 1 taken, 0 not (nothing changed), -1 error. */
static int begin_pdu(Entry *d, const unsigned char *p, Py_ssize_t n, long long frame, long long fo, long long ts) {
    if (n < 12 || p[0] != 4 || p[1] != 0)
        return 0;
    long long length = be32(p + 2), plen = be32(p + 6), ctx = p[10], mch = p[11];
    long long here = (long long)n - 12;
    if (length != plen + 4 || ctx != d->next_ctx || (mch & ~2) || plen <= 2 || here >= plen - 2)
        return 0;
    PyObject *f = d->f, *m = d->next_msg;
    int lost = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(lane_kinds); i++) {
        PyObject *row = PyTuple_GET_ITEM(lane_kinds, i);
        if (PyTuple_GET_ITEM(row, 0) == m) {
            if (PyLong_AsLong(PyTuple_GET_ITEM(row, 2)) != 2)
                return 0;           /* only a message or the rest of a data set a loss ended continue here */
            lost = 1;
        }
    }
    long long start = 0;
    int r = get_ll(f, A_OFFSET, &start);
    if (r != 0)
        return r < 0 ? -1 : 0;
    PyObject *pdv = new_pdv(6, plen, ctx, mch);
    if (pdv == NULL)
        return -1;
    PyObject *pdvs = get_attr(f, A_PDVS);
    r = pdvs == NULL ? -1 : PyList_Check(pdvs) ? PyList_Append(pdvs, pdv) : -1;
    if (pdvs != NULL && !PyList_Check(pdvs))
        PyErr_SetString(PyExc_TypeError, "walk: a framer's pdvs is a list");
    Py_XDECREF(pdvs);
    if (r < 0 || set_attr(f, A_PDV, pdv) < 0) {
        Py_DECREF(pdv);
        return -1;
    }
    Py_DECREF(pdv);
    PyObject *sp = NULL;
    if (set_ll(f, A_START_OFFSET, start) < 0 || set_ll(f, A_START_TS, ts) < 0 || set_ll(f, A_END_TS, ts) < 0
            || set_obj(f, A_HDR, PyByteArray_FromStringAndSize((const char *)p, 6)) < 0
            || set_obj(f, A_PDVHDR, PyByteArray_FromStringAndSize((const char *)p + 6, 6)) < 0
            || set_ll(f, A_PDU_TYPE, 4) < 0 || set_ll(f, A_LENGTH, length) < 0
            || set_ll(f, A_REMAINING, length - 6 - here) < 0 || set_ll(f, A_PDV_START, 6) < 0
            || set_ll(f, A_PDV_LEFT, plen - 2 - here) < 0 || set_ll(f, A_PDV_DONE, here) < 0
            || set_attr(f, A_STATE, pdata_state) < 0 || set_ll(f, A_OFFSET, start + 12 + here) < 0
            || (sp = get_attr(f, A_SPANS)) == NULL)
        return -1;
    r = span_add(sp, frame, fo, 12 + here);
    Py_DECREF(sp);
    if (r < 0)
        return -1;
    if (here) {
        if (lost) {
            if (count_orphan(f) < 0)
                return -1;
        } else {
            if ((sp = get_attr(m, A_DATA_SPANS)) == NULL)
                return -1;
            r = span_add(sp, frame, fo + 12, here);
            Py_DECREF(sp);
            if (r < 0)
                return -1;
            if (d->feed != NULL) {      /* a collector still keeping bytes: fed them */
                if (feed_now(d, p + 12, here) < 0 || fed_now(d, here) < 0 || set_ll(m, A_END_TS_NS, ts) < 0)
                    return -1;
            } else if (message_took(f, m, ts, here) < 0) {
                return -1;
            }
        }
    }
    if (set_attr(f, A_FAST, m) < 0 || add_ll(d->x, A_NXT, (long long)n) < 0
            || set_ll(d->x, A_LAST_FRAME, frame) < 0)
        return -1;
    /* the lane this opens: armed from the framer's new state for the records after this one */
    Py_CLEAR(d->m);
    Py_CLEAR(d->next_msg);
    d->next = d->armed = d->skip = d->data = d->counted = 0;
    return arm_lane(d) < 0 ? -1 : 1;
}

static int settle_lane(Entry *d);

/* len(obj.name) == 0 for a list or bytearray attribute: 1 empty, 0 not (or not such), -1 error. */
static int empty_attr(PyObject *obj, int name) {
    PyObject *v = get_attr(obj, name);
    if (v == NULL)
        return -1;
    int r = PyList_CheckExact(v) ? PyList_GET_SIZE(v) == 0 : PyByteArray_CheckExact(v) ? PyByteArray_GET_SIZE(v) == 0 : 0;
    Py_DECREF(v);
    return r;
}

/* lst[i] (a list) as a long long: 0 done, 1 not an int that fits (or no such item), -1 error. */
static int get_ll_item(PyObject *lst, Py_ssize_t i, long long *out) {
    if (!PyList_Check(lst) || i < 0 || i >= PyList_GET_SIZE(lst) || !PyLong_Check(PyList_GET_ITEM(lst, i)))
        return 1;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(lst, i), &overflow);
    return overflow ? 1 : 0;
}

/* A method call returning a Python bool or int: its truth (or int value in *out), -1 error. */
static PyObject *call_method(PyObject *obj, int name, const char *fmt, ...) {
    PyObject *meth = PyObject_GetAttr(obj, attr[name]);
    if (meth == NULL)
        return NULL;
    va_list va;
    va_start(va, fmt);
    PyObject *args = Py_VaBuildValue(fmt, va);
    va_end(va);
    PyObject *r = args ? PyObject_Call(meth, args, NULL) : NULL;
    Py_XDECREF(args);
    Py_DECREF(meth);
    return r;
}

/* PduFacts reports idle gaps longer than this (model.association.IDLE_GAP_NS). */
#define IDLE_GAP_NS 1000000000LL

/* The walk's QAssoc of association a, with direction dirn's state read (Association.quiet_state); NULL error. */
static QAssoc *quiet_assoc(PyObject *a, long long dirn) {
    QAssoc *qa = NULL;
    for (int i = 0; i < nqassoc; i++)
        if (qassoc[i].a == a)
            qa = &qassoc[i];
    int fresh = qa == NULL;
    if (fresh) {
        if (nqassoc >= MAX_ENTRIES) {
            PyErr_SetString(PyExc_RuntimeError, "walk: more associations than directions");
            return NULL;
        }
        qa = &qassoc[nqassoc++];
        memset(qa, 0, sizeof *qa);
        Py_INCREF(a);
        qa->a = a;
    }
    if (dirn < 0 || dirn > 1) {
        PyErr_SetString(PyExc_ValueError, "walk: a direction is 0 or 1");
        return NULL;
    }
    if (!qa->read[dirn]) {
        PyObject *st = call_method(a, A_QUIET_STATE, "(L)", dirn);
        long long max_end = 0, ok = 0, only = 0;
        if (st == NULL || !PyArg_ParseTuple(st, "LLLLLLL", &max_end, &ok, &qa->qctx[dirn], &qa->limit[dirn],
                                            &qa->cuts[dirn], &qa->room[dirn], &only)) {
            Py_XDECREF(st);
            return NULL;
        }
        Py_DECREF(st);
        if (fresh)              /* (the other direction's counts may have moved it since: the walk's is later) */
            qa->max_end = max_end;
        qa->ok = (int)ok;
        qa->counts_only[dirn] = only != 0;
        qa->read[dirn] = 1;
    }
    return qa;
}

/* Hand the counts waiting in the entries to their associations (Association.count_quiet, with the cut PDUs among
 * them; Association.note_gaps), in the order they were counted, and forget the walk's QAssoc states (Python reads
 * and moves them from here). 0, -1 error. */
static int flush_quiet(Entry *ent, int nent) {
    for (;;) {
        Entry *e = NULL;
        for (int i = 0; i < nent; i++)
            if (ent[i].pcount && (e == NULL || ent[i].porder < e->porder))
                e = &ent[i];
        if (e == NULL)
            break;
        PyObject *r = call_method(e->assoc, A_COUNT_QUIET, "(LLLLLLLLLLLLLLLO)", e->pdir, e->pcount, e->pbytes,
                                  e->pfirst, e->pstart, e->psecond, e->plast_first, e->plead, e->phi, e->plast,
                                  e->ptmin, e->ptmax, e->pend_ts, e->pctx, e->pcuts,
                                  e->pkept != NULL ? e->pkept : Py_None);
        e->pcount = e->pcuts = 0;
        Py_CLEAR(e->pkept);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    for (int i = 0; i < nent; i++) {            /* the holes (their own counts: no order between them and those) */
        Entry *g = &ent[i];
        if (!g->pgaps)
            continue;
        PyObject *r = call_method(g->assoc, A_NOTE_GAPS, "(LLLLL)", g->pdir, g->pgaps, g->pgbytes, g->pgframe,
                                  g->pgts);
        g->pgaps = g->pgbytes = g->pgframe = g->pgts = 0;
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    for (int i = 0; i < nqassoc; i++)
        Py_CLEAR(qassoc[i].a);
    nqassoc = 0;
    return 0;
}

/* The walk's table (flush_quiet before Python may look at the associations). */
static Entry *walk_ent;
static int walk_nent;

#define MAX_WHOLE 256
/* v in decimal at w (at most 20 characters, no NUL): the end. Two digits a step. */
static char *put_decimal(char *w, long long v) {
    static const char pairs[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char tmp[20];
    int n = 20;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        tmp[--n] = pairs[d + 1];
        tmp[--n] = pairs[d];
    }
    if (u >= 10) {
        tmp[--n] = pairs[u * 2 + 1];
        tmp[--n] = pairs[u * 2];
    } else {
        tmp[--n] = (char)('0' + u);
    }
    if (v < 0)
        *w++ = '-';
    memcpy(w, tmp + n, (size_t)(20 - n));
    return w + (20 - n);
}

/* The frames of a span list's flat quads (flat[1::4], a repeat of the one before left out: SpanMap.frames), then
 * `frame` too if `more` (add_new's: unless it repeats the last), written at w as the text of their JSON list
 * (",".join(map(str, ..))), at most (len(flat) / 4 + 1) * 21 characters; *last set to the last of them (0 if
 * none). The end, NULL error. */
static char *frames_into(char *w, PyObject *flat, long long frame, int more, long long *last) {
    Py_ssize_t nf = PyList_GET_SIZE(flat);
    char *start = w;
    long long prev = -1;
    for (Py_ssize_t i = 1; i < nf + 4; i += 4) {     /* (i past the quads: `frame`, if more) */
        long long fr = frame;
        if (i < nf) {
            fr = PyLong_AsLongLong(PyList_GET_ITEM(flat, i));
            if (fr == -1 && PyErr_Occurred())
                return NULL;
        } else if (!more) {
            break;
        }
        if (fr != prev) {
            if (w != start)
                *w++ = ',';
            w = put_decimal(w, fr);
        }
        prev = fr;
    }
    *last = prev < 0 ? 0 : prev;
    return w;
}

/* Analyzer.quiet_parts (the text of a quiet P-DATA-TF's line around its numbers and time) and timefmt.iso_time, and
 * what the walk remembers of them: the parts of the last (association, direction, context) it wrote a line for,
 * and iso_time's text of the last second up to its fraction (qt_cal 0: that second is outside the calendar, its
 * text is iso_time's whole, each time). Cleared at each walk (walk_ctx: qp_assoc is a reference). */
static PyObject *quiet_parts, *quiet_iso;
static PyObject *qp_assoc, *qp_text[3];
static long long qp_dir, qp_ctx, qt_sec;
static int qt_have, qt_cal;
static char qt_day[64];
static Py_ssize_t qt_len;

static void quiet_text_clear(void) {
    Py_CLEAR(qp_assoc);
    for (int i = 0; i < 3; i++)
        Py_CLEAR(qp_text[i]);
    qt_have = 0;
}

#define NS 1000000000LL

/* quiet_out.append((assoc, line)): the line Analyzer._quiet_line writes for a quiet P-DATA-TF of direction dirn on
 * context ctx, ending at ts, of PDU length `length`, whose frames' list is frames[0:nframes] and last frame `last`:
 * p0 last ,"frames":[ frames ],"time":" iso_time(ts) p1 length p2. 0, -1 error. */
static int put_line(PyObject *assoc, long long dirn, long long ctx, const char *frames, Py_ssize_t nframes,
                    long long last, long long ts, long long length) {
    if (assoc != qp_assoc || dirn != qp_dir || ctx != qp_ctx) {
        PyObject *t = PyObject_CallFunction(quiet_parts, "OLL", assoc, dirn, ctx);
        if (t == NULL)
            return -1;
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3 || !PyUnicode_Check(PyTuple_GET_ITEM(t, 0))
                || !PyUnicode_Check(PyTuple_GET_ITEM(t, 1)) || !PyUnicode_Check(PyTuple_GET_ITEM(t, 2))) {
            Py_DECREF(t);
            PyErr_SetString(PyExc_TypeError, "walk: quiet_parts gives three strings");
            return -1;
        }
        for (int i = 0; i < 3; i++) {
            Py_INCREF(PyTuple_GET_ITEM(t, i));
            Py_XSETREF(qp_text[i], PyTuple_GET_ITEM(t, i));
        }
        Py_DECREF(t);
        Py_INCREF(assoc);
        Py_XSETREF(qp_assoc, assoc);
        qp_dir = dirn;
        qp_ctx = ctx;
    }
    long long rem = ts % NS;
    if (rem < 0)
        rem += NS;
    long long sec = ts / NS - (ts % NS < 0);     /* (floor division, no overflow near LLONG_MIN) */
    PyObject *whole = NULL;         /* iso_time(ts) when its second is outside the calendar */
    if (!qt_have || sec != qt_sec || !qt_cal) {
        whole = PyObject_CallFunction(quiet_iso, "L", ts);
        if (whole == NULL)
            return -1;
        Py_ssize_t n;
        const char *u = PyUnicode_Check(whole) ? PyUnicode_AsUTF8AndSize(whole, &n) : NULL;
        if (u == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "walk: iso_time gives a string");
            Py_DECREF(whole);
            return -1;
        }
        qt_cal = n >= 8 && n - 8 < (Py_ssize_t)sizeof qt_day && u[n - 1] == 'Z' && u[n - 8] == '.';
        if (qt_cal) {               /* (iso_time's text of a calendar time ends in ".uuuuuuZ") */
            memcpy(qt_day, u, (size_t)(n - 8));
            qt_len = n - 8;
            Py_CLEAR(whole);
        }
        qt_sec = sec;
        qt_have = 1;
    }
    Py_ssize_t n0, n1, n2, nt = 0;
    const char *p0 = PyUnicode_AsUTF8AndSize(qp_text[0], &n0), *p1 = PyUnicode_AsUTF8AndSize(qp_text[1], &n1),
               *p2 = PyUnicode_AsUTF8AndSize(qp_text[2], &n2), *tt = NULL;
    if (whole != NULL)
        tt = PyUnicode_AsUTF8AndSize(whole, &nt);
    if (p0 == NULL || p1 == NULL || p2 == NULL || (whole != NULL && tt == NULL)) {
        Py_XDECREF(whole);
        return -1;
    }
    static const char f1[] = ",\"frames\":[", f2[] = "],\"time\":\"";
    size_t cap = (size_t)(n0 + n1 + n2 + nframes + nt + qt_len) + sizeof f1 + sizeof f2 + 64;
    char *buf = PyMem_Malloc(cap), *w = buf;
    if (buf == NULL) {
        Py_XDECREF(whole);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(w, p0, (size_t)n0), w += n0;
    w = put_decimal(w, last);
    memcpy(w, f1, sizeof f1 - 1), w += sizeof f1 - 1;
    memcpy(w, frames, (size_t)nframes), w += nframes;
    memcpy(w, f2, sizeof f2 - 1), w += sizeof f2 - 1;
    if (whole != NULL) {
        memcpy(w, tt, (size_t)nt), w += nt;
        Py_DECREF(whole);
    } else {                        /* iso_time's ".{ns // 1000:06d}Z" */
        memcpy(w, qt_day, (size_t)qt_len), w += qt_len;
        *w++ = '.';
        long long us = rem / 1000;
        for (int i = 5; i >= 0; i--, us /= 10)
            w[i] = (char)('0' + us % 10);
        w += 6;
        *w++ = 'Z';
    }
    memcpy(w, p1, (size_t)n1), w += n1;
    w = put_decimal(w, length);
    memcpy(w, p2, (size_t)n2), w += n2;
    PyObject *line = PyUnicode_DecodeUTF8(buf, w - buf, NULL);
    PyMem_Free(buf);
    PyObject *rec = line == NULL ? NULL : PyTuple_Pack(2, assoc, line);
    Py_XDECREF(line);
    int r = rec == NULL ? -1 : PyList_Append(quiet_out, rec);
    Py_XDECREF(rec);
    return r;
}

/* Analyzer.quiet_out's records of the P-DATA-TFs quiet_step counts in a segment (frame, ts), as Analyzer._pdu_step
 * appends them: (association, its line: put_line) — the one in progress (k bytes more: its frames and last frame
 * those of its spans with the k bytes added, SpanMap.add_new), then each whole one (its frame). 0, or -1 with an
 * exception. */
static int quiet_records(Entry *d, long long k, long long frame, long long ts, long long dirn, long long flen,
                         const long long *wlen, int nwhole, long long ctx) {
    if (k) {
        PyObject *sp = get_attr(d->f, A_SPANS);
        if (sp == NULL)
            return -1;
        PyObject *flat = get_attr(sp, A_FLAT);
        long long lim = 0, cnt = 0;
        int r = flat == NULL ? -1 : get_ll(sp, A_LIMIT, &lim);
        if (r == 0)
            r = get_ll(sp, A_COUNT, &cnt);
        Py_DECREF(sp);
        if (r != 0 || !PyList_CheckExact(flat) || PyList_GET_SIZE(flat) % 4) {
            Py_XDECREF(flat);
            if (r >= 0)
                PyErr_SetString(PyExc_TypeError, "walk: a framer's spans are a flat list of quads");
            return -1;
        }
        long long last = 0;
        char *text = PyMem_Malloc((size_t)(PyList_GET_SIZE(flat) / 4 + 1) * 21), *end = NULL;
        if (text == NULL)
            PyErr_NoMemory();
        else
            end = frames_into(text, flat, frame, cnt < lim, &last);
        Py_DECREF(flat);
        r = end == NULL ? -1 : put_line(d->assoc, dirn, ctx, text, end - text, last, ts, flen);
        PyMem_Free(text);
        if (r < 0)
            return -1;
    }
    for (int i = 0; i < nwhole; i++) {
        char text[24];
        if (put_line(d->assoc, dirn, ctx, text, put_decimal(text, frame) - text, frame, ts, wlen[i]) < 0)
            return -1;
    }
    return 0;
}

/* The framer f's fresh unit after a P-DATA-TF of `prev_length` ended, as PduFramer._reset_unit leaves it: its span map
 * emptied in place, no PDVs, no header, PDV or times. Where the PDU ended quietly its body, findings and losses are
 * empty already; `cut` (a P-DATA-TF a capture loss cut, cut_end) makes them afresh too (its `lost` list stays with
 * what Association.count_quiet_cut kept) and clears what the skip left. 0, -1 error. */
static int fresh_unit(PyObject *f, long long prev_length, int cut) {
    PyObject *sp = get_attr(f, A_SPANS), *fl = PyList_New(0), *pl = sp && fl ? get_attr(f, A_PDVS) : NULL;
    int r = pl == NULL ? -1
        : set_attr(sp, A_FLAT, fl) < 0 || set_ll(sp, A_COUNT, 0) < 0 || set_ll(sp, A_LENGTH, 0) < 0
          || set_ll(sp, A_DROPPED, 0) < 0 || PyList_SetSlice(pl, 0, PyList_GET_SIZE(pl), NULL) < 0 ? -1 : 0;
    Py_XDECREF(sp);
    Py_XDECREF(fl);
    Py_XDECREF(pl);
    if (r < 0 || set_ll(f, A_PREV_LENGTH, prev_length) < 0
            || set_obj(f, A_HDR, PyByteArray_FromStringAndSize(NULL, 0)) < 0
            || set_obj(f, A_PDVHDR, PyByteArray_FromStringAndSize(NULL, 0)) < 0
            || set_ll(f, A_START_TS, 0) < 0 || set_ll(f, A_END_TS, 0) < 0 || set_ll(f, A_PDU_TYPE, 0) < 0
            || set_ll(f, A_LENGTH, 0) < 0 || set_ll(f, A_REMAINING, 0) < 0 || set_ll(f, A_PDV_START, 0) < 0
            || set_attr(f, A_PDV, Py_None) < 0 || set_ll(f, A_PDV_LEFT, 0) < 0 || set_ll(f, A_PDV_DONE, 0) < 0)
        return -1;
    if (cut && (set_obj(f, A_BODY, PyByteArray_FromStringAndSize(NULL, 0)) < 0 || set_ll(f, A_BODY_DROPPED, 0) < 0
                || set_obj(f, A_FINDINGS, PyList_New(0)) < 0 || set_obj(f, A_LOST, PyList_New(0)) < 0
                || set_ll(f, A_PDV_SKIP, 0) < 0 || set_attr(f, A_HOLED, Py_False) < 0))
        return -1;
    return 0;
}

/* The framer f waiting for the next PDU header at stream offset `off`, `pdus` PDUs framed. 0, -1 error. */
static int framer_at(PyObject *f, long long pdus, long long off) {
    return set_ll(f, A_PDUS, pdus) < 0 || set_ll(f, A_OFFSET, off) < 0 || set_ll(f, A_START_OFFSET, off) < 0
           || set_attr(f, A_STATE, header_state) < 0 ? -1 : 0;
}

/* count P-DATA-TFs of direction dirn on ctx counted quietly, nbytes with their headers, to wait in d for
 * Association.count_quiet (flush_quiet), merged with those waiting as one call after the other would count them: the
 * first began at start in frame first (0: its spans were not kept), the second in second (0: one PDU), the last in
 * last_first; lead is the first of their nonzero first frames, hi the largest first or last frame, last the largest
 * last frame that ends a PDU (count_quiet's `last`); the last ended at ts. */
static void pend_quiet(Entry *d, long long dirn, long long ctx, long long count, long long nbytes, long long first,
                       long long start, long long second, long long lead, long long hi, long long last,
                       long long last_first, long long ts) {
    long long tmin = start < ts ? start : ts, tmax = start > ts ? start : ts;
    if (d->pcount == 0) {
        d->pcount = count;
        d->pbytes = nbytes;
        d->pfirst = first;
        d->pstart = start;
        d->psecond = second;
        d->plead = lead;
        d->phi = hi;
        d->plast = last;
        d->ptmin = tmin;
        d->ptmax = tmax;
        d->pctx = ctx;
        d->pdir = dirn;
    } else {
        if (d->pcount == 1)
            d->psecond = first;
        d->pcount += count;
        d->pbytes += nbytes;
        if (!d->plead)
            d->plead = lead;
        if (hi > d->phi)
            d->phi = hi;
        if (last > d->plast)
            d->plast = last;
        if (tmin < d->ptmin)
            d->ptmin = tmin;
        if (tmax > d->ptmax)
            d->ptmax = tmax;
    }
    d->plast_first = last_first;
    d->pend_ts = ts;
    d->porder = ++quiet_order;
}

/* Analyzer._pdu_step with quiet=2 for the shape the walk meets most (the bytes after a message lane's PDV end, or
 * a _NEXT lane's segment that goes past its first PDV): the rest of the PDV ends its P-DATA-TF (k = the budget;
 * none on a _NEXT lane), whole P-DATA-TFs of one data PDV each follow, and maybe the start of one whose PDV goes
 * on; all on the lane's context, none the last fragment, and every PDU it ends counted quietly
 * (Association.take_quiet: quiet_ok for the first, the receiver's limit for the others). Applies what
 * _pdu_step applies (the message's data spans and end time, its collector's length, Association.count_quiet, the
 * framer's count, offset and fresh unit as _reset_unit leaves it, the PDU it begins: begin_pdu) and the
 * reassembler's offset and last frame; on the rest of a data set a loss ended (_AFTER_LOSS), its PDVs only
 * counted (orphans_after_loss). 1 taken, 0 not (nothing changed: the Python hook decides), -1 error. A collector
 * to feed and unusual framer states are the hook's. */
static int quiet_step(Entry *d, const unsigned char *p, Py_ssize_t n, long long frame, long long fo, long long ts) {
    PyObject *f = d->f, *m;
    long long k, ctx, flen = 0, fstart = 0, v;
    int r;
    if (d->next) {
        m = d->next_msg;
        ctx = d->next_ctx;
        k = 0;
    } else {
        if (!d->armed || d->skip)
            return 0;
        m = d->m;
        k = d->budget;
    }
    int lost = 0;               /* the rest of a data set a loss ended (_AFTER_LOSS): its PDVs only counted */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(lane_kinds); i++) {    /* a message, or that lane's sentinel */
        PyObject *row = PyTuple_GET_ITEM(lane_kinds, i);
        if (PyTuple_GET_ITEM(row, 0) == m) {
            if (PyLong_AsLong(PyTuple_GET_ITEM(row, 2)) != 2)
                return 0;
            lost = 1;
        }
    }
    if (!d->next && !lost && !d->data)
        return 0;
    if (d->feed == NULL && (r = feeding(f)) != 0)  /* a collector the walk does not feed: _pdu_step feeds it */
        return r < 0 ? -1 : 0;
    if (!d->next) {             /* the PDU in progress: its one data PDV ends after k bytes, nothing to report */
        PyObject *pdv = get_attr(f, A_PDV);
        if (pdv == NULL)
            return -1;
        long long control = 1;
        r = pdv == Py_None ? 1 : get_ll(pdv, A_CONTROL, &control);
        if (r == 0 && control == 0)
            r = get_ll(pdv, A_CONTEXT_ID, &ctx);
        Py_DECREF(pdv);
        if (r != 0 || control != 0)
            return r < 0 ? -1 : 0;
        PyObject *pdvs = get_attr(f, A_PDVS);
        if (pdvs == NULL)
            return -1;
        int one = PyList_CheckExact(pdvs) && PyList_GET_SIZE(pdvs) == 1;
        Py_DECREF(pdvs);
        if (!one)
            return 0;
        if ((r = get_ll(f, A_REMAINING, &v)) != 0 || v != k || (r = get_ll(f, A_LENGTH, &flen)) != 0
                || (r = get_ll(f, A_START_TS, &fstart)) != 0 || (r = get_ll(f, A_BODY_DROPPED, &v)) != 0 || v != 0
                || (r = get_ll(f, A_PDV_SKIP, &v)) != 0 || v != 0)
            return r < 0 ? -1 : 0;
        if ((r = empty_attr(f, A_LOST)) != 1 || (r = empty_attr(f, A_FINDINGS)) != 1 || (r = empty_attr(f, A_BODY)) != 1
                || (r = get_true(f, A_HOLED)) != 0)
            return r < 0 ? -1 : 0;
    }
    /* the segment's shape: whole P-DATA-TFs after the k bytes, maybe the start of one more */
    long long wlen[MAX_WHOLE], wplen[MAX_WHOLE];
    Py_ssize_t wat[MAX_WHOLE], tail = -1, pos = (Py_ssize_t)k;
    int nwhole = 0;
    while (pos < n) {
        if (n - pos < 12 || nwhole >= MAX_WHOLE)
            return 0;
        const unsigned char *h = p + pos;
        long long length = be32(h + 2), plen = be32(h + 6);
        if (h[0] != 4 || h[1] != 0 || length != plen + 4 || h[10] != ctx || (h[11] & ~2) || plen <= 2)
            return 0;
        if ((long long)(n - pos - 12) < plen - 2) {
            tail = pos;
            break;
        }
        if (h[11])
            return 0;           /* the last fragment: the message ends (Python's) */
        wat[nwhole] = pos;
        wlen[nwhole] = length;
        wplen[nwhole] = plen;
        nwhole++;
        pos += 10 + (Py_ssize_t)plen;
    }
    if (!k && !nwhole)
        return 0;               /* (only the start of a PDU: begin_pdu's, which did not take it) */
    long long dirn = 0;
    if ((r = get_ll(f, A_DIRECTION, &dirn)) != 0)
        return r < 0 ? -1 : 0;
    if (d->assoc == NULL) {     /* the association, once a walk */
        PyObject *dd = get_attr(f, A_DICOM);
        if (dd == NULL)
            return -1;
        d->assoc = get_attr(dd, A_ASSOC);
        Py_DECREF(dd);
        if (d->assoc == NULL)
            return -1;
    }
    if (!d->next) {             /* (a _NEXT lane's arm_next found nothing held) */
        PyObject *dd = get_attr(f, A_DICOM);
        PyObject *held = dd ? get_attr(dd, A_HELD) : NULL;
        Py_XDECREF(dd);
        if (held == NULL)
            return -1;
        int empty = PyList_Check(held) && dirn >= 0 && dirn < PyList_GET_SIZE(held)
                    && PyList_Check(PyList_GET_ITEM(held, dirn)) && PyList_GET_SIZE(PyList_GET_ITEM(held, dirn)) == 0;
        Py_DECREF(held);
        if (!empty)
            return 0;
    }
    /* the first PDU's frames as on_pdu reads them of its spans (the k bytes added to them) */
    long long count = nwhole + (k ? 1 : 0), nbytes = 0, qfirst = frame, qlast = frame, value = k, longest = 0;
    if (k) {
        PyObject *sp = get_attr(f, A_SPANS);
        if (sp == NULL)
            return -1;
        PyObject *flat = get_attr(sp, A_FLAT);
        long long lim = 0, cnt = 0;
        r = flat == NULL ? -1 : get_ll(sp, A_LIMIT, &lim);
        if (r == 0)
            r = get_ll(sp, A_COUNT, &cnt);
        Py_DECREF(sp);
        if (r != 0 || !PyList_CheckExact(flat) || PyList_GET_SIZE(flat) % 4) {
            Py_XDECREF(flat);
            return r < 0 ? -1 : 0;
        }
        Py_ssize_t nf = PyList_GET_SIZE(flat);
        if (nf) {
            qfirst = PyLong_AsLongLong(PyList_GET_ITEM(flat, 1));
            if (cnt >= lim)
                qlast = PyLong_AsLongLong(PyList_GET_ITEM(flat, nf - 3));
        } else if (cnt >= lim) {
            qfirst = qlast = 0;
        }
        Py_DECREF(flat);
        if (PyErr_Occurred())
            return -1;
        nbytes = 6 + flen;
        if (nwhole)
            qlast = frame;
    }
    for (int i = 0; i < nwhole; i++) {
        nbytes += 6 + wlen[i];
        value += wplen[i] - 2;
        if ((k || i) && wlen[i] > longest)
            longest = wlen[i];
    }
    /* all counted quietly (Association.take_quiet: quiet_ok for the first, the limit for the others), or none
     * and nothing changed; the counts wait in the entry (flush_quiet) */
    QAssoc *qa = quiet_assoc(d->assoc, dirn);
    if (qa == NULL)
        return -1;
    long long start = k ? fstart : ts, first_len = k ? flen : wlen[0], lim = qa->limit[dirn];
    if (ts < qa->max_end || start - qa->max_end > IDLE_GAP_NS || !qa->ok
            || (qa->qctx[dirn] >= 0 && qa->qctx[dirn] != ctx) || lim < 0
            || (lim && (first_len > lim || (count > 1 && longest > lim))))
        return 0;
    qa->max_end = ts;
    qa->qctx[dirn] = ctx;
    {
        long long second = count > 1 ? frame : 0, lead = qfirst ? qfirst : second;
        long long hi = !lead ? 0 : qfirst > second ? (qfirst > qlast ? qfirst : qlast) : (second > qlast ? second : qlast);
        pend_quiet(d, dirn, ctx, count, nbytes, qfirst, start, second, lead, hi, qlast, count > 1 ? frame : qfirst, ts);
    }
    if (quiet_out != NULL && quiet_records(d, k, frame, ts, dirn, flen, wlen, nwhole, ctx) < 0)
        return -1;
    if (lost) {                 /* orphans_after_loss: the PDV in progress if nothing of it was counted, each whole */
        long long done = 1;
        if (k && get_ll(f, A_PDV_DONE, &done) < 0)
            return -1;
        if (!done && count_orphan(f) < 0)
            return -1;
        for (int i = 0; i < nwhole; i++)
            if (count_orphan(f) < 0)
                return -1;
        value = 0;              /* (nothing of the message: no end time, no collector) */
    } else {                    /* the message's data spans */
        PyObject *dsp = get_attr(m, A_DATA_SPANS);
        if (dsp == NULL)
            return -1;
        r = k ? span_add(dsp, frame, fo, k) : 0;
        for (int i = 0; r == 0 && i < nwhole; i++)
            r = span_add(dsp, frame, fo + (long long)wat[i] + 12, wplen[i] - 2);
        Py_DECREF(dsp);
        if (r < 0)
            return -1;
        if (d->feed != NULL) {  /* a collector still keeping bytes: fed the values, in order (begin_pdu: the tail's) */
            r = k ? feed_now(d, p, k) : 0;
            for (int i = 0; r == 0 && i < nwhole; i++)
                r = feed_now(d, p + wat[i] + 12, wplen[i] - 2);
            if (r < 0 || fed_now(d, value) < 0)
                return -1;
            value = 0;          /* (counted: message_took sets only the end time) */
            if (set_ll(m, A_END_TS_NS, ts) < 0)
                return -1;
        }
    }
    /* the framer: its count and offset, and (the PDU in progress ended) a fresh unit, as _reset_unit leaves it */
    long long off = 0, pdus = 0;
    if ((r = get_ll(f, A_OFFSET, &off)) != 0 || (r = get_ll(f, A_PDUS, &pdus)) != 0) {
        if (r > 0)
            PyErr_SetString(PyExc_TypeError, "walk: a framer's offset and count are ints");
        return -1;
    }
    off += (long long)(tail >= 0 ? tail : n);
    if ((k && fresh_unit(f, flen, 0) < 0) || (nwhole && set_ll(f, A_PREV_LENGTH, wlen[nwhole - 1]) < 0)
            || framer_at(f, pdus + count, off) < 0)
        return -1;
    if (value && message_took(f, m, ts, value) < 0)    /* (begin_pdu adds the tail's) */
        return -1;
    /* the reassembler's offset; then the next PDU's start (begin_pdu arms its lane) or the _NEXT lane */
    Py_ssize_t upto = tail >= 0 ? tail : n;
    if (add_ll(d->x, A_NXT, (long long)upto) < 0 || set_ll(d->x, A_LAST_FRAME, frame) < 0)
        return -1;
    Py_INCREF(m);
    Py_XSETREF(d->next_msg, m);
    d->next_ctx = ctx;
    Py_CLEAR(d->m);
    d->armed = d->skip = d->data = d->counted = 0;
    d->next = 1;
    if (tail >= 0) {
        r = begin_pdu(d, p + tail, n - tail, frame, fo + (long long)tail, ts);
        if (r == 0) {
            PyErr_SetString(PyExc_RuntimeError, "walk: quiet_step's tail was not begin_pdu's");
            return -1;
        }
        return r;
    }
    if (set_attr(f, A_FAST, lane_next) < 0 || set_attr(f, A_NEXT_MSG, m) < 0
            || set_ll(f, A_NEXT_CTX, ctx) < 0)
        return -1;
    Py_CLEAR(d->next_msg);
    d->next = 0;
    return arm_lane(d) < 0 ? -1 : 1;
}

/* The record's payload (at `at` in the buffer: frame, fo, n bytes, ts) crosses the end of the lane's PDV, or
 * begins a P-DATA-TF on a _NEXT lane and goes past its PDV: apply what the walk took of the direction so far,
 * then let Analyzer._quiet_hook take it if every PDU it ends is only counted (Analyzer._pdu_step, quiet=2);
 * when it did, the lane is armed again from the framer's new state (_NEXT, or the PDU it begins).
 * 1 taken, 0 not (what was taken before stays applied), -1 error. */
static int end_quiet(Entry *d, Py_ssize_t at, long long frame, long long fo, long long n, long long ts) {
    if (at >= 0 && at <= walk_len - n)
        return quiet_end(d, walk_ent, walk_nent, NULL, walk_base + at, at, frame, fo, n, ts);
    const unsigned char *p = at_ptr(at);        /* a restored segment: the hook reads a copy */
    PyObject *data = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
    if (data == NULL)
        return -1;
    int r = quiet_end(d, walk_ent, walk_nent, data, p, 0, frame, fo, n, ts);
    Py_DECREF(data);
    return r;
}

/* Apply what was taken of d so far (settle_lane) and start counting afresh: before Python reads or moves its objects.
 * 0, -1 error. */
static int settle_taken(Entry *d) {
    if (settle_lane(d) < 0)
        return -1;
    Py_CLEAR(d->fquads);
    Py_CLEAR(d->dquads);
    d->taken = d->fdrop = d->ddrop = 0;
    d->counted = 0;
    return 0;
}

/* d's lane armed again from the framer's new state, after Python moved it. 1, -1 error. */
static int rearm(Entry *d) {
    Py_CLEAR(d->m);
    Py_CLEAR(d->next_msg);
    d->armed = d->skip = d->data = d->next = 0;
    return arm_lane(d) < 0 ? -1 : 1;
}

/* end_quiet's step for the payload p (n bytes; buf[at:at + n], buf NULL: the walk's buffer, through walk_mv): apply
 * what was taken of d so far, count the P-DATA-TFs p ends (quiet_step), or else hand it to Analyzer._quiet_hook (if
 * any), the counts waiting in ent[0:nent] handed over first; the lane armed again after. 1, 0, -1 as end_quiet. */
static int quiet_end(Entry *d, Entry *ent, int nent, PyObject *buf, const unsigned char *p, Py_ssize_t at,
                     long long frame, long long fo, long long n, long long ts) {
    if (settle_taken(d) < 0)
        return -1;
    int q = quiet_step(d, p, (Py_ssize_t)n, frame, fo, ts);
    if (q != 0 || quiet_hook == NULL)
        return q;
    if (d->skip && (q = cut_end(ent, nent, d, frame, fo, n, ts)) != 0)     /* the end of a P-DATA-TF a loss cut */
        return q < 0 ? -1 : rearm(d);
    if (d->skip && (q = cut_cross(ent, nent, d, p, n, frame, fo, ts)) != 0)  /* and the P-DATA-TFs after it */
        return q;
    if (flush_quiet(ent, nent) < 0)                 /* the hook reads and counts in the associations */
        return -1;
    if (buf == NULL) {
        if (walk_mv == NULL && (walk_mv = PyMemoryView_FromObject(walk_obj)) == NULL)
            return -1;
        buf = walk_mv;
    }
    PyObject *r = PyObject_CallFunction(quiet_hook, "OOnLLLL", d->x, buf, at, frame, fo, n, ts);
    if (r == NULL)
        return -1;
    int ok = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (ok <= 0) {
        d->armed = 0;           /* (its state moved to the objects: armed again by the next walk) */
        return ok;
    }
    return rearm(d);
}

/* The hole before the segment hold_first looked ahead from (d's next byte to the segment's; the segment is in frame
 * `frame` at ts) a gap, as the receiver's ACK would have it once the segments after it were held: what was
 * taken of d so far applied, then gap_pdv takes it (the usual shapes) or, the counts waiting in ent[0:nent] handed
 * over (as for Analyzer._quiet_hook), Analyzer._take_gap does (the hole inside the lane's PDV, without an event),
 * and the direction's next byte moves past it (TcpReassembler._gap); the lane armed again from the framer's new
 * state (_SKIP). 1 done, 0 not (nothing changed but what was applied and handed over), -1 error. */
RARE static int gap_ahead(Entry *ent, int nent, Entry *d, long long frame, long long ts) {
    if (settle_taken(d) < 0)
        return -1;
    long long nxt;
    int r = get_ll(d->x, A_NXT, &nxt);
    if (r != 0)
        return r < 0 ? -1 : 0;
    long long to = nxt + (long long)(int32_t)(ahead_seq - ahead_hole);
    if ((r = gap_pdv(d, nxt, to, frame, ts)) != 0) {        /* the usual shapes, in C */
        if (r < 0 || set_ll(d->x, A_NXT, to) < 0 || set_attr(d->x, A_CUT, Py_False) < 0)
            return -1;
        return rearm(d);
    }
    if (flush_quiet(ent, nent) < 0)
        return -1;
    PyObject *t = PyObject_CallFunction(take_gap_hook, "OLLL", d->x, to, frame, ts);
    if (t == NULL)
        return -1;
    r = PyObject_IsTrue(t);
    Py_DECREF(t);
    if (r <= 0)
        return r;
    if (set_ll(d->x, A_NXT, to) < 0 || set_attr(d->x, A_CUT, Py_False) < 0)
        return -1;
    return rearm(d);
}

/* dimse.assembler.CAPTURE_LOSS, the reason a message's data set is cut by the capture, and Analyzer.stream_data
 * (walk ctx) */
static PyObject *capture_loss;
static int stream_data;

/* 1 if held (a _Dicom's held: a list of two lists) has nothing for direction dirn, 0 if it has (or is no such
 * list), -1 error. */
static int held_empty(PyObject *dd, long long dirn) {
    PyObject *held = get_attr(dd, A_DHELD);
    if (held == NULL)
        return -1;
    int empty = PyList_Check(held) && dirn >= 0 && dirn < PyList_GET_SIZE(held)
                && PyList_Check(PyList_GET_ITEM(held, dirn)) && PyList_GET_SIZE(PyList_GET_ITEM(held, dirn)) == 0;
    Py_DECREF(held);
    return empty;
}

/* The sentinel of the _WALK_KINDS row of kind `kind` (2: _AFTER_LOSS), or of the lane that skips (kind -1: _SKIP);
 * NULL with an exception if there is none. Borrowed. */
static PyObject *lane_sentinel(long kind) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(lane_kinds); i++) {
        PyObject *row = PyTuple_GET_ITEM(lane_kinds, i);
        if (kind < 0 ? PyTuple_GET_ITEM(row, 1) == Py_True : PyLong_AsLong(PyTuple_GET_ITEM(row, 2)) == kind)
            return PyTuple_GET_ITEM(row, 0);
    }
    PyErr_SetString(PyExc_TypeError, "walk: a lane kind is missing");
    return NULL;
}

/* d's association is a (the counts it keeps wait for it: flush_quiet). 0, -1 error. */
static int entry_assoc(Entry *d, PyObject *a) {
    if (d->assoc == NULL) {
        Py_INCREF(a);
        d->assoc = a;
    } else if (d->assoc != a) {
        PyErr_SetString(PyExc_RuntimeError, "walk: a direction's association changed");
        return -1;
    }
    return 0;
}

/* The assembler of dd (a _Dicom) in *asm_ and its fragment state of (dirn, ctx) (MessageAssembler.slots) in *slot,
 * new references (*slot NULL: none). 0, -1 error. */
static int slot_of(PyObject *dd, long long dirn, long long ctx, PyObject **asm_, PyObject **slot) {
    PyObject *slots = NULL, *key = NULL;
    *slot = NULL;
    if ((*asm_ = get_attr(dd, A_ASSEMBLER)) == NULL || (slots = get_attr(*asm_, A_SLOTS)) == NULL
            || (key = Py_BuildValue("(LL)", dirn, ctx)) == NULL) {
        Py_XDECREF(slots);
        return -1;
    }
    *slot = PyDict_Check(slots) ? PyDict_GetItemWithError(slots, key) : NULL;
    Py_XINCREF(*slot);
    Py_DECREF(slots);
    Py_DECREF(key);
    return *slot == NULL && PyErr_Occurred() ? -1 : 0;
}

/* Analyzer._take_gap for a hole (stream offsets nxt to `to`, before frame `frame` at ts) that ends inside the data
 * PDV of d's message or _AFTER_LOSS lane, or before the end of what its _SKIP lane skips (the PDU's end not reached:
 * that one is the hook's), in C, what had been taken of d settled: _gap_in_pdv's changes, then Association.note_gap,
 * or where it would make no finding (QAssoc.counts_only) the hole counted in the entry (pgaps: flush_quiet hands the
 * holes over with Association.note_gaps). Not for the first hole of the direction (note_gap then reads what the
 * counts waiting in the entries change: the hook's, after flush_quiet). 1 done, 0 not (nothing changed: the hook
 * decides), -1 error. */
RARE static int gap_pdv(Entry *d, long long nxt, long long to, long long frame, long long ts) {
    PyObject *f = d->f, *dd = NULL, *pdv = NULL, *a = NULL, *loss = NULL, *asm_ = NULL, *slot = NULL, *msg = NULL,
             *cmd = NULL, *lost = NULL, *v = NULL;
    long long n = to - nxt, rem, off, dirn, gaps, skip_to = 0;
    int r, result = 0;
    PyObject *after = lane_sentinel(2), *skip_lane = lane_sentinel(-1);
    if (after == NULL || skip_lane == NULL)
        return -1;
    int after_loss = d->m == after;     /* an _AFTER_LOSS lane: the counted rest of a data set a loss ended */
    if (!d->armed || d->next || d->resync || !(d->data || d->skip || after_loss) || n <= 0)
        return 0;
    if ((r = get_ll(f, A_REMAINING, &rem)) != 0 || rem == n || (r = get_ll(f, A_OFFSET, &off)) != 0 || off != nxt
            || (r = get_ll(f, A_DIRECTION, &dirn)) != 0 || dirn < 0 || dirn > 1)
        return r < 0 ? -1 : 0;
    if ((dd = get_attr(f, A_DICOM)) == NULL)
        return -1;
    if (dd == Py_None || (r = held_empty(dd, dirn)) != 1)
        goto fail;
    if ((a = get_attr(dd, A_ASSOC)) == NULL || (loss = get_attr(a, A_LOSS)) == NULL)
        goto error;
    if (!PyList_Check(loss) || PyList_GET_SIZE(loss) != 2 || (r = get_ll(PyList_GET_ITEM(loss, dirn), A_GAPS, &gaps)) != 0
            || !gaps)
        goto fail;              /* (the direction's first hole) */
    QAssoc *qa = quiet_assoc(a, dirn);
    if (qa == NULL || (pdv = get_attr(f, A_PDV)) == NULL)
        goto error;
    if (d->skip) {              /* a hole in what the _SKIP lane skips: it skips less */
        long long skip;
        if (pdv != Py_None || (r = get_ll(f, A_PDV_SKIP, &skip)) != 0 || n >= skip)
            goto fail;
        if ((v = get_attr(f, A_STATE)) == NULL || (r = PyObject_RichCompareBool(v, pdata_state, Py_EQ)) != 1)
            goto fail;
        skip_to = skip - n;
    } else {                    /* a hole inside the lane's data PDV: the PDV is cut, the lane skips its rest */
        long long control, poff, plen, sof, ctx;
        if (pdv == Py_None || (r = get_ll(pdv, A_CONTROL, &control)) != 0 || control
                || (r = get_ll(pdv, A_PDV_OFF, &poff)) != 0 || (r = get_ll(pdv, A_PDV_LEN, &plen)) != 0
                || (r = get_ll(pdv, A_CONTEXT_ID, &ctx)) != 0 || (r = get_ll(f, A_START_OFFSET, &sof)) != 0)
            goto fail;
        long long pdv_end = sof + poff + 4 + plen;
        if (to >= pdv_end)
            goto fail;
        skip_to = pdv_end - to;
        if (after_loss) {       /* the broken chunk is the PDV's first: one more counted */
            long long done;
            if ((r = get_ll(f, A_PDV_DONE, &done)) != 0)
                goto fail;
            if (!done && count_orphan(f) < 0)
                goto error;
        } else {                /* the message: one more hole, cut by the capture */
            if (slot_of(dd, dirn, ctx, &asm_, &slot) < 0)
                goto error;
            if (slot == NULL)
                goto done;
            if ((msg = get_attr(slot, A_MSG)) == NULL || (cmd = get_attr(slot, A_CMD)) == NULL)
                goto error;
            if (msg != d->m || cmd != Py_None)
                goto done;
            if ((v = get_attr(f, A_END_TS)) == NULL || set_attr(msg, A_END_TS_NS, v) < 0
                    || add_ll(slot, A_HOLE, 1) < 0 || set_attr(msg, A_MCUT, capture_loss) < 0)
                goto error;
        }
        if (set_attr(f, A_PDV, Py_None) < 0 || set_obj(f, A_PDVHDR, PyByteArray_FromStringAndSize(NULL, 0)) < 0
                || set_attr(f, A_FAST, skip_lane) < 0 || set_attr(f, A_FAST_FEED, Py_None) < 0)
            goto error;
    }
    if ((lost = get_attr(f, A_LOST)) == NULL)
        goto error;
    PyObject *hole = Py_BuildValue("(LL)", nxt, n);
    r = hole == NULL || !PyList_Check(lost) ? -1 : PyList_Append(lost, hole);
    Py_XDECREF(hole);
    if (r < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "walk: a framer's lost is a list");
        goto error;
    }
    if (set_ll(f, A_PDV_SKIP, skip_to) < 0 || add_ll(f, A_REMAINING, -n) < 0 || set_ll(f, A_OFFSET, to) < 0)
        goto error;
    if (qa->counts_only[dirn]) {            /* only counts: they wait in the entry (flush_quiet: note_gaps) */
        if (entry_assoc(d, a) < 0)
            goto error;
        d->pdir = dirn;
        d->pgaps++;
        d->pgbytes += n;
        d->pgframe = frame;
        if (ts)
            d->pgts = ts;
    } else {
        Py_CLEAR(v);
        if ((v = call_method(a, A_NOTE_GAP, "(LLLL)", n, frame, dirn, ts)) == NULL)
            goto error;
    }
    result = 1;
    goto done;
fail:
    result = r < 0 ? -1 : 0;
    goto done;
error:
    result = -1;
done:
    Py_XDECREF(dd);
    Py_XDECREF(pdv);
    Py_XDECREF(a);
    Py_XDECREF(loss);
    Py_XDECREF(asm_);
    Py_XDECREF(slot);
    Py_XDECREF(msg);
    Py_XDECREF(cmd);
    Py_XDECREF(lost);
    Py_XDECREF(v);
    return result;
}

/* Analyzer._quiet_hook's most usual shape, in C: the record (n bytes at fo in frame, at ts) that ends exactly the
 * P-DATA-TF a capture gap cut, on d's _SKIP lane, what had been taken of d settled: when _cut_countable allows it
 * (the message _after_cut finds, Association.quiet_cut_ok), _count_cut (Association.count_quiet_cut, the framer's
 * fresh unit as _reset_unit leaves it, waiting for the next P-DATA-TF: _NEXT) and the reassembler's offset past the
 * record. Where count_quiet_cut would make no finding (QAssoc.counts_only) the walk answers quiet_cut_ok from its
 * QAssoc and the cut waits with the quiet counts in the entry (pcuts, pkept: flush_quiet), else the counts waiting in
 * ent[0:nent] are handed over first and the association's methods are called. 1 done, 0 not (nothing changed but
 * what was handed over: the hook decides), -1 error. */
RARE static int cut_end(Entry *ent, int nent, Entry *d, long long frame, long long fo, long long n, long long ts) {
    PyObject *f = d->f, *pdv = NULL, *pdvs = NULL, *dd = NULL, *asm_ = NULL, *slot = NULL, *msg = NULL, *cmd = NULL,
             *dsp = NULL, *a = NULL, *v = NULL, *sp = NULL, *flat = NULL, *lost = NULL;
    long long skip, rem, dirn, ctx, control, hole, flen, fstart, ptype;
    int r = 0, result = 0;
    if (stream_data || quiet_out != NULL || !d->skip)
        return 0;
    if ((r = get_ll(f, A_PDV_SKIP, &skip)) != 0 || skip != n || (r = get_ll(f, A_REMAINING, &rem)) != 0 || rem != n
            || (r = get_ll(f, A_PDU_TYPE, &ptype)) != 0 || ptype != 4
            || (r = get_ll(f, A_DIRECTION, &dirn)) != 0 || dirn < 0 || dirn > 1)
        return r < 0 ? -1 : 0;
    if ((pdv = get_attr(f, A_PDV)) == NULL || (pdvs = get_attr(f, A_PDVS)) == NULL)
        goto error;
    if (pdv != Py_None || !PyList_CheckExact(pdvs) || PyList_GET_SIZE(pdvs) != 1)
        goto done;
    PyObject *last = PyList_GET_ITEM(pdvs, 0);      /* borrowed */
    if ((r = get_ll(last, A_CONTROL, &control)) != 0 || control || (r = get_ll(last, A_CONTEXT_ID, &ctx)) != 0)
        goto fail;
    if ((dd = get_attr(f, A_DICOM)) == NULL)
        goto error;
    if (dd == Py_None || (r = held_empty(dd, dirn)) != 1)
        goto fail;
    /* _after_cut: the message the cut PDV was on, its data set nobody reads, with a hole */
    if (slot_of(dd, dirn, ctx, &asm_, &slot) < 0)
        goto error;
    if (slot == NULL) {
        msg = Py_None;
        Py_INCREF(msg);
    } else if ((msg = get_attr(slot, A_MSG)) == NULL) {
        goto error;
    }
    PyObject *next = msg;       /* what the next P-DATA-TFs continue: the message, or _AFTER_LOSS */
    if (msg == Py_None) {       /* no message: the counted rest of a data set a loss ended, once that was reported */
        long long state = 0;
        PyObject *ls = get_attr(asm_, A_LOSS_STATE);
        if (ls == NULL)
            goto error;
        r = PyList_Check(ls) && PyList_GET_SIZE(ls) == 2 ? get_ll_item(ls, dirn, &state) : 1;
        Py_DECREF(ls);
        if (r != 0 || state != 2)
            goto fail;
        if ((next = lane_sentinel(2)) == NULL)
            goto error;
    } else {
        if ((cmd = get_attr(slot, A_CMD)) == NULL)
            goto error;
        if (cmd != Py_None || (r = get_ll(slot, A_HOLE, &hole)) != 0 || !hole)
            goto fail;
        if ((dsp = get_attr(msg, A_DATA_SPANS)) == NULL)
            goto error;
        if (dsp == Py_None)
            goto done;
    }
    /* _quiet_cut_ok: the loss its only finding, its one data PDV, and the association's quiet_cut_ok */
    if ((r = empty_attr(f, A_LOST)) != 0 || (r = empty_attr(f, A_FINDINGS)) != 1)
        goto fail;
    if ((r = get_ll(f, A_LENGTH, &flen)) != 0 || (r = get_ll(f, A_START_TS, &fstart)) != 0)
        goto fail;
    if ((a = get_attr(dd, A_ASSOC)) == NULL)
        goto error;
    QAssoc *qa = quiet_assoc(a, dirn);
    if (qa == NULL)
        goto error;
    int counted = qa->counts_only[dirn] && qa->limit[dirn] >= 0;
    if (counted) {              /* quiet_cut_ok, from what the walk holds (quiet_step's test, and no cut the other way) */
        long long lim = qa->limit[dirn], other = 0;
        if (qa->read[1 - dirn]) {
            other = qa->cuts[1 - dirn];
        } else {                /* (the other direction's quiet PDUs as the association has them: none counted here) */
            PyObject *quiet = get_attr(a, A_QUIET);
            if (quiet == NULL)
                goto error;
            PyObject *oq = PyList_Check(quiet) && PyList_GET_SIZE(quiet) == 2 ? PyList_GET_ITEM(quiet, 1 - dirn) : NULL;
            r = oq == NULL ? 1 : oq == Py_None ? 0 : get_ll_item(oq, 9, &other);
            Py_DECREF(quiet);
            if (r != 0)
                goto fail;
        }
        if (other || ts < qa->max_end || fstart - qa->max_end > IDLE_GAP_NS || !qa->ok
                || (qa->qctx[dirn] >= 0 && qa->qctx[dirn] != ctx) || (lim && flen > lim))
            goto done;
    } else {
        qa = NULL;              /* (flush_quiet forgets the walk's QAssoc states) */
        if (flush_quiet(ent, nent) < 0
                || (v = call_method(a, A_QUIET_CUT_OK, "(LLLLL)", dirn, ctx, flen, fstart, ts)) == NULL)
            goto error;
        if ((r = PyObject_IsTrue(v)) != 1)
            goto fail;
        Py_CLEAR(v);
    }
    /* _count_cut: the record's bytes in the PDU's spans (SpanMap.add_new), the PDU counted */
    if (set_attr(f, A_FAST_COLL, Py_None) < 0 || (sp = get_attr(f, A_SPANS)) == NULL || (flat = get_attr(sp, A_FLAT)) == NULL)
        goto error;
    long long cnt, lim, slen;
    if (!PyList_CheckExact(flat) || PyList_GET_SIZE(flat) % 4 || get_ll(sp, A_COUNT, &cnt) != 0
            || get_ll(sp, A_LIMIT, &lim) != 0 || get_ll(sp, A_LENGTH, &slen) != 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "walk: a framer's spans are a SpanMap of a list");
        goto error;
    }
    if (cnt < lim) {
        PyObject *quad = Py_BuildValue("[LLLL]", slen, frame, fo, n);
        r = quad == NULL ? -1 : PyList_SetSlice(flat, PyList_GET_SIZE(flat), PyList_GET_SIZE(flat), quad);
        Py_XDECREF(quad);
        if (r < 0 || set_ll(sp, A_COUNT, cnt + 1) < 0)
            goto error;
    } else if (add_ll(sp, A_DROPPED, 1) < 0) {
        goto error;
    }
    slen += n;
    if (set_ll(sp, A_LENGTH, slen) < 0)
        goto error;
    Py_ssize_t nf = PyList_GET_SIZE(flat);
    long long first = nf ? PyLong_AsLongLong(PyList_GET_ITEM(flat, 1)) : 0;
    long long lastf = nf ? PyLong_AsLongLong(PyList_GET_ITEM(flat, nf - 3)) : 0;
    if (PyErr_Occurred() || (lost = get_attr(f, A_LOST)) == NULL)
        goto error;
    if (counted) {              /* count_quiet_cut's counts, with the quiet counts waiting in the entry */
        if (entry_assoc(d, a) < 0)
            goto error;
        /* (its captured bytes; its frames as _touch_both reads them; its last frame not one count_quiet_cut makes the
         * direction's last PDU end: 0) */
        pend_quiet(d, dirn, ctx, 1, slen, first, fstart, 0, first ? first : lastf, first > lastf ? first : lastf, 0,
                   first, ts);
        d->pcuts++;
        if (qa->room[dirn] > 0) {
            PyObject *cut = Py_BuildValue("(LOL)", first, lost, flen);
            if (cut == NULL || (d->pkept == NULL && (d->pkept = PyList_New(0)) == NULL)
                    || PyList_Append(d->pkept, cut) < 0) {
                Py_XDECREF(cut);
                goto error;
            }
            Py_DECREF(cut);
            qa->room[dirn]--;
        }
        qa->max_end = ts;
        qa->qctx[dirn] = ctx;
        qa->cuts[dirn]++;
    } else if ((v = call_method(a, A_COUNT_QUIET_CUT, "(LLLLLLLLO)", dirn, ctx, flen, fstart, ts, slen, first, lastf,
                                lost)) == NULL) {
        goto error;
    }
    /* the framer's count and offset, its fresh unit (_reset_unit), waiting for the next P-DATA-TF of msg (_NEXT) */
    long long off, pdus;
    if (get_ll(f, A_OFFSET, &off) != 0 || get_ll(f, A_PDUS, &pdus) != 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "walk: a framer's offset and count are ints");
        goto error;
    }
    if (fresh_unit(f, flen, 1) < 0 || framer_at(f, pdus + 1, off + n) < 0 || set_attr(f, A_FAST, lane_next) < 0
            || set_attr(f, A_NEXT_MSG, next) < 0 || set_ll(f, A_NEXT_CTX, ctx) < 0)
        goto error;
    /* the reassembler's offset past the record (_quiet_hook) */
    if (add_ll(d->x, A_NXT, n) < 0 || set_ll(d->x, A_LAST_FRAME, frame) < 0)
        goto error;
    result = 1;
    goto done;
fail:
    result = r < 0 ? -1 : 0;
    goto done;
error:
    result = -1;
done:
    Py_XDECREF(pdv);
    Py_XDECREF(pdvs);
    Py_XDECREF(dd);
    Py_XDECREF(asm_);
    Py_XDECREF(slot);
    Py_XDECREF(msg);
    Py_XDECREF(cmd);
    Py_XDECREF(dsp);
    Py_XDECREF(a);
    Py_XDECREF(v);
    Py_XDECREF(sp);
    Py_XDECREF(flat);
    Py_XDECREF(lost);
    return result;
}

/* Analyzer._quiet_hook's next shape, in C: the record (n bytes at p: frame, fo, ts) on d's _SKIP lane ends the
 * P-DATA-TF a capture gap cut (its first pdv_skip bytes) and goes on with whole P-DATA-TFs of one data PDV each on
 * the cut PDV's context and/or the start of one whose PDV goes past it, none the last fragment: Analyzer._pdu_step's
 * _SKIP branch with quiet=2. Its shape, the receiver's limit for the whole ones and no collector to feed checked
 * first; then cut_end takes the cut PDU's end (nothing changed if it does not), and the rest is what the walk takes
 * of a segment on the _NEXT lane that leaves (begin_pdu, quiet_step): counted as _pdu_step counts it once
 * _quiet_cut_ok allowed the cut one (its PDUs end last, after no gap, on that context). 1 taken, 0 not (nothing
 * changed but what cut_end hands over before it declines), -1 error. */
RARE static int cut_cross(Entry *ent, int nent, Entry *d, const unsigned char *p, long long n, long long frame,
                          long long fo, long long ts) {
    PyObject *f = d->f;
    long long k, ctx, dirn;
    int r;
    if (stream_data || quiet_out != NULL || !d->skip)
        return 0;
    if ((r = get_ll(f, A_PDV_SKIP, &k)) != 0 || k <= 0 || k >= n || (r = get_ll(f, A_DIRECTION, &dirn)) != 0
            || dirn < 0 || dirn > 1)
        return r < 0 ? -1 : 0;
    PyObject *pdvs = get_attr(f, A_PDVS);
    if (pdvs == NULL)
        return -1;
    r = PyList_CheckExact(pdvs) && PyList_GET_SIZE(pdvs) == 1 ? get_ll(PyList_GET_ITEM(pdvs, 0), A_CONTEXT_ID, &ctx) : 1;
    Py_DECREF(pdvs);
    if (r != 0)
        return r < 0 ? -1 : 0;
    /* the rest's shape, as quiet_step reads it */
    const unsigned char *q = p + k;
    long long m = n - k, pos = 0, longest = 0;
    int nwhole = 0;
    while (pos < m) {
        const unsigned char *h = q + pos;
        if (m - pos < 12 || nwhole >= MAX_WHOLE)
            return 0;
        long long length = be32(h + 2), plen = be32(h + 6);
        if (h[0] != 4 || h[1] != 0 || length != plen + 4 || h[10] != ctx || (h[11] & ~2) || plen <= 2)
            return 0;
        if (m - pos - 12 < plen - 2)
            break;
        if (h[11])
            return 0;           /* the last fragment: the message ends (Python's) */
        if (length > longest)
            longest = length;
        nwhole++;
        pos += 10 + plen;
    }
    if (nwhole) {               /* the receiver's limit (Association.receive_limit) for the whole ones */
        PyObject *dd = get_attr(f, A_DICOM);
        if (dd == NULL)
            return -1;
        PyObject *a = dd == Py_None ? NULL : get_attr(dd, A_ASSOC);
        Py_DECREF(dd);
        if (a == NULL)
            return PyErr_Occurred() ? -1 : 0;
        QAssoc *qa = quiet_assoc(a, dirn);
        Py_DECREF(a);           /* (the walk's QAssoc holds it) */
        if (qa == NULL)
            return -1;
        long long lim = qa->limit[dirn];
        if (lim < 0 || (lim && longest > lim))
            return 0;
    }
    if (d->feed == NULL && (r = feeding(f)) != 0)  /* a collector the walk does not feed: Python's */
        return r < 0 ? -1 : 0;
    /* the cut PDU's end, then the rest on the _NEXT lane it leaves */
    if ((r = cut_end(ent, nent, d, frame, fo, k, ts)) <= 0)
        return r;
    if (rearm(d) < 0)
        return -1;
    r = !d->next ? 0 : begin_pdu(d, q, (Py_ssize_t)m, frame, fo + k, ts);
    if (r == 0 && d->next)
        r = quiet_step(d, q, (Py_ssize_t)m, frame, fo + k, ts);
    if (r == 0) {
        PyErr_SetString(PyExc_RuntimeError, "walk: the P-DATA-TFs after a cut one were not counted as checked");
        return -1;
    }
    return r < 0 ? -1 : 1;
}

/* Apply what the walk took of a direction, as repeated feed_record calls would have. */
static int settle(Entry *d) {
    long long last = 0;
    if (d->ndef && materialize(d, 0) < 0)
        return -1;
    if (get_ll(d->st, A_LAST, &last) < 0)
        return -1;
    if (d->last_any > last && (set_ll(d->st, A_LAST, d->last_any) < 0 || set_ll(d->st, A_TS, d->last_any_ts) < 0))
        return -1;
    PyObject *ack = PyLong_FromUnsignedLong(d->ack);
    if (ack == NULL)
        return -1;
    int r = set_attr(d->peer, A_ACK, ack);
    Py_DECREF(ack);
    if (r < 0)
        return -1;
    if (d->held_added && add_ll(d->x, A_HELD, d->held_added) < 0)
        return -1;
    if (d->did_hold && (set_attr(d->x, A_READY, Py_False) < 0
                        || set_attr(d->x, A_WAIT, Py_True) < 0))
        return -1;                  /* (_Dir.refresh: open, a piece pending) */
    return settle_lane(d);
}

/* f.dicom.assembler.orphans_after_loss[f.direction] += 1 (_advance, at a PDV's first bytes after a loss). */
static int count_orphan(PyObject *f) {
    int r;
    PyObject *dd = get_attr(f, A_DICOM);
    PyObject *asm_ = dd ? get_attr(dd, A_ASSEMBLER) : NULL;
    PyObject *lst = asm_ ? get_attr(asm_, A_ORPHANS) : NULL;
    long long dirn = 0;
    r = lst == NULL ? -1 : get_ll(f, A_DIRECTION, &dirn);
    PyObject *item = r == 0 && PyList_Check(lst) && dirn >= 0 && dirn < PyList_GET_SIZE(lst)
                     ? PyList_GET_ITEM(lst, dirn) : NULL;                   /* borrowed */
    PyObject *one = item ? PyLong_FromLong(1) : NULL;
    PyObject *sum = one ? PyNumber_Add(item, one) : NULL;
    if (sum == NULL && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "walk: orphans_after_loss is a list of two ints");
    r = sum == NULL ? -1 : PyList_SetItem(lst, dirn, sum);                 /* steals sum */
    Py_XDECREF(one);
    Py_XDECREF(lst);
    Py_XDECREF(asm_);
    Py_XDECREF(dd);
    if (r < 0)
        return -1;
    return 0;
}

/* The part of settle() that applies the payload a direction's lane took: the reassembler's next offset and
 * last frame, the framer's remainders, offset, end time and spans, the message's data spans, end time and
 * its collector's length. */
static int settle_lane(Entry *d) {
    int r;
    if (!d->taken)
        return 0;
    PyObject *f = d->f;
    if (d->counted && count_orphan(f) < 0)   /* the rest of a data set a loss ended: one more PDV counted */
        return -1;
    if (add_ll(d->x, A_NXT, d->taken) < 0 || set_ll(d->x, A_LAST_FRAME, d->last_data) < 0)
        return -1;
    if (d->resync)                          /* held candidate bytes: only the framer's offset moves */
        return add_ll(f, A_OFFSET, d->taken);
    if (d->skip) {
        if (add_ll(f, A_PDV_SKIP, -d->taken) < 0)
            return -1;
    } else if (add_ll(f, A_PDV_LEFT, -d->taken) < 0 || add_ll(f, A_PDV_DONE, d->taken) < 0) {
        return -1;
    }
    if (add_ll(f, A_REMAINING, -d->taken) < 0 || add_ll(f, A_OFFSET, d->taken) < 0
            || set_ll(f, A_END_TS, d->last_data_ts) < 0)
        return -1;
    PyObject *sp = get_attr(f, A_SPANS);
    if (sp == NULL)
        return -1;
    r = settle_spans(sp, d->fquads, d->fdrop, d->taken);
    Py_DECREF(sp);
    if (r < 0 || !d->data)
        return r;
    /* a data set nobody reads: counted, its spans kept as evidence (_advance) */
    if ((sp = get_attr(d->m, A_DATA_SPANS)) == NULL)
        return -1;
    r = settle_raw(sp, d->dquads, d->ddrop, d->taken);
    Py_DECREF(sp);
    if (r < 0)
        return -1;
    long long counted = d->taken;           /* bytes f.fast_coll counts (none while a collector is fed) */
    if (d->feed != NULL) {                  /* the collector the walk fed: its length, and full: only counted */
        if (d->fed && add_ll(d->feed, A_LENGTH, d->fed) < 0)
            return -1;
        d->fed = 0;
        counted = 0;
        if (d->saturated) {
            if (set_attr(f, A_FAST_COLL, d->feed) < 0
                    || set_attr(f, A_FAST_FEED, Py_None) < 0)
                return -1;
            counted = d->taken - d->coll_from;
            Py_CLEAR(d->feed);
            Py_CLEAR(d->feedbuf);
            d->saturated = 0;
        }
    }
    return message_took(f, d->m, d->last_data_ts, counted);
}

/* d's lane not armed (its fields cleared) before it is armed again on the framer's new state. */
static void disarm(Entry *d) {
    Py_CLEAR(d->m);
    Py_CLEAR(d->next_msg);
    Py_CLEAR(d->rbuf);
    Py_CLEAR(d->rpieces);
    d->armed = d->skip = d->data = d->next = d->resync = 0;
}

/* flush_deferred's start for segments held since an earlier walk (pe->did_hold 0, its lane not armed: x.pending
 * holds Python pieces, the walk's own deferred segments come after them): flush_c's steps in the walk, the hole
 * before the first piece declared where gap_pdv takes it, then the pieces delivered as take_held delivers them
 * (take_pending, the lane armed as for take_held: no collector fed); when that delivered all of them, the lane armed
 * for the walk again at x.nxt (x and its peer ready again: nothing pending) and what follows left to flush_deferred's
 * loop (2: pe->nxt_off and the others set as after its first hole). 0 not (nothing changed but the lane's state
 * read), 1 done (nothing deferred), 6 the rest Python's (the deferred segments made pieces after those left),
 * -1 error. */
RARE static int flush_mixed(Entry *d, Entry *pe, uint32_t ack) {
    PyObject *x = pe->x, *pend = pe->pend;
    long long q0off, q0frame, q0ts, nxt, base, off;
    int r;
    PyObject *q0 = PyList_GET_ITEM(pend, 0);    /* borrowed */
    if ((r = get_ll(q0, A_OFF, &q0off)) != 0 || (r = get_ll(q0, A_FRAME, &q0frame)) != 0
            || (r = get_ll(q0, A_TS, &q0ts)) != 0 || (r = get_ll(x, A_NXT, &nxt)) != 0
            || (r = get_ll(x, A_BASE, &base)) != 0)
        return r < 0 ? -1 : 0;
    uint32_t at_seq = (uint32_t)((unsigned long long)base + (unsigned long long)nxt);
    long long acked = nxt + (long long)(int32_t)(ack - at_seq);
    if (acked < q0off || q0off <= nxt || nxt != pe->nxt_off || at_seq != pe->nxt_seq)
        return 0;
    uint32_t hseq = pe->seq;
    walk_feeds = 0;                             /* (as take_held: the pieces' bytes are Python's) */
    if (arm_lane(pe) < 0)
        goto fail;
    if ((r = gap_pdv(pe, nxt, q0off, q0frame, q0ts)) <= 0) {
        if (r < 0 || flush_quiet(pe, 1) < 0)
            goto fail;
        disarm(pe);                             /* (nothing changed: the flush hook's) */
        pe->seq = hseq;
        walk_feeds = 1;
        return 0;
    }
    if (set_ll(x, A_NXT, q0off) < 0 || set_attr(x, A_CUT, Py_False) < 0)
        goto fail;
    disarm(pe);
    resync_empty = 1;                           /* (take_held's: a search's lane included) */
    r = arm_lane(pe);
    resync_empty = 0;
    if (r < 0 || get_ll(pe->f, A_OFFSET, &off) < 0)
        goto fail;
    long long k = pe->armed || pe->resync || pe->next ? take_pending(pe, off, 1) : 0;
    if (k < 0 || flush_quiet(pe, 1) < 0)
        goto fail;
    Py_CLEAR(pe->fquads);                       /* (take_pending settled what the lane took) */
    Py_CLEAR(pe->dquads);
    pe->taken = pe->fdrop = pe->ddrop = 0;
    pe->counted = 0;
    disarm(pe);
    walk_feeds = 1;
    if (PyList_GET_SIZE(pend) > 0) {            /* pieces its lane did not take: the rest is Python's */
        if (materialize(pe, 0) < 0)
            return -1;
        pe->did_hold = 1;
        return 6;
    }
    if (refresh_dir(x) < 0 || refresh_dir(d->x) < 0 || get_ll(x, A_NXT, &nxt) < 0 || arm_lane(pe) < 0)
        return -1;
    at_seq = (uint32_t)((unsigned long long)base + (unsigned long long)nxt);
    pe->held = pe->did_hold = 0;                /* x does not wait while the walk delivers (nor after) */
    d->ack_ok = 1;
    d->ack_hole = d->stopped = 0;
    pe->nxt_off = nxt;
    pe->nxt_seq = pe->seq = at_seq;
    if (pe->ndef == 0) {
        pe->held_added = 0;
        return 1;
    }
    if (!pe->armed || pe->next || pe->resync) {     /* (its lane not one the loop delivers on: Python's) */
        if (materialize(pe, 0) < 0)
            return -1;
        pe->held = pe->did_hold = 1;
        return 6;
    }
    pe->held_added = 0;
    return 2;
fail:
    walk_feeds = 1;
    return -1;
}

/* flush_deferred's delivery of the held segment q on pe's lane: as the walk takes an in-order record (in_order), or on
 * a searching lane as hold_candidate holds it (the bytes its candidate needs, not the last of them: take_held's); with
 * `search` the last of them too, as take() holds them for the search hook. 1 taken, 2 taken and the candidate's
 * bytes complete (its search is Python's), 0 not (nothing changed), -1 error. */
static int deliver_held(Entry *pe, const struct Deferred *q, int search) {
    if (!pe->resync)
        return in_order(pe, q->at, (Py_ssize_t)q->n, pe->seq, q->frame, q->fo, q->ts);
    if (q->n >= pe->budget && !search)
        return 0;
    if (hold_bytes(pe, at_ptr(q->at), (Py_ssize_t)q->n, q->frame, q->fo, q->ts) < 0)
        return -1;
    pe->seq += (uint32_t)q->n;
    return pe->budget <= 0 ? 2 : 1;
}

/* The first of flush_deferred's steps that Python takes: the ACK recorded first (as feed_record records it before
 * its flush), and x waiting (not ready) while its held segments are delivered, as the held path's x is. 0, -1. */
static int seal_begin(Entry *d, Entry *pe, long long number, long long ts, uint32_t ack) {
    if (hook_record(d->x, number, ts, ack) < 0 || set_attr(pe->x, A_READY, Py_False) < 0
            || set_attr(pe->x, A_WAIT, Py_True) < 0)
        return -1;
    return 0;
}

/* One step of a flush given to Python (Analyzer._seal_hook, the held path's sealing): with to >= 0 the hole from
 * x.nxt to `to` declared (TcpReassembler._gap, before frame `frame` at ts), -1 the one piece at the front of
 * x.pending delivered (TcpReassembler._drain), -2 the search of a candidate whose bytes the lane just completed
 * (as Analyzer._search_hook makes it); what the walk took of the stream applied first, the counts waiting
 * handed over. Then pe's lane armed again on the framer's new state (a search's included, as take_held arms it) and
 * the receiver's lane left unarmed for the rest of the walk (its framer may now see this one search). 1 done, x.nxt
 * at `want`; 0 x.nxt elsewhere (the rest is Python's); -1 error. */
static int seal_step(Entry *ent, int nent, Entry *d, Entry *pe, long long to, long long frame, long long ts,
                     long long want) {
    PyObject *x = pe->x;
    if (flush_quiet(ent, nent) < 0 || settle_taken(pe) < 0 || settle_taken(d) < 0)
        return -1;
    PyObject *r = PyObject_CallFunction(seal_hook, "OLLL", x, to, frame, ts);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    st_sealed++;
    if (walk_ctx(walk_ctx_arg) < 0)     /* (the hook's take_held set its own) */
        return -1;
    disarm(d);
    disarm(pe);
    long long nxt, base;
    int k;
    if ((k = get_ll(x, A_NXT, &nxt)) != 0 || (k = get_ll(x, A_BASE, &base)) != 0)
        return k < 0 ? -1 : 0;
    if (nxt != want || PyList_GET_SIZE(pe->pend) != 0)
        return 0;
    resync_empty = 1;
    k = arm_lane(pe);
    resync_empty = 0;
    if (k < 0)
        return -1;
    pe->seq = (uint32_t)((unsigned long long)base + (unsigned long long)nxt);
    return 1;
}

/* feed_record's flush (Analyzer._flush_hook) for a pure ACK of the receiver entry d, acknowledging `ack`, that reaches
 * past the hole before the segments its peer's entry pe held in this walk (hold_first: nothing was pending before,
 * all still deferred, pe's lane armed on a data PDV nobody reads; or since an earlier walk, its Python pieces
 * delivered first: flush_mixed), when gap_pdv takes that hole: the hole declared
 * (TcpReassembler._gap, Analyzer._take_gap), then the segments after it delivered from the walk's buffer as the
 * walk takes in-order records (in_order: Analyzer._take_held and the lanes take them so), x ready again (nothing
 * pending) and the receiver's ACKs taken again. A hole gap_pdv does not declare (a PDU header lost in it) and a
 * segment the lane does not take (the next message's command set) are given to Python one step at a time
 * (seal_step, under the held path's sealing) and the walk goes on delivering after them. 1 done (the ACK is taken as
 * any), 0 not (nothing changed but what was taken of pe settled: the flush hook's, 2), 6 Python took steps of it
 * (their events are Analyzer._drain_hook's to return), or what was left made Python pieces, held as before (the
 * rest is the drain hook's), -1 error. */
RARE static int flush_deferred(Entry *ent, int nent, Entry *d, uint32_t ack, long long number, long long ts) {
    Entry *pe = NULL;
    for (int i = 0; i < nent; i++)
        if (ent[i].x == d->peer)
            pe = &ent[i];
    long long held = pe != NULL ? pe->held_added : 0;
    if (pe != NULL && pe->held && !pe->did_hold && drain_hook != NULL && !pe->armed && !pe->next && !pe->resync
            && !pe->taken && pe->pend != NULL && PyList_CheckExact(pe->pend) && PyList_GET_SIZE(pe->pend) > 0) {
        int m = flush_mixed(d, pe, ack);        /* (held since an earlier walk: Python pieces first) */
        st_mixed += m > 0;
        if (m != 2)
            return m;
    } else {
        if (pe == NULL || !pe->held || !pe->did_hold || pe->ndef == 0 || drain_hook == NULL
                || !(pe->armed || pe->next || pe->resync) || !PyList_CheckExact(pe->pend)
                || PyList_GET_SIZE(pe->pend) != 0)
            return 0;
        if (pe->nxt_off + (long long)(int32_t)(ack - pe->nxt_seq) < pe->def[0].off || pe->def[0].off <= pe->nxt_off)
            return 0;
    }
    long long at = pe->nxt_off;                 /* x.nxt once what was taken of pe is settled */
    long long acked = at + (long long)(int32_t)(ack - pe->nxt_seq), nxt;
    int r, i = 0, sealed = 0;
    int sealing = seal_hook != NULL && !d->held && !d->did_hold && PyList_CheckExact(pe->pend);
    while (i < pe->ndef) {
        struct Deferred *q = &pe->def[i];
        if (q->off > at) {                      /* a hole before it: TcpReassembler._ack_flush's next round */
            if (acked < q->off) {
                if (acked > at)                 /* (only part of it acknowledged: Python's) */
                    goto rest;
                break;                          /* (none of it: it waits, held) */
            }
            if (settle_taken(pe) < 0)
                return -1;
            if ((r = get_ll(pe->x, A_NXT, &nxt)) != 0 || nxt != at) {
                if (r < 0)
                    return -1;
                if (sealed)
                    goto rest;
                return 0;
            }
            if ((r = gap_pdv(pe, at, q->off, q->frame, q->ts)) < 0)
                return -1;
            if (r == 0) {                       /* a hole gap_pdv does not declare (a PDU header lost): Python's */
                if (!sealing) {
                    if (i == 0)                 /* (nothing changed: the flush hook's) */
                        return 0;
                    goto rest;
                }
                if (!sealed && seal_begin(d, pe, number, ts, ack) < 0)
                    return -1;
                sealed = 1;
                if ((r = seal_step(ent, nent, d, pe, q->off, q->frame, q->ts, q->off)) <= 0) {
                    if (r < 0)
                        return -1;
                    goto rest;
                }
            } else if (set_ll(pe->x, A_NXT, q->off) < 0 || set_attr(pe->x, A_CUT, Py_False) < 0 || rearm(pe) < 0) {
                return -1;
            }
            at = q->off;
            if (i == 0) {                       /* x does not wait while the walk delivers (nor after) */
                pe->held = pe->did_hold = 0;
                pe->held_added = 0;
                d->ack_ok = 1;
                d->ack_hole = d->stopped = 0;
                if (pe->restored) {             /* (its flags were settled as waiting: as Python's refresh sets them) */
                    pe->restored = 0;
                    if (refresh_dir(pe->x) < 0 || refresh_dir(d->x) < 0)
                        return -1;
                }
            }
        }
        if (q->off != at || (pe->resync && !sealing))   /* (an overlap: cannot be, the walk held none) */
            goto rest;
        if ((r = deliver_held(pe, q, sealing)) < 0)
            return -1;
        if (r == 2) {                           /* it completes what the search's candidate needs: the search
                                                 * Python's (as the walk's search hook makes it), alone */
            if (!sealed && seal_begin(d, pe, number, ts, ack) < 0)
                return -1;
            sealed = 1;
            if ((r = seal_step(ent, nent, d, pe, -2, 0, 0, q->off + q->n)) <= 0) {
                if (r < 0)
                    return -1;
                i++;                            /* (delivered) */
                held -= q->n;
                goto rest;
            }
        } else if (r == 0) {                    /* a segment the lane does not take: Python's, alone */
            if (!sealing)
                goto rest;
            if (!sealed && seal_begin(d, pe, number, ts, ack) < 0)
                return -1;
            sealed = 1;
            PyObject *piece = new_piece(q->off, q->off + q->n, (const char *)at_ptr(q->at), (Py_ssize_t)q->n,
                                        q->frame, q->fo, q->ts);
            r = piece == NULL ? -1 : PyList_Append(pe->pend, piece);
            Py_XDECREF(piece);
            if (r < 0 || add_ll(pe->x, A_HELD, q->n) < 0)
                return -1;
            if ((r = seal_step(ent, nent, d, pe, -1, 0, 0, q->off + q->n)) <= 0) {
                if (r < 0)
                    return -1;
                i++;                            /* (it is Python's already) */
                held -= q->n;
                goto rest;
            }
        }
        at += q->n;
        held -= q->n;
        i++;
        st_delivered++;
    }
    st_flushed++;
    if (i < pe->ndef) {                         /* the rest waits behind the next hole, held by the walk */
        memmove(pe->def, pe->def + i, (size_t)(pe->ndef - i) * sizeof *pe->def);
        pe->ndef -= i;
        pe->held = pe->did_hold = 1;
        pe->held_added = held;
        pe->nxt_off = at;
        pe->nxt_seq = pe->seq;
        pe->seq = pe->nxt_seq + (uint32_t)(pe->pend_end - at);
        d->ack_ok = 0;
        d->ack_hole = d->stopped = 1;
        d->hole_seq = pe->nxt_seq;
        return sealed ? 6 : 1;                  /* (Python's steps: the drain hook returns their events) */
    }
    pe->ndef = 0;
    return sealed ? 6 : 1;
rest:                                           /* the rest is Python's: pieces held as before, the drain hook's */
    st_drained++;
    if (materialize(pe, i) < 0)
        return -1;
    pe->held = pe->did_hold = 1;
    pe->held_added = held;
    return 6;
}

/* take_held's step for a held piece p[0:n] (frame, fo, ts; its bytes object data) that its lane's budget does not
 * cover, with quiet P-DATA-TFs allowed: what the walk takes of such a record: on a _NEXT lane the next P-DATA-TF
 * begins (begin_pdu), or the PDUs the piece ends are counted (quiet_end, with the quiet hook for the shapes
 * quiet_step leaves, the end of a P-DATA-TF a loss cut above all). 1 taken, 0 not (what was taken before stays
 * applied), -1 error. */
static int held_step(Entry *d, PyObject *data, const unsigned char *p, Py_ssize_t n, long long frame, long long fo,
                     long long ts) {
    if (d->next) {
        int r = begin_pdu(d, p, n, frame, fo, ts);
        if (r != 0)
            return r;
    }
    return quiet_end(d, d, 1, data, p, 0, frame, fo, (long long)n, ts);
}

/* One piece (its bytes object or memoryview data, n bytes at fo in frame, at ts) for take_held's loop on e's lane:
 * 1 taken, 0 not (nothing changed by it), -1 error. */
static int take_piece(Entry *e, PyObject *data, long long n, long long frame, long long fo, long long ts, int quiet) {
    if (e->armed && n < e->budget) {        /* _advance: only counted */
        if (add_spans(e, frame, fo, n) < 0)
            return -1;
        took(e, n, frame, ts);
        return 1;
    }
    if (!(e->resync ? n < e->budget : quiet && (e->armed || e->next)))
        return 0;
    Py_buffer v;                            /* the piece's bytes are read */
    if (PyObject_GetBuffer(data, &v, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        return 0;
    }
    int r;
    if (v.len != n)
        r = 0;
    else if (!e->resync)                    /* the P-DATA-TFs it ends, counted quietly */
        r = held_step(e, data, v.buf, (Py_ssize_t)n, frame, fo, ts);
    else                                    /* hold_candidate */
        r = hold_bytes(e, v.buf, (Py_ssize_t)n, frame, fo, ts) < 0 ? -1 : 1;
    PyBuffer_Release(&v);
    return r;
}

/* take_held's delivery of x.pending (e armed for e->x, its framer at stream offset off): the pieces at the front, in
 * order at the framer's offset and not cut by the snap length, taken one by one (take_piece) while the lane takes
 * them; then TcpReassembler.delivered for each (they leave x.pending, x.held shrinks, x.nxt reaches the last one's
 * end: settle_lane for what was advanced, the pieces held_step took moved it already) and the counts made meanwhile
 * handed over (flush_quiet). How many pieces it delivered, -1 error. */
static long long take_pending(Entry *e, long long off, int quiet) {
    PyObject *x = e->x, *pend = NULL;
    long long k = 0, held = 0, sub = 0;
    int r;
    if ((r = get_ll(x, A_HELD, &held)) != 0)
        return r < 0 ? -1 : 0;
    if ((pend = get_attr(x, A_PENDING)) == NULL)
        return -1;
    if (!PyList_Check(pend)) {
        Py_DECREF(pend);
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pend); i++) {
        PyObject *q = PyList_GET_ITEM(pend, i);       /* borrowed */
        long long qoff, qend, frame, foff, ts;
        int cut = get_true(q, A_CUT);
        if (cut != 0) {
            if (cut < 0)
                goto fail;
            break;
        }
        if ((r = get_ll(q, A_OFF, &qoff)) != 0 || (r = get_ll(q, A_END, &qend)) != 0
                || (r = get_ll(q, A_FRAME, &frame)) != 0 || (r = get_ll(q, A_FOFF, &foff)) != 0
                || (r = get_ll(q, A_TS, &ts)) != 0) {
            if (r < 0)
                goto fail;
            break;
        }
        long long n = qend - qoff;
        if (qoff != off || n <= 0)
            break;
        PyObject *data = NULL;
        if (!(e->armed && n < e->budget) && (data = get_attr(q, A_DATA)) == NULL)
            goto fail;
        r = take_piece(e, data, n, frame, foff, ts, quiet);
        Py_XDECREF(data);
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        off = qend;
        sub += n;
        k++;
    }
    if (k > 0 && (PyList_SetSlice(pend, 0, (Py_ssize_t)k, NULL) < 0 || set_ll(x, A_HELD, held - sub) < 0
                  || set_attr(x, A_CUT, Py_False) < 0 || settle_lane(e) < 0 || flush_quiet(e, 1) < 0))
        goto fail;
    Py_DECREF(pend);
    return k;
fail:
    Py_DECREF(pend);
    return -1;
}

/* take_held(ctx, x, quiet[, pieces, start]): Analyzer._take_held's step in one call. x (a _Dir) has pieces buffered
 * after a hole the receiver acknowledged, the first at x.nxt; while the framer's lane (x.lane.fast) is armed as for
 * the walk (arm_lane: the other direction not searching, an orphan's first bytes done, no collector to feed; or a
 * search whose candidate needs more bytes, or one a hole just began: arm_resync), deliver the pieces at the front
 * (in order at the framer's offset, not cut by the snap length) as TcpReassembler.delivered would, piece by piece:
 * those below the lane's budget as _advance (or PduFramer.hold_candidate) takes them; with `quiet`
 * (Analyzer._sealing: the PDU events made meanwhile carry the quiet counts before them) also those that end
 * P-DATA-TFs of a data set nobody reads, when every PDU they end is counted quietly (held_step, as the walk takes
 * such records).
 * With `pieces` (a list of (data, frame, frame offset, ts)), Analyzer._replay's step instead: the framer frames
 * again, from pieces[start], the bytes a search held (PduFramer._accept's replay), which x delivered already: the
 * same steps on its lane (not a search's), x.nxt and x.last_frame as they were (x.nxt is lowered by the pieces'
 * bytes meanwhile, so that the steps that move it find it where delivering them would).
 * ctx: (flows, NEXT, kinds, Pdv, PDATA, HEADER, RESYNC, Analyzer._quiet_hook or None[, Analyzer.quiet_out or None,
 * quiet_parts, iso_time]). Returns how many pieces it delivered (framed). */
static PyObject *take_held(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ctx, *x, *pieces = NULL;
    Py_ssize_t start = 0;
    int quiet = 0;
    if (!PyArg_ParseTuple(args, "O!O|pO!n", &PyTuple_Type, &ctx, &x, &quiet, &PyList_Type, &pieces, &start))
        return NULL;
    if (PyTuple_GET_SIZE(ctx) < 8 || !PyTuple_Check(PyTuple_GET_ITEM(ctx, 2))) {
        PyErr_SetString(PyExc_TypeError,
                        "take_held: ctx is (flows, NEXT, kinds, Pdv, PDATA, HEADER, RESYNC, quiet hook)");
        return NULL;
    }
    lane_next = PyTuple_GET_ITEM(ctx, 1);
    lane_kinds = PyTuple_GET_ITEM(ctx, 2);
    pdv_type = PyTuple_GET_ITEM(ctx, 3);
    pdata_state = PyTuple_GET_ITEM(ctx, 4);
    header_state = PyTuple_GET_ITEM(ctx, 5);
    resync_state = PyTuple_GET_ITEM(ctx, 6);
    quiet_hook = quiet && PyTuple_GET_ITEM(ctx, 7) != Py_None ? PyTuple_GET_ITEM(ctx, 7) : NULL;
    /* Analyzer.quiet_out (export): the records of the P-DATA-TFs it counts, in order with the events the held
     * delivery makes around this step (Analyzer._ordered_out) */
    if (quiet && PyTuple_GET_SIZE(ctx) >= 11) {
        if (quiet_sink(PyTuple_GET_ITEM(ctx, 8), PyTuple_GET_ITEM(ctx, 9), PyTuple_GET_ITEM(ctx, 10)) < 0)
            return NULL;
    } else {
        quiet_out = NULL;
    }
    walk_feeds = 0;
    nqassoc = 0;
    quiet_order = 0;
    Entry e;
    memset(&e, 0, sizeof e);
    e.x = x;
    Py_INCREF(x);
    long long k = 0, off = 0;
    PyObject *result = NULL, *nxt0 = NULL, *last0 = NULL;
    int r;
    /* armed as for the walk (arm_lane: its budget, span states, kind, or _NEXT; a collector to feed is not), plus
     * the framer's offset the first piece must start at and the bytes x holds */
    resync_empty = pieces == NULL;
    r = (e.f = get_attr(x, A_LANE)) == NULL ? -1 : arm_lane(&e);
    resync_empty = 0;
    if (r < 0)
        goto done;
    if (!e.armed && !e.resync && !(quiet && e.next))
        goto none;
    if ((r = get_ll(e.f, A_OFFSET, &off)) != 0) {
        if (r < 0)
            goto done;
        goto none;
    }
    if (pieces != NULL) {
        Py_ssize_t np = PyList_GET_SIZE(pieces);
        long long rest = 0;
        if (e.resync || start < 0 || start >= np)
            goto none;
        for (Py_ssize_t i = start; i < np; i++) {
            PyObject *t = PyList_GET_ITEM(pieces, i);
            if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 4)
                goto none;
            Py_ssize_t len = PyObject_Length(PyTuple_GET_ITEM(t, 0));
            if (len < 0)
                goto done;
            rest += len;
        }
        if ((nxt0 = get_attr(x, A_NXT)) == NULL || (last0 = get_attr(x, A_LAST_FRAME)) == NULL
                || add_ll(x, A_NXT, -rest) < 0)
            goto done;
        for (Py_ssize_t i = start; i < np; i++) {
            PyObject *t = PyList_GET_ITEM(pieces, i);    /* borrowed */
            long long frame, foff, ts;
            PyObject *data = PyTuple_GET_ITEM(t, 0);
            if (!PyLong_Check(PyTuple_GET_ITEM(t, 1)) || !PyLong_Check(PyTuple_GET_ITEM(t, 2))
                    || !PyLong_Check(PyTuple_GET_ITEM(t, 3)))
                break;
            frame = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 1));
            foff = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 2));
            ts = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 3));
            if (PyErr_Occurred()) {
                PyErr_Clear();
                break;
            }
            long long n = PyObject_Length(data);
            if (n <= 0)
                break;
            if ((r = take_piece(&e, data, n, frame, foff, ts, quiet)) < 0)
                goto done;
            if (r == 0)
                break;
            k++;
        }
        if (k == 0)
            goto none;
        if (settle_lane(&e) < 0 || flush_quiet(&e, 1) < 0)
            goto done;
        result = PyLong_FromLongLong(k);
        goto done;
    }
    long long k2 = take_pending(&e, off, quiet);
    if (k2 < 0)
        goto done;
    if (k2 == 0)
        goto none;
    result = PyLong_FromLongLong(k2);
    goto done;
none:
    result = PyLong_FromLong(0);
done:
    for (int i = 0; i < nqassoc; i++)          /* (after an error: what was not flushed is lost with it) */
        Py_CLEAR(qassoc[i].a);
    nqassoc = 0;
    if (nxt0 != NULL) {                         /* (a replay: x as it was) */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        if ((set_attr(x, A_NXT, nxt0) < 0 || set_attr(x, A_LAST_FRAME, last0) < 0) && et == NULL)
            Py_CLEAR(result);
        else if (et != NULL)
            PyErr_Restore(et, ev, tb);
    }
    Py_XDECREF(nxt0);
    Py_XDECREF(last0);
    release(&e);
    return result;
}

/* Analyzer._hook_record for the record (frame `number` at ts) of direction xa that acknowledged `ack`: its stream's
 * clock, and the ACK its peer x receives. 0, -1 error. */
static int hook_record(PyObject *xa, long long number, long long ts, uint32_t ack) {
    PyObject *st = get_attr(xa, A_ST), *x = st ? get_attr(xa, A_PEER) : NULL, *v = NULL;
    int r = x == NULL || set_ll(st, A_LAST, number) < 0 || set_ll(st, A_TS, ts) < 0
            || (v = PyLong_FromUnsignedLong(ack)) == NULL || set_attr(x, A_ACK, v) < 0 ? -1 : 0;
    Py_XDECREF(st);
    Py_XDECREF(x);
    Py_XDECREF(v);
    return r;
}

/* The rest of a flush flush_deferred began (take() returned 6): the ACK recorded, then Analyzer._drain_hook.
 * Returns (new reference) the hook's answer; NULL error. */
static PyObject *drain_c(PyObject *xa, long long number, long long ts, uint32_t ack) {
    if (hook_record(xa, number, ts, ack) < 0)
        return NULL;
    return PyObject_CallOneArg(drain_hook, xa);
}

/* TcpReassembler.refresh for the _Dir d: ready and wait from closed, base, pending and fin. 0, -1 error. */
static int refresh_dir(PyObject *d) {
    PyObject *base = get_attr(d, A_BASE), *pend = base ? get_attr(d, A_PENDING) : NULL,
             *fin = pend ? get_attr(d, A_FIN) : NULL;
    int closed = fin ? get_true(d, A_CLOSED) : -1, busy = -1;
    if (closed >= 0 && (busy = PyObject_IsTrue(pend)) >= 0)
        busy = busy || fin != Py_None;
    int open_ = closed == 0 && base != Py_None;
    Py_XDECREF(base);
    Py_XDECREF(pend);
    Py_XDECREF(fin);
    if (busy < 0 || set_attr(d, A_READY, open_ && !busy ? Py_True : Py_False) < 0
            || set_attr(d, A_WAIT, open_ && busy ? Py_True : Py_False) < 0)
        return -1;
    return 0;
}

/* Analyzer._flush_hook for a pure ACK of direction xa (frame `number` at ts, acknowledging `ack`) that reaches past
 * the first hole of what its peer x holds, in C for its usual shape: the ACK recorded (Analyzer._hook_record), the
 * hole up to the first piece held (the ACK past it) declared as TcpReassembler._ack_flush declares it, where gap_pdv
 * takes it (inside a data PDV nobody reads, or in what a _SKIP lane skips), then the pieces after it delivered as
 * Analyzer._take_held delivers them (take_pending), both directions' flags refreshed. A hole gap_pdv does not take, or
 * an ACK short of the first piece: the Python hook does it all (nothing changed but the ACK recorded, which it records
 * again); pieces the lane does not take: Analyzer._drain_hook delivers them and goes on. Returns (new reference) True
 * when that made no event, else the hook's answer; NULL error. */
static PyObject *flush_c(PyObject *xa, long long number, long long ts, uint32_t ack) {
    PyObject *x = NULL, *v = NULL, *pend = NULL, *result = NULL;
    Entry e;
    memset(&e, 0, sizeof e);
    long long base, nxt, q0off, q0frame, q0ts;
    int r = 0;
    walk_feeds = 0;                         /* (as take_held: the pieces' bytes are Python's) */
    if (hook_record(xa, number, ts, ack) < 0 || (x = get_attr(xa, A_PEER)) == NULL)
        goto done;
    if (drain_hook == NULL || (r = get_true(x, A_CLOSED)) != 0)
        goto python;
    if ((v = get_attr(x, A_FIN)) == NULL)
        goto done;
    if (v != Py_None || (r = get_ll(x, A_BASE, &base)) != 0 || (r = get_ll(x, A_NXT, &nxt)) != 0)
        goto python;
    Py_CLEAR(v);
    if ((pend = get_attr(x, A_PENDING)) == NULL)
        goto done;
    if (!PyList_Check(pend) || PyList_GET_SIZE(pend) == 0)
        goto python;
    PyObject *q0 = PyList_GET_ITEM(pend, 0);     /* borrowed */
    if ((r = get_ll(q0, A_OFF, &q0off)) != 0 || (r = get_ll(q0, A_FRAME, &q0frame)) != 0
            || (r = get_ll(q0, A_TS, &q0ts)) != 0)
        goto python;
    /* _ack_flush: the acknowledged offset, unwrapped near nxt */
    long long acked = (long long)((((unsigned long long)ack - (unsigned long long)base - (unsigned long long)nxt
                                    + 0x80000000ULL) & 0xFFFFFFFFULL)) - 0x80000000LL + nxt;
    if (acked < q0off || q0off <= nxt)
        goto python;
    /* the hole [nxt, q0off): TcpReassembler._gap with Analyzer._take_gap, as gap_pdv takes it */
    e.x = x;
    Py_INCREF(x);
    if ((e.f = get_attr(x, A_LANE)) == NULL || arm_lane(&e) < 0)
        goto done;
    if ((r = gap_pdv(&e, nxt, q0off, q0frame, q0ts)) < 0)
        goto done;
    if (r == 0) {
        if (flush_quiet(&e, 1) < 0)
            goto done;
        goto python;
    }
    if (set_ll(x, A_NXT, q0off) < 0 || set_attr(x, A_CUT, Py_False) < 0)
        goto done;
    /* _drain: the pieces from there, Analyzer._take_held's first step (take_held's, a search's lane included) */
    long long off;
    Py_CLEAR(e.m);
    Py_CLEAR(e.next_msg);
    e.armed = e.skip = e.data = e.next = 0;
    resync_empty = 1;
    r = arm_lane(&e);
    resync_empty = 0;
    if (r < 0 || (r = get_ll(e.f, A_OFFSET, &off)) < 0)
        goto done;
    long long k = r == 0 && (e.armed || e.resync || e.next) ? take_pending(&e, off, 1) : 0;
    if (k < 0 || flush_quiet(&e, 1) < 0)
        goto done;
    if (PyList_GET_SIZE(pend) > 0) {        /* the rest is Python's: _drain, and _ack_flush goes on */
        result = PyObject_CallOneArg(drain_hook, xa);
        goto done;
    }
    /* _ack_flush ends (nothing pending, no FIN); ack_while_waiting refreshes both directions */
    if (refresh_dir(xa) < 0 || refresh_dir(x) < 0)
        goto done;
    st_flush_c++;
    result = Py_True;
    Py_INCREF(result);
    goto done;
python:
    if (r < 0 || PyErr_Occurred())
        goto done;
    result = PyObject_CallFunction(flush_hook, "OLLk", xa, number, ts, (unsigned long)ack);
done:
    for (int i = 0; i < nqassoc; i++)          /* (after an error: what was not flushed is lost with it) */
        Py_CLEAR(qassoc[i].a);
    nqassoc = 0;
    Py_XDECREF(x);
    Py_XDECREF(v);
    Py_XDECREF(pend);
    release(&e);
    return result;
}

/* Where quiet_records writes (borrowed): Analyzer.quiet_out when `out` is a list (else NULL: no records), the text
 * of its lines (quiet_parts) and iso_time; the text cached for another list cleared. 0, -1 error. */
static int quiet_sink(PyObject *out, PyObject *parts, PyObject *iso) {
    quiet_out = PyList_Check(out) ? out : NULL;
    quiet_parts = parts;
    quiet_iso = iso;
    quiet_text_clear();
    if (quiet_out != NULL && (!PyCallable_Check(quiet_parts) || !PyCallable_Check(quiet_iso))) {
        PyErr_SetString(PyExc_TypeError, "quiet_out needs quiet_parts and iso_time");
        return -1;
    }
    return 0;
}

/* The walk's values from its ctx argument (borrowed: it outlives the walk). 0, -1 error. */
static int walk_ctx(PyObject *ctx) {
    quiet_hook = PyTuple_GET_ITEM(ctx, 8) == Py_None ? NULL : PyTuple_GET_ITEM(ctx, 8);
    if (quiet_sink(PyTuple_GET_ITEM(ctx, 10), PyTuple_GET_ITEM(ctx, 13), PyTuple_GET_ITEM(ctx, 14)) < 0)
        return -1;
    flush_hook = PyTuple_GET_ITEM(ctx, 11) == Py_None ? NULL : PyTuple_GET_ITEM(ctx, 11);
    take_gap_hook = PyTuple_GET_ITEM(ctx, 15) == Py_None ? NULL : PyTuple_GET_ITEM(ctx, 15);
    search_hook = PyTuple_GET_ITEM(ctx, 17) == Py_None ? NULL : PyTuple_GET_ITEM(ctx, 17);
    drain_hook = PyTuple_GET_ITEM(ctx, 18) == Py_None ? NULL : PyTuple_GET_ITEM(ctx, 18);
    seal_hook = PyTuple_GET_ITEM(ctx, 19) == Py_None ? NULL : PyTuple_GET_ITEM(ctx, 19);
    walk_ctx_arg = ctx;
    PyObject *lossy = PyTuple_GET_ITEM(ctx, 16);
    if (!PyTuple_Check(lossy) || PyTuple_GET_SIZE(lossy) != 2) {
        PyErr_SetString(PyExc_TypeError, "walk: ctx[16] is (CAPTURE_LOSS, stream_data)");
        return -1;
    }
    capture_loss = PyTuple_GET_ITEM(lossy, 0);
    stream_data = PyObject_IsTrue(PyTuple_GET_ITEM(lossy, 1));
    hold_hook = PyTuple_GET_ITEM(ctx, 12) == Py_None ? NULL : PyTuple_GET_ITEM(ctx, 12);
    walk_feeds = 1;
    header_state = PyTuple_GET_ITEM(ctx, 9);
    lane_next = PyTuple_GET_ITEM(ctx, 1);
    lane_kinds = PyTuple_GET_ITEM(ctx, 2);
    max_buffer = PyLong_AsLongLong(PyTuple_GET_ITEM(ctx, 3));
    piece_type = PyTuple_GET_ITEM(ctx, 4);
    pdv_type = PyTuple_GET_ITEM(ctx, 5);
    pdata_state = PyTuple_GET_ITEM(ctx, 6);
    resync_state = PyTuple_GET_ITEM(ctx, 7);
    return max_buffer == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Arm the walk's table from the directions in dirs (arm(): up to MAX_ENTRIES, those whose flow key still maps to
 * them) that are not in ent[0:*nent] already; *nent counts them. 0, -1 error. */
static int arm_all(Entry *ent, int *nent, PyObject *dirs, PyObject *flows) {
    int kept = *nent;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(dirs) && *nent < MAX_ENTRIES; i++) {
        int j = 0;
        while (j < kept && ent[j].x != PyTuple_GET_ITEM(dirs, i))
            j++;
        if (j < kept)
            continue;
        PyObject *x = PyTuple_GET_ITEM(dirs, i);
        int r = arm(&ent[*nent], x, flows), pk;
        if (r > 0 && nparks && park_of(x) >= 0)    /* parked: given back now (arm_rest, arm_held: restore()), */
            r = arm_rest(&ent[*nent]) < 0 ? -1 : 1;
        if (r >= 0 && nparks && (pk = park_of(x)) >= 0 && unpark_at(pk) < 0)   /* or made pieces: a direction */
            r = -1;                                 /* in the table is never parked */
        if (r < 0) {
            (*nent)++;
            walk_nent = *nent;
            return -1;
        }
        if (r == 0) {
            release(&ent[*nent]);
            memset(&ent[*nent], 0, sizeof(Entry));
        } else {
            (*nent)++;
        }
    }
    walk_nent = *nent;
    return 0;
}

/* Apply what the walk took of every direction in its table (settle()). 0, -1 error. */
static int settle_all(Entry *ent, int nent) {
    for (int i = 0; i < nent; i++)
        if (ent[i].last_any && settle(&ent[i]) < 0)
            return -1;
    return 0;
}

/* Before a hook for direction x: what the walk took of x's stream (both its directions) applied and their entries
 * taken out of the table, the others kept as they are (a hook changes only x's stream: the segments another
 * association's entry holds stay in the walk's buffer, not made Python pieces); ent[0:*nent] the kept ones. An x
 * with no entry: every direction's (settle_all). 0, -1 error. */
static int settle_stream(Entry *ent, int *nent, PyObject *x) {
    PyObject *st = NULL;
    for (int i = 0; i < *nent; i++)
        if (ent[i].x == x)
            st = ent[i].st;
    for (int i = nparks - 1; i >= 0; i--)      /* (none: a direction in the table is never parked) */
        if ((st == NULL || parks[i].st == st) && unpark_at(i) < 0)
            return -1;
    int k = 0;
    for (int i = 0; i < *nent; i++) {
        if (st == NULL || ent[i].st == st) {
            if (ent[i].last_any && settle(&ent[i]) < 0)
                return -1;
            release(&ent[i]);
            memset(&ent[i], 0, sizeof(Entry));
        } else {
            if (k != i) {
                ent[k] = ent[i];
                memset(&ent[i], 0, sizeof(Entry));
            }
            k++;
        }
    }
    *nent = walk_nent = k;
    return 0;
}

/* walk(ctx, dirs, buf, pos, number, big, fmt, a, b, c)
 *   ctx: (TcpReassembler._flows, pipeline._NEXT, pipeline._WALK_KINDS, TcpReassembler.max_buffer, reassembly._Piece,
 *         ul.pdus.Pdv, framer.PDATA, framer.RESYNC, Analyzer._quiet_hook or None, framer.HEADER, Analyzer.quiet_out
 *         or None, Analyzer._flush_hook or None, Analyzer._hold_hook or None, quiet_parts, iso_time,
 *         Analyzer._take_gap or None, (CAPTURE_LOSS, Analyzer.stream_data), Analyzer._search_hook or None,
 *         Analyzer._drain_hook or None, Analyzer._seal_hook or None)
 *   dirs: the reassembly directions (_Dir) the walk may take records of (both of each stream)
 *   buf: the reader's chunk; pos: where the next record starts; number: the last record's number
 *   big: the capture's byte order is big-endian
 *   fmt 0 (classic pcap): a = ns per timestamp fraction, b = record header size, c = link type
 *   fmt 1 (pcapng): a = the section's interfaces (linktype, mul, shift, div, offset_ns, snaplen)
 * Takes records until one it cannot, applies what it took to the directions, their framers and
 * messages, and returns None (it took nothing) or (pos, number, ts) of where reading resumes and the
 * last record it took. */
static PyObject *walk(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ctx, *dirs, *a, *sink_arg = Py_None;
    Py_buffer view;
    Py_ssize_t pos;
    long long number, b_arg, c_arg;
    int big, fmt;
    if (!PyArg_ParseTuple(args, "O!O!y*nLpiOLL|O", &PyTuple_Type, &ctx, &PyTuple_Type, &dirs, &view, &pos, &number,
                          &big, &fmt, &a, &b_arg, &c_arg, &sink_arg))
        return NULL;
    Sink sink_val, *sink = NULL;
    if (sink_arg != Py_None) {                          /* (offsets, lengths, times, osize, nsize, base) */
        if (!PyArg_ParseTuple(sink_arg, "O!O!O!iiL", &PyByteArray_Type, &sink_val.offs, &PyByteArray_Type,
                              &sink_val.lens, &PyByteArray_Type, &sink_val.times, &sink_val.osize,
                              &sink_val.nsize, &sink_val.base)) {
            PyBuffer_Release(&view);
            return NULL;
        }
        sink = &sink_val;
    }
    PyObject *result = NULL;
    Entry ent[MAX_ENTRIES];
    Iface ifc[MAX_IFACES];
    int nifc = 0, nent = 0;
    memset(ent, 0, sizeof ent);
    if (PyTuple_GET_SIZE(ctx) != 20 || !PyDict_Check(PyTuple_GET_ITEM(ctx, 0))
            || !PyTuple_Check(PyTuple_GET_ITEM(ctx, 2)) || !PyLong_Check(PyTuple_GET_ITEM(ctx, 3))) {
        PyErr_SetString(PyExc_TypeError,
                        "walk: ctx is (flows, NEXT, kinds, max_buffer, Piece, Pdv, PDATA, RESYNC, quiet hook, HEADER,"
                        " quiet records, flush hook, hold hook, quiet parts, iso_time, take_gap, (CAPTURE_LOSS, stream_data),"
                        " search hook, drain hook)");
        goto done;
    }
    walk_obj = view.obj;
    walk_mv = NULL;
    walk_base = view.buf;
    walk_len = view.len;
    walk_ent = ent;
    walk_nent = 0;
    nqassoc = 0;
    quiet_order = 0;
    if (walk_ctx(ctx) < 0)
        goto done;
    for (int i = nparks - 1; i >= 0; i--)      /* (another analyzer's: made pieces, as its own feed would) */
        if (parks[i].flows != PyTuple_GET_ITEM(ctx, 0) && unpark_at(i) < 0)
            goto done;
    if (arm_all(ent, &nent, dirs, PyTuple_GET_ITEM(ctx, 0)) < 0)
        goto done;
    if (fmt == 1) {
        if (!PyList_Check(a)) {
            PyErr_SetString(PyExc_TypeError, "walk: interfaces must be a list");
            goto done;
        }
        Py_ssize_t k = PyList_GET_SIZE(a);
        nifc = k > MAX_IFACES ? MAX_IFACES : (int)k;
        for (int i = 0; i < nifc; i++) {
            PyObject *t = PyList_GET_ITEM(a, i);
            long long v[5];
            ifc[i].ok = PyTuple_Check(t) && PyTuple_GET_SIZE(t) >= 5;
            for (int j = 0; ifc[i].ok && j < 5; j++) {
                int overflow = 0;
                PyObject *o = PyTuple_GET_ITEM(t, j);
                v[j] = PyLong_Check(o) ? PyLong_AsLongLongAndOverflow(o, &overflow) : 0;
                if (!PyLong_Check(o) || overflow)
                    ifc[i].ok = 0;
            }
            if (!ifc[i].ok)
                continue;
            ifc[i].linktype = (int)v[0];
            ifc[i].mul = v[1];
            ifc[i].shift = (int)v[2];
            ifc[i].div = v[3];
            ifc[i].off = v[4];
            /* (units * mul >> shift) // div + off in 128 bits: mul < 2^63, units < 2^64 */
            ifc[i].ok = v[1] > 0 && v[2] >= 0 && v[2] < 127 && v[3] > 0;
        }
    }
    const unsigned char *b = view.buf;
    Py_ssize_t size = view.len;
    long long last_number = number, last_ts = 0, count = 0;
    long long tick = 0;
    if (fmt == 0 && (tick = PyLong_AsLongLong(a)) == -1 && PyErr_Occurred())
        goto done;
    ahead_src = (AheadSrc){b, size, fmt, big, tick, (Py_ssize_t)b_arg, (int)c_arg, ifc, nifc, 0};
    Rec rec;
    PyObject *stop_st = NULL;       /* the stream of the record the walk stopped at (Python's next): not parked */
    while (fmt == 0 ? pcap_record(b, size, pos, big, tick, (Py_ssize_t)b_arg, (int)c_arg, &rec)
                    : pcapng_record(b, size, pos, big, ifc, nifc, &rec)) {
        ahead_src.next = rec.next;
        int t = take_record(ent, nent, rec.lt, b, rec.s, rec.e, number + 1, rec.ts, &last_number, &last_ts, sink);
        if (t < 0)
            goto done;
        if (!t) {
            Entry *se = record_entry(ent, nent, rec.lt, b, rec.s, rec.e);
            stop_st = se != NULL ? se->st : NULL;
            break;
        }
        number++;
        count++;
        pos = rec.next;
        if (t >= 2) {       /* feed_record's flush for this pure ACK (2), its hold and gap for this segment (3), or
                             * the search this segment's bytes complete (5), after all taken so far is applied */
            PyObject *x = t == 2 || t == 6 ? flush_x : t == 3 ? hold_x : search_x;
            Py_INCREF(x);
            int r = flush_quiet(ent, nent) < 0 || settle_stream(ent, &nent, x) < 0 ? -1 : 0;
            if (r == 0 && t == 3 && walk_mv == NULL && (walk_mv = PyMemoryView_FromObject(walk_obj)) == NULL)
                r = -1;
            PyObject *go = r < 0 ? NULL
                : t == 5 ? PyObject_CallOneArg(search_hook, x)
                : t == 6 ? drain_c(x, number, rec.ts, flush_ack)
                : t == 2 ? flush_c(x, number, rec.ts, flush_ack)
                : PyObject_CallFunction(hold_hook, "OOnnLLLkk", x, walk_mv, hold_at, hold_n, number, hold_fo, rec.ts,
                                        (unsigned long)hold_seq, (unsigned long)hold_ack);
            Py_DECREF(x);
            if (go == NULL)
                goto done;
            r = PyObject_IsTrue(go);
            Py_DECREF(go);
            last_number = number;
            last_ts = rec.ts;
            if (r <= 0) {   /* events wait in Analyzer._stash that may not (or an error): the walk ends here */
                if (r < 0)
                    goto done;
                break;
            }
            /* the objects moved: armed again (and the walk's ctx again: the hook's take_held set its own) */
            if (walk_ctx(ctx) < 0 || arm_all(ent, &nent, dirs, PyTuple_GET_ITEM(ctx, 0)) < 0)
                goto done;
        }
    }
    if (flush_quiet(ent, nent) < 0)
        goto done;
    for (int i = 0; drain_hook != NULL && i < nent; i++)    /* what the entries hold, parked for the next walk */
        if (ent[i].ndef && ent[i].last_any && ent[i].st != stop_st && park(&ent[i], PyTuple_GET_ITEM(ctx, 0)) < 0)
            goto done;
    if (settle_all(ent, nent) < 0)      /* (with no record taken, the entries restore() gave segments back) */
        goto done;
    if (count == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    result = Py_BuildValue("(nLL)", pos, number, last_ts);
done:
    for (int i = 0; i < nqassoc; i++)          /* (after an error: what was not flushed is lost with it) */
        Py_CLEAR(qassoc[i].a);
    nqassoc = 0;
    quiet_text_clear();
    for (int i = 0; i < nent; i++)
        release(&ent[i]);
    if (walk_mv != NULL) {      /* the hook's view of the buffer: released, so no one keeps it past the walk */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);     /* (an error of the walk is what it reports) */
        PyObject *rel = PyObject_CallMethod(walk_mv, "release", NULL);
        if (rel == NULL)
            PyErr_Clear();      /* (still exported: it stays valid, holding the buffer) */
        Py_XDECREF(rel);
        Py_CLEAR(walk_mv);
        PyErr_Restore(et, ev, tb);
    }
    PyBuffer_Release(&view);
    return result;
}

/* Whether the candidate at b[i] (n bytes in all) may begin a PDU by its length alone, as PduFramer._validate's first
 * test judges it: a P-DATA-TF of 6 to pbound bytes, an A-ASSOCIATE-RJ, A-RELEASE-RQ/RP or A-ABORT of 4, an
 * A-ASSOCIATE-RQ/AC of 68 to abound; yes when its length is not all there (the search waits for it). */
static inline int length_ok(const unsigned char *b, Py_ssize_t i, Py_ssize_t n, long long pbound, long long abound) {
    if (i + 6 > n)
        return 1;
    long long len = be32(b + i + 2);
    switch (b[i]) {
    case 4: return 6 <= len && len <= pbound;
    case 1: case 2: return 68 <= len && len <= abound;
    default: return len == 4;
    }
}

#ifdef AVX2_SCAN
/* candidate()'s scan thirty-two places at a time, where the processor has AVX2 (asked at run time): from *pi, the
 * first place that is a candidate (as the SSE2 loop below judges one), or -1 with *pi where the rest begins. */
__attribute__((target("avx2"))) static Py_ssize_t scan_avx2(const unsigned char *b, Py_ssize_t *pi, Py_ssize_t n,
                                                            int bounded, long long pbound, long long abound) {
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi8(1), six = _mm256_set1_epi8(6);
    Py_ssize_t i = *pi;
    while (i + 33 <= n) {
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(b + i + 1));
        __m256i t = _mm256_sub_epi8(v0, one);
        __m256i hit = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_max_epu8(t, six), six), _mm256_cmpeq_epi8(v1, zero));
        unsigned m = (unsigned)_mm256_movemask_epi8(hit);
        while (m) {
            Py_ssize_t j = i + __builtin_ctz(m);
            if (!bounded || length_ok(b, j, n, pbound, abound))
                return j;
            m &= m - 1;
        }
        i += 32;
    }
    *pi = i;
    return -1;
}
#endif

/* candidate(buf, start[, pbound, abound]): the first i >= start with 1 <= buf[i] <= 7 and buf[i + 1] == 0 (a PDU type
 * and its reserved byte: where PduFramer's search for the next PDU looks; its regex _CANDIDATE in C), or -1; with the
 * bounds, only one whose length may be a PDU's (length_ok: the others _validate would reject at once). */
static PyObject *candidate(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer v;
    Py_ssize_t start;
    long long pbound = -1, abound = -1;
    if (!PyArg_ParseTuple(args, "y*n|LL", &v, &start, &pbound, &abound))
        return NULL;
    int bounded = pbound >= 0 && abound >= 0;
    const unsigned char *b = v.buf;
    Py_ssize_t n = v.len, r = -1, i = start < 0 ? 0 : start;
#ifdef AVX2_SCAN
    static int avx2 = -1;
    if (avx2 < 0)
        avx2 = __builtin_cpu_supports("avx2") != 0;
    if (avx2 && (r = scan_avx2(b, &i, n, bounded, pbound, abound)) >= 0)
        goto found;
#endif
#if defined(__SSE2__)
    /* Sixteen places at a time: a byte 1 to 7 (b - 1 <= 6, unsigned) with a zero byte after it; the bits of those
     * places in order (pixel data holds many zero bytes: looking for those alone stopped every few bytes). */
    const __m128i zero = _mm_setzero_si128(), one = _mm_set1_epi8(1), six = _mm_set1_epi8(6);
    while (i + 17 <= n) {
        __m128i v0 = _mm_loadu_si128((const __m128i *)(b + i)), v1 = _mm_loadu_si128((const __m128i *)(b + i + 1));
        __m128i t = _mm_sub_epi8(v0, one);
        __m128i hit = _mm_and_si128(_mm_cmpeq_epi8(_mm_max_epu8(t, six), six), _mm_cmpeq_epi8(v1, zero));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        while (m) {
            Py_ssize_t j = i + __builtin_ctz(m);
            if (!bounded || length_ok(b, j, n, pbound, abound)) {
                r = j;
                goto found;
            }
            m &= m - 1;
        }
        i += 16;
    }
#endif
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* A candidate needs a zero byte after it: find the zero bytes eight at a time (the lowest byte the
     * bit trick flags is the first zero of the word), then look at the byte before each. */
    while (i + 9 <= n) {
        uint64_t w, z;
        memcpy(&w, b + i + 1, 8);
        z = (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
        if (!z) {
            i += 8;
            continue;
        }
        i += __builtin_ctzll(z) >> 3;       /* b[i + 1] == 0 */
        if ((unsigned char)(b[i] - 1) < 7 && (!bounded || length_ok(b, i, n, pbound, abound))) {
            r = i;
            goto found;
        }
        i++;
    }
#endif
    for (; i + 1 < n; i++) {
        if ((unsigned char)(b[i] - 1) < 7 && b[i + 1] == 0 && (!bounded || length_ok(b, i, n, pbound, abound))) {
            r = i;
            break;
        }
    }
#if defined(AVX2_SCAN) || defined(__SSE2__) \
    || (defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)
found:
#endif
    PyBuffer_Release(&v);
    return PyLong_FromSsize_t(r);
}

/* A mapped capture file that another program truncates while it is read: the next read of a page past its new
 * end raises SIGBUS, which no Python code can catch (its handler would return to the same read). One line and
 * exit status 2, as for any bad input, instead of "Bus error (core dumped)". */
static void bus_error(int sig) {
    static const char msg[] = "dicomsniff: a capture file was cut short while it was read (SIGBUS on its mapped "
                              "pages); DICOMSNIFF_NO_MMAP=1 reads capture files without mapping them\n";
    (void)sig;
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(2);
}

static PyObject *guard_mapped(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = bus_error;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, NULL) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* narrow(buffer of 8-byte signed integers): the same integers as 4-byte unsigned ones (bytes, native order: what
 * array("I") reads with frombytes), or None if one does not fit: SpanMap.freeze of a typed span map, which may hold
 * thousands of integers (array("I", array("q")) converts them one object at a time). */
static PyObject *narrow(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer v;
    if (!PyArg_ParseTuple(args, "y*", &v))
        return NULL;
    if (v.len % 8) {
        PyBuffer_Release(&v);
        PyErr_SetString(PyExc_ValueError, "narrow: a buffer of 8-byte integers");
        return NULL;
    }
    Py_ssize_t n = v.len / 8;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * 4);
    if (out == NULL) {
        PyBuffer_Release(&v);
        return NULL;
    }
    const char *src = (const char *)v.buf;
    uint32_t *dst = (uint32_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t x;
        memcpy(&x, src + 8 * i, 8);
        if (x < 0 || x > (int64_t)UINT32_MAX) {
            PyBuffer_Release(&v);
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        dst[i] = (uint32_t)x;
    }
    PyBuffer_Release(&v);
    return out;
}

/* look_ahead([n]): the records the look-ahead reads at most (set to n when given: tests that make the walk hold and
 * flush on small captures); the value before. */
static PyObject *look_ahead(PyObject *self, PyObject *args) {
    (void)self;
    int n = -1, was = ahead_records;
    if (!PyArg_ParseTuple(args, "|i", &n))
        return NULL;
    if (n >= 0)
        ahead_records = n;
    return PyLong_FromLong(was);
}

/* unpark(ctx[, st]): the segments walks parked for the analyzer whose walk ctx this is (those of the stream st, when
 * given) made pieces in x.pending, before Python reads them. Returns how many directions had some. */
static PyObject *unpark(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ctx, *st = Py_None;
    if (!PyArg_ParseTuple(args, "O!|O", &PyTuple_Type, &ctx, &st))
        return NULL;
    if (PyTuple_GET_SIZE(ctx) < 5) {
        PyErr_SetString(PyExc_TypeError, "unpark: ctx is the walk's");
        return NULL;
    }
    PyObject *flows = PyTuple_GET_ITEM(ctx, 0);
    long k = 0;
    for (int i = nparks - 1; i >= 0; i--) {
        if (parks[i].flows != flows || (st != Py_None && parks[i].st != st))
            continue;
        piece_type = PyTuple_GET_ITEM(ctx, 4);
        if (unpark_at(i) < 0)
            return NULL;
        k++;
    }
    return PyLong_FromLong(k);
}

/* park_after(ctx, x, seq, buf, at, n, frame, fo, ts): TcpReassembler.buffer_after for x whose held segments a walk
 * parked (Analyzer.feed_record, x not ready, its peer not waiting): the payload buf[at:at + n] (raw sequence number
 * seq, at fo in frame, at ts) that continues them, or begins past them after a new hole, parked after them (x.held
 * grows by n): True; False (nothing changed) for anything else, or x not parked. */
static PyObject *park_after(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ctx, *x;
    Py_buffer v;
    Py_ssize_t at, n;
    unsigned long seq;
    long long frame, fo, ts, held, base, nxt, mb;
    int r;
    if (!PyArg_ParseTuple(args, "O!Oky*nnLLL", &PyTuple_Type, &ctx, &x, &seq, &v, &at, &n, &frame, &fo, &ts))
        return NULL;
    PyObject *result = Py_False;
    int i = park_of(x);
    if (i < 0 || PyTuple_GET_SIZE(ctx) < 5 || at < 0 || n <= 0 || at > v.len - n)
        goto done;
    Park *p = &parks[i];
    if ((mb = PyLong_AsLongLong(PyTuple_GET_ITEM(ctx, 3))) == -1 && PyErr_Occurred())
        goto fail;
    PyObject *fin = get_attr(x, A_FIN);
    if (fin == NULL)
        goto fail;
    int nofin = fin == Py_None;
    Py_DECREF(fin);
    int closed = get_true(x, A_CLOSED);
    if (closed < 0)
        goto fail;
    if (!nofin || closed)
        goto done;
    if ((r = get_ll(x, A_HELD, &held)) != 0 || (r = get_ll(x, A_BASE, &base)) != 0
            || (r = get_ll(x, A_NXT, &nxt)) != 0) {
        if (r < 0)
            goto fail;
        goto done;
    }
    struct Deferred *z = &p->def[p->ndef - 1];
    long long off = nxt + (long long)(int32_t)((uint32_t)seq - (uint32_t)((unsigned long long)base
                                                                           + (unsigned long long)nxt));
    if (off < z->off + z->n || held + n > mb)
        goto done;
    long long used = p->len;
    unsigned char *g = PyMem_Realloc(p->buf, (size_t)(used + n));
    if (g == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    p->buf = g;
    if (def_room(&p->def, &p->cdef, p->ndef) < 0)
        goto fail;
    memcpy(p->buf + used, (const char *)v.buf + at, (size_t)n);
    p->def[p->ndef++] = (struct Deferred){(Py_ssize_t)used, off, n, frame, fo, ts};
    p->len = used + n;
    st_parked++;
    if (set_ll(x, A_HELD, held + n) < 0)
        goto fail;
    result = Py_True;
done:
    PyBuffer_Release(&v);
    Py_INCREF(result);
    return result;
fail:
    PyBuffer_Release(&v);
    return NULL;
}

/* flush_parked(ctx, xa, number, ts, ack): feed_record's flush for a pure ACK of direction xa (frame `number` at ts,
 * acknowledging `ack`) that reaches past the hole before the segments a walk parked for its peer x (the walk had ended
 * just before this record): done as the walk's own flush does it (flush_deferred), on a table of the stream's two
 * directions armed as a walk arms them (x's parked segments given back: restore()), the ACK recorded first as
 * feed_record records it. What is still held after it is parked again. Returns 1 done (no event), 6 Python took steps
 * of it (their events wait in Analyzer._seal_out; the rest is Analyzer._drain_hook's to do), 0 not (nothing changed
 * but the ACK recorded: x's segments are Python pieces now, the caller's flush goes on as ever). */
static PyObject *flush_parked(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ctx, *xa;
    long long number, ts;
    unsigned long ack;
    if (!PyArg_ParseTuple(args, "O!OLLk", &PyTuple_Type, &ctx, &xa, &number, &ts, &ack))
        return NULL;
    if (PyTuple_GET_SIZE(ctx) != 20 || !PyDict_Check(PyTuple_GET_ITEM(ctx, 0))) {
        PyErr_SetString(PyExc_TypeError, "flush_parked: ctx is the walk's");
        return NULL;
    }
    PyObject *flows = PyTuple_GET_ITEM(ctx, 0), *x = NULL;
    Entry ent[2];
    int nent = 0, fr = 0;
    long result = -1;
    memset(ent, 0, sizeof ent);
    if (walk_ctx(ctx) < 0 || hook_record(xa, number, ts, (uint32_t)ack) < 0 || (x = get_attr(xa, A_PEER)) == NULL)
        goto done;
    walk_base = NULL;           /* (no buffer: every segment is a restored one, at_ptr reads its pbuf) */
    walk_len = 0;
    walk_obj = NULL;
    walk_mv = NULL;
    walk_ent = ent;
    walk_nent = 0;
    nqassoc = 0;
    quiet_order = 0;
    PyObject *both[2] = {xa, x};
    for (int i = 0; i < 2; i++) {
        int r = arm(&ent[nent], both[i], flows);
        if (r > 0)
            r = arm_rest(&ent[nent]) < 0 ? -1 : 1;
        nent++;
        walk_nent = nent;
        if (r <= 0) {
            if (r == 0)         /* (a flow not the table's: Python's) */
                result = 0;
            goto settle;
        }
    }
    if (!ent[1].restored || !ent[0].ack_hole) {     /* (not as the walk would find them: Python's) */
        result = 0;
        goto settle;
    }
    fr = flush_deferred(ent, nent, &ent[0], (uint32_t)ack, number, ts);
    if (fr < 0)
        goto settle;
    result = fr == 1 || fr == 6 ? fr : 0;
settle:
    if (result >= 0 && flush_quiet(ent, nent) < 0)
        result = -1;
    for (int i = 0; result > 0 && i < nent; i++)    /* what is still held, parked again */
        if (ent[i].ndef && ent[i].last_any && park(&ent[i], flows) < 0)
            result = -1;
    if (result >= 0 && settle_all(ent, nent) < 0)   /* (declined: the segments given back made pieces) */
        result = -1;
done:
    for (int i = 0; i < nqassoc; i++)
        Py_CLEAR(qassoc[i].a);
    nqassoc = 0;
    for (int i = 0; i < nent; i++)
        release(&ent[i]);
    walk_ent = NULL;
    walk_nent = 0;
    Py_XDECREF(x);
    if (result < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "flush_parked: failed");
        return NULL;
    }
    return PyLong_FromLong(result);
}

/* stats(): the walk's flush counters (st_flushed and the others) as a dict. */
static PyObject *stats(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return Py_BuildValue("{sLsLsLsLsLsLsLsLsL}", "flushed", st_flushed, "delivered", st_delivered, "drained",
                         st_drained, "flush_c", st_flush_c, "mixed", st_mixed, "sealed", st_sealed, "parked",
                         st_parked, "restored", st_restored, "unparked", st_unparked);
}

static PyMethodDef methods[] = {
    {"guard_mapped", guard_mapped, METH_NOARGS, "SIGBUS (a mapped capture file cut short) ends with one line, status 2."},
    {"narrow", narrow, METH_VARARGS, "8-byte integers as 4-byte unsigned ones (bytes), or None (SpanMap.freeze)."},
    {"candidate", candidate, METH_VARARGS, "Where PduFramer's search for a PDU looks next (its _CANDIDATE)."},
    {"walk", walk, METH_VARARGS, "Take the records the analyzer's fast path would finish with nothing to say."},
    {"take_held", take_held, METH_VARARGS, "Deliver the held pieces the framer's fast lane takes (_take_held)."},
    {"look_ahead", look_ahead, METH_VARARGS, "The look-ahead's reach in records (set it when given); the value before."},
    {"park_after", park_after, METH_VARARGS, "TcpReassembler.buffer_after for a direction whose segments are parked."},
    {"flush_parked", flush_parked, METH_VARARGS, "feed_record's flush of an ACK past a hole, of parked segments."},
    {"unpark", unpark, METH_VARARGS, "Make pieces of the segments walks parked for an analyzer (or a stream)."},
    {"stats", stats, METH_NOARGS, "The walk's flush counters since the module was loaded (tests, benches)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_walk", "The compiled record walk of the analyzer's fast path (issue 18).", -1, methods,
};

PyMODINIT_FUNC PyInit__walk(void) {
    for (int i = 0; i < N_ATTR; i++) {
        if ((attr[i] = PyUnicode_InternFromString(attr_names[i])) == NULL)
            return NULL;
    }
    if ((str_frombytes = PyUnicode_InternFromString("frombytes")) == NULL
            || (str_typecode = PyUnicode_InternFromString("typecode")) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
