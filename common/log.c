#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

ly_level ly_log_level = LY_INFO;
static char s_tag[64];

static const char *const s_names[] = {"debug", "info", "warn", "error"};

void ly_log_set_level(ly_level level)
{
    ly_log_level = level;
}

int ly_log_parse_level(const char *s, ly_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, s_names[i]) == 0) {
            *out = (ly_level)i;
            return 0;
        }
    }
    return -1;
}

void ly_log_set_tag(const char *tag)
{
    snprintf(s_tag, sizeof s_tag, "%s", tag ? tag : "");
}

void ly_log_write(ly_level level, const char *id, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s%s%s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, s_tag[0] ? "node=" : "", s_tag, s_tag[0] ? " " : "",
                     s_names[level < 0 || level > LY_ERROR ? LY_ERROR : level]);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    size_t off = (size_t)n;
    off += (size_t)snprintf(line + off, sizeof line - off, "%s ", id);
    if (off < sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + off, sizeof line - off, fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "%s\n", line);
}
