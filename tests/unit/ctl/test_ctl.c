/* Unit tests of the control protocol library (ctl/): framing, the line
 * limit, many clients, hello and its version check, the envelope, field
 * checks, the listener's rename into place and refusals, and the peer
 * credentials check (as root: a forked child that setuid()s). The server
 * runs in a thread polling ctl_server_fd(), as its users do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/client.h"
#include "ctl/server.h"

#define NOBODY 65534u

static int echo(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    unsigned *calls = ctx;
    json_t *text = json_object_get(req, "text");

    (*calls)++;
    if (!json_is_string(text))
        return evr_fail(err, EINVAL, "field 'text': must be a string");
    json_object_set(reply, "text", text);
    return 0;
}

static int missing(void *ctx, json_t *req, json_t *reply, struct evr_err *err)
{
    (void)ctx;
    (void)reply;
    return evr_fail(err, ENOENT, "field 'name': '%s' does not exist",
                    json_string_value(json_object_get(req, "name")));
}

static const char *const echo_fields[] = {"!text", "repeat", NULL};
static const char *const missing_fields[] = {"!name", NULL};
static const struct ctl_op ops[] = {
        {"echo", echo_fields, echo},
        {"missing", missing_fields, missing},
};

struct fixture {
    char path[64];
    struct ctl_server server;
    pthread_t thread;
    volatile int stop;
    unsigned calls;
};

static void *serve(void *arg)
{
    struct fixture *f = arg;
    while (!f->stop) {
        struct pollfd p = {.fd = ctl_server_fd(&f->server), .events = POLLIN};
        if (poll(&p, 1, 10) > 0)
            ctl_server_handle_ready(&f->server);
    }
    return NULL;
}

static int start_with(struct fixture *f, gid_t group, size_t line_max)
{
    struct evr_err err = {0};
    struct ctl_server_config cfg = {.path = f->path,
                                    .group = group,
                                    .name = "evr-test",
                                    .version = "9.9",
                                    .ops = ops,
                                    .n_ops = 2,
                                    .ctx = &f->calls,
                                    .line_max = line_max};
    if (ctl_server_open(&f->server, &cfg, &err) < 0) {
        print_error("ctl_server_open: %s\n", err.msg);
        return -1;
    }
    f->stop = 0;
    return pthread_create(&f->thread, NULL, serve, f);
}

static int start(struct fixture *f, gid_t group)
{
    return start_with(f, group, 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/evr-ctl-test-%d.sock", (int)getpid());
    unlink(f->path);
    *state = f;
    return start(f, CTL_NO_GROUP);
}

static void stop(struct fixture *f)
{
    f->stop = 1;
    pthread_join(f->thread, NULL);
    ctl_server_close(&f->server);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    stop(f);
    unlink(f->path);
    free(f);
    return 0;
}

/* A raw connection, without the client library's hello. */
static int raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void raw_send(int fd, const char *text)
{
    assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Reads up to and including the n-th newline, or to the end of the stream. */
static size_t raw_read_lines(int fd, char *buf, size_t cap, unsigned n)
{
    size_t len = 0;
    unsigned seen = 0;
    while (seen < n && len + 1 < cap) {
        ssize_t r = recv(fd, buf + len, 1, 0);
        if (r <= 0)
            break;
        if (buf[len++] == '\n')
            seen++;
    }
    buf[len] = '\0';
    return len;
}

static const char *error_code(json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

static const char *error_message(json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "message"));
}

/* evrd must never wait on a stuck peer without limit: a client with a
 * timeout gives up on a hello or a request nobody answers, and closes the
 * connection so that a late reply cannot pass for the next one's. */
