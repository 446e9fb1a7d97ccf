#ifndef GH_SHM_SIPHASH_H
#define GH_SHM_SIPHASH_H

/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash, so that
 * clients cannot choose keys that pile into one bucket or set of the
 * shared tables (shm/ctable, shm/cache).  Pure; never blocks.
 */

#include <stddef.h>
#include <stdint.h>

uint64_t gh_siphash24(uint64_t k0, uint64_t k1, const void *data, size_t len);

#endif
