/* The compiled record walk of the analyzer's fast path (issue 18, item 5).
 *
 * walk() reads consecutive capture records of a reader's chunk buffer and takes, without returning to
 * Python, every record that Analyzer.feed_record would finish with `return ()` through
 *   (a) the pure-ACK branch (no payload, a known flow, the peer not waiting), or
 *   (b) the _advance branch (in-order payload on a direction whose framer lane is armed, fewer bytes
 *       than the lane's budget: pdv_left for a message/orphan lane, pdv_skip for a skip lane).
 * It stops at the first record it cannot take and returns where that record starts, so the reader
 * yields it to Python as before. It changes no Python object: it counts, per armed direction, what the
 * Python side (dicomsniff/capture/walk.py) then applies in one step (bytes taken, last frame, last ACK,
 * the new spans, within the capacities it was given, and how many fell beyond them).
 *
 * Only plain CPython C API: the extension is optional (setup.py), the pure-Python path is the fallback.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_ENTRIES 8
#define MAX_IFACES 64
/* reader.SURELY_IN_CALENDAR: 2200-01-01 in ns. A pcapng stamp outside [0, this) goes to Python
 * (the reader's timestamp-out-of-range notice). */
#define SURELY_IN_CALENDAR (7258118400LL * 1000000000LL)
#define MAX_RECORD (256u << 20)
#define B_EPB 6u

/* One direction of a stream (a key of TcpReassembler._flows) and what the walk may take of it. */
typedef struct {
    unsigned char key[12];      /* source IP, destination IP (4 bytes each), source, destination port (BE) */
    int ack_ok;                 /* not d.peer.wait: its pure ACKs only record the acknowledgement */
    int armed;                  /* its framer lane is armed: in-order payload below the budget is advanced */
    uint32_t seq;               /* raw sequence number of the next in-order byte: (d.base + d.nxt) & 0xFFFFFFFF */
    long long budget;           /* pdv_left (message, orphan lanes) or pdv_skip (skip lane): n must stay below */
    int data;                   /* a message lane: its data set's span map grows too (m.data_spans) */
    long long fcap, flen;       /* f.spans: spans it may still store (limit - count), its length (unit offset) */
    long long dcap, dlen;       /* m.data_spans: the same */
    /* results */
    long long taken;            /* payload bytes advanced */
    long long last_data;        /* number of the last record whose payload was advanced (d.last_frame) */
    long long last_data_ts;     /* its time (f.end_ts, m.end_ts_ns) */
    long long last_any, last_any_ts;  /* the last record of this direction, any kind (st.last, st.ts) */
    int has_ack;
    uint32_t ack;               /* the last ACK this direction sent (d.peer.ack) */
    PyObject *fquads, *dquads;  /* new spans: (unit offset, frame, frame offset, length) flat lists */
    long long fdrop, ddrop;     /* spans beyond the capacities (SpanMap.dropped) */
} Entry;

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

/* Take the record buf[s:e] (frame `number`, time `ts`) if feed_record would finish it with `return ()`
 * through the pure-ACK or the _advance branch; 1 taken, 0 not, -1 error (memory). */
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
    Entry *d = NULL;                                    /* self._flows.get((src, sport, dst, dport)) */
    for (int i = 0; i < nent; i++) {
        if (memcmp(h + 12, ent[i].key, 8) == 0 && memcmp(h + 20, ent[i].key + 8, 4) == 0) {
            d = &ent[i];
            break;
        }
    }
    if (d == NULL)
        return 0;
    Py_ssize_t pstart = ip + 20 + ((doff >> 4) << 2);
    Py_ssize_t n = ip + total - pstart;
    if (n == 0) {                                       /* a pure ACK */
        if (!d->ack_ok || pstart > e)
            return 0;
    } else {                                            /* _advance: in order, below the budget */
        if (n < 0 || !d->armed || be32(h + 24) != d->seq || n >= d->budget)
            return 0;
        if (add_quad(&d->fquads, &d->fcap, &d->flen, &d->fdrop, number, pstart - s, n) < 0)
            return -1;
        if (d->data && add_quad(&d->dquads, &d->dcap, &d->dlen, &d->ddrop, number, pstart - s, n) < 0)
            return -1;
        d->seq += (uint32_t)n;
        d->budget -= n;
        d->taken += n;
        d->last_data = number;
        d->last_data_ts = ts;
    }
    d->has_ack = 1;
    d->ack = be32(h + 28);
    d->last_any = number;
    d->last_any_ts = ts;
    *last_number = number;
    *last_ts = ts;
    return 1;
}

