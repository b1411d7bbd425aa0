/* The baseline of the port-I/O exit benchmark: a bare KVM loop. One vCPU in
 * real mode runs "out 0x80, al; jmp $-2" forever; this program counts
 * KVM_RUN round trips for a fixed time and prints exits per second. It does
 * no device dispatch, no locking and no counting beyond one integer: the
 * floor any VMM's exit path sits on. Usage: vmm-kvm-loop SECONDS */
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

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const uint8_t code[] = {0xe6, 0x80, 0xeb, 0xfc}; /* out 0x80, al; jmp $-2 */
    double seconds = argc > 1 ? atof(argv[1]) : 3.0, t0, t;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, vcpu;
    struct kvm_userspace_memory_region region = {0};
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    struct kvm_run *run;
    uint8_t *mem;
    unsigned long exits = 0;

    if (kvm < 0 || (vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0) {
        perror("vmm-kvm-loop: /dev/kvm");
        return 1;
    }
    mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memcpy(mem + 0x1000, code, sizeof(code));
    region.memory_size = 0x10000;
    region.userspace_addr = (uintptr_t)mem;
    vcpu = -1;
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 ||
        (vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0) {
        perror("vmm-kvm-loop: setup");
        return 1;
    }
    run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
               MAP_SHARED, vcpu, 0);
    ioctl(vcpu, KVM_GET_SREGS, &sregs);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ioctl(vcpu, KVM_SET_SREGS, &sregs);
    memset(&regs, 0, sizeof(regs));
    regs.rip = 0x1000;
    regs.rflags = 0x2;
    ioctl(vcpu, KVM_SET_REGS, &regs);

    t0 = now();
    do {
        for (int i = 0; i < 1000; i++) {
            if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
                fprintf(stderr, "vmm-kvm-loop: unexpected exit %u\n", run->exit_reason);
                return 1;
            }
            exits++;
        }
        t = now();
    } while (t - t0 < seconds);
    printf("%.1f\n", (double)exits / (t - t0));
    return 0;
}
