/* vCPU threads and their run loop; see vcpu.h. */
#include "vcpu.h"
#include "cpuid.h"
#include "x86_boot.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define KICK_SIGNAL      SIGUSR1
#define APIC_LVT0        0x350
#define APIC_LVT1        0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static void kick_handler(int sig)
{
    (void)sig;
}

void vcpu_signals_init(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
    sigaction(KICK_SIGNAL, &sa, NULL);
}

static uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned off)
{
    uint32_t v;

    memcpy(&v, l->regs + off, 4);
    return v;
}

static void lapic_set_reg(struct kvm_lapic_state *l, unsigned off, uint32_t v)
{
    memcpy(l->regs + off, &v, 4);
}

/* LINT0 as ExtINT and LINT1 as NMI: the "virtual wire" a PC BIOS leaves, so
 * the 8259 reaches the boot CPU before Linux programs the IOAPIC. */
static int set_lint(int fd)
{
    struct kvm_lapic_state l;

    if (ioctl(fd, KVM_GET_LAPIC, &l) < 0)
        return -1;
    lapic_set_reg(&l, APIC_LVT0, (lapic_reg(&l, APIC_LVT0) & ~0x700u) | APIC_MODE_EXTINT << 8);
    lapic_set_reg(&l, APIC_LVT1, (lapic_reg(&l, APIC_LVT1) & ~0x700u) | APIC_MODE_NMI << 8);
    return ioctl(fd, KVM_SET_LAPIC, &l);
}

int vcpu_create(struct vcpu *v, struct vm *vm, unsigned index, const struct kvm_cpuid2 *supported,
                uint64_t entry, char *err, size_t errlen)
{
    size_t cpuid_size =
            sizeof(struct kvm_cpuid2) + supported->nent * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *cpuid;
    int mmap_size;

    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->index = index;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (v->fd < 0) {
        snprintf(err, errlen, "vCPU %u: KVM_CREATE_VCPU: %s", index, strerror(errno));
        return -1;
    }
    mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size < (int)sizeof(struct kvm_run)) {
        snprintf(err, errlen, "vCPU %u: KVM_GET_VCPU_MMAP_SIZE: %s", index, strerror(errno));
        goto fail;
    }
    v->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        snprintf(err, errlen, "vCPU %u: cannot map kvm_run: %s", index, strerror(errno));
        goto fail;
    }
    v->run_size = (size_t)mmap_size;

    cpuid = malloc(cpuid_size);
    if (!cpuid) {
        snprintf(err, errlen, "vCPU %u: out of memory", index);
        goto fail;
    }
    memcpy(cpuid, supported, cpuid_size);
    cpuid_set_topology(cpuid->entries, cpuid->nent, index, vm->nvcpus);
    if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0) {
        snprintf(err, errlen, "vCPU %u: KVM_SET_CPUID2: %s", index, strerror(errno));
        free(cpuid);
        goto fail;
    }
    free(cpuid);
    if (set_lint(v->fd) < 0) {
        snprintf(err, errlen, "vCPU %u: LAPIC setup: %s", index, strerror(errno));
        goto fail;
    }

    /* Application processors stay in wait-for-SIPI; Linux starts them. */
    if (index == 0) {
        struct kvm_regs regs;
        struct kvm_sregs sregs;
        if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
            snprintf(err, errlen, "vCPU 0: KVM_GET_SREGS: %s", strerror(errno));
            goto fail;
        }
        x86_boot_cpu_state(entry, &regs, &sregs);
        if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
            snprintf(err, errlen, "vCPU 0: setting the boot registers: %s", strerror(errno));
            goto fail;
        }
    }
    return 0;
fail:
    vcpu_destroy(v);
    return -1;
}

static const char *outcome_of_action(enum exit_action a, enum vm_outcome *o)
{
    switch (a) {
    case EXIT_POWEROFF:
        *o = VM_POWEROFF;
        return NULL;
    case EXIT_RESET:
        *o = VM_RESET;
        return NULL;
    case EXIT_TRIPLE_FAULT:
        *o = VM_TRIPLE_FAULT;
        return "triple fault (KVM_EXIT_SHUTDOWN)";
    default:
        *o = VM_FAILED;
        return "unhandled exit";
    }
}

