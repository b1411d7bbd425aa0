/* Unit tests for evrd's transactions (router/service.h): the requests go
 * through the same ops table the control socket serves, the vswitch is
 * evr-vswitch's own config rules (vswitch/protocol.h) behind a call that
 * can refuse any step, and the partition goes to a real state directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROUTER_TEST_VSWITCH
#define ROUTER_TEST_EVRD
#include "../router/fixture.h"
#include "link_watch.h"
#include "service.h"
#include "state.h"

/* The vswitch: its config, and the request number to refuse (0: none). */
struct fake_vswitch {
    struct vs_config cfg;
    unsigned calls;
    unsigned refuse_at;
    unsigned lost_at; /* the request it takes, then the connection breaks (0: none) */
    bool gone;
};

static json_t *fake_call(void *ctx, const json_t *request, struct evr_err *err)
{
    struct fake_vswitch *vs = ctx;
    json_t *reply = NULL;

    vs->calls++;
    if (vs->gone) {
        evr_fail(err, ENOTCONN, "the vswitch's socket is closed");
    } else if (vs->refuse_at && vs->calls == vs->refuse_at) {
        evr_fail(err, EIO, "refused on purpose");
    } else if (vs->lost_at && vs->calls == vs->lost_at) {
        /* the worst case: the step is taken, its reply never comes */
        vs_take(&vs->cfg, request, err);
        vs->gone = true;
        evr_fail(err, ENOTCONN, "the vswitch's connection broke: no reply within 10000 ms");
    } else if (!vs_take(&vs->cfg, request, err)) {
        /* the reply's fields as evr-vswitch's control thread gives them */
        const char *op = json_string_value(json_object_get(request, "op"));
        reply = !strcmp(op, "dump") ? json_pack("{s:o}", "dump", vs_config_to_json(&vs->cfg))
                                    : json_object();
        if (!strcmp(op, "stats")) { /* 7 frames to each slice's VM */
            json_t *dump = vs_config_to_json(&vs->cfg), *slices = json_object(), *s;
            size_t i;
            json_array_foreach(json_object_get(dump, "slices"), i, s)
                    json_object_set_new(slices, json_string_value(json_object_get(s, "name")),
                                        json_pack("{s:i}", "to_vm_packets", 7));
            json_object_set_new(reply, "stats",
                                json_pack("{s:o, s:o}", "ports", json_object(), "slices", slices));
            json_decref(dump);
        }
    }
    return reply;
}

struct fixture {
    char dir[32];
    struct evr_appliance a;
    struct fake_vswitch vs;
    struct evr_events events;
    struct evrd d;
};

static void start_evrd(struct fixture *f)
{
    struct evrd_vswitch link = {.call = fake_call, .ctx = &f->vs};
    struct evr_err err;

    evr_events_init(&f->events);
    if (evrd_init(&f->d, &f->a, "/run/evr", &link, &f->events, NULL, &err) ||
        evrd_vswitch_sync(&f->d, &err))
        fail_msg("%s", err.msg);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char json[2048];
    struct evr_err err;

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/evrd-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(
            json, sizeof(json),
            "{\"state_dir\": \"%s/state\", \"vswitch\": {\"cores\": [0]},"
            " \"ports\": [{\"name\": \"port0\", \"netdev\": \"eth0\"},"
            "  {\"name\": \"port1\", \"netdev\": \"eth1\"}, {\"name\": \"port2\", \"netdev\": "
            "\"eth2\"}],"
            " \"vms\": [{\"name\": \"vm-a\", \"ports\": 2, \"cores\": [1], \"vmm\": {\"kernel\": "
            "\"/k\"}},"
            "  {\"name\": \"vm-b\", \"ports\": 2, \"cores\": [2], \"vmm\": {\"kernel\": \"/k\"}}]}",
            f->dir);
    if (evr_appliance_parse(&f->a, json, "test", &err))
        fail_msg("%s", err.msg);
    vs_config_init(&f->vs.cfg);
    start_evrd(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    router_evrd_fini(&f->d, &f->a, f->dir);
    free(f);
    return 0;
}

static json_t *request(struct fixture *f, const char *text)
{
    return router_request(&f->d, text);
}

static json_t *ok(struct fixture *f, const char *text)
{
    json_t *reply = request(f, text);
    if (!json_is_true(json_object_get(reply, "ok")))
        fail_msg("%s: %s", text, json_dumps(reply, 0));
    return reply;
}

static void refused(struct fixture *f, const char *text, const char *code, const char *says)
{
    json_t *reply = request(f, text), *e = json_object_get(reply, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));

    if (json_is_true(json_object_get(reply, "ok")) || !msg || !strstr(msg, says) ||
        strcmp(json_string_value(json_object_get(e, "code")), code))
        fail_msg("%s: got %s, wanted %s '%s'", text, json_dumps(reply, 0), code, says);
    json_decref(reply);
}

