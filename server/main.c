/* server/main.c: the jcached command line.
 *
 *   jcached --config FILE        run (or JCACHED_CONFIG=FILE jcached)
 *   jcached --check-config FILE  validate the file and exit
 *   jcached --version | --help
 * Exit status: 0 on a clean stop, 1 when start-up fails, 2 for a bad command
 * line or configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "server/app.h"
#include "server/version.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: jcached [--config FILE]\n"
                 "       jcached --check-config FILE\n"
                 "       jcached --version | --help\n"
                 "\n"
                 "An HTTP caching gateway: GET /caches/<name>/<key> fetches the cache's upstream\n"
                 "once across all replicas and serves every concurrent requester the result.\n"
                 "\n"
                 "  --config FILE        the JSON configuration (default: $JCACHED_CONFIG)\n"
                 "  --check-config FILE  validate FILE and exit (0 valid, 2 invalid)\n"
                 "  --version            print the version and exit\n"
                 "  --help               print this help and exit\n");
}

static int load(const char *path, struct jc_config **cfg)
{
    char err[512];
    if (jc_config_load(path, cfg, err, sizeof(err)) != JC_OK) {
        fprintf(stderr, "jcached: config: %s\n", err);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = getenv("JCACHED_CONFIG");
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s\n", jc_version_string());
            return 0;
        }
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "--check-config") == 0) &&
            i + 1 < argc) {
            check = check || strcmp(argv[i], "--check-config") == 0;
            path = argv[++i];
            continue;
        }
        fprintf(stderr, "jcached: unknown or incomplete argument: %s\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "jcached: no configuration: use --config FILE or set JCACHED_CONFIG\n");
        usage(stderr);
        return 2;
    }
    struct jc_config *cfg;
    int rc = load(path, &cfg);
    if (rc != 0) {
        return rc;
    }
    if (check) {
        printf("jcached: %s: configuration is valid\n", path);
        jc_config_free(cfg);
        return 0;
    }
    jc_log_set_level(cfg->log_level);
    rc = jc_app_run(cfg);
    jc_config_free(cfg);
    return rc;
}
