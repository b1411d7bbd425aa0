/* evr's tables: evrd's replies (-j prints them as they are) for a person.
 * Each takes the reply object of one verb. */
#ifndef EVR_TOOLS_EVR_PRINT_H
#define EVR_TOOLS_EVR_PRINT_H

#include <jansson.h>
#include <stdbool.h>

void print_change(const json_t *reply);    /* split, join, move, free, apply, a batch */
void print_partition(const json_t *reply); /* show partition */
void print_inventory(const json_t *reply); /* show inventory */
void print_vswitch(const json_t *reply);   /* show vswitch */
void print_vms(const json_t *reply);       /* show vms */
void print_vm(const json_t *reply);        /* show vm NAME */
void print_stats(const json_t *reply);     /* show stats */
void print_nothing(const json_t *reply);   /* vm start, vm stop: the status says it */

/* One event of `evr monitor`: a line for a person, or (json) a JSON line. */
void print_event(const json_t *event, bool json);

#endif
