/* evrd's child processes (child.h). */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int evr_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

pid_t evr_child_spawn(char *const argv[], const char *log, int *pidfd, struct evr_err *err)
{
    pid_t pid = fork();

    if (pid < 0)
        return evr_fail(err, errno, "cannot start %s: fork: %s", argv[0], strerror(errno));
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        if (log) {
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
            }
        }
        execvp(argv[0], argv);
        fprintf(stderr, "evrd: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    *pidfd = evr_pidfd_open(pid);
    if (*pidfd < 0) {
        int e = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return evr_fail(err, e, "%s, pid %d: pidfd_open: %s", argv[0], (int)pid, strerror(e));
    }
    return pid;
}

double evr_mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
