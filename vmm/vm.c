/* VM setup on KVM, the run/pause/stop state machine and teardown; see vm.h. */
#include "vm.h"
#include "acpi.h"
#include "bzimage.h"
#include "console.h"
#include "layout.h"
#include "mptable.h"
#include "vcpu.h"
#include "x86_boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KVM_API           12
#define CPUID_MAX_ENTRIES 256
#define FILE_MAX          (1ull << 30) /* kernels and initramfs images above 1 GiB are refused */
#define ACPI_AREA         (GUEST_MPTABLE_ADDR - GUEST_ACPI_ADDR)
#define MPTABLE_AREA      (GUEST_ACPI_END - GUEST_MPTABLE_ADDR)

const char *vm_outcome_name(enum vm_outcome o)
{
    switch (o) {
    case VM_RUNNING:
        return "running";
    case VM_POWEROFF:
        return "poweroff";
    case VM_RESET:
        return "reset";
    case VM_STOPPED:
        return "stopped";
    case VM_TRIPLE_FAULT:
        return "triple-fault";
    case VM_FAILED:
        return "failed";
    }
    return "?";
}

static uint8_t *read_file(const char *what, const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf;
    size_t got = 0;

    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open %s: %s", what, path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s is not a regular file", what, path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > FILE_MAX) {
        snprintf(err, errlen, "%s: %s is larger than 1 GiB", what, path);
        close(fd);
        return NULL;
    }
    buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory reading %s", what, path);
        close(fd);
        return NULL;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: cannot read %s: %s", what, path,
                     n < 0 ? strerror(errno) : "file shrank");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

static int open_kvm(struct vm *vm, char *err, size_t errlen)
{
    static const struct {
        int cap;
        const char *name;
    } caps[] = {
            {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
            {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
            {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
            {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
            {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
            {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
            {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
            {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
            {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
            {KVM_CAP_TSC_DEADLINE_TIMER, "KVM_CAP_TSC_DEADLINE_TIMER"}, /* see cpuid.h */
    };
    int max_vcpus;

    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        snprintf(err, errlen,
                 "no /dev/kvm (%s): this host cannot run KVM guests (no kvm module, or no "
                 "hardware virtualization; inside the lab it is there)",
                 strerror(errno));
        return -1;
    }
    if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API) {
        snprintf(err, errlen, "/dev/kvm: KVM API version is not %d", KVM_API);
        return -1;
    }
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
            snprintf(err, errlen, "/dev/kvm: this KVM lacks %s", caps[i].name);
            return -1;
        }
    }
    max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus <= 0)
        max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max_vcpus > 0 && vm->nvcpus > (unsigned)max_vcpus) {
        snprintf(err, errlen, "vcpus: %u is more than this KVM supports (%d)", vm->nvcpus,
                 max_vcpus);
        return -1;
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int setup_platform(struct vm *vm, char *err, size_t errlen)
{
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    uint64_t idmap = GUEST_KVM_IDMAP_ADDR;

    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)GUEST_KVM_TSS_ADDR) < 0 ||
        ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
        snprintf(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
        return -1;
    }
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
        return -1;
    }
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int setup_memory(struct vm *vm, char *err, size_t errlen)
{
    struct kvm_userspace_memory_region low = {0}, high = {0};

    if (guest_mem_create(&vm->mem, vm->cfg->memory_mib * MIB, vm->cfg->hugepages, err, errlen))
        return -1;
    low.slot = 0;
    low.guest_phys_addr = 0;
    low.memory_size = vm->mem.low_size;
    low.userspace_addr = (uintptr_t)vm->mem.base;
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &low) < 0) {
        snprintf(err, errlen, "memory: KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
        return -1;
    }
    if (vm->mem.high_size) {
        high.slot = 1;
        high.guest_phys_addr = GUEST_MMIO_HOLE_END;
        high.memory_size = vm->mem.high_size;
        high.userspace_addr = (uintptr_t)vm->mem.base + vm->mem.low_size;
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &high) < 0) {
            snprintf(err, errlen, "memory: KVM_SET_USER_MEMORY_REGION (above 4 GiB): %s",
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int load_guest(struct vm *vm, uint64_t *entry, char *err, size_t errlen)
{
    const struct vmm_config *cfg = vm->cfg;
    size_t klen = 0, ilen = 0, acpi_len;
    uint8_t *kernel, *initrd = NULL;
    int rc = -1;

    kernel = read_file("kernel", cfg->kernel, &klen, err, errlen);
    if (!kernel)
        return -1;
    if (cfg->initrd[0]) {
        initrd = read_file("initrd", cfg->initrd, &ilen, err, errlen);
        if (!initrd)
            goto out;
    }
    if (bzimage_load(&vm->mem, kernel, klen, initrd, ilen, cfg->cmdline, entry, err, errlen)) {
        if (!strncmp(err, "not a bzImage", 13)) {
            char inner[512];
            snprintf(inner, sizeof(inner), "%s", err);
            snprintf(err, errlen, "kernel %.200s: %s", cfg->kernel, inner);
        }
        goto out;
    }
    if (x86_boot_write_tables(&vm->mem)) {
        snprintf(err, errlen, "memory: too small for the boot page tables");
        goto out;
    }
    acpi_len = acpi_build(guest_mem_ptr(&vm->mem, GUEST_ACPI_ADDR, ACPI_AREA), ACPI_AREA,
                          GUEST_ACPI_ADDR, vm->nvcpus);
    if (!acpi_len || !mptable_build(guest_mem_ptr(&vm->mem, GUEST_MPTABLE_ADDR, MPTABLE_AREA),
                                    MPTABLE_AREA, GUEST_MPTABLE_ADDR, vm->nvcpus)) {
        snprintf(err, errlen, "vcpus: ACPI and MP tables cannot describe %u vCPUs", vm->nvcpus);
        goto out;
    }
    rc = 0;
out:
    free(kernel);
    free(initrd);
    return rc;
}

static void console_out(void *ctx, uint8_t byte)
{
    struct vm *vm = ctx;

    console_write(vm->console, byte);
}

static int setup_devices(struct vm *vm, char *err, size_t errlen)
{
    struct kvm_vm kvm = {.fd = vm->vm_fd, .ioctl = kvm_vm_sys_ioctl};

    if (machine_init(&vm->machine, vm->cfg, kvm, &vm->mem, console_out, vm, err, errlen))
        return -1;
    vm->machine_ready = true;
    return 0;
}

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd, char *err, size_t errlen)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));

    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->nent = CPUID_MAX_ENTRIES;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        free(c);
        return NULL;
    }
    return c;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vm_create(struct vm *vm, const struct vmm_config *cfg, struct console *console, char *err,
              size_t errlen)
{
    struct kvm_cpuid2 *cpuid = NULL;
    uint64_t entry = 0;

    memset(vm, 0, sizeof(*vm));
    vm->cfg = cfg;
    vm->console = console;
    vm->kvm_fd = vm->vm_fd = -1;
    vm->mem.fd = -1;
    vm->nvcpus = cfg->vcpus;
    vm->outcome = VM_RUNNING;
    vm->outcome_vcpu = -1;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    /* The devices come after the irqchip (they route interrupts through
     * it) and after RAM (a vhost backend maps it). */
    if (open_kvm(vm, err, errlen) || setup_platform(vm, err, errlen) ||
        setup_memory(vm, err, errlen) || setup_devices(vm, err, errlen) ||
        load_guest(vm, &entry, err, errlen))
        goto fail;
    cpuid = supported_cpuid(vm->kvm_fd, err, errlen);
    if (!cpuid)
        goto fail;
    vm->vcpus = calloc(vm->nvcpus, sizeof(*vm->vcpus));
    if (!vm->vcpus) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vcpu_create(&vm->vcpus[i], vm, i, cpuid, entry, err, errlen))
            goto fail;
    }
    free(cpuid);
    return 0;