static void a_client_with_a_timeout_gives_up_on_a_silent_server(void **state)
{
    struct fixture *f = *state;
    struct ctl_client c;
    struct evr_err err = {0};
    json_t *req = json_pack("{s:s, s:s}", "op", "echo", "text", "x"), *r;

    /* the server answers: requests within the bound go through */
    assert_int_equal(ctl_client_open_within(&c, f->path, 2000, NULL, &err), 0);
    r = ctl_client_call(&c, req, &err);
    assert_non_null(r);
    json_decref(r);
    /* the server stops answering (its thread stopped, the socket still open) */
    f->stop = 1;
    pthread_join(f->thread, NULL);
    c.timeout_ms = 200;
    assert_null(ctl_client_call(&c, req, &err));
    assert_int_equal(err.code, ETIMEDOUT);
    assert_int_equal(c.fd, -1);
    assert_null(ctl_client_call(&c, req, &err));
    assert_int_equal(err.code, ENOTCONN);
    ctl_client_close(&c);
    /* a hello nobody answers */
    assert_int_equal(ctl_client_open_within(&c, f->path, 200, NULL, &err), -1);
    assert_int_equal(err.code, ETIMEDOUT);
    assert_int_equal(c.fd, -1);
    json_decref(req);
    f->stop = 0;
    assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

/* An empty line before any request is skipped, not answered. */
static void an_empty_first_line_is_skipped(void **state)
{
    struct fixture *f = *state;
    char buf[512];
    int fd = raw_connect(f->path);

    assert_true(fd >= 0);
    raw_send(fd, "\n{\"op\":\"hello\",\"protocol\":1}\n");
    raw_read_lines(fd, buf, sizeof(buf), 1);
    assert_non_null(strstr(buf, "\"ok\":true"));
    close(fd);
}

static void hello_tells_the_server_and_its_ops(void **state)
{
    struct fixture *f = *state;
    struct ctl_client c;
    struct evr_err err = {0};
    json_t *hello = NULL;

    assert_int_equal(ctl_client_open(&c, f->path, &hello, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(hello, "protocol")), CTL_PROTOCOL_VERSION);
    assert_string_equal(json_string_value(json_object_get(hello, "server")), "evr-test");
    assert_string_equal(json_string_value(json_object_get(hello, "version")), "9.9");
    assert_int_equal(json_array_size(json_object_get(hello, "ops")), 3);
    assert_string_equal(json_string_value(json_array_get(json_object_get(hello, "ops"), 1)),
                        "echo");
    json_decref(hello);
    ctl_client_close(&c);
}

static void framing_is_one_object_per_line_in_order(void **state)
{
    struct fixture *f = *state;
    char buf[1024];
    int fd = raw_connect(f->path);

    assert_true(fd >= 0);
    /* hello, an empty line (ignored), two requests in one write, then one
     * request split over two writes */
    raw_send(fd, "{\"op\":\"hello\",\"protocol\":1}\n\n{\"op\":\"echo\",\"text\":\"a\"}\n"
                 "{\"op\":\"echo\",\"text\":\"b\"}\n{\"op\":\"ec");
    raw_read_lines(fd, buf, sizeof(buf), 3);
    assert_non_null(strstr(buf, "\"server\":\"evr-test\""));
    assert_non_null(strstr(buf, "}\n{\"ok\":true,\"text\":\"a\"}\n{\"ok\":true,\"text\":\"b\"}\n"));
    raw_send(fd, "ho\",\"text\":\"c\"}\n");
    raw_read_lines(fd, buf, sizeof(buf), 1);
    assert_string_equal(buf, "{\"ok\":true,\"text\":\"c\"}\n");
    assert_int_equal(f->calls, 3);
    close(fd);
}

#define PIPELINED 200

struct writer {
    int fd;
    int failed;
};

/* Sends PIPELINED requests without reading a reply. */
static void *write_requests(void *arg)
{
    struct writer *w = arg;
    static char line[3100];

    for (unsigned i = 0; i < PIPELINED && !w->failed; i++) {
        int n = snprintf(line, sizeof(line), "{\"op\":\"echo\",\"text\":\"%05u", i);
        memset(line + n, 'p', 3000);
        memcpy(line + n + 3000, "\"}\n", 3);
        size_t len = strlen(line);
        if (send(w->fd, line, len, MSG_NOSIGNAL) != (ssize_t)len)
            w->failed = 1;
    }
    return NULL;
}

static void pipelined_requests_outgrow_the_socket_buffer(void **state)
{
    struct fixture *f = *state;
    struct writer w = {.fd = raw_connect(f->path)};
    static char buf[4096];
    pthread_t t;

    assert_true(w.fd >= 0);
    raw_send(w.fd, "{\"op\":\"hello\",\"protocol\":1}\n");
    raw_read_lines(w.fd, buf, sizeof(buf), 1);
    /* 600 KB of replies the client does not read while it writes: more than
     * a socket buffer holds, so the server queues and waits for room */
    assert_int_equal(pthread_create(&t, NULL, write_requests, &w), 0);
    for (unsigned i = 0; i < PIPELINED; i++) {
        char want[48];
        raw_read_lines(w.fd, buf, sizeof(buf), 1);
        snprintf(want, sizeof(want), "{\"ok\":true,\"text\":\"%05upppp", i);
        if (strncmp(buf, want, strlen(want)) != 0 || strlen(buf) != strlen(want) + 2996 + 3)
            fail_msg("reply %u: %.60s... (%zu bytes)", i, buf, strlen(buf));
    }
    pthread_join(t, NULL);
    assert_false(w.failed);
    close(w.fd);
}

static void the_envelope_and_field_checks(void **state)
{
    static const struct {
        const char *line, *code, *message;
    } cases[] = {
            {"{not json", "EINVAL", "request: not JSON at column"},
            {"[1]", "EINVAL", "request: must be a JSON object"},
            {"{\"text\":\"x\"}", "EINVAL", "field 'op': missing"},
            {"{\"op\":7}", "EINVAL", "field 'op': must be a string"},
            {"{\"op\":\"explode\"}", "EOPNOTSUPP",
             "field 'op': 'explode' is not one of 'echo', "
             "'missing'"},
            {"{\"op\":\"echo\",\"text\":\"x\",\"op\":\"echo\"}", "EINVAL", "duplicate"},
            {"{\"op\":\"echo\"}", "EINVAL", "field 'text': missing (required by 'echo')"},
            {"{\"op\":\"echo\",\"text\":\"x\",\"colour\":1}", "EINVAL",
             "field 'colour': not a field of 'echo'"},
            {"{\"op\":\"echo\",\"text\":5}", "EINVAL", "field 'text': must be a string"},
            {"{\"op\":\"missing\",\"name\":\"vm-z\"}", "ENOENT",
             "field 'name': 'vm-z' does not exist"},
    };
    struct fixture *f = *state;
    struct ctl_client c;
    struct evr_err err = {0};

    assert_int_equal(ctl_client_open(&c, f->path, NULL, &err), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = ctl_client_send_line(&c, cases[i].line, strlen(cases[i].line), &err);
        assert_non_null(r);
        assert_true(json_is_false(json_object_get(r, "ok")));
        assert_string_equal(error_code(r), cases[i].code);
        if (!strstr(error_message(r), cases[i].message))
            fail_msg("%s: message '%s' lacks '%s'", cases[i].line, error_message(r),
                     cases[i].message);
        json_decref(r);
    }
    /* the C client turns the envelope into the error type */
    json_t *req = json_pack("{s:s, s:s}", "op", "missing", "name", "x");
    assert_null(ctl_client_call(&c, req, &err));
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "field 'name': 'x' does not exist");
    json_decref(req);
    ctl_client_close(&c);
}

