/* core/broker/broker_impl.h: for broker backends only.
 *
 * A backend exports one const struct jc_broker_ops and embeds struct
 * jc_broker as the first member of its state.  Contracts are those of the
 * wrappers in broker.h.  Event thread only. */
#ifndef JC_CORE_BROKER_BROKER_IMPL_H
#define JC_CORE_BROKER_BROKER_IMPL_H

#include "core/broker/broker.h"

struct jc_broker_ops {
    const char *name;
    enum jc_err (*open)(struct jc_loop *loop, const struct jc_broker_config *cfg,
                        jc_broker_event_fn *on_event, void *arg, struct jc_broker **out);
    void (*close)(struct jc_broker *broker);
    bool (*is_ready)(struct jc_broker *broker);
    enum jc_err (*publish)(struct jc_broker *broker, const struct jc_event *ev);
};

struct jc_broker {
    const struct jc_broker_ops *ops;
};

extern const struct jc_broker_ops jc_broker_local_ops;
extern const struct jc_broker_ops jc_broker_nats_ops;
extern const struct jc_broker_ops jc_broker_redis_ops;

#endif
