/* core/broker/broker.c: the registry of broker backends by name and the
 * wrappers, the only code calling ->ops->.  See broker.h. */
#include "core/broker/broker.h"

#include <string.h>

#include "core/broker/broker_impl.h"

static const struct jc_broker_ops *const broker_backends[] = {
    &jc_broker_local_ops,
    &jc_broker_nats_ops,
    &jc_broker_redis_ops,
};

enum jc_err jc_broker_open(struct jc_loop *loop, const struct jc_broker_config *cfg,
                           jc_broker_event_fn *on_event, void *arg, struct jc_broker **out)
{
    for (size_t i = 0; i < sizeof(broker_backends) / sizeof(broker_backends[0]); i++) {
        if (strcmp(broker_backends[i]->name, cfg->type) == 0) {
            return broker_backends[i]->open(loop, cfg, on_event, arg, out);
        }
    }
    return JC_ERR_INVALID;
}

void jc_broker_close(struct jc_broker *broker)
{
    if (broker != NULL) {
        broker->ops->close(broker);
    }
}

const char *jc_broker_name(const struct jc_broker *broker)
{
    return broker->ops->name;
}

bool jc_broker_is_ready(struct jc_broker *broker)
{
    return broker->ops->is_ready(broker);
}

enum jc_err jc_broker_publish(struct jc_broker *broker, const struct jc_event *ev)
{
    return broker->ops->publish(broker, ev);
}