static void an_overlong_line_gets_one_reply_and_is_skipped(void **state)
{
    struct fixture *f = *state;
    struct ctl_client c;
    struct evr_err err = {0};
    size_t big = CTL_LINE_MAX * 3;
    char *line = malloc(big + 1);
    json_t *r;

    assert_int_equal(ctl_client_open(&c, f->path, NULL, &err), 0);
    /* exactly CTL_LINE_MAX bytes is still a request */
    int head = snprintf(line, big, "{\"op\":\"echo\",\"text\":\"");
    memset(line + head, 'x', CTL_LINE_MAX - (size_t)head - 2);
    memcpy(line + CTL_LINE_MAX - 2, "\"}", 3);
    r = ctl_client_send_line(&c, line, CTL_LINE_MAX, &err);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    /* three times that: one EMSGSIZE reply, and the next line is served */
    memset(line + head, 'x', big - (size_t)head - 2);
    memcpy(line + big - 2, "\"}", 3);
    r = ctl_client_send_line(&c, line, big, &err);
    assert_string_equal(error_code(r), "EMSGSIZE");
    assert_non_null(strstr(error_message(r), "longer than 4096 bytes"));
    json_decref(r);
    r = ctl_client_send_line(&c, "{\"op\":\"echo\",\"text\":\"after\"}", 28, &err);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "text")), "after");
    json_decref(r);
    free(line);
    ctl_client_close(&c);
}

