/* Lab proof of why TCP from a nested guest stalled over a passed-through lab
 * NIC when the guest's RAM was in 4 KiB pages (docs/lab.md, "TCP on the lab's
 * e1000e pair"), in one boot (evr-lab run --nics 2 --igb 2).
 *
 * The first e1000e, the first igb PF, then a VF of that PF (the kind of
 * function evr gives its VMs) are bound to vfio-pci and driven from here:
 * reset, one legacy transmit ring, one descriptor (EOP, IFCS, RS) per frame.
 * Each sends its cable peer, left on the lab kernel's driver, frames whose
 * buffer
 *   (a) lies inside one IOVA page,
 *   (b) spans two IOVA pages mapped (one VFIO_IOMMU_MAP_DMA each) to two
 *       physically adjacent lab pages, both of one 2 MiB huge page,
 *   (c) spans two IOVA pages mapped to lab pages that are not adjacent
 *       (/proc/self/pagemap says where each is).
 * QEMU 10.0's e1000e and igb map a buffer with pci_dma_map() and drop the
 * whole frame when the mapping comes back shorter than the buffer, and the
 * mapping ends where the next IOMMU page is not the next page of the lab's
 * RAM: (c) never reaches the peer, although the device writes its descriptor
 * back done. (a) and (b) must arrive, byte for byte; (c) arriving means the
 * lab's QEMU now maps such a buffer in pieces, and the reason the lab's
 * passthrough guests run in huge pages is gone. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bind.h"
#include "lab_check.h"
#include "pci.h"
#include "sriov.h"
#include "sysfs_io.h"
#include "vf_link.h"
#include "vfio_device.h"

#define ROOT "" /* the lab's own sysfs, procfs and devfs */

#define PAGE       4096u
#define HUGE_PAGE  0x200000u
#define ETHERTYPE  0x88b5 /* IEEE local experimental */
#define FRAME_LEN  1200u
#define SPAN_FIRST 600u /* bytes of a spanning frame in its first page */
#define ROUNDS     3
#define MARKER     "evr-lab-tx-span"

/* Registers the 82574 and the 82576 share (CTRL is a VF's VTCTRL too). */
#define REG_CTRL      0x0000
#define CTRL_RST      0x04000000u
#define CTRL_SLU      0x00000040u
#define REG_IMC       0x00d8
#define REG_TCTL      0x0400
#define TCTL_EN       0x00000002u
#define TCTL_PSP      0x00000008u
#define TCTL_CT       (0x0fu << 4)
#define TCTL_COLD     (0x3fu << 12)
#define REG_GPTC      0x4080 /* good packets transmitted, cleared on read */
#define REG_VFGPTC    0x0f14 /* a VF's, not cleared on read */
#define TXD_CMD_EOP   0x01u
#define TXD_CMD_IFCS  0x02u
#define TXD_CMD_RS    0x08u
#define TXD_STAT_DD   0x01u
#define TXDCTL_ENABLE 0x02000000u /* igb: the queue takes descriptors */

/* An 82576 VF's mailbox to its PF's driver, as Linux's igbvf uses it. */
#define VF_MBX       0x0c40
#define VF_MBMEM     0x0800
#define MBX_REQ      0x01u
#define MBX_ACK      0x02u
#define MBX_VFU      0x04u
#define MBX_PFSTS    0x10u /* cleared by reading VF_MBX */
#define VF_MSG_RESET 0x01u
#define VF_MSG_ACK   0x80000000u

/* The IOVA layout, the same for each NIC (each has a container of its own). */
#define IOVA_RING   0x10000u
#define IOVA_A      0x20000u
#define IOVA_B      0x30000u /* and 0x31000 */
#define IOVA_C      0x40000u /* and 0x41000 */
#define RING_DESCS  (PAGE / 16u)
#define FRAME_SENDS (3 * ROUNDS + 1) /* the rounds and the closing frame */

struct legacy_txd {
    uint64_t addr;
    uint16_t len;
    uint8_t cso;
    uint8_t cmd;
    uint8_t status;
    uint8_t css;
    uint16_t special;
};

