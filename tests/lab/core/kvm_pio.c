/* Lab check: /dev/kvm runs a real-mode guest that does port I/O.
 *
 * The guest writes 0, 1, 2, ... to port 0xe9 `count` times and halts. Every
 * exit must be KVM_EXIT_IO on that port carrying the next value, then one
 * KVM_EXIT_HLT. Prints the mean cost of one exit round trip: a figure for
 * the notes, never a pass/fail threshold. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_BASE 0x1000u
#define DEBUG_PORT 0xe9u

static int fail(const char *what)
{
    fprintf(stderr, "kvm_pio: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    /* mov cx, count; xor al, al; loop: out 0xe9, al; inc al; dec cx; jnz loop; hlt */
    uint8_t code[] = {0xb9, 0, 0, 0x30, 0xc0, 0xe6, DEBUG_PORT, 0xfe, 0xc0, 0x49, 0x75, 0xf9, 0xf4};
    long count = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
    struct timespec t0, t1;

    if (count < 1 || count > 0xffff) {
        fprintf(stderr, "kvm_pio: count must be 1..65535\n");
        return 2;
    }
    code[1] = (uint8_t)count;
    code[2] = (uint8_t)(count >> 8);

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        return fail("open /dev/kvm");
    int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        fprintf(stderr, "kvm_pio: KVM API version %d, expected %d\n", api, KVM_API_VERSION);
        return 1;
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        return fail("KVM_CREATE_VM");

    size_t mem_size = 0x10000;
    uint8_t *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return fail("mmap guest memory");
    memcpy(mem + GUEST_BASE, code, sizeof(code));
    struct kvm_userspace_memory_region region = {.slot = 0,
                                                 .guest_phys_addr = 0,
                                                 .memory_size = mem_size,
                                                 .userspace_addr = (uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return fail("KVM_SET_USER_MEMORY_REGION");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        return fail("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        return fail("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        return fail("mmap kvm_run");

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        return fail("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        return fail("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = GUEST_BASE, .rflags = 0x2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        return fail("KVM_SET_REGS");

    long io_exits = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            return fail("KVM_RUN");
        if (run->exit_reason == KVM_EXIT_HLT)
            break;
        if (run->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "kvm_pio: unexpected exit reason %u after %ld I/O exits\n",
                    run->exit_reason, io_exits);
            return 1;
        }
        uint8_t value = *((uint8_t *)run + run->io.data_offset);
        if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != DEBUG_PORT ||
            run->io.size != 1 || value != (uint8_t)io_exits) {
            fprintf(stderr,
                    "kvm_pio: exit %ld: port 0x%x size %u dir %u value %u, expected "
                    "out 0x%x size 1 value %u\n",
                    io_exits, run->io.port, run->io.size, run->io.direction, value, DEBUG_PORT,
                    (uint8_t)io_exits);
            return 1;
        }
        io_exits++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (io_exits != count) {
        fprintf(stderr, "kvm_pio: %ld I/O exits before HLT, expected %ld\n", io_exits, count);
        return 1;
    }
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("kvm_pio: %ld port-I/O exits then HLT; %.1f us per exit round trip\n", io_exits,
           ns / (double)io_exits / 1000.0);
    return 0;
}