static char *vswitch_dump(struct fixture *f)
{
    json_t *j = vs_config_to_json(&f->vs.cfg);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static char *state_file(struct fixture *f)
{
    return router_state_file(f->dir);
}

/* Runs a request that must change nothing: vswitch, partition, disk. */
static void changes_nothing(struct fixture *f, const char *text, const char *code, const char *says)
{
    char *vs = vswitch_dump(f), *disk = state_file(f), *vs2, *disk2;
    uint64_t gen = f->d.partition.generation;

    refused(f, text, code, says);
    vs2 = vswitch_dump(f);
    disk2 = state_file(f);
    assert_string_equal(vs, vs2);
    assert_string_equal(disk, disk2);
    assert_int_equal(f->d.partition.generation, gen);
    free(vs);
    free(vs2);
    free(disk);
    free(disk2);
}

static void split_reaches_the_vswitch_and_the_disk(void **state)
{
    struct fixture *f = *state;
    json_t *reply = ok(f, "{\"op\": \"split\", \"slices\": \"port0-1\", \"vm\": \"vm-a\"}");
    struct evr_partition back;
    struct evr_err err;
    bool found;

    assert_true(json_is_true(json_object_get(reply, "changed")));
    assert_int_equal(json_integer_value(json_object_get(reply, "generation")), 1);
    json_decref(reply);
    assert_int_equal(vs_config_find_slice(&f->vs.cfg, "port0"), 0);
    assert_true(vs_config_find_slice(&f->vs.cfg, "port1") >= 0);
    assert_true(vs_config_find_port(&f->vs.cfg, "vm-b.1") >= 0);
    assert_int_equal(evr_partition_init(&back, &f->a, &err), 0);
    assert_int_equal(evr_state_load(f->a.state_dir, &back, &f->a, &found, &err), 0);
    assert_true(found);
    assert_int_equal(back.generation, 1);
    evr_partition_free(&back);

    /* the change is an event */
    reply = ok(f, "{\"op\": \"events\", \"since\": 0}");
    {
        const json_t *ev = json_array_get(json_object_get(reply, "events"), 0);
        assert_non_null(ev);
        assert_string_equal(json_string_value(json_object_get(ev, "kind")), "partition");
        assert_non_null(strstr(json_string_value(json_object_get(ev, "text")),
                               "split port0-1 vm-a: generation 1, 4 vswitch steps"));
        assert_int_equal(json_integer_value(json_object_get(reply, "last")), 1);
    }
    json_decref(reply);
    reply = ok(f, "{\"op\": \"events\", \"since\": 1}");
    assert_int_equal(json_array_size(json_object_get(reply, "events")), 0);
    json_decref(reply);

    reply = ok(f, "{\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-a\"}");
    assert_false(json_is_true(json_object_get(reply, "changed"))); /* holds already */
    assert_int_equal(json_array_size(json_object_get(reply, "plan")), 0);
    json_decref(reply);
}

static void refusals_change_nothing(void **state)
{
    struct fixture *f = *state;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0\", \"vm\": \"vm-a\"}"));
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port1,port0\", \"vm\": \"vm-b\"}",
                    "EBUSY", "port0 is vm-a's");
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port1-\", \"vm\": \"vm-b\"}", "EINVAL",
                    "field 'slices': 'port1-' at byte 6");
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-z\"}", "ENOENT",
                    "field 'vm': the appliance has no VM 'vm-z'");
    changes_nothing(f, "{\"op\": \"move\", \"slices\": \"port2\", \"vm\": \"vm-b\"}", "ENOENT",
                    "port2 is free");
    changes_nothing(f,
                    "{\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-b\", \"colour\": 1}",
                    "EINVAL", "colour");
    changes_nothing(f, "{\"op\": \"show\", \"what\": \"everything\"}", "EINVAL",
                    "'everything' is not inventory, partition, vswitch, vms, vm or stats");
}

