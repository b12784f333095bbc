/* core/broker/redis.c: placeholder until the redis broker backend lands; opening it fails. */
#include "core/broker/broker_impl.h"

#define placeholder_open NULL

const struct jc_broker_ops jc_broker_redis_ops = {
    .name = "redis",
    .open = placeholder_open,
};