/* One NIC model: its IDs, where its queue 0 transmit ring registers are and
 * how it counts what it sent. */
struct nic_model {
    const char *name;
    const char *driver;
    uint16_t device;
    size_t tdbal;  /* TDBAH, TDLEN, TDH, TDT follow at +4, +8, +0x10, +0x18 */
    size_t txdctl; /* 0: no queue enable to set */
    size_t gptc;
    int gptc_clears; /* cleared on read */
    int is_vf;       /* started by its PF's driver; no TCTL of its own */
};

static const struct nic_model e1000e_model = {"e1000e", "e1000e", 0x10d3, 0x3800,
                                              0,        REG_GPTC, 1,      0};
static const struct nic_model igb_model = {"igb", "igb", 0x10c9, 0xe000, 0xe028, REG_GPTC, 1, 0};
static const struct nic_model igbvf_model = {"igb VF", "",         0x10ca, 0x3800,
                                             0x3828,   REG_VFGPTC, 0,      1};

/* Where the frames are built: virtual addresses of each IOVA page. */
struct buffers {
    uint8_t *ring;
    uint8_t *a;
    uint8_t *b[2]; /* two adjacent 4 KiB pieces of one huge page */
    uint8_t *c[2]; /* two pages apart in the lab's RAM */
};

static volatile uint32_t *reg(void *bar, size_t off)
{
    return (volatile uint32_t *)((char *)bar + off);
}

/* The lab-physical frame of a page of this process (0: not known). */
static uint64_t pfn_of(const void *va)
{
    uint64_t entry = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    off_t off = (off_t)((uintptr_t)va / PAGE * sizeof(entry));

    if (fd < 0)
        return 0;
    if (pread(fd, &entry, sizeof(entry), off) != (ssize_t)sizeof(entry))
        entry = 0;
    close(fd);
    if (!(entry & (1ull << 63))) /* not present */
        return 0;
    return entry & ((1ull << 55) - 1);
}

static int map_page(struct evr_vfio_container *c, void *va, uint64_t iova, struct evr_err *err)
{
    return evr_vfio_dma_map(c, va, iova, PAGE, 1, err);
}

/* Two pages of the pool whose lab-physical frames are not adjacent. */
static void pick_apart(uint8_t *pool, size_t n, uint8_t **first, uint8_t **second)
{
    size_t i, j;

    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++) {
            uint64_t pi = pfn_of(pool + i * PAGE), pj = pfn_of(pool + j * PAGE);
            if (i != j && pi && pj && pj != pi + 1) {
                *first = pool + i * PAGE;
                *second = pool + j * PAGE;
                return;
            }
        }
    *first = *second = NULL;
}

static void alloc_buffers(struct buffers *bufs)
{
    uint8_t *huge, *pool;
    size_t i;

    bufs->ring = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    REQUIRE(bufs->ring != MAP_FAILED, "ring and (a) pages allocated", "%s", strerror(errno));
    bufs->a = bufs->ring + PAGE;

    /* The lab boots with no huge pages reserved. */
    REQUIRE(evr_sysfs_write("/proc/sys/vm/nr_hugepages", "4") == 0, "4 huge pages reserved",
            "writing /proc/sys/vm/nr_hugepages failed");
    huge = mmap(NULL, HUGE_PAGE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    REQUIRE(huge != MAP_FAILED, "a 2 MiB huge page allocated", "%s", strerror(errno));
    bufs->b[0] = huge;
    bufs->b[1] = huge + PAGE;

    pool = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                -1, 0);
    REQUIRE(pool != MAP_FAILED, "16 pages allocated for (c)", "%s", strerror(errno));
    for (i = 0; i < 16; i++)
        pool[i * PAGE] = (uint8_t)i; /* each its own page, not the shared zero page */
    pick_apart(pool, 16, &bufs->c[0], &bufs->c[1]);
    REQUIRE(bufs->c[0] != NULL, "two pages found that are not adjacent in the lab's RAM",
            "pagemap gave no frame numbers (root needed) or all 16 pages in a row");
}

/* The mapping each case relies on, as the lab's RAM holds it (after the
 * pinning of VFIO_IOMMU_MAP_DMA, which could have moved a page). */