static void a_refused_step_is_rolled_back(void **state)
{
    struct fixture *f = *state;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0.10-20\", \"vm\": \"vm-a\"}"));
    /* the move is: shrink vm-a's slice, grow vm-b's, which is refused */
    f->vs.refuse_at = f->vs.calls + 2;
    changes_nothing(f, "{\"op\": \"move\", \"slices\": \"port0.15-20\", \"vm\": \"vm-b\"}", "EIO",
                    "vswitch step 2 of 2 (slice-set port0.vm-b) refused: refused on purpose; 1 "
                    "done step undone");
    f->vs.refuse_at = 0;
    json_decref(ok(f, "{\"op\": \"move\", \"slices\": \"port0.15-20\", \"vm\": \"vm-b\"}"));
    assert_true(vs_config_find_slice(&f->vs.cfg, "port0.vm-b") >= 0);
}

/* The request, a plan of steps steps, refused by the vswitch at each step
 * in turn: every time, nothing changes. */
static void refused_at_each_step(struct fixture *f, const char *text, unsigned steps)
{
    for (unsigned k = 1; k <= steps; k++) {
        char says[96];
        snprintf(says, sizeof(says), "vswitch step %u of %u", k, steps);
        f->vs.refuse_at = f->vs.calls + k;
        changes_nothing(f, text, "EIO", says);
    }
    f->vs.refuse_at = 0;
}

/* A plan of four steps (two port-adds, two slice-sets) refused at each of
 * them in turn: every time, nothing changes. */
static void a_plan_refused_at_any_step_changes_nothing(void **state)
{
    struct fixture *f = *state;

    refused_at_each_step(f, "{\"op\": \"split\", \"slices\": \"port0-1\", \"vm\": \"vm-b\"}", 4);
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0-1\", \"vm\": \"vm-b\"}"));
}

static void a_failed_save_is_rolled_back(void **state)
{
    struct fixture *f = *state;
    char path[96], inner[128];

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0\", \"vm\": \"vm-a\"}"));
    /* a directory where the file goes: the rename into place fails */
    snprintf(path, sizeof(path), "%s/state/%s", f->dir, EVR_STATE_FILE);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(inner, sizeof(inner), "%s/x", path);
    fclose(fopen(inner, "w"));
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-b\"}", "EISDIR",
                    "cannot rename it into place");
    assert_true(vs_config_find_slice(&f->vs.cfg, "port1") < 0);
}

static void dry_run_plans_and_changes_nothing(void **state)
{
    struct fixture *f = *state;
    char *vs = vswitch_dump(f), *vs2;
    json_t *reply =
            ok(f, "{\"op\": \"split\", \"slices\": \"port2\", \"vm\": \"vm-b\", \"dry_run\": "
                  "true}");
    json_t *plan = json_object_get(reply, "plan");

    assert_true(json_is_true(json_object_get(reply, "dry_run")));
    assert_true(json_is_true(json_object_get(reply, "changed")));
    assert_int_equal(json_array_size(plan), 2); /* port-add port2, slice-set port2 */
    assert_string_equal(json_string_value(json_object_get(json_array_get(plan, 1), "name")),
                        "port2");
    assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(reply, "partition"), 0), "vm")),
                        "vm-b");
    json_decref(reply);
    vs2 = vswitch_dump(f);
    assert_string_equal(vs, vs2);
    assert_int_equal(f->d.partition.generation, 0);
    free(vs);
    free(vs2);
}

static void restart_and_vswitch_loss_come_back_to_the_disk(void **state)
{
    struct fixture *f = *state;
    char *before, *after;

    json_decref(
            ok(f, "{\"op\": \"split\", \"slices\": \"port0,port1.100-199\", \"vm\": \"vm-a\"}"));
    before = vswitch_dump(f);
    /* evrd restarts: the same partition, nothing to tell the vswitch */
    evrd_fini(&f->d);
    start_evrd(f);
    assert_int_equal(f->d.partition.generation, 1);
    after = vswitch_dump(f);
    assert_string_equal(before, after);
    free(after);
    /* the vswitch restarts empty: a sync brings it all back */
    evrd_vswitch_lost(&f->d);
    vs_config_init(&f->vs.cfg);
    {
        struct evr_err err;
        assert_int_equal(evrd_vswitch_sync(&f->d, &err), 0);
    }
    after = vswitch_dump(f);
    assert_string_equal(before, after);
    free(after);
    free(before);
    /* no vswitch at all: a change is refused, nothing changes */
    evrd_vswitch_lost(&f->d);
    f->vs.gone = true;
    changes_nothing(f, "{\"op\": \"split\", \"slices\": \"port2\", \"vm\": \"vm-b\"}", "EAGAIN",
                    "the vswitch is not there");
}

