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