static int check_layout(const struct buffers *bufs)
{
    uint64_t b0 = pfn_of(bufs->b[0]), b1 = pfn_of(bufs->b[1]);
    uint64_t c0 = pfn_of(bufs->c[0]), c1 = pfn_of(bufs->c[1]);

    printf("  (b) iova 0x%x -> pfn 0x%llx, iova 0x%x -> pfn 0x%llx\n", IOVA_B,
           (unsigned long long)b0, IOVA_B + PAGE, (unsigned long long)b1);
    printf("  (c) iova 0x%x -> pfn 0x%llx, iova 0x%x -> pfn 0x%llx\n", IOVA_C,
           (unsigned long long)c0, IOVA_C + PAGE, (unsigned long long)c1);
    CHECK(b0 && b1 == b0 + 1, "(b)'s two IOVA pages are adjacent lab pages",
          "pfn 0x%llx then 0x%llx", (unsigned long long)b0, (unsigned long long)b1);
    CHECK(c0 && c1 && c1 != c0 + 1, "(c)'s two IOVA pages are lab pages apart",
          "pfn 0x%llx then 0x%llx", (unsigned long long)c0, (unsigned long long)c1);
    return b0 && b1 == b0 + 1 && c0 && c1 && c1 != c0 + 1 ? 0 : -1;
}

/* Writes len bytes of frame at offset off of a buffer made of two pages. */
static void put_split(uint8_t *first, uint8_t *second, size_t off, const uint8_t *frame, size_t len)
{
    size_t in_first = off + len <= PAGE ? len : PAGE - off;

    memcpy(first + off, frame, in_first);
    if (in_first < len)
        memcpy(second, frame + in_first, len - in_first);
}

static void build_frame(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], char kind,
                        int round)
{
    size_t i;

    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = ETHERTYPE >> 8;
    f[13] = ETHERTYPE & 0xff;
    memcpy(f + 14, MARKER, sizeof(MARKER)); /* with its NUL */
    f[14 + sizeof(MARKER)] = (uint8_t)kind;
    f[15 + sizeof(MARKER)] = (uint8_t)round;
    for (i = 16 + sizeof(MARKER); i < FRAME_LEN; i++)
        f[i] = (uint8_t)(i * 7 + (size_t)kind + (size_t)round);
}

static int read_mac(const char *ifname, uint8_t mac[6])
{
    char path[96], text[32];

    snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
    return evr_sysfs_read(path, text, sizeof(text)) == 17 &&
                           sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
                                  &mac[3], &mac[4], &mac[5]) == 6
                   ? 0
                   : -1;
}

/* Brings an interface up and waits for its carrier. */
static void if_up(const char *ifname)
{
    struct ifreq ifr;
    char path[96], carrier[8] = "";
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), i;

    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    REQUIRE(s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0, "the interface's flags read", "%s: %s",
            ifname, strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    REQUIRE(ioctl(s, SIOCSIFFLAGS, &ifr) == 0, "the interface brought up", "%s: %s", ifname,
            strerror(errno));
    close(s);
    /* Its driver's watchdog raises the carrier a moment after it is up. */
    snprintf(path, sizeof(path), "/sys/class/net/%s/carrier", ifname);
    for (i = 0; i < 200 && strcmp(carrier, "1") != 0; i++) {
        usleep(50000);
        evr_sysfs_read(path, carrier, sizeof(carrier));
    }
    REQUIRE(strcmp(carrier, "1") == 0, "the interface has carrier", "%s: carrier '%s' after 10 s",
            ifname, carrier);
}

/* Brings the peer up and opens a socket that sees the test's frames on it. */
static int open_peer(const char *ifname)
{
    struct sockaddr_ll sll;
    int s;

    if_up(ifname);
    s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE));
    REQUIRE(s >= 0, "packet socket opened", "%s", strerror(errno));
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETHERTYPE);
    sll.sll_ifindex = (int)if_nametoindex(ifname);
    REQUIRE(bind(s, (struct sockaddr *)&sll, sizeof(sll)) == 0, "packet socket bound to the peer",
            "%s: %s", ifname, strerror(errno));
    return s;
}