/* The connection breaks in the middle of a plan, after the vswitch took a
 * step whose reply never came: the partition (memory and disk) stays the
 * old one, evrd forgets what the vswitch carries (no blind undo on a
 * connection it cannot trust), and the resync brings the vswitch back to
 * the old partition. */
static void a_connection_lost_mid_plan_is_resynced_to_the_partition(void **state)
{
    struct fixture *f = *state;
    char *before, *disk, *after, *disk2;
    struct evr_err err;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0.10-20\", \"vm\": \"vm-a\"}"));
    for (unsigned k = 1; k <= 2; k++) {
        before = vswitch_dump(f);
        disk = state_file(f);
        f->vs.lost_at = f->vs.calls + k;
        refused(f, "{\"op\": \"move\", \"slices\": \"port0.15-20\", \"vm\": \"vm-b\"}", "EAGAIN",
                "the vswitch is being resynced to it");
        assert_null(f->d.vs_state);
        assert_int_equal(f->d.partition.generation, 1);
        disk2 = state_file(f);
        assert_string_equal(disk, disk2);
        f->vs.lost_at = 0;
        f->vs.gone = false;
        assert_int_equal(evrd_vswitch_sync(&f->d, &err), 0);
        after = vswitch_dump(f);
        assert_string_equal(before, after);
        free(before);
        free(after);
        free(disk);
        free(disk2);
    }
    json_decref(ok(f, "{\"op\": \"move\", \"slices\": \"port0.15-20\", \"vm\": \"vm-b\"}"));
}

static void apply_replaces_the_partition(void **state)
{
    struct fixture *f = *state;
    json_t *reply;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0\", \"vm\": \"vm-a\"}"));
    reply = ok(f, "{\"op\": \"apply\", \"holdings\": [{\"slice\": \"port2\", \"vm\": \"vm-b\","
                  " \"mode\": \"vswitch\", \"vm_port\": 1}]}");
    assert_true(json_is_true(json_object_get(reply, "changed")));
    json_decref(reply);
    assert_true(vs_config_find_slice(&f->vs.cfg, "port0") < 0);
    assert_true(vs_config_find_slice(&f->vs.cfg, "port2") >= 0);
    changes_nothing(f,
                    "{\"op\": \"apply\", \"holdings\": [{\"slice\": \"port9\", \"vm\": \"vm-b\","
                    " \"mode\": \"vswitch\", \"vm_port\": 1}]}",
                    "EINVAL",
                    "field 'holdings': holdings[0]: port9: the appliance has no such port");
}

static void join_reaches_the_vswitch_and_show_has_link_state(void **state)
{
    struct fixture *f = *state;
    json_t *reply, *lag;
    int p0;

    reply = ok(f, "{\"op\": \"join\", \"slices\": \"port0-1\", \"vm\": \"vm-a\", \"lag\": "
                  "\"balance\"}");
    assert_true(json_is_true(json_object_get(reply, "changed")));
    json_decref(reply);
    assert_true(vs_config_find_lag(&f->vs.cfg, "lag0") >= 0);
    assert_int_equal(f->vs.cfg.lags[vs_config_find_lag(&f->vs.cfg, "lag0")].mode, VS_LAG_BALANCE);
    assert_true(vs_config_find_slice(&f->vs.cfg, "lag0") >= 0);
    /* the members' link state is the vswitch's */
    p0 = vs_config_find_port(&f->vs.cfg, "port0");
    f->vs.cfg.ports[p0].link_up = true;
    f->vs.cfg.ports[vs_config_find_port(&f->vs.cfg, "port1")].link_up = false;
    reply = ok(f, "{\"op\": \"show\"}");
    lag = json_array_get(json_object_get(reply, "lags"), 0);
    assert_string_equal(json_string_value(json_object_get(lag, "name")), "lag0");
    assert_string_equal(json_string_value(json_object_get(lag, "vm")), "vm-a");
    assert_string_equal(json_string_value(json_object_get(lag, "mode")), "balance");
    {
        char *members = json_dumps(json_object_get(lag, "members"), JSON_COMPACT);
        assert_string_equal(members, "[{\"port\":\"port0\",\"link\":\"up\"},{\"port\":\"port1\","
                                     "\"link\":\"down\"}]");
        free(members);
    }
    assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(reply, "partition"), 0), "slice")),
                        "port0-1");
    json_decref(reply);
    /* with no vswitch the links are unknown, the LAG is still shown */
    evrd_vswitch_lost(&f->d);
    reply = ok(f, "{\"op\": \"show\"}");
    lag = json_array_get(json_object_get(reply, "lags"), 0);
    assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(lag, "members"), 0), "link")),
                        "unknown");
    json_decref(reply);
}

