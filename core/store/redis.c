/* core/store/redis.c: placeholder until the redis store backend lands; opening it fails. */
#include "core/store/store_impl.h"

#define placeholder_open NULL

const struct jc_store_ops jc_store_redis_ops = {
    .name = "redis",
    .open = placeholder_open,
};
