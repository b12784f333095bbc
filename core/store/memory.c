/* core/store/memory.c: placeholder until the memory store backend lands; opening it fails. */
#include "core/store/store_impl.h"

#define placeholder_open NULL

const struct jc_store_ops jc_store_memory_ops = {
    .name = "memory",
    .open = placeholder_open,
};
