/* core/expiry.c: see expiry.h. */
#include "core/expiry.h"

#include "core/cache.h"

int64_t jc_expiry_write_ttl(const struct jc_cache_config *c)
{
    return c->expiry_type == JC_EXPIRY_NONE ? -1 : (int64_t)c->expiry_ms;
}

int64_t jc_expiry_read_slide(const struct jc_cache_config *c)
{
    return c->expiry_type == JC_EXPIRY_SLIDING ? (int64_t)c->expiry_ms : 0;
}

uint64_t jc_expiry_l1_deadline(int64_t ttl_ms, uint64_t now_ms)
{
    if (ttl_ms < 0) {
        return 0;
    }
    return now_ms + (uint64_t)ttl_ms;
}

bool jc_expiry_l1_needs_touch(const struct jc_cache_config *c, uint64_t touched_ms, uint64_t now_ms)
{
    if (c->expiry_type != JC_EXPIRY_SLIDING) {
        return false;
    }
    uint64_t step = c->expiry_ms / 10;
    return now_ms >= touched_ms + step;
}