/* A join of two free ports is four steps (two port-adds, the LAG, its
 * slice): refused at each in turn, nothing changes. */
static void a_join_refused_at_any_step_changes_nothing(void **state)
{
    struct fixture *f = *state;
    const char *join = "{\"op\": \"join\", \"slices\": \"port1-2\", \"vm\": \"vm-b\"}";

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0\", \"vm\": \"vm-a\"}"));
    refused_at_each_step(f, join, 4);
    json_decref(ok(f, join));
    assert_true(vs_config_find_lag(&f->vs.cfg, "lag0") >= 0);
    assert_int_equal(f->vs.cfg.lags[vs_config_find_lag(&f->vs.cfg, "lag0")].mode,
                     VS_LAG_ACTIVE_BACKUP);
}

static void lag_conflicts_change_nothing(void **state)
{
    struct fixture *f = *state;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port2.100-199\", \"vm\": \"vm-b\"}"));
    json_decref(ok(f, "{\"op\": \"join\", \"slices\": \"port0-1\", \"vm\": \"vm-a\"}"));
    changes_nothing(f, "{\"op\": \"join\", \"slices\": \"port1-2\", \"vm\": \"vm-a\"}", "EBUSY",
                    "port2 is not free whole: port2.100-199 is vm-b's");
    changes_nothing(f, "{\"op\": \"join\", \"slices\": \"port0\", \"vm\": \"vm-b\"}", "EBUSY",
                    "port0 is vm-a's (move it, or free it first)");
    changes_nothing(f, "{\"op\": \"move\", \"slices\": \"port0\", \"vm\": \"vm-b\"}", "EBUSY",
                    "port0 is in vm-a's LAG lag0 (port0-1): move all of it");
    changes_nothing(f,
                    "{\"op\": \"join\", \"slices\": \"port0-1\", \"vm\": \"vm-a\", \"lag\": "
                    "\"round-robin\"}",
                    "EINVAL", "field 'lag': expected \"active-backup\" or \"balance\"");
    changes_nothing(f,
                    "{\"op\": \"split\", \"slices\": \"port0-1\", \"vm\": \"vm-a\", \"lag\": "
                    "\"balance\"}",
                    "EINVAL", "lag");
    /* moving all of it, and freeing a member, go through */
    json_decref(ok(f, "{\"op\": \"move\", \"slices\": \"port0-1\", \"vm\": \"vm-b\"}"));
    json_decref(ok(f, "{\"op\": \"free\", \"slices\": \"port1\"}"));
    assert_int_equal(f->vs.cfg.lags[vs_config_find_lag(&f->vs.cfg, "lag0")].n_members, 1);
    assert_true(vs_config_find_port(&f->vs.cfg, "port1") < 0);
}

static void lags_come_back_after_a_restart(void **state)
{
    struct fixture *f = *state;
    char *before, *after, path[96];
    FILE *file;

    json_decref(ok(f, "{\"op\": \"join\", \"slices\": \"port0,port2\", \"vm\": \"vm-b\", "
                      "\"lag\": \"balance\"}"));
    before = vswitch_dump(f);
    evrd_fini(&f->d);
    start_evrd(f);
    after = vswitch_dump(f);
    assert_string_equal(before, after); /* nothing to tell the vswitch */
    free(after);
    free(before);
    {
        char *disk = state_file(f);
        assert_non_null(strstr(disk, "\"version\": 2"));
        assert_non_null(strstr(disk, "\"lag\": \"lag0\""));
        free(disk);
    }
    /* a version 1 file of an older evrd loads, and its ports are put back */
    evrd_fini(&f->d);
    snprintf(path, sizeof(path), "%s/state/%s", f->dir, EVR_STATE_FILE);
    file = fopen(path, "w");
    fputs("{\"version\": 1, \"generation\": 3, \"holdings\": [{\"slice\": \"port1\", \"vm\": "
          "\"vm-a\", \"mode\": \"vswitch\", \"vm_port\": 1}]}\n",
          file);
    fclose(file);
    start_evrd(f);
    assert_int_equal(f->d.partition.generation, 3);
    assert_true(vs_config_find_lag(&f->vs.cfg, "lag0") < 0);
    assert_true(vs_config_find_slice(&f->vs.cfg, "port1") >= 0);
}

