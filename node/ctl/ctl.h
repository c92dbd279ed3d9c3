/* ctl.h -- what the files of loyalctl share; the header is the manual.
 *
 * loyalctl is a command table over one file per command or family, the way
 * git keeps builtin/:
 *   main.c          the global option parser, --help/--version, dispatch
 *   args.c          usage errors and argument checks
 *   call.c          node I/O: ask, call, failures, node names, endpoints
 *   fmt.c           human formatting several commands share, JSON errors
 *   json.c          the streaming JSON writer (json.h)
 * Primary output goes to stdout (human text, or exactly one JSON document
 * with --json); errors go to stderr as "loyalctl: MESSAGE". Every command
 * exits with one of the CTL_EXIT_ statuses. */
#ifndef LY_CTL_H
#define LY_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "node/ctl/json.h"
#include "proto/client.h"

/* ---- human formatting (fmt.c) ---- */

/* `v` with thousands separators ("-1,240"; "+12" if `plus` and v > 0).
 * ctl_num: without the plus; ctl_unum: unsigned, capped at INT64_MAX. The
 * result is in one of a few rotating static buffers: valid until the 8th call
 * of these three after this one. */
const char *ctl_num_sign(int64_t v, int plus);
const char *ctl_num(int64_t v);
const char *ctl_unum(uint64_t v);

/* "point" for 1 and -1, else "points". */
const char *ctl_points_word(int64_t v);

/* These write into `buf` (`cap` bytes) and return it.
 * ctl_iso: an HLC timestamp as "2026-11-23T10:00:00.123Z" (24 bytes); "-" for 0.
 * ctl_duration: "2d 3h 4m", "3h 4m 5s", "4m 5s" or "5.123s".
 * ctl_bytes: "512 B", "42.1 KiB", ... up to TiB.
 * ctl_hex64: 16 lowercase hex digits (cap >= 17). */
const char *ctl_iso(uint64_t hlc, char *buf, size_t cap);
const char *ctl_duration(uint64_t ms, char *buf, size_t cap);
const char *ctl_bytes(uint64_t n, char *buf, size_t cap);
const char *ctl_hex64(uint64_t v, char *buf, size_t cap);

/* Aligned tables: columns as wide as their widest cell (in code points), two
 * spaces apart, text left-aligned and numbers right-aligned. */
#define CTL_COLS_MAX 16
#define CTL_CELL_MAX 512

typedef struct ctl_col {
    const char *head;
    int right; /* 1: right-aligned (numbers) */
} ctl_col;

typedef char ctl_cells[CTL_COLS_MAX][CTL_CELL_MAX];

/* Fills the cells of row `i` (text, truncated to CTL_CELL_MAX - 1 bytes). */
typedef void (*ctl_row_fn)(const void *ctx, size_t i, ctl_cells cells);

/* Print the headings of `cols` and `nrows` rows to `out`. `row` is called
 * twice per row (measure, print) with `ctx`. */
void ctl_table(FILE *out, const ctl_col *cols, int ncols, size_t nrows, const void *ctx,
               ctl_row_fn row);

/* The profile fields: their bit in rq_fields/rp_fields/ev_fields, their name
 * (as in options and JSON) and their offset in ly_profile. */
typedef struct ctl_pf_field {
    uint32_t bit;
    const char *name;
    size_t off;
} ctl_pf_field;
extern const ctl_pf_field ctl_pf[LY_PF_COUNT];

/* Profile field i of `pf` (borrowed from it); a field set and later cleared is "". */
const char *ctl_pf_value(const ly_profile *pf, int i);

/* {"error":{"code","message"[,"available"]}} on stdout, for --json. */
void ctl_json_error(const char *code, const char *message, int with_available, int64_t available);

/* A customer's standing from a reply: the JSON members customer, balance,
 * lifetime_points, debt, tier, qualifying, next_tier, to_next_tier into the
 * open object; or the line "balance B  lifetime L  debt D  tier T (...)". */
void ctl_json_standing(ly_json *j, const ly_rep *rp);
void ctl_print_standing(const ly_rep *rp);

/* Status replies. ctl_npeers: the peer rows it holds (0 if none were decoded).
 * ctl_vv_first: 1 if ns_vv[i] is the first entry of its origin; ctl_vv_newest:
 * the index of the entry of ns_vv[i]'s origin with the highest incarnation.
 * ctl_json_vv: the "vv" object (origin -> seq of its newest incarnation) as
 * the next value. */
uint32_t ctl_npeers(const ly_node_status *ns);
int ctl_vv_first(const ly_node_status *ns, uint32_t i);
uint32_t ctl_vv_newest(const ly_node_status *ns, uint32_t i);
void ctl_json_vv(ly_json *j, const ly_node_status *ns);

#endif
