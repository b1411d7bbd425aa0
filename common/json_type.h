/* How a message names the type of a JSON value a parser did not expect:
 * "expected an integer, got a string". One wording for every parser of
 * outside input (evr-vmm's config, evrd's appliance). */
#ifndef EVR_COMMON_JSON_TYPE_H
#define EVR_COMMON_JSON_TYPE_H

#include <jansson.h>

/* "an object", "an array", "a string", "an integer", "a number with a
 * fraction", "a boolean" or "null". */
const char *evr_json_type_name(const json_t *v);

#endif
