/*
 * file - replace a file atomically
 *
 * The new content goes to a temp file beside the old one (same folder, so
 * same file system), is fsync'ed, takes the old file's mode, and is renamed
 * over it: a reader or a crash sees the old file or the new one, never half
 * of either. Used for lookup lists edited at run time and for snapshots.
 */
#ifndef FG_FILE_H
#define FG_FILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* file_write_fn - write the content; non-zero on failure */
typedef int (*file_write_fn)(FILE *f, void *arg);

/* file_replace - write path atomically; mode is used when the file is new; 0 ok, -1 with a message */
int file_replace(const char *path, mode_t mode, file_write_fn write, void *arg, char *err, size_t errlen);
/* file_replace_id - file_replace, and the st_dev/st_ino of the file renamed into place (when dev and ino are
 * not NULL): what tells later that the file at path is still the one we wrote */
int file_replace_id(const char *path, mode_t mode, file_write_fn write, void *arg, dev_t *dev, ino_t *ino,
                    char *err, size_t errlen);

#endif
