/* wal.h -- the store's write-ahead log: the commit point of every write.
 *
 * An acknowledged batch costs one sequential append and one fdatasync here;
 * the store writes the B-tree pages later, at a checkpoint (see store.h). The
 * log is a single preallocated file that is rewritten from offset 0 after each
 * checkpoint, so an append overwrites blocks that already exist and the sync
 * flushes data only, never the file's size.
 *
 * Record: magic "LYW1" (4) | payload length (4) | epoch (8) | count (4) |
 *         zero (4) | payload | SipHash-2-4 of everything before it (8),
 * integers little-endian. The epoch is the store's checkpoint number: records
 * of older epochs left further in the file are never read, and a torn or
 * corrupt record ends the log (a record is synced before the next is written,
 * so nothing valid can follow a bad one).
 *
 * The file is locked (flock) for as long as it is open: a second loyald on the
 * same data directory is refused instead of corrupting the store. Not
 * thread-safe. */
#ifndef LY_WAL_H
#define LY_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LY_WAL_HEADER  24
#define LY_WAL_TRAILER 8
#define LY_WAL_REC_MAX (256u << 20) /* largest payload a record may carry */

typedef struct ly_wal ly_wal;

/* Open or create the log at `path`, lock it and preallocate `prealloc` bytes
 * (best effort: a disk without room for it still opens). Errors: LY_ECONFIG
 * (locked by another process), LY_EIO, LY_ENOSPC, LY_ENOMEM; `why` names the
 * cause. */
ly_err ly_wal_open(const char *path, uint64_t prealloc, ly_wal **out, char *why, size_t why_len);

/* Close and unlock; accepts NULL and *wp == NULL; clears *wp. */
void ly_wal_close(ly_wal **wp);

/* Called with each valid record of the epoch, in order; nonzero stops the scan
 * and ly_wal_scan returns that value as an ly_err. */
typedef int (*ly_wal_fn)(void *arg, const uint8_t *payload, size_t len, uint32_t count);

/* Read the records of `epoch` from the start of the file, stopping at the first
 * one that is missing, torn, corrupt or of another epoch; the next append goes
 * there. *records (may be NULL) receives how many were read. */
ly_err ly_wal_scan(ly_wal *w, uint64_t epoch, ly_wal_fn fn, void *arg, uint64_t *records);

/* Append one record of `epoch` and sync it. `rec` holds LY_WAL_HEADER bytes of
 * room, then the `len`-byte payload, then LY_WAL_TRAILER bytes of room: the
 * header and the checksum are written in place, so the record goes out in one
 * write. Errors: LY_ENOSPC (disk full, file size limit), LY_EIO; after an error
 * nothing counts as written and the next append goes to the same place. */
ly_err ly_wal_append(ly_wal *w, uint64_t epoch, uint8_t *rec, size_t len, uint32_t count);

/* Start over at offset 0 (after a checkpoint made every record obsolete).
 * Shrinks a file that grew past `keep` bytes back to `keep`. */
void ly_wal_rewind(ly_wal *w, uint64_t keep);

/* Bytes appended since the last rewind (or the scan's end). */
uint64_t ly_wal_offset(const ly_wal *w);

#endif
