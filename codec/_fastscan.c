/*
 * codec._fastscan: the byte walk behind codec.lines.scan_serialized_lines, in C.
 *
 * Walks the `lines: Vec<(StableRowIndex, Line)>` part of a varbincode
 * SerializedLines and returns, per line, the byte spans the fingerprint is
 * computed over. Hashing, hyperlinks and images stay in Python
 * (codec/lines/scan.py), so both paths share one definition of the fingerprint.
 *
 * scan_lines(buf, pos) -> (spans, end) | None
 *   spans: list of (row, line_start, cells_end, bits_start, line_end, seqno)
 *   None:  anything this walker does not handle (clustered storage, images
 *          inside cells, malformed or truncated input); the caller then runs
 *          the pure-Python path, which also produces the proper error.
 *
 * Wire rules (varbincode, see codec/wire/varbincode/): LEB128 integers, u8 raw,
 * Option = u8 tag, enums = LEB128 variant index, strings = LEB128 length + bytes.
 *
 * Why the Cell/Line layout is written here a second time: this walk is what
 * makes the fast path ~10x faster than the Python one, and it cannot read the
 * Python schema (codec/schema/termwiz.py) at run time without losing that;
 * generating it from the schema would add a code generator to the build for
 * about a hundred lines. Instead it is tied to the schema by tests:
 * tests/test_fastscan.py checks that it agrees with the Python walk (whose
 * patterns are derived from the schema) on the golden vectors, on random
 * mutations, and on a cell of every variant the schema gives SmallColor and
 * ColorAttribute. A layout change in the schema fails those tests until this
 * file follows.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    int bad;
} cur_t;

static inline uint64_t uleb(cur_t *c) {
    uint64_t v = 0;
    int shift = 0;
    while (c->p < c->end) {
        unsigned char b = *c->p++;
        if (shift == 63 && b > 1) { c->bad = 1; return 0; }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) return v;
        shift += 7;
        if (shift > 63) { c->bad = 1; return 0; }
    }
    c->bad = 1;
    return 0;
}

static inline int64_t sleb(cur_t *c) {
    uint64_t v = 0;
    int shift = 0;
    unsigned char b = 0;
    while (1) {
        if (c->p >= c->end) { c->bad = 1; return 0; }
        b = *c->p++;
        if (shift == 63 && b != 0x00 && b != 0x7f) { c->bad = 1; return 0; }
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (b < 0x80) break;
    }
    if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
    return (int64_t)v;
}

static inline void skip(cur_t *c, uint64_t n) {
    if ((uint64_t)(c->end - c->p) < n) { c->bad = 1; c->p = c->end; return; }
    c->p += n;
}

static inline unsigned char byte(cur_t *c) {
    if (c->p >= c->end) { c->bad = 1; return 0; }
    return *c->p++;
}

static inline void skip_str(cur_t *c) { uint64_t n = uleb(c); if (!c->bad) skip(c, n); }

/* termwiz SmallColor: Default | PaletteIndex(u8) */
static inline void small_color(cur_t *c) {
    uint64_t t = uleb(c);
    if (t == 1) skip(c, 1); else if (t != 0) c->bad = 1;
}

/* termwiz ColorAttribute: TrueColorWithPaletteFallback(SrgbaTuple, u8) |
   TrueColorWithDefaultFallback(SrgbaTuple) | PaletteIndex(u8) | Default */
static inline void color_attr(cur_t *c) {
    uint64_t t = uleb(c);
    switch (t) {
    case 0: skip(c, 17); break;
    case 1: skip(c, 16); break;
    case 2: skip(c, 1); break;
    case 3: break;
    default: c->bad = 1;
    }
}

/* Returns 0 on success, -1 when unsupported/malformed. */
static int cell(cur_t *c) {
    skip_str(c);               /* text */
    (void)uleb(c);             /* attributes: u32 */
    small_color(c);            /* foreground */
    small_color(c);            /* background */
    unsigned char fat = byte(c);
    if (fat == 1) {
        unsigned char link = byte(c);
        if (link == 1) {       /* Hyperlink { params: HashMap<String,String>, uri, implicit } */
            uint64_t n = uleb(c);
            for (uint64_t i = 0; i < n && !c->bad; i++) { skip_str(c); skip_str(c); }
            skip_str(c);
            if (byte(c) > 1) c->bad = 1;
        } else if (link != 0) {
            c->bad = 1;
        }
        uint64_t images = uleb(c);
        if (images != 0) return -1;  /* images inside cells: leave it to Python */
        color_attr(c);         /* underline_color */
        color_attr(c);         /* foreground */
        color_attr(c);         /* background */
    } else if (fat != 0) {
        c->bad = 1;
    }
    return c->bad ? -1 : 0;
}

static PyObject *scan_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    if (!PyArg_ParseTuple(args, "y*n", &view, &pos)) return NULL;
    if (pos < 0 || pos > view.len) { PyBuffer_Release(&view); Py_RETURN_NONE; }
    const unsigned char *base = (const unsigned char *)view.buf;
    cur_t c = {base + pos, base + view.len, 0};
    uint64_t n = uleb(&c);
    if (c.bad || n > (uint64_t)(c.end - c.p)) { PyBuffer_Release(&view); Py_RETURN_NONE; }
    PyObject *spans = PyList_New((Py_ssize_t)n);
    if (!spans) { PyBuffer_Release(&view); return NULL; }
    for (uint64_t i = 0; i < n; i++) {
        int64_t row = sleb(&c);
        Py_ssize_t line_start = c.p - base;
        uint64_t tag = uleb(&c);
        if (c.bad || tag != 0) goto unsupported;   /* C storage or bad tag */
        uint64_t cells = uleb(&c);
        if (c.bad || cells > (uint64_t)(c.end - c.p)) goto unsupported;
        for (uint64_t k = 0; k < cells; k++) {
            if (cell(&c) < 0) goto unsupported;
        }
        Py_ssize_t cells_end = c.p - base;
        uint64_t zones = uleb(&c);
        if (c.bad || zones > (uint64_t)(c.end - c.p)) goto unsupported;
        for (uint64_t k = 0; k < zones && !c.bad; k++) {
            if (uleb(&c) > 2) c.bad = 1;   /* SemanticType */
            (void)uleb(&c);                 /* range.start */
            (void)uleb(&c);                 /* range.end */
        }
        uint64_t seqno = uleb(&c);
        Py_ssize_t bits_start = c.p - base;
        (void)uleb(&c);
        if (c.bad) goto unsupported;
        Py_ssize_t line_end = c.p - base;
        PyObject *t = Py_BuildValue("(LnnnnK)", (long long)row, line_start, cells_end, bits_start, line_end,
                                    (unsigned long long)seqno);
        if (!t) { Py_DECREF(spans); PyBuffer_Release(&view); return NULL; }
        PyList_SET_ITEM(spans, (Py_ssize_t)i, t);
    }
    {
        Py_ssize_t end = c.p - base;
        PyBuffer_Release(&view);
        PyObject *res = Py_BuildValue("(Nn)", spans, end);
        return res;
    }
unsupported:
    Py_DECREF(spans);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"scan_lines", scan_lines, METH_VARARGS,
     "scan_lines(buf, pos) -> ([(row, line_start, cells_end, bits_start, line_end, seqno)], end) or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastscan",
                                    "C walk of SerializedLines for codec.lines (optional accelerator).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__fastscan(void) { return PyModule_Create(&module); }
