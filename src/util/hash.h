/* FNV-1a, 64 bits: for in-memory tables and for telling a changed value from a repeat. Not for
 * keys someone could choose to collide where that would matter. */
#ifndef CH_HASH_H
#define CH_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CH_FNV1A_INIT 0xcbf29ce484222325ULL

static inline uint64_t ch_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

#endif
