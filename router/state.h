/* evrd's partition on disk, so that a crash or a restart of evrd loses
 * nothing: STATE_DIR/partition.json holds
 *
 *   {"version": 2, "generation": 42, "holdings": [ ...partition.h's holdings... ]}
 *
 * A save writes a temporary file in the same directory, fsyncs it, renames
 * it over partition.json and fsyncs the directory: a crash at any instant
 * leaves the old partition or the new one, never a mix. A load checks every
 * holding against the appliance by the rules of a split; a file that is
 * truncated, corrupt or no longer fits the appliance is refused with the
 * reason and left where it is for the operator (it is never overwritten by
 * a failed load). */
#ifndef EVR_ROUTER_STATE_H
#define EVR_ROUTER_STATE_H

#include <stdbool.h>

#include "appliance.h"
#include "common/error.h"
#include "partition.h"

#define EVR_STATE_VERSION 2 /* 2: LAG holdings (lag.h); a version 1 file loads as it is */
#define EVR_STATE_FILE    "partition.json"

/* Makes sure evrd can own dir: creates it 0700 if missing; refuses one that
 * is not a directory, not owned by this user, or writable by others. */
int evr_state_dir_check(const char *dir, struct evr_err *err);

int evr_state_save(const char *dir, const struct evr_partition *p, const struct evr_appliance *a,
                   struct evr_err *err);

/* Loads dir's partition into *p (initialised for a). *found is false, and *p
 * is left empty, when there is no file yet. */
int evr_state_load(const char *dir, struct evr_partition *p, const struct evr_appliance *a,
                   bool *found, struct evr_err *err);

#endif
