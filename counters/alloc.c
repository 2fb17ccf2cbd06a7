/*
 * alloc - counted memory allocation
 *
 * Thin wrappers over malloc(3) that keep two counters: bytes in use (by
 * malloc_usable_size, so that free needs no header) and allocation calls.
 * The daemon is single-threaded, so the counters are plain integers.
 * Allocation failure aborts with a message: see alloc.h for why.
 */
#include "alloc.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20) /* x86-64's transparent huge page; fg_calloc_huge's unit */

static size_t used_bytes;   /* sum of usable sizes of live blocks */
static uint64_t alloc_calls; /* malloc/calloc/realloc calls that allocated */

/* oom - report and abort; nothing sensible can follow */
static void oom(size_t size)
{
    fprintf(stderr, "floodgate: out of memory allocating %zu bytes\n", size);
    abort();
}

/* fg_malloc - malloc that counts and never returns NULL */
void *fg_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(size);
    used_bytes += malloc_usable_size(p);
    alloc_calls++;
    return p;
}

/* fg_calloc - zeroed fg_malloc */
void *fg_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    used_bytes += malloc_usable_size(p);
    alloc_calls++;
    return p;
}

/* fg_realloc - realloc that keeps the byte count right */
void *fg_realloc(void *ptr, size_t size)
{
    size_t old = ptr ? malloc_usable_size(ptr) : 0;
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        oom(size);
    used_bytes = used_bytes - old + malloc_usable_size(p);
    alloc_calls++;
    return p;
}

/* fg_strdup - counted strdup */
char *fg_strdup(const char *s)
{
    return fg_strndup(s, strlen(s));
}

/* fg_strndup - counted copy of at most n bytes, NUL-terminated */
char *fg_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = fg_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* fg_free - counted free; NULL is fine */
void fg_free(void *ptr)
{
    if (!ptr)
        return;
    used_bytes -= malloc_usable_size(ptr);
    free(ptr);
}

/* huge_len - the bytes of n elements of size, rounded up to HUGE_PAGE; 0 when below one (or overflowing) */
static size_t huge_len(size_t n, size_t size)
{
    size_t bytes;

    if (__builtin_mul_overflow(n, size, &bytes) || bytes < HUGE_PAGE || bytes > SIZE_MAX - HUGE_PAGE)
        return 0;
    return (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

/* fg_calloc_huge - a zeroed array that is read at random (the store's hash table): from HUGE_PAGE up it is its
 * own mapping, aligned to HUGE_PAGE, and asks for transparent huge pages (madvise: the kernel's default mode
 * serves only those who ask), so that a lookup's slot costs one TLB entry per 2 MiB of table instead of one
 * per 4 KiB, and the table faults in 2 MiB at a time instead of a page per 256 slots (each fault a trap into
 * the kernel: under a hypervisor, a costly one). Smaller arrays come from calloc. Free with fg_free_huge and
 * the same n and size. A forked snapshot writer shares it as any memory: since Linux 5.8 a write to a shared
 * huge page copies 4 KiB of it, not 2 MiB. */
void *fg_calloc_huge(size_t n, size_t size)
{
    size_t len = huge_len(n, size);

    if (!len)
        return fg_calloc(n, size);
    /* one huge page more than needed, then the unaligned head and the tail cut off */
    unsigned char *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        oom(len);
    size_t head = (HUGE_PAGE - ((uintptr_t)p & (HUGE_PAGE - 1))) & (HUGE_PAGE - 1);
    if (head)
        munmap(p, head);
    munmap(p + head + len, HUGE_PAGE - head);
    p += head;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE); /* a kernel without THP says EINVAL: small pages then, as before */
#endif
    used_bytes += len;
    alloc_calls++;
    return p;
}

/* fg_free_huge - free what fg_calloc_huge(n, size) gave; NULL is fine */
void fg_free_huge(void *ptr, size_t n, size_t size)
{
    size_t len = huge_len(n, size);

    if (!ptr)
        return;
    if (!len) {
        fg_free(ptr);
        return;
    }
    munmap(ptr, len);
    used_bytes -= len;
}

/* fg_alloc_used - bytes held now */
size_t fg_alloc_used(void)
{
    return used_bytes;
}

/* fg_alloc_calls - allocation calls since start */
uint64_t fg_alloc_calls(void)
{
    return alloc_calls;
}
