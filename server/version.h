/* server/version.h: the version of this build.  Thread-safe. */
#ifndef JC_SERVER_VERSION_H
#define JC_SERVER_VERSION_H

/* Returns a static "jcached X.Y.Z". */
const char *jc_version_string(void);

#endif