static void a_batch_is_one_transaction(void **state)
{
    struct fixture *f = *state;
    json_t *reply;

    json_decref(ok(f, "{\"op\": \"join\", \"slices\": \"port0-1\", \"vm\": \"vm-a\"}"));
    /* the third change is refused: the first two are not applied */
    changes_nothing(f,
                    "{\"op\": \"batch\", \"changes\": ["
                    " {\"op\": \"free\", \"slices\": \"port1\", \"line\": 2},"
                    " {\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-b\", \"line\": 3},"
                    " {\"op\": \"move\", \"slices\": \"port2\", \"vm\": \"vm-b\", \"line\": 5}]}",
                    "ENOENT", "line 5: port2 is free: give it with split");
    changes_nothing(f, "{\"op\": \"batch\", \"changes\": [{\"op\": \"show\"}]}", "EINVAL",
                    "changes[0]: 'show' cannot be in a batch");
    changes_nothing(f,
                    "{\"op\": \"batch\", \"changes\": [{\"op\": \"free\", \"slices\": \"port1\","
                    " \"vm\": \"vm-a\"}]}",
                    "EINVAL", "changes[0]: ");
    changes_nothing(f, "{\"op\": \"batch\", \"changes\": []}", "EINVAL",
                    "field 'changes': expected a non-empty array");
    /* a member leaves its LAG and becomes another VM's port in one plan */
    reply = ok(f, "{\"op\": \"batch\", \"dry_run\": true, \"changes\": ["
                  " {\"op\": \"free\", \"slices\": \"port1\"},"
                  " {\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-b\"}]}");
    assert_true(json_is_true(json_object_get(reply, "dry_run")));
    json_decref(reply);
    assert_int_equal(f->vs.cfg.lags[vs_config_find_lag(&f->vs.cfg, "lag0")].n_members, 2);
    reply = ok(f, "{\"op\": \"batch\", \"changes\": ["
                  " {\"op\": \"free\", \"slices\": \"port1\"},"
                  " {\"op\": \"split\", \"slices\": \"port1\", \"vm\": \"vm-b\"},"
                  " {\"op\": \"join\", \"slices\": \"port0,port2\", \"vm\": \"vm-a\", \"lag\": "
                  "\"balance\"}]}");
    assert_int_equal(json_integer_value(json_object_get(reply, "generation")), 2);
    {
        char *plan = json_dumps(json_object_get(reply, "plan"), JSON_COMPACT);
        /* port2 opened, the LAG replaced with its new members, port1's own slice */
        assert_non_null(strstr(plan, "\"members\":[\"port0\",\"port2\"]"));
        free(plan);
    }
    json_decref(reply);
    assert_int_equal(f->vs.cfg.lags[vs_config_find_lag(&f->vs.cfg, "lag0")].n_members, 2);
    assert_true(vs_config_find_slice(&f->vs.cfg, "port1") >= 0);
}

/* A LAG member's link that changes is an event; the first look is not. */
static void lag_link_changes_are_events(void **state)
{
    struct fixture *f = *state;
    json_t *reply, *ev;
    int p1;

    assert_true(evrd_watch_links(&f->d, 10.0) == 0); /* no LAG: nothing to watch */
    json_decref(ok(f, "{\"op\": \"join\", \"slices\": \"port0-1\", \"vm\": \"vm-a\"}"));
    p1 = vs_config_find_port(&f->vs.cfg, "port1");
    f->vs.cfg.ports[vs_config_find_port(&f->vs.cfg, "port0")].link_up = true;
    f->vs.cfg.ports[p1].link_up = true;
    assert_true(evrd_watch_links(&f->d, 10.0) == 10.0 + EVRD_LINK_POLL_S);
    f->vs.cfg.ports[p1].link_up = false;
    /* not due yet: the vswitch is not asked */
    assert_true(evrd_watch_links(&f->d, 10.5) == 10.0 + EVRD_LINK_POLL_S);
    assert_true(evrd_watch_links(&f->d, 11.0) == 11.0 + EVRD_LINK_POLL_S);
    f->vs.cfg.ports[p1].link_up = true;
    evrd_watch_links(&f->d, 12.0);
    reply = ok(f, "{\"op\": \"events\", \"since\": 1}");
    ev = json_object_get(reply, "events");
    assert_int_equal(json_array_size(ev), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "kind")), "link");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "subject")),
                        "port1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 0), "text")),
                        "down (in vm-a's LAG lag0)");
    assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 1), "text")),
                        "up (in vm-a's LAG lag0)");
    json_decref(reply);
}