/* A PF: reset, interrupts masked, transmitter on once the ring is set. */
static void reset_pf(void *bar)
{
    *reg(bar, REG_IMC) = 0xffffffffu;
    *reg(bar, REG_CTRL) = *reg(bar, REG_CTRL) | CTRL_RST;
    usleep(10000); /* the 82574 and 82576 ask for a wait after RST */
    *reg(bar, REG_IMC) = 0xffffffffu;
    *reg(bar, REG_CTRL) = *reg(bar, REG_CTRL) | CTRL_SLU;
}

/* A VF: its PF's driver lets it transmit (VFTE) when it answers the VF's
 * reset message, so the VF resets and asks as igbvf does. Returns the
 * answer's first word, 0 when none came. */
static uint32_t reset_vf(void *bar, uint8_t mac[6])
{
    uint32_t seen = 0, answer[3];
    int i;

    *reg(bar, REG_CTRL) = CTRL_RST;
    usleep(100000); /* the PF's driver takes the reset (VFLRE) first */
    (void)*reg(bar, VF_MBX);
    *reg(bar, VF_MBX) = MBX_VFU;
    *reg(bar, VF_MBMEM) = VF_MSG_RESET;
    *reg(bar, VF_MBX) = MBX_REQ;
    for (i = 0; i < 2000 && !(seen & MBX_PFSTS); i++) {
        usleep(1000);
        seen |= *reg(bar, VF_MBX);
    }
    if (!(seen & MBX_PFSTS))
        return 0;
    *reg(bar, VF_MBX) = MBX_VFU;
    for (i = 0; i < 3; i++)
        answer[i] = *reg(bar, VF_MBMEM + 4 * (size_t)i);
    *reg(bar, VF_MBX) = MBX_ACK;
    memcpy(mac, &answer[1], 6);
    return answer[0];
}

/* Puts one frame on the ring and waits for its descriptor's write-back;
 * returns how many frames the device counted as transmitted. */
static uint32_t send_one(void *bar, const struct nic_model *m, const struct buffers *bufs,
                         unsigned idx, uint64_t iova, int *dd)
{
    volatile struct legacy_txd *d = (volatile struct legacy_txd *)bufs->ring + idx;
    uint32_t before = *reg(bar, m->gptc), after;
    int i;

    d->addr = iova;
    d->len = FRAME_LEN;
    d->cso = 0;
    d->cmd = TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS;
    d->status = 0;
    d->css = 0;
    d->special = 0;
    __sync_synchronize();
    *reg(bar, m->tdbal + 0x18) = idx + 1;
    /* QEMU transmits within the tail write; the bound is for a stuck device. */
    for (i = 0; i < 1000 && !(d->status & TXD_STAT_DD); i++)
        usleep(1000);
    *dd = (d->status & TXD_STAT_DD) != 0;
    after = *reg(bar, m->gptc);
    return m->gptc_clears ? after : after - before;
}

/* What the peer got of each kind; 0 when the closing frame arrived. */
static int receive_all(int s, const uint8_t *sent[3][ROUNDS], const uint8_t *closing, int got[3],
                       int intact[3])
{
    uint8_t in[2048];
    struct pollfd p = {.fd = s, .events = POLLIN};
    int k, r;

    memset(got, 0, 3 * sizeof(int));
    memset(intact, 0, 3 * sizeof(int));
    for (;;) {
        ssize_t n;
        if (poll(&p, 1, 10000) <= 0)
            return -1;
        n = recv(s, in, sizeof(in), 0);
        if (n < (ssize_t)(16 + sizeof(MARKER)) || memcmp(in + 14, MARKER, sizeof(MARKER)) != 0)
            continue;
        if ((size_t)n == FRAME_LEN && memcmp(in, closing, FRAME_LEN) == 0)
            return 0;
        k = in[14 + sizeof(MARKER)] - 'a';
        r = in[15 + sizeof(MARKER)];
        if (k < 0 || k > 2 || r >= ROUNDS)
            continue;
        got[k]++;
        if ((size_t)n == FRAME_LEN && memcmp(in, sent[k][r], FRAME_LEN) == 0)
            intact[k]++;
    }
}

