/* core/err.h: the one error enum of jcached and its names.
 *
 * Every fallible function returns enum jc_err; out-parameters are written only
 * on JC_OK.  server/http.c maps each value to an HTTP status and a JSON error
 * code in one table.  Thread-safe (pure functions). */
#ifndef JC_CORE_ERR_H
#define JC_CORE_ERR_H

#define JC_MUST_CHECK __attribute__((warn_unused_result))

enum jc_err {
    JC_OK = 0,
    JC_ERR_INVALID,          /* bad input: key, parameter, config value */
    JC_ERR_NOT_FOUND,        /* no such key / cache / route */
    JC_ERR_TOO_LARGE,        /* a buffer grew past its configured cap */
    JC_ERR_WAIT_TIMEOUT,     /* this client's wait passed; the build goes on */
    JC_ERR_UPSTREAM,         /* connect, DNS, TLS or read error talking to the upstream */
    JC_ERR_UPSTREAM_TIMEOUT, /* the fetch passed upstream.timeout_ms */
    JC_ERR_NOT_CACHED,       /* only-if-cached on an empty key */
    JC_ERR_STORE,            /* the store is unreachable */
    JC_ERR_BROKER,           /* the broker is unreachable */
    JC_ERR_FENCED,           /* a commit whose lock token is no longer current */
    JC_ERR_SHUTDOWN,         /* the process is stopping */
};

/* Returns a static, human-readable description of err. */
const char *jc_strerror(enum jc_err err);

/* Returns the short machine name of err ("wait_timeout"), as used in JSON bodies. */
const char *jc_err_name(enum jc_err err);

#endif
