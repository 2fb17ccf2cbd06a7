/*
 * statestore_file - the journal beside the snapshot, and the owners' part of the snapshot (see statestore_file.h)
 *
 * Threads: the loop calls put, del, forked, written and saved; they frame records into `queue` under
 * `mu` and signal `cv`. The writer thread owns the journal's descriptor and size, takes the queue whole
 * (swapping buffers, so that it never allocates: fg_malloc's counters belong to the loop), writes it,
 * and carries out the markers in order. Only the loop allocates and frees.
 */
#include "statestore_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "file.h"
#include "hash.h"

#define MAGIC "FGBANJ1\n"
#define MAGIC_LEN 8
#define REC_HEAD 12                                   /* body_len (4) hash (8) */
#define BODY_HEAD 14                                  /* op, class, klen, vlen, expires */
#define BODY_MAX (BODY_HEAD + STATESTORE_KEY_MAX + STATESTORE_VALUE_MAX)
#define HASH_SEED 0x62616e6c6f67ULL                   /* "banlog" */

enum marker {
    /* ops 1 (STATE_PUT) and 2 (STATE_DEL) are records; markers are in the queue only, never on disk */
    MARK_ROTATE = 0x81, /* a snapshot child was forked */
    MARK_OK = 0x82,     /* it succeeded */
    MARK_FAILED = 0x83, /* it failed */
    MARK_RESET = 0x84,  /* a foreground snapshot holds everything */
};

typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

typedef struct file_store {
    statestore base;
    char *journal;              /* snapshot + ".banlog" */
    char *prev;                 /* journal + ".prev": written before the running snapshot child's fork */
    snapshot_extra hook;        /* the owners' classes in the snapshot */
    uint64_t load_wall;         /* wall seconds: records expired then are handed as dels */

    pthread_mutex_t mu;         /* guards what follows, up to the writer's own */
    pthread_cond_t cv;          /* work for the writer (CLOCK_MONOTONIC for its timed wait) */
    pthread_cond_t done_cv;     /* the writer finished a batch */
    buf queue;                  /* framed records and markers waiting for the writer */
    buf spare;                  /* the writer's emptied buffer, handed back */
    uint64_t taken, handled;    /* batches taken by the writer, and finished */
    int stop;                   /* the writer is to drain and leave */
    int running;                /* the writer thread exists */
    int queue_full_logged;      /* one message per overflow streak */
    statestore_stats st;

    /* the writer's own (and the loop's before it starts and after it left) */
    pthread_t thread;
    int fd;                     /* the journal, O_APPEND; -1 when it could not be opened */
    uint64_t size;              /* its length: a failed write is cut back to it */
    int dirty;                  /* written since the last fdatasync */
    uint64_t last_sync_ms;      /* CLOCK_MONOTONIC */
    int failing;                /* the last write failed (logged once per streak) */
} file_store;

