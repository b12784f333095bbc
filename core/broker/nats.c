/* core/broker/nats.c: placeholder until the nats broker backend lands; opening it fails. */
#include "core/broker/broker_impl.h"

#define placeholder_open NULL

const struct jc_broker_ops jc_broker_nats_ops = {
    .name = "nats",
    .open = placeholder_open,
};
