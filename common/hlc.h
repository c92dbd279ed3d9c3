/* hlc.h -- hybrid logical clock.
 *
 * A timestamp is 64 bits: the upper 48 are wall-clock milliseconds since the
 * Unix epoch, the lower 16 a logical counter. Timestamps issued by one clock
 * strictly increase, even when the wall clock steps back. Remote timestamps
 * are merged on receipt; one more than `max_ahead_ms` ahead of local wall time
 * is clamped to that bound (and the caller told, so it can log), so a peer with
 * a broken clock cannot drag ours forward. Balances never depend on clocks;
 * only last-writer-wins fields and tier windows do. */
#ifndef LY_HLC_H
#define LY_HLC_H

#include <stdint.h>

typedef struct ly_hlc {
    uint64_t hl_last;         /* last timestamp issued or merged */
    uint64_t hl_max_ahead_ms; /* bound on how far a remote clock may lead */
} ly_hlc;

#define LY_HLC_MS(ts)  ((ts) >> 16)
#define LY_HLC_DAY(ts) ((int32_t)(LY_HLC_MS(ts) / 86400000ULL))

/* Start a clock that issues timestamps above `floor` (e.g. the last one persisted). */
void ly_hlc_init(ly_hlc *c, uint64_t floor, uint64_t max_ahead_ms);

/* Wall-clock milliseconds since the epoch. */
uint64_t ly_wall_ms(void);

/* A new timestamp, greater than every one issued or merged before. */
uint64_t ly_hlc_now(ly_hlc *c);

/* Merge a timestamp received from elsewhere. Returns 1 if it was clamped, else 0. */
int ly_hlc_merge(ly_hlc *c, uint64_t remote);

/* Same as ly_hlc_now/ly_hlc_merge with an explicit wall time (for tests). */
uint64_t ly_hlc_now_at(ly_hlc *c, uint64_t wall_ms);
int ly_hlc_merge_at(ly_hlc *c, uint64_t remote, uint64_t wall_ms);

#endif
