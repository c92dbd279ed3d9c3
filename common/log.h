/* log.h -- one line per event on stderr, in key=value form.
 *
 *   LY_LOG(LY_INFO, "store.open", "dir=%s events=%llu", dir, n);
 * prints
 *   2026-11-23T10:00:00.123Z info store.open dir=./data events=42
 * The level is checked before the message is formatted. The daemon writes
 * nothing to stdout; journald picks stderr up. */
#ifndef LY_LOG_H
#define LY_LOG_H

typedef enum ly_level { LY_DEBUG = 0, LY_INFO, LY_WARN, LY_ERROR } ly_level;

extern ly_level ly_log_level;

/* Set the least level that is printed. */
void ly_log_set_level(ly_level level);

/* Parse "debug", "info", "warn" or "error"; returns 0 on success, -1 otherwise. */
int ly_log_parse_level(const char *s, ly_level *out);

/* Prefix every line with `tag` (e.g. the node name); `tag` is copied. */
void ly_log_set_tag(const char *tag);

void ly_log_write(ly_level level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LY_LOG(level, id, ...)                                                                     \
    do {                                                                                           \
        if ((level) >= ly_log_level)                                                               \
            ly_log_write((level), (id), __VA_ARGS__);                                              \
    } while (0)

#endif
