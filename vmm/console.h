/* Where the guest's serial console goes and where its input comes from:
 *   stdout       output to stdout, input from stdin
 *   file:PATH    output appended to PATH, no input
 *   socket:PATH  a unix socket, made and checked as the control socket
 *                (ctl/listen.h: 0600, renamed into place, peers root or our
 *                uid); one client at a time gets the output and its bytes
 *                are the input; output while no client is connected is dropped
 *   none         nothing
 * Input is read by a thread and handed to a sink (the UART). */
#ifndef EVR_VMM_CONSOLE_H
#define EVR_VMM_CONSOLE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Takes up to len bytes; returns how many it took (the UART FIFO may be full). */
typedef size_t (*console_sink)(void *ctx, const uint8_t *data, size_t len);

struct console {
    enum console_kind kind;
    char path[PATH_MAX];
    int out_fd;
    int in_fd;
    int listen_fd;
    /* The socket console's client. Written by the input thread (accept,
     * hang-up), used by every vCPU's UART writes: under client_lock, so
     * that a closed fd's number, handed to another socket by a later
     * accept (vhost-user, control), never receives console bytes. */
    int client_fd;
    pthread_mutex_t client_lock;
    int stop_pipe[2];
    pthread_t thread;
    int thread_started;
    console_sink sink;
    void *sink_ctx;
};

int console_open(struct console *c, const struct vmm_config *cfg, char *err, size_t errlen);

/* Starts the input thread; sink is called from it. */
int console_start_input(struct console *c, console_sink sink, void *ctx);

void console_write(struct console *c, uint8_t byte);

void console_close(struct console *c);

#endif
