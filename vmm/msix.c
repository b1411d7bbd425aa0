/* MSI-X table, PBA and vector delivery; see msix.h. */
#include "msix.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

static bool is_mem_bar(const struct pci_function *fn, unsigned bar)
{
    return bar < PCI_BARS &&
           (fn->bar[bar].kind == PCI_BAR_MEM32 || fn->bar[bar].kind == PCI_BAR_MEM64);
}

static bool inside(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

int msix_init(struct msix *m, struct pci_function *fn, struct gsi_router *router, unsigned nvec,
              unsigned table_bar, uint64_t table_off, unsigned pba_bar, uint64_t pba_off, char *err,
              size_t errlen)
{
    const char *name = fn->dev.name;
    uint64_t table_len = (uint64_t)nvec * MSIX_ENTRY_SIZE, pba_len = (nvec + 63) / 64 * 8;
    unsigned cap;

    memset(m, 0, sizeof(*m));
    if (nvec < 1 || nvec > MSIX_MAX_VECTORS) {
        snprintf(err, errlen, "%s: MSI-X: %u vectors is not 1..%u", name, nvec, MSIX_MAX_VECTORS);
        return -1;
    }
    if (!is_mem_bar(fn, table_bar) || !is_mem_bar(fn, pba_bar)) {
        snprintf(err, errlen, "%s: MSI-X: the table and PBA must be in memory BARs", name);
        return -1;
    }
    if ((table_off | pba_off) & 7 || !inside(table_off, table_len, fn->bar[table_bar].size) ||
        !inside(pba_off, pba_len, fn->bar[pba_bar].size) ||
        (table_bar == pba_bar && table_off < pba_off + pba_len &&
         pba_off < table_off + table_len)) {
        snprintf(err, errlen,
                 "%s: MSI-X: table (BAR %u + 0x%llx) or PBA (BAR %u + 0x%llx) misaligned, "
                 "outside its BAR or overlapping the other",
                 name, table_bar, (unsigned long long)table_off, pba_bar,
                 (unsigned long long)pba_off);
        return -1;
    }
    cap = pci_cap_add(fn, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
    if (!cap) {
        snprintf(err, errlen, "%s: MSI-X: no room in configuration space", name);
        return -1;
    }
    m->vec = calloc(nvec, sizeof(*m->vec));
    if (!m->vec) {
        snprintf(err, errlen, "%s: MSI-X: out of memory", name);
        return -1;
    }
    m->fn = fn;
    m->router = router;
    m->cap = cap;
    m->nvec = nvec;
    m->table_bar = table_bar;
    m->table_off = table_off;
    m->pba_bar = pba_bar;
    m->pba_off = pba_off;
    for (unsigned i = 0; i < nvec; i++) {
        m->vec[i].ctrl = MSIX_VECTOR_MASKED; /* reset state: every vector masked */
        m->vec[i].gsi = -1;
        m->vec[i].efd = -1;
    }
    for (unsigned i = 0; i < nvec; i++) {
        struct msix_vector *v = &m->vec[i];
        v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (v->efd < 0) {
            int e = errno;
            struct rlimit lim = {0};

            getrlimit(RLIMIT_NOFILE, &lim);
            snprintf(err, errlen,
                     "%s: MSI-X vector %u of %u: eventfd: %s (open files limited to %llu: "
                     "RLIMIT_NOFILE)",
                     name, i, nvec, strerror(e), (unsigned long long)lim.rlim_cur);
            msix_destroy(m);
            return -1;
        }
    }
    pci_set(fn->cfg, cap + MSIX_CTRL, 2, nvec - 1);
    pci_set(fn->wmask, cap + MSIX_CTRL, 2, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
    pci_set(fn->cfg, cap + MSIX_TABLE, 4, (uint32_t)table_off | table_bar);
    pci_set(fn->cfg, cap + MSIX_PBA, 4, (uint32_t)pba_off | pba_bar);
    fn->msix = m;
    return 0;
}

void msix_destroy(struct msix *m)
{
    for (unsigned i = 0; m->vec && i < m->nvec; i++) {
        struct msix_vector *v = &m->vec[i];
        if (v->bound)
            gsi_irqfd(m->router, (unsigned)v->gsi, v->efd, false);
        if (v->gsi >= 0)
            gsi_free(m->router, (unsigned)v->gsi);
        if (v->efd >= 0)
            close(v->efd);
    }
    if (m->fn && m->fn->msix == m)
        m->fn->msix = NULL;
    free(m->vec);
    m->vec = NULL;
    m->nvec = 0;
}

static uint16_t control(const struct msix *m)
{
    return (uint16_t)pci_get(m->fn, m->cap + MSIX_CTRL, 2);
}

/* Empties a vector's eventfd: its signals were delivered (or dropped). */
static void drain(const struct msix_vector *v)
{
    uint64_t n;

    while (read(v->efd, &n, sizeof(n)) == (ssize_t)sizeof(n))
        ;
}

/* Makes vector i live or not, per the enable and mask bits and its entry. */
static void sync_vector(struct msix *m, unsigned i)
{
    struct msix_vector *v = &m->vec[i];
    uint16_t ctl = control(m);
    bool live = (ctl & MSIX_CTRL_ENABLE) && !(ctl & MSIX_CTRL_MASKALL) &&
                !(v->ctrl & MSIX_VECTOR_MASKED);
    uint64_t addr = (uint64_t)v->addr_hi << 32 | v->addr_lo;

    if (!live) {
        if (v->bound && gsi_irqfd(m->router, (unsigned)v->gsi, v->efd, false) == 0)
            v->bound = false;
        return;
    }
    /* A GSI only for a vector the guest unmasks (kept until the end): a
     * function may have 2048 vectors, the VM 1024 GSIs, and drivers use a
     * few per CPU. */
    if (v->gsi < 0 && (v->gsi = gsi_alloc(m->router)) < 0) {
        m->errors++;
        if (!m->gsi_exhausted)
            fprintf(stderr,
                    "evr-vmm: %s: MSI-X vector %u: no free GSI (%d in the VM): not delivered\n",
                    m->fn->dev.name, i, GSI_MAX);
        m->gsi_exhausted = true;
        return;
    }
    if (!v->routed || v->route_addr != addr || v->route_data != v->data) {
        if (gsi_route_msi(m->router, (unsigned)v->gsi, addr, v->data)) {
            m->errors++;
            return;
        }
        v->routed = true;
        v->route_addr = addr;
        v->route_data = v->data;
    }
    if (!v->bound) {
        if (gsi_irqfd(m->router, (unsigned)v->gsi, v->efd, true)) {
            m->errors++;
            return;
        }
        v->bound = true;
        /* KVM saw any waiting signal as it bound the fd and injects it once;
         * what is left in the counter is that same interrupt. */
        drain(v);
    }
}

void msix_control_written(struct msix *m)
{
    for (unsigned i = 0; i < m->nvec; i++)
        sync_vector(m, i);
}

bool msix_pending(struct msix *m, unsigned vector)
{
    struct pollfd p;

    if (vector >= m->nvec || m->vec[vector].bound)
        return false;
    p = (struct pollfd){.fd = m->vec[vector].efd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static bool access_ok(uint64_t offset, unsigned size)
{
    return (size == 4 || size == 8) && offset % size == 0;
}

static uint32_t *entry_word(struct msix_vector *v, unsigned word)
{
    switch (word) {
    case 0:
        return &v->addr_lo;
    case 1:
        return &v->addr_hi;
    case 2:
        return &v->data;
    default:
        return &v->ctrl;
    }
}

static uint32_t pba_word(struct msix *m, uint64_t off)
{
    uint32_t w = 0;

    for (unsigned b = 0; b < 32; b++) {
        uint64_t vector = off * 8 + b;
        if (vector < m->nvec && msix_pending(m, (unsigned)vector))
            w |= 1u << b;
    }
    return w;
}

bool msix_bar_read(struct msix *m, unsigned bar, uint64_t offset, unsigned size, uint64_t *value)
{
    uint64_t table_len = (uint64_t)m->nvec * MSIX_ENTRY_SIZE, pba_len = (m->nvec + 63) / 64 * 8;

    if (bar == m->table_bar && offset >= m->table_off && offset - m->table_off < table_len) {
        uint64_t off = offset - m->table_off;
        if (!access_ok(off, size)) {
            *value = bus_all_ones(size);
            return true;
        }
        *value = 0;
        for (unsigned k = 0; k < size / 4; k++) {
            uint64_t o = off + 4 * k;
            *value |= (uint64_t)*entry_word(&m->vec[o / MSIX_ENTRY_SIZE],
                                            (unsigned)(o % MSIX_ENTRY_SIZE) / 4)
                      << (32 * k);
        }
        return true;
    }
    if (bar == m->pba_bar && offset >= m->pba_off && offset - m->pba_off < pba_len) {
        uint64_t off = offset - m->pba_off;
        if (!access_ok(off, size)) {
            *value = bus_all_ones(size);
            return true;
        }
        *value = pba_word(m, off);
        if (size == 8)
            *value |= (uint64_t)pba_word(m, off + 4) << 32;
        return true;
    }
    return false;
}

bool msix_bar_write(struct msix *m, unsigned bar, uint64_t offset, unsigned size, uint64_t value)
{
    uint64_t table_len = (uint64_t)m->nvec * MSIX_ENTRY_SIZE, pba_len = (m->nvec + 63) / 64 * 8;

    if (bar == m->table_bar && offset >= m->table_off && offset - m->table_off < table_len) {
        uint64_t off = offset - m->table_off;
        unsigned i = (unsigned)(off / MSIX_ENTRY_SIZE);
        if (!access_ok(off, size))
            return true;
        for (unsigned k = 0; k < size / 4; k++) {
            unsigned word = (unsigned)((off + 4 * k) % MSIX_ENTRY_SIZE) / 4;
            uint32_t w = (uint32_t)(value >> (32 * k));
            if (word == 0)
                w &= ~3u; /* message address is dword aligned */
            if (word == 3)
                w &= MSIX_VECTOR_MASKED; /* the rest of vector control is reserved */
            *entry_word(&m->vec[i], word) = w;
        }
        sync_vector(m, i);
        return true;
    }
    /* The PBA is read-only. */
    return bar == m->pba_bar && offset >= m->pba_off && offset - m->pba_off < pba_len;
}

int msix_notify(struct msix *m, unsigned vector)
{
    uint64_t one = 1;

    if (vector >= m->nvec) {
        errno = EINVAL;
        return -1;
    }
    /* An eventfd counter only saturates after 2^64 - 2 signals; a failed
     * write would mean exactly that and the interrupt is pending anyway. */
    return write(m->vec[vector].efd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -1;
}

int msix_vector_eventfd(const struct msix *m, unsigned vector)
{
    return vector < m->nvec ? m->vec[vector].efd : -1;
}