/* nic sends from MAC src; a VF's is the one its PF's driver gave it. */
static void prove(const struct nic_model *m, const struct evr_pci_fn *nic, const uint8_t src[6],
                  const struct evr_pci_fn *peer, const struct buffers *bufs)
{
    static uint8_t frames[3][ROUNDS][FRAME_LEN], closing[FRAME_LEN];
    const uint8_t *sent[3][ROUNDS];
    static const char *const what[3] = {"inside one IOVA page", "across adjacent lab pages",
                                        "across lab pages apart"};
    const uint64_t iova[3] = {IOVA_A + 0x100, IOVA_B + PAGE - SPAN_FIRST,
                              IOVA_C + PAGE - SPAN_FIRST};
    struct evr_vfio_container c;
    struct evr_vfio_group g;
    struct evr_vfio_device d;
    struct evr_vfio_binding b;
    struct evr_err err;
    uint8_t dst[6], vf_mac[6];
    uint32_t answer;
    uint16_t cmd;
    void *bar;
    size_t bar_len;
    unsigned idx = 0;
    int s, k, r, rc, dd, done[3] = {0}, counted[3] = {0}, got[3], intact[3];
    uint32_t gptc;
    char line[160];

    printf("# %s %s (group %d) sends to %s (%s)\n", m->name, nic->addr, nic->iommu_group,
           peer->addr, peer->netdevs[0]);
    REQUIRE(read_mac(peer->netdevs[0], dst) == 0, "the peer's MAC read", "%s", peer->netdevs[0]);
    s = open_peer(peer->netdevs[0]);

    REQUIRE(evr_vfio_bind(ROOT, nic->addr, &b, &err) == 0, "bound to vfio-pci", "%s", err.msg);
    REQUIRE(evr_vfio_container_open(&c, ROOT, &err) == 0 &&
                    evr_vfio_group_open(&c, ROOT, nic->iommu_group, &g, &err) == 0 &&
                    evr_vfio_device_open(&g, nic->addr, &d, &err) == 0,
            "VFIO container, group and device opened", "%s", err.msg);
    rc = map_page(&c, bufs->ring, IOVA_RING, &err);
    rc = rc ? rc : map_page(&c, bufs->a, IOVA_A, &err);
    rc = rc ? rc : map_page(&c, bufs->b[0], IOVA_B, &err);
    rc = rc ? rc : map_page(&c, bufs->b[1], IOVA_B + PAGE, &err);
    rc = rc ? rc : map_page(&c, bufs->c[0], IOVA_C, &err);
    rc = rc ? rc : map_page(&c, bufs->c[1], IOVA_C + PAGE, &err);
    REQUIRE(rc == 0, "ring and buffers mapped page by page (VFIO_IOMMU_MAP_DMA)", "%s", err.msg);
    REQUIRE(check_layout(bufs) == 0, "the pages lie as each case needs", "see above");

    if (d.info.flags & VFIO_DEVICE_FLAGS_RESET)
        REQUIRE(evr_vfio_device_reset(&d, &err) == 0, "function reset", "%s", err.msg);
    rc = evr_vfio_region_read(&d, VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2, &err);
    cmd |= 0x6; /* memory space and bus mastering */
    rc = rc ? rc : evr_vfio_region_write(&d, VFIO_PCI_CONFIG_REGION_INDEX, 4, &cmd, 2, &err);
    REQUIRE(rc == 0, "bus mastering on", "%s", err.msg);
    REQUIRE(evr_vfio_region_mmap(&d, VFIO_PCI_BAR0_REGION_INDEX, &bar, &bar_len, &err) == 0,
            "BAR0 mapped", "%s", err.msg);

    if (m->is_vf) {
        answer = reset_vf(bar, vf_mac);
        REQUIRE((answer & 0xffff) == VF_MSG_RESET && (answer & VF_MSG_ACK) &&
                        memcmp(vf_mac, src, 6) == 0,
                "the PF's driver answered the VF's reset with the MAC it set",
                "answer 0x%08x, MAC %02x:%02x:%02x:%02x:%02x:%02x", answer, vf_mac[0], vf_mac[1],
                vf_mac[2], vf_mac[3], vf_mac[4], vf_mac[5]);
    } else {
        reset_pf(bar);
    }
    memset(bufs->ring, 0, PAGE);
    *reg(bar, m->tdbal) = IOVA_RING;
    *reg(bar, m->tdbal + 0x4) = 0;
    *reg(bar, m->tdbal + 0x8) = PAGE;
    *reg(bar, m->tdbal + 0x10) = 0;
    *reg(bar, m->tdbal + 0x18) = 0;
    if (m->txdctl)
        *reg(bar, m->txdctl) = *reg(bar, m->txdctl) | TXDCTL_ENABLE;
    if (!m->is_vf)
        *reg(bar, REG_TCTL) = TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD;

    /* a, b, c in each round, then one more (a) whose arrival says every frame
     * sent before it has come through (the cable keeps their order). */
    for (r = 0; r < ROUNDS; r++)
        for (k = 0; k < 3; k++) {
            build_frame(frames[k][r], dst, src, (char)('a' + k), r);
            sent[k][r] = frames[k][r];
            if (k == 0)
                memcpy(bufs->a + 0x100, frames[k][r], FRAME_LEN);
            else
                put_split(k == 1 ? bufs->b[0] : bufs->c[0], k == 1 ? bufs->b[1] : bufs->c[1],
                          PAGE - SPAN_FIRST, frames[k][r], FRAME_LEN);
            gptc = send_one(bar, m, bufs, idx++, iova[k], &dd);
            done[k] += dd;
            counted[k] += (int)gptc;
        }
    build_frame(closing, dst, src, 'z', 0);
    memcpy(bufs->a + 0x100, closing, FRAME_LEN);
    send_one(bar, m, bufs, idx++, iova[0], &dd);

    rc = receive_all(s, sent, closing, got, intact);
    CHECK(rc == 0, "the closing frame (a) reached the peer", "nothing for 10 s on %s",
          peer->netdevs[0]);
    for (k = 0; k < 3; k++) {
        printf("  (%c) %s: descriptor done %d of %d, counted sent (GPTC) %d, peer got %d, "
               "intact %d\n",
               'a' + k, what[k], done[k], ROUNDS, counted[k], got[k], intact[k]);
        snprintf(line, sizeof(line), "(%c) %s: the device writes every descriptor back done",
                 'a' + k, what[k]);
        CHECK(done[k] == ROUNDS, line, "%d of %d", done[k], ROUNDS);
    }
    CHECK(rc == 0 && got[0] == ROUNDS && intact[0] == ROUNDS,
          "(a) inside one IOVA page: every frame arrives intact", "got %d, intact %d of %d", got[0],
          intact[0], ROUNDS);
    CHECK(rc == 0 && got[1] == ROUNDS && intact[1] == ROUNDS,
          "(b) across adjacent lab pages: every frame arrives intact", "got %d, intact %d of %d",
          got[1], intact[1], ROUNDS);
    CHECK(got[2] == 0 && counted[2] == 0,
          "(c) across lab pages apart: not one frame arrives, none counted sent",
          "the peer got %d of %d, GPTC counted %d: the lab's QEMU now transmits a buffer "
          "across IOMMU pages that are not adjacent in its RAM, so the premise of the lab's "
          "huge-page workaround (guests with a NIC passed through and TCP in --hugepages; "
          "docs/lab.md, \"TCP on the lab's e1000e pair\") no longer holds",
          got[2], ROUNDS, counted[2]);

    if (m->is_vf)
        *reg(bar, m->txdctl) = 0;
    else
        *reg(bar, REG_TCTL) = 0;
    munmap(bar, bar_len);
    evr_vfio_device_close(&d);
    evr_vfio_group_close(&g);
    evr_vfio_container_close(&c); /* its mappings and pins with it */
    close(s);
    CHECK(evr_vfio_release(ROOT, &b, &err) == 0, "given back as it was", "%s", err.msg);
}

