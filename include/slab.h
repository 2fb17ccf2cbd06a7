/*
 * slab - the embedded store's entries, carved from huge pages
 *
 * Each key of the embedded store is one small allocation (a header, the
 * key, the value: about 150 bytes in the benchmark), and a busy server
 * makes them at its request rate. From malloc, every 4 KiB of them costs
 * a page fault when the heap grows, which under a hypervisor is a trap
 * that costs more than the request's own work (tens of microseconds seen
 * here). A slab hands them out of 2 MiB chunks that ask for transparent
 * huge pages (fg_calloc_huge): one fault per chunk, and fewer TLB misses
 * for the store's lookups, which read entries at random.
 *
 * Sizes up to SLAB_MAX are rounded up to 8 bytes, each size class with its
 * own free list (a freed block holds the next one's address); a chunk is
 * cut from its start, a block at a time. Bigger sizes go to fg_malloc. The
 * caller gives the size back on release (the store knows it from the
 * entry's header), so a block needs no header: 8 bytes less than malloc's.
 *
 * BUGS: memory in a class's free list is never given to another class nor
 * to the system; a store whose entries all shrink or grow past their
 * sizes at once holds the old ones until keys of those sizes come back.
 * Chunks are freed only with the slab. What a chunk's end cannot fit is
 * left unused (less than SLAB_MAX bytes per chunk).
 */
#ifndef FG_SLAB_H
#define FG_SLAB_H

#include <stddef.h>
#include <stdint.h>

#define SLAB_MAX 1024                 /* larger blocks come from fg_malloc */
#define SLAB_CHUNK ((size_t)2 << 20)  /* one transparent huge page */

typedef struct slab {
    void *free[SLAB_MAX / 8 + 1];  /* per class (size / 8): the last block released */
    unsigned char *next, *end;     /* the rest of the current chunk */
    void **chunks;                 /* every chunk, to free them with the slab */
    size_t nchunks, cap;           /* chunks held, room in chunks */
} slab;

/* slab_init - an empty slab */
void slab_init(slab *s);
/* slab_fini - free every chunk (blocks of more than SLAB_MAX bytes are the caller's to release) */
void slab_fini(slab *s);
/* slab_alloc - size bytes, 8-aligned, not zeroed */
void *slab_alloc(slab *s, size_t size);
/* slab_release - give back a block slab_alloc(size) gave; NULL is fine */
void slab_release(slab *s, void *p, size_t size);
/* slab_held - bytes of chunks held (tests) */
size_t slab_held(const slab *s);

#endif
