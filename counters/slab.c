/*
 * slab - the embedded store's entries, carved from huge pages (see slab.h)
 *
 * The free lists are LIFO: the block released last is handed out first,
 * while it is still in cache. Under AddressSanitizer a released block is
 * poisoned (but for the link to the next one), so that a use after release
 * is reported as it is for malloc's blocks.
 */
#include "slab.h"

#include <string.h>

#include "alloc.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#endif
#endif
#ifndef POISON
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

_Static_assert(SLAB_MAX % 8 == 0 && SLAB_MAX <= SLAB_CHUNK, "classes of 8 bytes, each fitting a chunk");

/* class_of - the free list of a size: its size rounded up to 8, over 8 */
static inline size_t class_of(size_t size)
{
    return (size + 7) / 8;
}

/* slab_init - an empty slab */
void slab_init(slab *s)
{
    memset(s, 0, sizeof *s);
}

/* slab_fini - free every chunk */
void slab_fini(slab *s)
{
    for (size_t i = 0; i < s->nchunks; i++) {
        UNPOISON(s->chunks[i], SLAB_CHUNK);
        fg_free_huge(s->chunks[i], 1, SLAB_CHUNK);
    }
    fg_free(s->chunks);
    slab_init(s);
}

/* slab_alloc - size bytes, 8-aligned */
void *slab_alloc(slab *s, size_t size)
{
    if (size > SLAB_MAX)
        return fg_malloc(size);
    size_t c = class_of(size ? size : 1), bytes = c * 8;
    void *p = s->free[c];
    if (p) {
        UNPOISON(p, bytes);
        memcpy(&s->free[c], p, sizeof(void *));
        return p;
    }
    if ((size_t)(s->end - s->next) < bytes) {
        if (s->nchunks == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 16;
            s->chunks = fg_realloc(s->chunks, s->cap * sizeof *s->chunks);
        }
        s->next = s->chunks[s->nchunks++] = fg_calloc_huge(1, SLAB_CHUNK);
        s->end = s->next + SLAB_CHUNK;
    }
    p = s->next;
    s->next += bytes;
    return p;
}

/* slab_release - give back a block of size bytes */
void slab_release(slab *s, void *p, size_t size)
{
    if (!p)
        return;
    if (size > SLAB_MAX) {
        fg_free(p);
        return;
    }
    size_t c = class_of(size ? size : 1);
    memcpy(p, &s->free[c], sizeof(void *));
    s->free[c] = p;
    POISON((unsigned char *)p + sizeof(void *), c * 8 - sizeof(void *));
}

/* slab_held - bytes of chunks held */
size_t slab_held(const slab *s)
{
    return s->nchunks * SLAB_CHUNK;
}