/* A PF sends from the MAC its netdev had. */
static void prove_pf(const struct nic_model *m, const struct evr_pci_fn *nic,
                     const struct evr_pci_fn *peer, const struct buffers *bufs)
{
    uint8_t src[6];

    REQUIRE(read_mac(nic->netdevs[0], src) == 0, "the NIC's MAC read", "%s", nic->netdevs[0]);
    prove(m, nic, src, peer, bufs);
}

/* VF 0 of the igb PF, which is back on the lab's igb driver: the PF up
 * (its driver answers VFs only then), the VF created without a driver and
 * given a MAC over rtnetlink, as evr does for a VM. */
static void prove_vf(const struct evr_pci_fn *pf, const struct evr_pci_fn *peer,
                     const struct buffers *bufs)
{
    static const uint8_t mac[6] = {0x02, 0x00, 0x00, 0x00, 0x13, 0x00};
    struct evr_vf_settings set = {.fields = EVR_VF_MAC};
    struct evr_vf_ref vfs[1];
    struct evr_vf_link *l;
    struct evr_pci_fn now, vf;
    struct evr_err err;
    size_t n = 0;

    REQUIRE(evr_pci_fn_read(ROOT, pf->addr, &now, &err) == 0 && now.netdev_count == 1,
            "the igb PF has its netdev back", "%s: %zu netdevs: %s", pf->addr, now.netdev_count,
            err.msg);
    if_up(now.netdevs[0]);
    REQUIRE(evr_sriov_set_numvfs(ROOT, pf->addr, 1, &err) == 0 &&
                    evr_sriov_vfs(ROOT, pf->addr, vfs, 1, &n, &err) == 0 && n == 1 &&
                    evr_pci_fn_read(ROOT, vfs[0].addr, &vf, &err) == 0,
            "one VF created", "%s", err.msg);
    memcpy(set.mac, mac, 6);
    REQUIRE(evr_vf_link_open(&l, &err) == 0 && evr_vf_set(l, now.netdevs[0], 0, &set, &err) == 0,
            "VF 0's MAC set through the PF", "%s", err.msg);
    evr_vf_link_close(l);
    prove(&igbvf_model, &vf, mac, peer, bufs);
    CHECK(evr_sriov_set_numvfs(ROOT, pf->addr, 0, &err) == 0, "the VF removed", "%s", err.msg);
}