/* A server that takes longer lines (evrd's apply) says so in its hello,
 * takes a line up to that, and refuses one past it the same way. */
static void a_server_may_take_longer_lines(void **state)
{
    struct fixture *f = *state;
    size_t max = 256 * 1024, big = max + 1;
    struct ctl_client c;
    struct evr_err err = {0};
    char *line = malloc(big + 1);
    json_t *hello = NULL, *r;
    int head;

    stop(f);
    assert_int_equal(start_with(f, CTL_NO_GROUP, max), 0);
    assert_int_equal(ctl_client_open(&c, f->path, &hello, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(hello, "line_max")), (json_int_t)max);
    json_decref(hello);
    head = snprintf(line, big, "{\"op\":\"echo\",\"text\":\"");
    memset(line + head, 'y', max - (size_t)head - 2);
    memcpy(line + max - 2, "\"}", 3);
    r = ctl_client_send_line(&c, line, max, &err);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(strlen(json_string_value(json_object_get(r, "text"))), max - (size_t)head - 2);
    json_decref(r);
    memset(line + head, 'y', big - (size_t)head - 2);
    memcpy(line + big - 2, "\"}", 3);
    r = ctl_client_send_line(&c, line, big, &err);
    assert_string_equal(error_code(r), "EMSGSIZE");
    assert_non_null(strstr(error_message(r), "longer than 262144 bytes"));
    json_decref(r);
    free(line);
    ctl_client_close(&c);
}

static void requests_before_hello_and_other_versions_are_refused(void **state)
{
    struct fixture *f = *state;
    char buf[1024];
    int fd = raw_connect(f->path);

    assert_true(fd >= 0);
    raw_send(fd, "{\"op\":\"echo\",\"text\":\"a\"}\n");
    raw_read_lines(fd, buf, sizeof(buf), 1);
    assert_non_null(strstr(buf, "\"code\":\"EPROTO\""));
    assert_non_null(strstr(buf, "request before hello"));
    raw_send(fd, "{\"op\":\"hello\",\"protocol\":\"1\"}\n");
    raw_read_lines(fd, buf, sizeof(buf), 1);
    assert_non_null(strstr(buf, "field 'protocol': must be a number"));
    raw_send(fd, "{\"op\":\"hello\",\"protocol\":2}\n");
    /* one refusal naming both versions, then the end of the connection */
    raw_read_lines(fd, buf, sizeof(buf), 2);
    assert_non_null(strstr(buf, "\"code\":\"EPROTONOSUPPORT\""));
    assert_non_null(strstr(buf, "the client speaks protocol 2, evr-test speaks 1"));
    assert_non_null(strstr(buf, "}\n"));
    assert_int_equal(strchr(buf, '\n')[1], '\0');
    close(fd);
    assert_int_equal(f->calls, 0);
}