static int get_ll(PyObject *t, Py_ssize_t i, long long *out) {
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(t, i), &overflow);
    if (overflow)
        return 1;
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

static PyObject *py_quads(PyObject *list) {
    if (list == NULL)
        return PyList_New(0);
    Py_INCREF(list);
    return list;
}

/* walk(entries, buf, pos, number, big, fmt, a, b, c)
 *   entries: tuple of (key: 12 bytes, ack_ok, armed, seq, budget, data, fcap, flen, dcap, dlen)
 *   buf: the reader's chunk; pos: where the next record starts; number: the last record's number
 *   big: the capture's byte order is big-endian
 *   fmt 0 (classic pcap): a = ns per timestamp fraction, b = record header size, c = link type
 *   fmt 1 (pcapng): a = the section's interfaces (linktype, mul, shift, div, offset_ns, snaplen)
 * Returns None when it took nothing, else (pos, number, last_ts, results), results holding per entry
 *   (last_any, last_any_ts, taken, last_data, last_data_ts, ack or None, fquads, fdrop, dquads, ddrop). */
static PyObject *walk(PyObject *self, PyObject *args) {
    PyObject *entries, *a;
    Py_buffer view;
    Py_ssize_t pos;
    long long number, b_arg, c_arg;
    int big, fmt;
    if (!PyArg_ParseTuple(args, "O!y*nLpiOLL", &PyTuple_Type, &entries, &view, &pos, &number, &big, &fmt,
                          &a, &b_arg, &c_arg))
        return NULL;
    PyObject *result = NULL;
    Entry ent[MAX_ENTRIES];
    Iface ifc[MAX_IFACES];
    int nifc = 0;
    Py_ssize_t nent = PyTuple_GET_SIZE(entries);
    if (nent > MAX_ENTRIES)
        nent = MAX_ENTRIES;
    memset(ent, 0, sizeof ent);
    for (Py_ssize_t i = 0; i < nent; i++) {
        PyObject *t = PyTuple_GET_ITEM(entries, i);
        long long v[9];
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 10 || !PyBytes_Check(PyTuple_GET_ITEM(t, 0))
                || PyBytes_GET_SIZE(PyTuple_GET_ITEM(t, 0)) != 12) {
            PyErr_SetString(PyExc_TypeError, "walk: bad entry");
            goto done;
        }
        memcpy(ent[i].key, PyBytes_AS_STRING(PyTuple_GET_ITEM(t, 0)), 12);
        for (int k = 0; k < 9; k++) {
            int r = get_ll(t, k + 1, &v[k]);
            if (r < 0)
                goto done;
            if (r > 0)
                v[k] = k == 3 ? LLONG_MAX : 0;    /* a budget past 64 bits is no limit; anything else: off */
        }
        ent[i].ack_ok = v[0] != 0;
        ent[i].armed = v[1] != 0;
        ent[i].seq = (uint32_t)v[2];
        ent[i].budget = v[3];
        ent[i].data = v[4] != 0;
        ent[i].fcap = v[5];
        ent[i].flen = v[6];
        ent[i].dcap = v[7];
        ent[i].dlen = v[8];
    }
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
                int r = get_ll(t, j, &v[j]);
                if (r < 0)
                    goto done;
                if (r > 0)
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
    if (fmt == 0) {                                     /* classic pcap (draft-ietf-opsawg-pcap §5) */
        long long tick = PyLong_AsLongLong(a);
        if (tick == -1 && PyErr_Occurred())
            goto done;
        Py_ssize_t hdr = (Py_ssize_t)b_arg;
        int lt = (int)c_arg;
        while (pos + hdr <= size) {                     /* the reader's _iter_pcap, record by record */
            const unsigned char *r = b + pos;
            uint32_t sec = rd32(r, big), frac = rd32(r + 4, big), caplen = rd32(r + 8, big),
                     orig = rd32(r + 12, big);
            Py_ssize_t s = pos + hdr, e = s + (Py_ssize_t)caplen;
            if ((Py_ssize_t)caplen > size || e > size || caplen < orig)
                break;                                  /* a refill, a cut frame: the reader's */
            long long ts = (long long)sec * 1000000000LL + (long long)frac * tick;
            int t = take(ent, (int)nent, lt, b, s, e, number + 1, ts, &last_number, &last_ts);
            if (t < 0)
                goto done;
            if (!t)
                break;
            number++;
            count++;
            pos = e;
        }
    } else {                                            /* pcapng Enhanced Packet Blocks (§4.3) */
        while (pos + 28 <= size) {
            const unsigned char *r = b + pos;
            uint32_t btype = rd32(r, big), blen = rd32(r + 4, big), iface = rd32(r + 8, big),
                     hi = rd32(r + 12, big), lo = rd32(r + 16, big), caplen = rd32(r + 20, big),
                     orig = rd32(r + 24, big);
            if (btype != B_EPB || blen < 32 || (blen & 3) || blen > MAX_RECORD || pos + (Py_ssize_t)blen > size
                    || iface >= (uint32_t)nifc || !ifc[iface].ok)
                break;
            Py_ssize_t s = pos + 28, e = s + (Py_ssize_t)caplen;
            if (e > pos + (Py_ssize_t)blen - 4 || caplen < orig)
                break;
            Iface *f = &ifc[iface];
            unsigned __int128 units = (unsigned __int128)((uint64_t)hi << 32 | lo);
            unsigned __int128 q = ((units * (unsigned __int128)f->mul) >> f->shift) / (unsigned __int128)f->div;
            if (q >= (unsigned __int128)SURELY_IN_CALENDAR)
                break;
            long long ts;
            if (__builtin_add_overflow((long long)q, f->off, &ts) || ts < 0 || ts >= SURELY_IN_CALENDAR)
                break;
            int t = take(ent, (int)nent, f->linktype, b, s, e, number + 1, ts, &last_number, &last_ts);
            if (t < 0)
                goto done;
            if (!t)
                break;
            number++;
            count++;
            pos += blen;
        }
    }
    if (count == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    PyObject *res = PyTuple_New(nent);
    if (res == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < nent; i++) {
        Entry *d = &ent[i];
        PyObject *ack;
        if (d->has_ack) {
            ack = PyLong_FromUnsignedLong(d->ack);
        } else {
            ack = Py_None;
            Py_INCREF(ack);
        }
        PyObject *t = Py_BuildValue("(LLLLLNNLNL)", d->last_any, d->last_any_ts, d->taken, d->last_data,
                                    d->last_data_ts, ack, py_quads(d->fquads), d->fdrop,
                                    py_quads(d->dquads), d->ddrop);
        if (t == NULL) {
            Py_DECREF(res);
            goto done;
        }
        PyTuple_SET_ITEM(res, i, t);
    }
    result = Py_BuildValue("(nLLN)", pos, number, last_ts, res);
done:
    for (Py_ssize_t i = 0; i < nent; i++) {
        Py_XDECREF(ent[i].fquads);
        Py_XDECREF(ent[i].dquads);
    }
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "Take the records the analyzer's fast path would finish with nothing to say."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_walk", "The compiled record walk of the analyzer's fast path (issue 18).", -1, methods,
};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