/* The first two functions of a model: the driven one and its cable peer
 * (the lab cables NICs 0 and 1 of a kind, and lists them in that order). */
static void find_pair(const struct evr_pci_fn *fns, size_t n, const struct nic_model *m,
                      const struct evr_pci_fn **nic, const struct evr_pci_fn **peer)
{
    size_t i, found = 0;
    const struct evr_pci_fn *pair[2] = {NULL, NULL};

    for (i = 0; i < n && found < 2; i++)
        if (fns[i].vendor == 0x8086 && fns[i].device == m->device && !fns[i].is_vf &&
            strcmp(fns[i].driver, m->driver) == 0 && fns[i].netdev_count == 1)
            pair[found++] = &fns[i];
    REQUIRE(found == 2, "a cabled pair of the NIC found",
            "want two 8086:%04x on %s with a "
            "netdev each, found %zu",
            m->device, m->driver, found);
    *nic = pair[0];
    *peer = pair[1];
}

int main(void)
{
    struct evr_pci_fn *fns;
    const struct evr_pci_fn *nic, *peer;
    struct buffers bufs;
    struct evr_err err;
    size_t n;

    setvbuf(stdout, NULL, _IOLBF, 0);
    REQUIRE(evr_pci_fn_list(ROOT, &fns, &n, &err) == 0, "PCI functions listed", "%s", err.msg);
    alloc_buffers(&bufs);
    find_pair(fns, n, &e1000e_model, &nic, &peer);
    prove_pf(&e1000e_model, nic, peer, &bufs);
    find_pair(fns, n, &igb_model, &nic, &peer);
    prove_pf(&igb_model, nic, peer, &bufs);
    prove_vf(nic, peer, &bufs);
    free(fns);
    return lab_result();
}
