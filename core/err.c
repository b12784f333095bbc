/* core/err.c: names and descriptions of enum jc_err.  The switches have no
 * default so that -Wall reports a value added to the enum and not named here. */
#include "core/err.h"

const char *jc_strerror(enum jc_err err)
{
    switch (err) {
    case JC_OK:
        return "no error";
    case JC_ERR_INVALID:
        return "invalid input";
    case JC_ERR_NOT_FOUND:
        return "not found";
    case JC_ERR_TOO_LARGE:
        return "the upstream response is larger than upstream.max_body_bytes";
    case JC_ERR_WAIT_TIMEOUT:
        return "timed out waiting for the value; the fetch goes on and its value will be stored";
    case JC_ERR_UPSTREAM:
        return "the upstream could not be reached";
    case JC_ERR_UPSTREAM_TIMEOUT:
        return "the upstream did not answer within upstream.timeout_ms";
    case JC_ERR_NOT_CACHED:
        return "the key is not cached and only-if-cached was requested";
    case JC_ERR_STORE:
        return "the store is unavailable";
    case JC_ERR_BROKER:
        return "the broker is unavailable";
    case JC_ERR_FENCED:
        return "the lock was lost to another fetch";
    case JC_ERR_SHUTDOWN:
        return "the server is shutting down";
    }
    return "unknown error";
}

const char *jc_err_name(enum jc_err err)
{
    switch (err) {
    case JC_OK:
        return "ok";
    case JC_ERR_INVALID:
        return "bad_request";
    case JC_ERR_NOT_FOUND:
        return "not_found";
    case JC_ERR_TOO_LARGE:
        return "upstream_too_large";
    case JC_ERR_WAIT_TIMEOUT:
        return "wait_timeout";
    case JC_ERR_UPSTREAM:
        return "upstream_unreachable";
    case JC_ERR_UPSTREAM_TIMEOUT:
        return "upstream_timeout";
    case JC_ERR_NOT_CACHED:
        return "not_cached";
    case JC_ERR_STORE:
        return "store_unavailable";
    case JC_ERR_BROKER:
        return "broker_unavailable";
    case JC_ERR_FENCED:
        return "fenced";
    case JC_ERR_SHUTDOWN:
        return "shutting_down";
    }
    return "unknown";
}
