/*
 * file - replace a file atomically (see file.h)
 */
#include "file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

/* file_replace - temp file, fsync, rename */
int file_replace(const char *path, mode_t mode, file_write_fn write, void *arg, char *err, size_t errlen)
{
    return file_replace_id(path, mode, write, arg, NULL, NULL, err, errlen);
}

/* file_replace_id - file_replace, telling the identity of the file it renamed into place */
int file_replace_id(const char *path, mode_t mode, file_write_fn write, void *arg, dev_t *dev, ino_t *ino,
                    char *err, size_t errlen)
{
    size_t plen = strlen(path) + 16;
    char *tmp = fg_malloc(plen);
    struct stat st;
    FILE *f = NULL;
    int fd;

    snprintf(tmp, plen, "%s.tmpXXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        fg_free(tmp);
        return -1;
    }
    /* mkstemp makes the file 0600; the replacement keeps the mode of what it replaces */
    if (fchmod(fd, stat(path, &st) == 0 ? (st.st_mode & 07777) : mode) != 0 || !(f = fdopen(fd, "w")) ||
        write(f, arg) != 0 || fflush(f) != 0 || fsync(fd) != 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno ? errno : EIO));
        if (f)
            fclose(f);
        else
            close(fd);
        unlink(tmp);
        fg_free(tmp);
        return -1;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        fg_free(tmp);
        return -1;
    }
    fg_free(tmp);
    if (dev)
        *dev = st.st_dev;
    if (ino)
        *ino = st.st_ino;
    return 0;
}
