/* evr vm console: this terminal attached to a VM's serial console, the unix
 * socket evr-vmm serves (evr-vmm(1): one client at a time; its bytes are the
 * guest's input). On a terminal, the terminal is raw while attached (keys go
 * to the guest as typed, Ctrl-C included) and Ctrl-] detaches; from a pipe,
 * the input goes to the guest and its end detaches. The console closing (the
 * VM stopped) ends it too. */
#ifndef EVR_TOOLS_EVR_CONSOLE_H
#define EVR_TOOLS_EVR_CONSOLE_H

#include "common/error.h"

#define CONSOLE_DETACH_KEY 0x1d /* Ctrl-] */

/* Relays stdin to the console at path and the console to stdout until
 * detached; vm names it in messages. */
int console_attach(const char *vm, const char *path, struct evr_err *err);

#endif
