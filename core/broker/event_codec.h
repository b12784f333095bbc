/* core/broker/event_codec.h: the wire form of broker events, shared by the
 * NATS and Redis pub/sub backends.
 *
 * A message payload carries every field of a struct jc_event, binary-safely,
 * so that a receiver never needs the subject or channel to recover the key:
 *
 *   offset  size  field
 *   0       1     version (JC_EVENT_CODEC_VERSION)
 *   1       1     kind (JC_EVENT_DONE or JC_EVENT_INVALIDATE)
 *   2       1     flags (bit 0: ok)
 *   3       8     token, big-endian
 *   11      4     cache length C, big-endian, then C bytes (no NUL)
 *   ...     4     key length K, big-endian, then K bytes (any byte)
 *   ...     4     origin length O, big-endian, then O bytes (no NUL)
 *
 * and nothing after.  Receivers reject any other version, so the format can
 * change later by bumping it.
 *
 * Names are also needed in NATS subjects, where '.', '*', '>', spaces and
 * control bytes have a meaning or are not allowed and empty tokens are
 * invalid; jc_event_codec_subject_token makes one safe token out of any bytes.
 * Pure functions; thread-safe. */
#ifndef JC_CORE_BROKER_EVENT_CODEC_H
#define JC_CORE_BROKER_EVENT_CODEC_H

#include <stddef.h>

#include "core/broker/broker.h"
#include "core/err.h"

struct jc_buf;

#define JC_EVENT_CODEC_VERSION   1
/* The largest cache name, key or origin that encodes (far above the limits
 * of config and core/key.h). */
#define JC_EVENT_CODEC_FIELD_MAX (1u << 20)

/* Appends the encoding of ev to out.  JC_ERR_INVALID (and nothing appended)
 * for an unknown kind, a field over JC_EVENT_CODEC_FIELD_MAX or a cache or
 * origin with a NUL byte.  ev->cache, ev->origin may be NULL (encoded as
 * empty); ev->key may be NULL when key_len is 0.  Borrows ev and out. */
enum jc_err jc_event_codec_encode(const struct jc_event *ev, struct jc_buf *out) JC_MUST_CHECK;

/* Decodes data[0..len).  On JC_OK *out is new: one allocation holding the
 * event and its strings (cache and origin NUL-terminated, key
 * NUL-terminated past key_len); release it with jc_event_codec_free.
 * JC_ERR_INVALID for anything malformed (wrong version or kind, truncated,
 * trailing bytes, NUL in cache or origin).  Borrows data. */
enum jc_err jc_event_codec_decode(const void *data, size_t len,
                                  struct jc_event **out) JC_MUST_CHECK;

/* Frees an event returned by jc_event_codec_decode (NULL is fine). */
void jc_event_codec_free(struct jc_event *ev);

/* Appends to out one NATS subject token naming bytes[0..len): the bytes
 * themselves when they are 1 to 64 of [A-Za-z0-9_-] (cache names), else "~"
 * followed by their base64url encoding without padding ("~" alone for
 * empty input).  The result is never empty and holds no '.', '*', '>' or
 * whitespace.  Borrows bytes and out. */
void jc_event_codec_subject_token(const char *bytes, size_t len, struct jc_buf *out);

#endif