/* mono_ms - CLOCK_MONOTONIC in ms: the writer paces its fdatasync calls with it (it counts nothing) */
static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* put_le - n little-endian bytes */
static void put_le(unsigned char *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* get_le - n little-endian bytes */
static uint64_t get_le(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* frame_into - a whole record (head, body) at out, which has REC_HEAD + BODY_HEAD + klen + vlen bytes */
static size_t frame_into(unsigned char *out, int op, const state_rec *r)
{
    unsigned char *body = out + REC_HEAD;
    size_t blen = BODY_HEAD + r->klen + r->vlen;

    body[0] = (unsigned char)op;
    body[1] = r->cls;
    put_le(body + 2, r->klen, 2);
    put_le(body + 4, r->vlen, 2);
    put_le(body + 6, r->expires, 8);
    if (r->klen)
        memcpy(body + BODY_HEAD, r->key, r->klen);
    if (r->vlen)
        memcpy(body + BODY_HEAD + r->klen, r->value, r->vlen);
    put_le(out, blen, 4);
    put_le(out + 4, hash64(body, blen, HASH_SEED), 8);
    return REC_HEAD + blen;
}

/* reserve - room for n more bytes in the queue (under mu, on the loop) */
static unsigned char *reserve(buf *q, size_t n)
{
    if (q->len + n > q->cap) {
        size_t cap = q->cap ? q->cap : 4096;
        while (cap < q->len + n)
            cap *= 2;
        q->p = fg_realloc(q->p, cap);
        q->cap = cap;
    }
    return q->p + q->len;
}

static void handle(file_store *f, const unsigned char *p, size_t len);

/* enqueue - a record (op 1, 2) or a marker (op >= 0x80, r NULL) for the writer; done at once on the loop
 * when there is no writer (it did not start, or has left) */
static void enqueue(file_store *f, int op, const state_rec *r)
{
    state_rec none = {0};
    size_t n;

    if (!r)
        r = &none;
    if (r->klen > STATESTORE_KEY_MAX || r->vlen > STATESTORE_VALUE_MAX) {
        pthread_mutex_lock(&f->mu);
        f->st.failures++;
        pthread_mutex_unlock(&f->mu);
        return;
    }
    n = REC_HEAD + BODY_HEAD + r->klen + r->vlen;
    pthread_mutex_lock(&f->mu);
    if (!f->running || f->stop) {
        pthread_mutex_unlock(&f->mu);
        if (op & 0x80) {
            unsigned char rec[REC_HEAD + BODY_HEAD];
            handle(f, rec, frame_into(rec, op, r));
        } else {
            pthread_mutex_lock(&f->mu);
            f->st.failures++;
            pthread_mutex_unlock(&f->mu);
        }
        return;
    }
    if (!(op & 0x80) && f->queue.len + n > STATESTORE_QUEUE_MAX) {
        f->st.failures++;
        if (!f->queue_full_logged)
            f->base.log(3, "state: %s: more than %u bytes of changes wait for the disk; they are kept in memory "
                           "and by the next snapshot only", f->journal, STATESTORE_QUEUE_MAX);
        f->queue_full_logged = 1;
        pthread_mutex_unlock(&f->mu);
        return;
    }
    frame_into(reserve(&f->queue, n), op, r);
    f->queue.len += n;
    if (!(op & 0x80))
        f->st.records++;
    if (f->queue.len < STATESTORE_QUEUE_MAX / 2)
        f->queue_full_logged = 0;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* --- the writer's side --- */

/* write_all - n bytes to fd; 0, or -1 with errno */
static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* journal_open - open the journal for appending (created, or emptied, with its magic) */
static int journal_open(file_store *f, int truncate)
{
    struct stat st;
    int fd = open(f->journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0600);

    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_size == 0 && write_all(fd, (const unsigned char *)MAGIC, MAGIC_LEN) < 0) {
        close(fd);
        return -1;
    }
    f->fd = fd;
    f->size = st.st_size ? (uint64_t)st.st_size : MAGIC_LEN;
    f->dirty = 1;
    return 0;
}

/* writer_failed - a write or a file step failed: said once per streak */
static void writer_failed(file_store *f, const char *what, int err)
{
    if (!f->failing)
        f->base.log(3, "state: %s %s: %s; changes are kept in memory and by the next snapshot only", what,
                    f->journal, strerror(err));
    f->failing = 1;
}

/* write_run - records to the journal; a failed write is cut back, its records counted as failures */
static void write_run(file_store *f, const unsigned char *p, size_t n, unsigned nrec)
{
    if (n == 0)
        return;
    if (f->fd < 0 && journal_open(f, 0) < 0) {
        writer_failed(f, "cannot open", errno);
    } else if (write_all(f->fd, p, n) < 0) {
        int err = errno;
        if (ftruncate(f->fd, (off_t)f->size) < 0) { /* half a record must not stay ahead of later ones */
            close(f->fd);
            f->fd = -1;
        }
        writer_failed(f, "cannot write", err);
    } else {
        f->size += n;
        f->dirty = 1;
        if (f->failing)
            f->base.log(6, "state: %s: writing again", f->journal);
        f->failing = 0;
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->st.failures += nrec;
    pthread_mutex_unlock(&f->mu);
}

/* sync_now - fdatasync the journal */
static void sync_now(file_store *f)
{
    if (f->fd >= 0 && fdatasync(f->fd) == 0) {
        pthread_mutex_lock(&f->mu);
        f->st.syncs++;
        pthread_mutex_unlock(&f->mu);
    }
    f->dirty = 0;
    f->last_sync_ms = mono_ms();
}

/* append_file - the records of the journal at from (after its magic) onto the end of fd; 0 or -1 */
static int append_file(const char *from, int fd)
{
    unsigned char chunk[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (in < 0)
        return errno == ENOENT ? 0 : -1;
    if (lseek(in, MAGIC_LEN, SEEK_SET) < 0) {
        close(in);
        return -1;
    }
    while ((n = read(in, chunk, sizeof chunk)) > 0)
        if (write_all(fd, chunk, (size_t)n) < 0)
            break;
    close(in);
    return n == 0 ? 0 : -1;
}

/* do_rotate - the snapshot child holds everything so far: the journal becomes .prev, a new one starts */
static void do_rotate(file_store *f)
{
    if (f->fd >= 0) {
        if (f->dirty)
            sync_now(f);
        close(f->fd);
        f->fd = -1;
    }
    if (rename(f->journal, f->prev) < 0 && errno != ENOENT)
        writer_failed(f, "cannot rename", errno);
    if (journal_open(f, 1) < 0)
        writer_failed(f, "cannot create", errno);
}

/* do_failed - the snapshot failed: .prev and the journal become one file again, .prev first */
static void do_failed(file_store *f)
{
    int fd = open(f->prev, O_WRONLY | O_APPEND | O_CLOEXEC);

    if (fd < 0)
        return; /* nothing was set apart */
    if (append_file(f->journal, fd) < 0 || fsync(fd) < 0 || rename(f->prev, f->journal) < 0) {
        /* both files stay: the loader replays .prev, then the journal */
        writer_failed(f, "cannot merge the previous journal into", errno);
        close(fd);
        return;
    }
    close(fd);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (journal_open(f, 0) < 0)
        writer_failed(f, "cannot reopen", errno);
}

/* do_reset - a snapshot holds everything: the journal is emptied, .prev removed */
static void do_reset(file_store *f)
{
    unlink(f->prev);
    if (f->fd >= 0 && ftruncate(f->fd, MAGIC_LEN) == 0)
        f->size = MAGIC_LEN;
    else if (f->fd >= 0)
        writer_failed(f, "cannot truncate", errno);
}

/* handle - one batch: runs of records written at once, markers carried out in order */
static void handle(file_store *f, const unsigned char *p, size_t len)
{
    size_t run = 0, off = 0;
    unsigned nrec = 0;

    if (len == 0)
        return; /* a wake-up for the fdatasync alone: the buffer may be NULL */
    while (off < len) { /* whole records: the loop framed them */
        size_t blen = (size_t)get_le(p + off, 4);
        unsigned char op = p[off + REC_HEAD];
        if (op & 0x80) {
            write_run(f, p + run, off - run, nrec);
            nrec = 0;
            if (op == MARK_ROTATE)
                do_rotate(f);
            else if (op == MARK_OK)
                unlink(f->prev);
            else if (op == MARK_FAILED)
                do_failed(f);
            else if (op == MARK_RESET)
                do_reset(f);
            off += REC_HEAD + blen;
            run = off;
            continue;
        }
        nrec++;
        off += REC_HEAD + blen;
    }
    write_run(f, p + run, off - run, nrec);
}

/* writer_main - take the queue, write it, fdatasync at most every STATESTORE_SYNC_MS; leave when told, drained */
static void *writer_main(void *arg)
{
    file_store *f = arg;

    for (;;) {
        buf work;
        int stop, leave;

        pthread_mutex_lock(&f->mu);
        while (!f->queue.len && !f->stop) {
            if (!f->dirty) {
                pthread_cond_wait(&f->cv, &f->mu);
                continue;
            }
            uint64_t due = f->last_sync_ms + STATESTORE_SYNC_MS, now = mono_ms();
            if (now >= due)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (due - now) * 1000000ULL;
            ts.tv_sec += (time_t)(ns / 1000000000ULL);
            ts.tv_nsec = (long)(ns % 1000000000ULL);
            pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        }
        work = f->queue;
        f->queue = f->spare; /* the emptied buffer of the last batch */
        f->spare = (buf){0};
        stop = f->stop;
        f->taken++;
        pthread_mutex_unlock(&f->mu);

        handle(f, work.p, work.len);
        if (f->dirty && (stop || mono_ms() >= f->last_sync_ms + STATESTORE_SYNC_MS))
            sync_now(f);

        pthread_mutex_lock(&f->mu);
        work.len = 0;
        f->spare = work; /* empty: it was moved into the queue when this batch was taken */
        f->handled = f->taken;
        pthread_cond_broadcast(&f->done_cv);
        leave = stop && f->queue.len == 0;
        pthread_mutex_unlock(&f->mu);
        if (leave)
            return NULL;
    }
}

/* --- loading --- */

enum load_result { LOAD_OK, LOAD_MISSING, LOAD_TORN, LOAD_DAMAGED };

/* set_aside - a damaged file becomes FILE.bad */
static void set_aside(file_store *f, const char *path, const char *why, uint64_t at)
{
    size_t n = strlen(path) + 5;
    char *bad = fg_malloc(n);

    snprintf(bad, n, "%s.bad", path);
    if (rename(path, bad) == 0)
        f->base.log(4, "state: %s is damaged (%s at byte %llu): the changes before it are loaded, the file is set "
                       "aside as %s", path, why, (unsigned long long)at, bad);
    else
        f->base.log(3, "state: %s is damaged (%s at byte %llu) and cannot be set aside: %s", path, why,
                    (unsigned long long)at, strerror(errno));
    f->st.set_aside++;
    fg_free(bad);
}

/* apply_body - one journal record to its owner; 0, or -1 when it does not decode */
static int apply_body(file_store *f, const unsigned char *body, size_t blen)
{
    state_rec r;
    int op = body[0];

    if (blen < BODY_HEAD || (op != STATE_PUT && op != STATE_DEL))
        return -1;
    r.cls = body[1];
    r.klen = (size_t)get_le(body + 2, 2);
    r.vlen = (size_t)get_le(body + 4, 2);
    r.expires = get_le(body + 6, 8);
    if (BODY_HEAD + r.klen + r.vlen != blen || r.klen == 0)
        return -1;
    r.key = body + BODY_HEAD;
    r.value = r.vlen ? body + BODY_HEAD + r.klen : NULL;
    if (r.key[0] != r.cls)
        return -1;
    f->st.loaded++;
    return statestore_apply(&f->base, op, &r, f->load_wall) < 0 ? -1 : 0;
}

/* replay - apply a journal file in order, up to its end or its first damage */
static enum load_result replay(file_store *f, const char *path, unsigned char *body)
{
    FILE *in = fopen(path, "re");
    unsigned char head[REC_HEAD], magic[MAGIC_LEN];
    uint64_t at = MAGIC_LEN, size;
    struct stat st;
    const char *why = NULL;
    size_t got;

    if (!in) {
        if (errno == ENOENT)
            return LOAD_MISSING;
        set_aside(f, path, strerror(errno), 0);
        return LOAD_DAMAGED;
    }
    size = fstat(fileno(in), &st) == 0 ? (uint64_t)st.st_size : 0;
    got = fread(magic, 1, MAGIC_LEN, in);
    if (got < MAGIC_LEN || memcmp(magic, MAGIC, MAGIC_LEN)) {
        fclose(in);
        if (got < MAGIC_LEN && !memcmp(magic, MAGIC, got)) {
            if (got)
                f->base.log(4, "state: %s ends inside its header (a write killed halfway); started again", path);
            return got ? LOAD_TORN : LOAD_OK;
        }
        set_aside(f, path, "not a floodgate state journal", 0);
        return LOAD_DAMAGED;
    }
    for (;;) {
        got = fread(head, 1, REC_HEAD, in);
        if (got == 0)
            break;
        uint64_t blen = get_le(head, 4);
        if (got < REC_HEAD || (blen <= BODY_MAX && at + REC_HEAD + blen > size)) {
            f->base.log(4, "state: %s: the last change was cut short (a write killed halfway) and is ignored", path);
            fclose(in);
            return LOAD_TORN;
        }
        if (blen < BODY_HEAD || blen > BODY_MAX)
            why = "impossible record length";
        else if (fread(body, 1, blen, in) != blen)
            why = "read error";
        else if (hash64(body, blen, HASH_SEED) != get_le(head + 4, 8))
            why = "bad checksum";
        else if (apply_body(f, body, blen) < 0)
            why = "a record its owner cannot read";
        if (why)
            break;
        at += REC_HEAD + blen;
    }
    fclose(in);
    if (!why)
        return LOAD_OK;
    set_aside(f, path, why, at);
    return LOAD_DAMAGED;
}

typedef struct dump_out {
    FILE *out;
    unsigned char *rec;  /* REC_HEAD + BODY_MAX bytes */
} dump_out;

/* dump_one - an owner's current record as a put in the rewritten journal */
static int dump_one(void *w, const state_rec *r)
{
    dump_out *d = w;
    size_t n;

    if (r->klen > STATESTORE_KEY_MAX || r->vlen > STATESTORE_VALUE_MAX)
        return -1;
    n = frame_into(d->rec, STATE_PUT, r);
    return fwrite(d->rec, 1, n, d->out) != n;
}

/* write_dump - the whole state as a journal */
static int write_dump(FILE *out, void *arg)
{
    file_store *f = arg;
    dump_out d = {out, fg_malloc(REC_HEAD + BODY_MAX)};
    int rc = -1;

    if (fwrite(MAGIC, 1, MAGIC_LEN, out) == MAGIC_LEN)
        rc = statestore_dump(&f->base, dump_one, &d);
    fg_free(d.rec);
    return rc;
}

/* fs_load - (the snapshot was loaded through the hook) .prev, then the journal; a rewrite after trouble; then
 * the writer starts */
static long fs_load(statestore *st, uint64_t now_wall)
{
    file_store *f = (file_store *)st;
    unsigned char *body = fg_malloc(BODY_MAX);
    char err[512];
    enum load_result p, j;
    uint64_t before = f->st.loaded;

    f->load_wall = now_wall;
    p = replay(f, f->prev, body);
    j = replay(f, f->journal, body);
    fg_free(body);
    if (p != LOAD_MISSING || j == LOAD_TORN || j == LOAD_DAMAGED) {
        /* start again from a clean journal holding the whole state: nothing read is lost, nothing bad stays */
        if (file_replace(f->journal, 0600, write_dump, f, err, sizeof err) < 0)
            f->base.log(3, "state: %s", err);
        else
            unlink(f->prev);
    }
    if (journal_open(f, 0) < 0)
        writer_failed(f, "cannot open", errno);
    f->last_sync_ms = mono_ms();
    if (pthread_create(&f->thread, NULL, writer_main, f) != 0)
        f->base.log(3, "state: cannot start the journal writer; changes are kept by the snapshot only");
    else
        f->running = 1;
    return (long)(f->st.loaded - before);
}

/* fs_put - a record into the writer's queue */
static void fs_put(statestore *st, const state_rec *r)
{
    enqueue((file_store *)st, STATE_PUT, r);
}

/* fs_del - a deletion into the writer's queue */
static void fs_del(statestore *st, uint8_t cls, const unsigned char *key, size_t klen)
{
    state_rec r = {cls, key, klen, NULL, 0, 0};
    enqueue((file_store *)st, STATE_DEL, &r);
}

/* fs_stats - the counters */
static void fs_stats(statestore *st, statestore_stats *out)
{
    file_store *f = (file_store *)st;
    pthread_mutex_lock(&f->mu);
    *out = f->st;
    pthread_mutex_unlock(&f->mu);
}

/* fs_free - drain the queue, stop the writer, free */
static void fs_free(statestore *st)
{
    file_store *f = (file_store *)st;

    if (f->running) {
        pthread_mutex_lock(&f->mu);
        f->stop = 1;
        pthread_cond_signal(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
        f->running = 0;
    }
    if (f->fd >= 0)
        close(f->fd);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    pthread_cond_destroy(&f->done_cv);
    fg_free(f->queue.p);
    fg_free(f->spare.p);
    fg_free(f->journal);
    fg_free(f->prev);
    fg_free(f);
}

static const statestore_vt file_vt = {"file", fs_load, fs_put, fs_del, fs_stats, fs_free};

/* --- the snapshot hook --- */

typedef struct snap_out {
    snapshot_put_fn put;
    void *w;
} snap_out;

/* snap_one - an owner's record into the snapshot (dates in wall ms there; never: UINT64_MAX) */
static int snap_one(void *w, const state_rec *r)
{
    snap_out *o = w;
    uint64_t exp = !r->expires ? UINT64_MAX : r->expires >= UINT64_MAX / 1000 ? UINT64_MAX - 1 : r->expires * 1000;
    return o->put(o->w, r->key, r->klen, r->value, r->vlen, exp);
}

/* hook_write - every owner's records (in the forked child, or at stop) */
static int hook_write(snapshot_put_fn put, void *w, void *arg)
{
    snap_out o = {put, w};
    return statestore_dump(arg, snap_one, &o);
}

/* hook_load - a record of the owners' classes from a snapshot that checked out whole */
static int hook_load(const unsigned char *key, size_t klen, const void *value, size_t vlen, uint64_t expires_wall_ms,
                     void *arg)
{
    file_store *f = arg;
    /* a date that falls within a second rounds up: never earlier than it was written */
    state_rec r = {key[0], key, klen, value, vlen,
                   expires_wall_ms == UINT64_MAX ? 0 : expires_wall_ms / 1000 + (expires_wall_ms % 1000 != 0)};

    f->st.loaded++;
    if (statestore_apply(&f->base, STATE_PUT, &r, f->load_wall) < 0) {
        f->base.log(4, "state: a snapshot record of class %u does not decode; skipped", (unsigned)key[0]);
        return -1;
    }
    return 0;
}

/* statestore_file_new - paths, lock; owners register next, then load starts the writer */
statestore *statestore_file_new(const char *snapshot_path, statestore_log_fn log)
{
    file_store *f = fg_calloc(1, sizeof *f);
    size_t n = strlen(snapshot_path) + sizeof STATESTORE_JOURNAL_SUFFIX + sizeof ".prev";
    pthread_condattr_t ca;

    f->base.vt = &file_vt;
    f->base.log = log;
    f->journal = fg_malloc(n);
    f->prev = fg_malloc(n);
    snprintf(f->journal, n, "%s%s", snapshot_path, STATESTORE_JOURNAL_SUFFIX);
    snprintf(f->prev, n, "%s%s.prev", snapshot_path, STATESTORE_JOURNAL_SUFFIX);
    f->fd = -1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&f->done_cv, NULL);
    return &f->base;
}

/* is_file - a journal beside the snapshot (the calls below do nothing for another kind of store, or none) */
static int is_file(const statestore *st)
{
    return st && st->vt == &file_vt;
}

/* statestore_file_hook - the snapshot hook for the owners' classes (NULL when nobody registered) */
const snapshot_extra *statestore_file_hook(statestore *st, uint64_t now_wall)
{
    file_store *f = (file_store *)st;
    uint8_t first = 255, last = 0;

    if (!is_file(st) || !st->nclients)
        return NULL;
    for (unsigned i = 0; i < st->nclients; i++) {
        if (st->clients[i].first_cls < first)
            first = st->clients[i].first_cls;
        if (st->clients[i].last_cls > last)
            last = st->clients[i].last_cls;
    }
    f->load_wall = now_wall;
    f->hook = (snapshot_extra){first, last, hook_write, hook_load, f};
    return &f->hook;
}

/* statestore_file_forked - later changes go to a new journal */
void statestore_file_forked(statestore *st)
{
    if (is_file(st))
        enqueue((file_store *)st, MARK_ROTATE, NULL);
}

/* statestore_file_written - the child's outcome */
void statestore_file_written(statestore *st, int ok)
{
    if (is_file(st))
        enqueue((file_store *)st, ok ? MARK_OK : MARK_FAILED, NULL);
}

/* statestore_file_saved - a foreground snapshot holds everything */
void statestore_file_saved(statestore *st)
{
    if (is_file(st))
        enqueue((file_store *)st, MARK_RESET, NULL);
}

/* statestore_file_wait - until the writer has handled what was queued before the call */
void statestore_file_wait(statestore *st)
{
    file_store *f = (file_store *)st;

    if (!is_file(st))
        return;
    pthread_mutex_lock(&f->mu);
    if (f->running) {
        /* what is queued now is in the batch taken next at the latest */
        uint64_t want = f->taken + (f->queue.len ? 1 : 0);
        while (f->handled < want)
            pthread_cond_wait(&f->done_cv, &f->mu);
    }
    pthread_mutex_unlock(&f->mu);
}

/* statestore_file_journal - the journal's path */
const char *statestore_file_journal(const statestore *st)
{
    return ((const file_store *)st)->journal;
}