static void vm_console_is_there_while_the_vm_runs(void **state)
{
    struct fixture *f = *state;
    struct vm_supervisor *vms = calloc(1, sizeof(*vms));
    struct evr_err err;
    json_t *reply;

    changes_nothing(f, "{\"op\": \"vm-console\", \"name\": \"vm-a\"}", "EOPNOTSUPP",
                    "this evrd does not run the VMs");
    assert_non_null(vms);
    assert_int_equal(
            vm_supervisor_init(vms, &f->a, "/nonexistent/evr-vmm", "/run/evr", &f->events, &err),
            0);
    f->d.vms = vms;
    changes_nothing(f, "{\"op\": \"vm-console\", \"name\": \"vm-b\"}", "ESRCH",
                    "vm-b is stopped, not running");
    changes_nothing(f, "{\"op\": \"vm-console\", \"name\": \"vm-z\"}", "ENOENT",
                    "the appliance has no VM 'vm-z'");
    vms->vms[1].state = VM_STATE_RUNNING; /* as vm_supervisor_start leaves it */
    reply = ok(f, "{\"op\": \"vm-console\", \"name\": \"vm-b\"}");
    assert_string_equal(json_string_value(json_object_get(reply, "console")),
                        "/run/evr/vm-b.console");
    json_decref(reply);
    f->d.vms = NULL;
    free(vms);
}

/* A VM adopted after an evrd restart is not evrd's child: how it ended is
 * read from the status evr-vmm wrote (exit_file). 0 (powered off) leaves
 * it stopped; no file (a signal killed it) or garbage counts as a crash. */
static void an_adopted_vm_ends_as_its_exit_file_says(void **state)
{
    struct fixture *f = *state;
    struct vm_supervisor *vms = calloc(1, sizeof(*vms));
    struct evr_err err;
    char dir[] = "/tmp/evrd-exit-XXXXXX";
    static const struct {
        const char *text; /* NULL: no file */
        int last_exit;
        enum vm_state state;
    } cases[] = {{"0\n", 0, VM_STATE_STOPPED},     {"1\n", 1, VM_STATE_STOPPED},
                 {"2\n", 2, VM_STATE_BACKOFF},     {NULL, -1, VM_STATE_BACKOFF},
                 {"zero\n", -1, VM_STATE_BACKOFF}, {"300\n", -1, VM_STATE_BACKOFF}};

    assert_non_null(vms);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(vm_supervisor_init(vms, &f->a, "/nonexistent/evr-vmm", dir, &f->events, &err),
                     0);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct vm_proc *p = &vms->vms[0];
        unlink(p->exit_file);
        if (cases[k].text) {
            FILE *fp = fopen(p->exit_file, "w");
            assert_non_null(fp);
            fputs(cases[k].text, fp);
            fclose(fp);
        }
        p->state = VM_STATE_RUNNING; /* as vm_supervisor_adopt leaves it */
        p->child = false;
        p->pid = 4242;
        p->pidfd = -1;
        vm_supervisor_exited(vms, 0, 100.0);
        if (p->last_exit != cases[k].last_exit || p->state != cases[k].state)
            fail_msg("exit file '%s': last exit %d, state %s",
                     cases[k].text ? cases[k].text : "(none)", p->last_exit,
                     vm_state_name(p->state));
    }
    {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
    free(vms);
}

/* show vm NAME: the VM's holdings, its ports with their links and what
 * each carries; show stats: the vswitch's counters, each slice with its
 * uplink and VM port. */
