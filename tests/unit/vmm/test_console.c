/* Unit tests of the console back ends with real files and sockets: output
 * to a file, and a unix socket console (0600) that sends the guest's output
 * to its client and hands the client's bytes to the sink (the UART). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "console.h"

static char got[64];
static size_t ngot;
static pthread_mutex_t got_lock = PTHREAD_MUTEX_INITIALIZER;

/* Takes at most 2 bytes a call, like a UART FIFO that is nearly full. */
static size_t sink(void *ctx, const uint8_t *data, size_t len)
{
    size_t n = len < 2 ? len : 2;

    (void)ctx;
    pthread_mutex_lock(&got_lock);
    memcpy(got + ngot, data, n);
    ngot += n;
    pthread_mutex_unlock(&got_lock);
    return n;
}

static void file_console_appends(void **state)
{
    struct vmm_config cfg;
    struct config_error err;
    struct console c;
    char path[64], buf[16] = "", e[256];
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/evr-vmm-console-%d.log", (int)getpid());
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "console", "file:/tmp/x", &err), 0);
    snprintf(cfg.console_path, sizeof(cfg.console_path), "%s", path);
    assert_int_equal(console_open(&c, &cfg, e, sizeof(e)), 0);
    console_write(&c, 'o');
    console_write(&c, 'k');
    console_close(&c);
    f = fopen(path, "r");
    assert_non_null(f);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 2);
    fclose(f);
    assert_string_equal(buf, "ok");
    unlink(path);
}

static void socket_console_carries_both_directions(void **state)
{
    struct vmm_config cfg;
    struct config_error err;
    struct console c;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    char path[64], e[256], buf[8];
    struct pollfd p;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/evr-vmm-console-%d.sock", (int)getpid());
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "console", "socket:/tmp/x", &err), 0);
    snprintf(cfg.console_path, sizeof(cfg.console_path), "%s", path);
    assert_int_equal(console_open(&c, &cfg, e, sizeof(e)), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ngot = 0;
    assert_int_equal(console_start_input(&c, sink, NULL), 0);
    console_write(&c, 'x'); /* no client yet: dropped */

    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    /* the console thread accepts; wait until output reaches us */
    for (int i = 0; i < 200; i++) {
        console_write(&c, 'g');
        p = (struct pollfd){.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) == 1)
            break;
    }
    assert_true(read(fd, buf, 1) == 1);
    assert_int_equal(buf[0], 'g');

    assert_int_equal(write(fd, "hello", 5), 5);
    for (int i = 0; i < 500; i++) {
        size_t n;
        struct timespec ts = {0, 2000000};
        pthread_mutex_lock(&got_lock);
        n = ngot;
        pthread_mutex_unlock(&got_lock);
        if (n >= 5)
            break;
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&got_lock);
    assert_int_equal(ngot, 5);
    assert_memory_equal(got, "hello", 5);
    pthread_mutex_unlock(&got_lock);
    close(fd);
    console_close(&c);
    assert_int_equal(stat(path, &st), -1); /* removed on close */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(file_console_appends),
            cmocka_unit_test(socket_console_carries_both_directions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
