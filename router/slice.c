/* Parser and printer for slice names; grammar in slice.h. */
#include "slice.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct cursor {
    const char *text; /* whole input, for error offsets */
    const char *p;
    struct evr_parse_error *err;
};

static int fail(struct cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct cursor *c, const char *fmt, ...)
{
    if (c->err) {
        va_list ap;
        c->err->offset = (size_t)(c->p - c->text);
        va_start(ap, fmt);
        vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A decimal number without sign or leading zeros, at most max. */
static int number(struct cursor *c, const char *what, unsigned max, uint16_t *out)
{
    const char *start = c->p;
    unsigned long v = 0;

    if (!isdigit((unsigned char)*c->p))
        return fail(c, "expected a %s number", what);
    if (c->p[0] == '0' && isdigit((unsigned char)c->p[1]))
        return fail(c, "%s number has a leading zero", what);
    while (isdigit((unsigned char)*c->p)) {
        v = v * 10 + (unsigned long)(*c->p - '0');
        if (v > max) {
            c->p = start;
            return fail(c, "%s number is above %u", what, max);
        }
        c->p++;
    }
    *out = (uint16_t)v;
    return 0;
}

/* "N" or "N-M" with N <= M. */
static int range(struct cursor *c, const char *what, unsigned min, unsigned max, uint16_t *first,
                 uint16_t *last)
{
    const char *start = c->p;

    if (number(c, what, max, first))
        return -1;
    if (*first < min) {
        c->p = start;
        return fail(c, "%s number is below %u", what, min);
    }
    *last = *first;
    if (*c->p != '-')
        return 0;
    c->p++;
    if (number(c, what, max, last))
        return -1;
    if (*last < *first) {
        c->p = start;
        return fail(c, "%s range %u-%u is reversed", what, *first, *last);
    }
    return 0;
}

static int slice(struct cursor *c, struct evr_slice *out)
{
    const char *start = c->p;

    memset(out, 0, sizeof(*out));
    if (strncmp(c->p, "port", 4) != 0)
        return fail(c, "expected 'port' (slices look like port0-7, port8.100-199, port2/vf0-3)");
    c->p += 4;
    if (range(c, "port", 0, EVR_PORT_MAX, &out->port_first, &out->port_last))
        return -1;
    out->kind = EVR_SLICE_PORT;
    if (*c->p == '.' || *c->p == '/') {
        int vlan = *c->p == '.';
        if (out->port_first != out->port_last) {
            c->p = start;
            return fail(c, "a %s range applies to one port, not to ports %u-%u",
                        vlan ? "VLAN" : "VF", out->port_first, out->port_last);
        }
        c->p++;
        if (vlan) {
            out->kind = EVR_SLICE_VLAN;
            return range(c, "VLAN", EVR_VLAN_MIN, EVR_VLAN_MAX, &out->first, &out->last);
        }
        if (strncmp(c->p, "vf", 2) != 0)
            return fail(c, "expected 'vf' after '/'");
        c->p += 2;
        out->kind = EVR_SLICE_VF;
        return range(c, "VF", 0, EVR_VF_MAX, &out->first, &out->last);
    }
    return 0;
}

int evr_slice_parse(const char *text, struct evr_slice *out, struct evr_parse_error *err)
{
    struct cursor c = {.text = text, .p = text, .err = err};

    if (slice(&c, out))
        return -1;
    if (*c.p != '\0')
        return fail(&c, "unexpected '%c' after the slice", *c.p);
    return 0;
}

static int spans_overlap(unsigned a0, unsigned a1, unsigned b0, unsigned b1)
{
    return a0 <= b1 && b0 <= a1;
}

int evr_slice_overlaps(const struct evr_slice *a, const struct evr_slice *b)
{
    if (!spans_overlap(a->port_first, a->port_last, b->port_first, b->port_last))
        return 0;
    if (a->kind == EVR_SLICE_PORT || b->kind == EVR_SLICE_PORT)
        return 1;
    /* VLAN slices and VF slices of one port are different resources. */
    if (a->kind != b->kind)
        return 0;
    return spans_overlap(a->first, a->last, b->first, b->last);
}

int evr_slice_list_parse(const char *text, struct evr_slice_list *out, struct evr_parse_error *err)
{
    struct cursor c = {.text = text, .p = text, .err = err};

    out->count = 0;
    for (;;) {
        const char *item = c.p;
        struct evr_slice s;

        if (out->count == EVR_SLICE_LIST_MAX)
            return fail(&c, "more than %u slices in one list", EVR_SLICE_LIST_MAX);
        if (slice(&c, &s))
            return -1;
        for (size_t i = 0; i < out->count; i++) {
            if (evr_slice_overlaps(&out->items[i], &s)) {
                char a[48], b[48];
                evr_slice_format(&out->items[i], a, sizeof(a));
                evr_slice_format(&s, b, sizeof(b));
                c.p = item;
                return fail(&c, "%s overlaps %s earlier in the list", b, a);
            }
        }
        out->items[out->count++] = s;
        if (*c.p == '\0')
            return 0;
        if (*c.p != ',')
            return fail(&c, "unexpected '%c' after the slice (separate slices with ',')", *c.p);
        c.p++;
    }
}

static int format_range(char *buf, size_t len, const char *prefix, unsigned a, unsigned b)
{
    if (a == b)
        return snprintf(buf, len, "%s%u", prefix, a);
    return snprintf(buf, len, "%s%u-%u", prefix, a, b);
}

int evr_slice_format(const struct evr_slice *s, char *buf, size_t len)
{
    int n = format_range(buf, len, "port", s->port_first, s->port_last);
    size_t used = n < 0 ? 0 : (size_t)n;
    char *rest = used < len ? buf + used : NULL;
    size_t rest_len = used < len ? len - used : 0;
    int m = 0;

    switch (s->kind) {
    case EVR_SLICE_PORT:
        break;
    case EVR_SLICE_VLAN:
        m = format_range(rest, rest_len, ".", s->first, s->last);
        break;
    case EVR_SLICE_VF:
        m = format_range(rest, rest_len, "/vf", s->first, s->last);
        break;
    }
    return n + m;
}