static void many_clients_at_once_then_one_too_many(void **state)
{
    struct fixture *f = *state;
    struct ctl_client c[CTL_CLIENTS_MAX];
    struct evr_err err = {0};
    char buf[512];

    for (unsigned i = 0; i < CTL_CLIENTS_MAX; i++)
        assert_int_equal(ctl_client_open(&c[i], f->path, NULL, &err), 0);
    /* each is answered its own text, asked in reverse order */
    for (unsigned i = CTL_CLIENTS_MAX; i-- > 0;) {
        char want[16];
        snprintf(want, sizeof(want), "c%u", i);
        json_t *req = json_pack("{s:s, s:s}", "op", "echo", "text", want);
        json_t *r = ctl_client_call(&c[i], req, &err);
        assert_non_null(r);
        assert_string_equal(json_string_value(json_object_get(r, "text")), want);
        json_decref(r);
        json_decref(req);
    }
    int extra = raw_connect(f->path);
    assert_true(extra >= 0);
    raw_read_lines(extra, buf, sizeof(buf), 2);
    assert_non_null(strstr(buf, "\"code\":\"EBUSY\""));
    assert_non_null(strstr(buf, "too many control connections (at most 16)"));
    close(extra);
    /* a slot that frees is taken by the next client */
    ctl_client_close(&c[3]);
    assert_int_equal(ctl_client_open(&c[3], f->path, NULL, &err), 0);
    for (unsigned i = 0; i < CTL_CLIENTS_MAX; i++)
        ctl_client_close(&c[i]);
}

static void the_socket_is_0600_and_renamed_over_a_stale_one(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char tmp[80];
    struct stat st;
    struct ctl_client c;
    struct evr_err err = {0};

    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(tmp, sizeof(tmp), "%s.new", f->path);
    assert_int_equal(lstat(tmp, &st), -1);
    stop(f);
    assert_int_equal(lstat(f->path, &st), -1); /* close removed it */

    /* a stale socket at the path (its process died) and at the temporary name */
    for (int i = 0; i < 2; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", i ? tmp : f->path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
    }
    assert_int_equal(start(f, CTL_NO_GROUP), 0);
    assert_int_equal(ctl_client_open(&c, f->path, NULL, &err), 0);
    ctl_client_close(&c);
    assert_int_equal(lstat(tmp, &st), -1);

    /* a second server on a path that is still served is refused, naming
     * the live one's pid, and the live one keeps its socket */
    struct ctl_server second;
    struct ctl_server_config cfg = {.path = f->path,
                                    .group = CTL_NO_GROUP,
                                    .name = "second",
                                    .version = "1",
                                    .ops = ops,
                                    .n_ops = 2,
                                    .ctx = &f->calls};
    char served_by[64];
    assert_int_equal(ctl_server_open(&second, &cfg, &err), -1);
    assert_int_equal(err.code, EADDRINUSE);
    snprintf(served_by, sizeof(served_by), "is served by pid %d (not replaced)", (int)getpid());
    assert_non_null(strstr(err.msg, served_by));
    assert_int_equal(ctl_client_open(&c, f->path, NULL, &err), 0);
    ctl_client_close(&c);
    assert_int_equal(lstat(tmp, &st), -1);

    /* a server whose socket was replaced by a newer one (its path removed
     * and taken) leaves the newer alone */
    struct ctl_server newer;
    assert_int_equal(unlink(f->path), 0);
    cfg.name = "newer";
    assert_int_equal(ctl_server_open(&newer, &cfg, &err), 0);
    stop(f);
    assert_int_equal(lstat(f->path, &st), 0);
    ctl_server_close(&newer);
    assert_int_equal(lstat(f->path, &st), -1);
    assert_int_equal(start(f, CTL_NO_GROUP), 0);
}

