/* config/backends.h: the "store" and "broker" objects of the configuration
 * (internal to config/).  Thread-safe (no shared state). */
#ifndef JC_CONFIG_BACKENDS_H
#define JC_CONFIG_BACKENDS_H

#include "config/schema.h"
#include "core/broker/broker.h"
#include "core/err.h"
#include "core/store/store.h"

struct json_t;

/* Fills st and br with the embedded defaults: memory store, local broker,
 * prefixes "jcached".  They own new strings (free with jc_backends_free). */
void jc_backends_defaults(struct jc_store_config *st, struct jc_broker_config *br);

/* Reads value (the path names it: "store") into st, replacing what it
 * holds.  Borrows s and value. */
enum jc_err jc_backends_read_store(struct jc_schema *s, struct json_t *value,
                                   struct jc_store_config *st) JC_MUST_CHECK;

/* Reads value (the path names it: "broker") into br.  Borrows s and value. */
enum jc_err jc_backends_read_broker(struct jc_schema *s, struct json_t *value,
                                    struct jc_broker_config *br) JC_MUST_CHECK;

/* Checks the store and broker combination of SPEC §1 (the error names
 * "broker.type") and points br->redis at st for a Redis broker.  The path
 * must be at the top level.  Borrows st (it must outlive br). */
enum jc_err jc_backends_link(struct jc_schema *s, const struct jc_store_config *st,
                             struct jc_broker_config *br) JC_MUST_CHECK;

/* Frees the strings of st and br (not the structs).  Accepts NULL. */
void jc_backends_free(struct jc_store_config *st, struct jc_broker_config *br);

#endif
