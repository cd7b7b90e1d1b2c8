/* Non-cryptographic hashing. FNV-1a, 64 bits: for in-memory tables and for telling a changed
 * value from a repeat. Not for keys someone could choose to collide where that would matter. */
#ifndef CH_HASH_H
#define CH_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CH_FNV1A_INIT 0xcbf29ce484222325ULL

static inline uint64_t ch_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p; /* (C++ too: util/phone.cc) */
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* splitmix64: the next of a fast, well-mixed sequence (*state advances). For ids that must be
 * unique and sortable, not secret (ids, jitter), seeded from the OS. */
static inline uint64_t ch_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
