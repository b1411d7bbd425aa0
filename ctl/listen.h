/* The listening unix socket of a control server, and who may talk to it.
 *
 * The socket is bound under a temporary name (PATH.new), given its mode
 * and group, made listening, then renamed onto PATH: whoever sees PATH can
 * connect at once, and a client never meets a socket that is not listening
 * yet. A socket left at PATH by an earlier run is replaced; one that a
 * process still listens on (connect() is accepted) is refused with
 * EADDRINUSE naming that process's pid, so a second instance started on
 * the same path by mistake cannot take a live one's socket; any other kind
 * of file at PATH (or at PATH.new) is refused, never removed.
 *
 * Mode 0600 (no group) or 0660 with a group. The peer's credentials
 * (SO_PEERCRED) are checked on every connection as well, so a socket whose
 * mode was loosened later, or a connection made through the temporary name
 * before its mode was set, still lets in only root, the socket's owner
 * (this process's effective uid) and members of its group. */
#ifndef EVR_CTL_LISTEN_H
#define EVR_CTL_LISTEN_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/error.h"

#define CTL_NO_GROUP ((gid_t)-1)

/* Returns the listening fd (non-blocking, close-on-exec), or -1 with err
 * naming the path. group CTL_NO_GROUP: mode 0600; otherwise 0660 and that
 * group. */
int ctl_listen(const char *path, gid_t group, struct evr_err *err);

/* True when the peer of a connected socket may use it: uid 0, the owner
 * uid, or (group not CTL_NO_GROUP) a member of group. Otherwise false with
 * err (EACCES) naming the peer's uid and pid. */
bool ctl_peer_allowed(int fd, uid_t owner, gid_t group, struct evr_err *err);

#endif
