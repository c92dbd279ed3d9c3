#include "common/hlc.h"

#include <time.h>

void ly_hlc_init(ly_hlc *c, uint64_t floor, uint64_t max_ahead_ms)
{
    c->hl_last = floor;
    c->hl_max_ahead_ms = max_ahead_ms;
}

uint64_t ly_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ULL + (uint64_t)ts.tv_nsec / 1000000ULL;
}

uint64_t ly_hlc_now_at(ly_hlc *c, uint64_t wall_ms)
{
    uint64_t phys = wall_ms << 16;
    if (phys > c->hl_last)
        c->hl_last = phys;
    else
        c->hl_last++; /* same or earlier millisecond: bump the logical part */
    return c->hl_last;
}

uint64_t ly_hlc_now(ly_hlc *c)
{
    return ly_hlc_now_at(c, ly_wall_ms());
}

int ly_hlc_merge_at(ly_hlc *c, uint64_t remote, uint64_t wall_ms)
{
    int clamped = 0;
    uint64_t bound = (wall_ms + c->hl_max_ahead_ms) << 16;
    if (remote > bound) {
        remote = bound;
        clamped = 1;
    }
    if (remote > c->hl_last)
        c->hl_last = remote;
    return clamped;
}

int ly_hlc_merge(ly_hlc *c, uint64_t remote)
{
    return ly_hlc_merge_at(c, remote, ly_wall_ms());
}
