/* core/key.h: user keys: decoding, validation, and their place in URLs.
 *
 * A key is one path segment of /caches/<name>/<key>, percent-decoded: 1 to
 * 1024 bytes, no control bytes (0x00-0x1f, 0x7f), not "." or "..".  In the
 * upstream URL it is percent-encoded again, every byte outside RFC 3986's
 * unreserved set included ('/' too), so no key can reach another path or
 * host.  Pure functions; thread-safe. */
#ifndef JC_CORE_KEY_H
#define JC_CORE_KEY_H

#include <stddef.h>

#include "core/err.h"

#define JC_KEY_MAX 1024

/* Percent-decodes in[0..in_len).  On JC_OK *out is new (NUL-terminated past
 * *out_len).  JC_ERR_INVALID on a malformed escape ("%4", "%zz"). */
enum jc_err jc_key_decode(const char *in, size_t in_len, char **out, size_t *out_len) JC_MUST_CHECK;

/* Returns JC_OK when key[0..len) is a valid key, else JC_ERR_INVALID and a
 * static reason in *why. */
enum jc_err jc_key_validate(const char *key, size_t len, const char **why) JC_MUST_CHECK;

/* Returns new: key[0..len) with every byte outside [A-Za-z0-9-._~] as %XX. */
char *jc_key_encode(const char *key, size_t len);

/* Returns new: url_template with each "{key}" replaced by jc_key_encode(key). */
char *jc_key_upstream_url(const char *url_template, const char *key, size_t len);

#endif
