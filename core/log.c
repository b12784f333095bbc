/* core/log.c: see log.h.  The level is the one piece of process-wide state in
 * core: it is written once by main before threads start and only read after. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum jc_log_level log_level = JC_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void jc_log_set_level(enum jc_log_level level)
{
    log_level = level;
}

int jc_log_enabled(enum jc_log_level level)
{
    return level >= log_level;
}

int jc_log_parse_level(const char *name, enum jc_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum jc_log_level)i;
            return 0;
        }
    }
    return -1;
}

void jc_log(enum jc_log_level level, const char *fmt, ...)
{
    if (level < log_level) {
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            level_names[level], msg);
}