static void a_path_that_is_not_a_socket_is_refused_and_kept(void **state)
{
    struct fixture *f = *state;
    struct ctl_server other;
    struct evr_err err = {0};
    char path[80], tmp[90];
    struct ctl_server_config cfg = {
            .group = CTL_NO_GROUP, .name = "x", .version = "1", .ops = ops, .n_ops = 2};
    struct stat st;

    snprintf(path, sizeof(path), "%s.file", f->path);
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    cfg.path = path;
    fclose(fopen(path, "w"));
    assert_int_equal(ctl_server_open(&other, &cfg, &err), -1);
    assert_int_equal(err.code, EEXIST);
    assert_non_null(strstr(err.msg, "exists and is not a socket (not replaced)"));
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(path);
    /* nor at the temporary name */
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(ctl_server_open(&other, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, ".file.new' exists and is not a socket"));
    assert_int_equal(lstat(path, &st), -1);
    rmdir(tmp);
    /* a path too long for sun_path */
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    cfg.path = longpath;
    assert_int_equal(ctl_server_open(&other, &cfg, &err), -1);
    assert_int_equal(err.code, ENAMETOOLONG);
}

/* In a forked child: take uid (and gid), connect, say hello; the exit status
 * tells what happened: 0 served, 1 refused with EACCES, 2 cannot connect,
 * 3 anything else. */
static int child_connects_as(const char *path, uid_t uid, gid_t gid)
{
    pid_t pid = fork();
    int status;

    if (pid == 0) {
        char buf[1024];
        if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
            _exit(3);
        int fd = raw_connect(path);
        if (fd < 0)
            _exit(errno == EACCES ? 2 : 3);
        /* a bound on a hang, not a timing assert */
        struct timeval tv = {.tv_sec = 30};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        /* a refused peer may find the connection closed already (EPIPE):
         * the refusal is still there to read */
        static const char hello[] = "{\"op\":\"hello\",\"protocol\":1}\n";
        if (send(fd, hello, sizeof(hello) - 1, MSG_NOSIGNAL) < 0 && errno != EPIPE)
            _exit(3);
        raw_read_lines(fd, buf, sizeof(buf), 1);
        if (strstr(buf, "\"ok\":true"))
            _exit(0);
        _exit(strstr(buf, "\"code\":\"EACCES\"") && strstr(buf, "may not use this socket") ? 1 : 3);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void peers_of_another_uid_are_refused(void **state)
{
    struct fixture *f = *state;
    struct stat st;

    if (geteuid() != 0)
        skip();
    assert_int_equal(child_connects_as(f->path, 0, 0), 0);
    /* the mode alone keeps others out... */
    assert_int_equal(child_connects_as(f->path, NOBODY, NOBODY), 2);
    /* ...and with the mode loosened, the credentials check still does */
    assert_int_equal(chmod(f->path, 0666), 0);
    assert_int_equal(child_connects_as(f->path, NOBODY, NOBODY), 1);

    /* 0660 with a group: a member is served, another uid is not */
    stop(f);
    assert_int_equal(start(f, NOBODY - 1), 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);
    assert_int_equal(st.st_gid, NOBODY - 1);
    assert_int_equal(child_connects_as(f->path, NOBODY, NOBODY - 1), 0);
    assert_int_equal(child_connects_as(f->path, NOBODY, NOBODY), 2);
    assert_int_equal(chmod(f->path, 0666), 0);
    assert_int_equal(child_connects_as(f->path, NOBODY, NOBODY), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(hello_tells_the_server_and_its_ops, setup, teardown),
            cmocka_unit_test_setup_teardown(a_client_with_a_timeout_gives_up_on_a_silent_server,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(an_empty_first_line_is_skipped, setup, teardown),
            cmocka_unit_test_setup_teardown(framing_is_one_object_per_line_in_order, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(pipelined_requests_outgrow_the_socket_buffer, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(the_envelope_and_field_checks, setup, teardown),
            cmocka_unit_test_setup_teardown(a_server_may_take_longer_lines, setup, teardown),
            cmocka_unit_test_setup_teardown(an_overlong_line_gets_one_reply_and_is_skipped, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(requests_before_hello_and_other_versions_are_refused,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(many_clients_at_once_then_one_too_many, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(the_socket_is_0600_and_renamed_over_a_stale_one, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(a_path_that_is_not_a_socket_is_refused_and_kept, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(peers_of_another_uid_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
