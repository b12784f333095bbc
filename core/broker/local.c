/* core/broker/local.c: placeholder until the local broker backend lands; opening it fails. */
#include "core/broker/broker_impl.h"

#define placeholder_open NULL

const struct jc_broker_ops jc_broker_local_ops = {
    .name = "local",
    .open = placeholder_open,
};
