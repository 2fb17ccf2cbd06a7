/*
 * alloc - counted memory allocation
 *
 * Every allocation in floodgate goes through these wrappers so that the
 * daemon can report how much memory it holds (`floodgatectl stats`) and so
 * that per-request allocation can be counted. Out of memory is fatal: a
 * policy daemon that cannot allocate cannot answer truthfully, and systemd
 * restarts it; the snapshot keeps bans across that.
 */
#ifndef FG_ALLOC_H
#define FG_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *fg_malloc(size_t size);
void *fg_calloc(size_t n, size_t size);
void *fg_realloc(void *ptr, size_t size);
char *fg_strdup(const char *s);
char *fg_strndup(const char *s, size_t n);
void fg_free(void *ptr);
void *fg_calloc_huge(size_t n, size_t size);
void fg_free_huge(void *ptr, size_t n, size_t size);

size_t fg_alloc_used(void);      /* bytes held now (usable sizes) */
uint64_t fg_alloc_calls(void);   /* allocations made since start */

#endif