fail:
    free(cpuid);
    vm_destroy(vm);
    return -1;
}

enum vm_outcome vm_run(struct vm *vm)
{
    char err[256];
    enum vm_outcome o;

    /* read by the control thread's status without the lock */
    __atomic_store_n(&vm->start_ns, now_ns(), __ATOMIC_RELEASE);
    /* Kicks happen under vm->lock (see vm_finish), so starting under it too
     * means a kick never sees a half-started vCPU. */
    pthread_mutex_lock(&vm->lock);
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vcpu_start(&vm->vcpus[i], err, sizeof(err))) {
            fprintf(stderr, "evr-vmm: %s\n", err);
            __atomic_store_n(&vm->outcome, VM_FAILED, __ATOMIC_RELEASE);
            for (unsigned j = 0; j < i; j++)
                vcpu_kick(&vm->vcpus[j]);
            break;
        }
    }
    while (vm->outcome == VM_RUNNING)
        pthread_cond_wait(&vm->cond, &vm->lock);
    o = vm->outcome;
    pthread_mutex_unlock(&vm->lock);
    /* Every kick of this VM happened before the outcome was published (under
     * the lock), so no thread is signalled once it may have been joined. */
    for (unsigned i = 0; i < vm->nvcpus; i++) {
        if (vm->vcpus[i].started) {
            pthread_join(vm->vcpus[i].thread, NULL);
            vm->vcpus[i].started = false;
        }
    }
    return o;
}

void vm_finish(struct vm *vm, enum vm_outcome outcome, int vcpu)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->outcome == VM_RUNNING) {
        /* written under the lock, read without it by the control thread */
        __atomic_store_n(&vm->outcome, outcome, __ATOMIC_RELEASE);
        vm->outcome_vcpu = vcpu;
        for (unsigned i = 0; i < vm->nvcpus; i++)
            if ((int)i != vcpu)
                vcpu_kick(&vm->vcpus[i]);
    }
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

void vm_pause(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->outcome == VM_RUNNING && !vm->pause_requested) {
        vm->pause_requested = true;
        for (unsigned i = 0; i < vm->nvcpus; i++)
            vcpu_kick(&vm->vcpus[i]);
    }
    while (vm->paused < vm->nvcpus && vm->outcome == VM_RUNNING && vm->pause_requested)
        pthread_cond_wait(&vm->cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
}

void vm_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->pause_requested = false;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}

bool vm_is_paused(struct vm *vm)
{
    bool p;

    pthread_mutex_lock(&vm->lock);
    p = vm->pause_requested && vm->paused == vm->nvcpus;
    pthread_mutex_unlock(&vm->lock);
    return p;
}

void vm_stop(struct vm *vm)
{
    vm_finish(vm, VM_STOPPED, -1);
}

void vm_destroy(struct vm *vm)
{
    if (vm->vcpus) {
        for (unsigned i = 0; i < vm->nvcpus; i++)
            if (vm->vcpus[i].run)
                vcpu_destroy(&vm->vcpus[i]);
        free(vm->vcpus);
        vm->vcpus = NULL;
    }
    if (vm->machine_ready) {
        machine_destroy(&vm->machine);
        vm->machine_ready = false;
    }
    guest_mem_destroy(&vm->mem);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    vm->vm_fd = vm->kvm_fd = -1;
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
}