static void report(struct vcpu *v, const char *what)
{
    struct kvm_run *r = v->run;

    flockfile(stderr);
    fprintf(stderr, "evr-vmm: vCPU %u: %s: exit reason %u", v->index, what, r->exit_reason);
    if (r->exit_reason == KVM_EXIT_FAIL_ENTRY)
        fprintf(stderr, ", hardware entry failure reason 0x%llx",
                (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
    if (r->exit_reason == KVM_EXIT_INTERNAL_ERROR)
        fprintf(stderr, ", internal error suberror %u", r->internal.suberror);
    if (r->exit_reason == KVM_EXIT_IO)
        fprintf(stderr, ", port 0x%x size %u", r->io.port, r->io.size);
    fputc('\n', stderr);
    if (r->exit_reason == KVM_EXIT_SHUTDOWN)
        fprintf(stderr, "  (KVM on AMD re-initialises a vCPU that shuts down: rip fff0 means "
                        "these are its reset values, not the faulting state)\n");
    vcpu_dump(v, stderr);
    funlockfile(stderr);
}

/* Waits while the VM is paused; returns false when the vCPU must stop. */
static bool may_run(struct vcpu *v)
{
    struct vm *vm = v->vm;
    bool run;

    __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&vm->lock);
    if (vm->pause_requested && vm->outcome == VM_RUNNING) {
        vm->paused++;
        pthread_cond_broadcast(&vm->cond);
        while (vm->pause_requested && vm->outcome == VM_RUNNING)
            pthread_cond_wait(&vm->cond, &vm->lock);
        vm->paused--;
    }
    run = vm->outcome == VM_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    return run;
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    struct vm *vm = v->vm;
    char name[16];

    /* Named so that tools (and the lab test) can find each vCPU's thread. */
    snprintf(name, sizeof(name), "vcpu%u", v->index);
    pthread_setname_np(pthread_self(), name);

    while (may_run(v)) {
        enum exit_action a;
        enum vm_outcome o;
        const char *what;

        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                __atomic_store_n(&v->counters.n[EXIT_KIND_INTR],
                                 __atomic_load_n(&v->counters.n[EXIT_KIND_INTR], __ATOMIC_RELAXED) +
                                         1,
                                 __ATOMIC_RELAXED);
                continue;
            }
            fprintf(stderr, "evr-vmm: vCPU %u: KVM_RUN: %s\n", v->index, strerror(errno));
            vcpu_dump(v, stderr);
            vm_finish(vm, VM_FAILED, (int)v->index);
            break;
        }
        a = exit_dispatch(v->run, &vm->machine.pio, &vm->machine.mmio, &v->counters);
        if (a == EXIT_CONTINUE || a == EXIT_INTERRUPTED)
            continue;
        what = outcome_of_action(a, &o);
        if (what)
            report(v, what);
        vm_finish(vm, o, (int)v->index);
        break;
    }
    return NULL;
}

int vcpu_start(struct vcpu *v, char *err, size_t errlen)
{
    const struct vmm_config *cfg = v->vm->cfg;
    pthread_attr_t attr;
    int rc;

    pthread_attr_init(&attr);
    if (cfg->npin) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cfg->pin[v->index], &set);
        pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
    }
    rc = pthread_create(&v->thread, &attr, vcpu_thread, v);
    pthread_attr_destroy(&attr);
    if (rc) {
        snprintf(err, errlen, "vCPU %u: cannot start its thread%s: %s", v->index,
                 cfg->npin ? " on its pinned CPU" : "", strerror(rc));
        return -1;
    }
    v->started = true;
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (!v->started)
        return;
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    pthread_kill(v->thread, KICK_SIGNAL);
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd > 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

static void dump_segment(FILE *out, const char *name, const struct kvm_segment *s)
{
    fprintf(out,
            "  %-3s sel=%04x base=%016llx limit=%08x type=%x s=%u dpl=%u p=%u l=%u db=%u g=%u\n",
            name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->s, s->dpl,
            s->present, s->l, s->db, s->g);
}

void vcpu_dump(struct vcpu *v, FILE *out)
{
    struct kvm_regs r;
    struct kvm_sregs s;

    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        fprintf(out, "  (registers unavailable: %s)\n", strerror(errno));
        return;
    }
    fprintf(out, "  rip=%016llx rflags=%016llx\n", (unsigned long long)r.rip,
            (unsigned long long)r.rflags);
    fprintf(out, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", (unsigned long long)r.rax,
            (unsigned long long)r.rbx, (unsigned long long)r.rcx, (unsigned long long)r.rdx);
    fprintf(out, "  rsi=%016llx rdi=%016llx rsp=%016llx rbp=%016llx\n", (unsigned long long)r.rsi,
            (unsigned long long)r.rdi, (unsigned long long)r.rsp, (unsigned long long)r.rbp);
    fprintf(out, "  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n", (unsigned long long)r.r8,
            (unsigned long long)r.r9, (unsigned long long)r.r10, (unsigned long long)r.r11);
    fprintf(out, "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n", (unsigned long long)r.r12,
            (unsigned long long)r.r13, (unsigned long long)r.r14, (unsigned long long)r.r15);
    fprintf(out, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n",
            (unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
            (unsigned long long)s.cr4, (unsigned long long)s.efer);
    dump_segment(out, "cs", &s.cs);
    dump_segment(out, "ss", &s.ss);
    dump_segment(out, "ds", &s.ds);
    dump_segment(out, "tr", &s.tr);
    fprintf(out, "  gdt base=%016llx limit=%04x idt base=%016llx limit=%04x\n",
            (unsigned long long)s.gdt.base, s.gdt.limit, (unsigned long long)s.idt.base,
            s.idt.limit);
}
