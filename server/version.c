/* server/version.c: the version string printed by --version. */
#include "server/version.h"

const char *jc_version_string(void)
{
    return "jcached " JC_VERSION;
}