static void show_vm_and_stats(void **state)
{
    struct fixture *f = *state;
    json_t *reply, *vm, *ports, *s;

    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port0\", \"vm\": \"vm-a\"}"));
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port1.100-199\", \"vm\": \"vm-a\"}"));
    json_decref(ok(f, "{\"op\": \"split\", \"slices\": \"port1.200-300\", \"vm\": \"vm-b\", "
                      "\"vm_port\": 1}"));
    reply = ok(f, "{\"op\": \"show\", \"what\": \"vm\", \"name\": \"vm-a\"}");
    vm = json_object_get(reply, "vm");
    assert_string_equal(json_string_value(json_object_get(vm, "name")), "vm-a");
    assert_string_equal(json_string_value(json_object_get(vm, "state")), "not run by this evrd");
    assert_int_equal(json_array_size(json_object_get(vm, "holdings")), 2);
    ports = json_object_get(vm, "ports");
    assert_int_equal(json_array_size(ports), 2);
    s = json_array_get(ports, 1);
    assert_string_equal(json_string_value(json_object_get(s, "name")), "vm-a.1");
    assert_string_equal(json_string_value(json_object_get(s, "link")), "up");
    assert_string_equal(json_string_value(json_array_get(json_object_get(s, "carries"), 0)),
                        "port1.100-199");
    json_decref(reply);
    /* vm-b: its port 0 carries nothing (down), its port 1 the two VLANs */
    reply = ok(f, "{\"op\": \"show\", \"what\": \"vm\", \"name\": \"vm-b\"}");
    ports = json_object_get(json_object_get(reply, "vm"), "ports");
    s = json_array_get(ports, 0);
    assert_string_equal(json_string_value(json_object_get(s, "link")), "down");
    assert_int_equal(json_array_size(json_object_get(s, "carries")), 0);
    s = json_array_get(ports, 1);
    assert_string_equal(json_string_value(json_object_get(s, "link")), "up");
    assert_int_equal(json_integer_value(json_object_get(s, "iface")), 1);
    json_decref(reply);
    refused(f, "{\"op\": \"show\", \"what\": \"vm\", \"name\": \"vm-z\"}", "ENOENT",
            "the appliance has no VM 'vm-z'");
    refused(f, "{\"op\": \"show\", \"what\": \"vm\"}", "EINVAL", "show vm wants a VM name");
    refused(f, "{\"op\": \"show\", \"what\": \"vms\", \"name\": \"vm-a\"}", "EINVAL",
            "only show vm takes a name");

    reply = ok(f, "{\"op\": \"show\", \"what\": \"stats\"}");
    s = json_object_get(json_object_get(json_object_get(reply, "stats"), "slices"), "port1.vm-b");
    assert_non_null(s);
    assert_string_equal(json_string_value(json_object_get(s, "uplink")), "port1");
    assert_string_equal(json_string_value(json_object_get(s, "vm_port")), "vm-b.1");
    assert_int_equal(json_integer_value(json_object_get(s, "to_vm_packets")), 7);
    json_decref(reply);
    f->vs.gone = true;
    refused(f, "{\"op\": \"show\", \"what\": \"stats\"}", "EAGAIN", "the vswitch's counters");
    f->vs.gone = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(split_reaches_the_vswitch_and_the_disk, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(refusals_change_nothing, setup, teardown),
            cmocka_unit_test_setup_teardown(a_refused_step_is_rolled_back, setup, teardown),
            cmocka_unit_test_setup_teardown(a_plan_refused_at_any_step_changes_nothing, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(a_connection_lost_mid_plan_is_resynced_to_the_partition,
                                            setup, teardown),
            cmocka_unit_test_setup_teardown(a_failed_save_is_rolled_back, setup, teardown),
            cmocka_unit_test_setup_teardown(dry_run_plans_and_changes_nothing, setup, teardown),
            cmocka_unit_test_setup_teardown(restart_and_vswitch_loss_come_back_to_the_disk, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(apply_replaces_the_partition, setup, teardown),
            cmocka_unit_test_setup_teardown(join_reaches_the_vswitch_and_show_has_link_state, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(a_join_refused_at_any_step_changes_nothing, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(lag_conflicts_change_nothing, setup, teardown),
            cmocka_unit_test_setup_teardown(lags_come_back_after_a_restart, setup, teardown),
            cmocka_unit_test_setup_teardown(a_batch_is_one_transaction, setup, teardown),
            cmocka_unit_test_setup_teardown(lag_link_changes_are_events, setup, teardown),
            cmocka_unit_test_setup_teardown(vm_console_is_there_while_the_vm_runs, setup, teardown),
            cmocka_unit_test_setup_teardown(an_adopted_vm_ends_as_its_exit_file_says, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(show_vm_and_stats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
