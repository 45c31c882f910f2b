/* file.c - small file helpers with errors that name the file. */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

char *ng_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ng_set_error("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        ng_set_error("'%s' is not a readable file", path);
        fclose(f);
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = ng_malloc(cap, path);
    if (!buf) { fclose(f); return NULL; }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); fclose(f); ng_set_error("out of memory reading '%s'", path); return NULL; }
            buf = nb; cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        ng_set_error("error reading '%s': %s", path, strerror(errno));
        free(buf); fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int ng_mkdir_p(const char *dir) {
    size_t n = strlen(dir);
    if (n == 0 || n >= 4096) return ng_set_error("bad directory name '%s'", dir);
    char path[4096];
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0) continue;
        char c = path[i];
        path[i] = 0;
        struct stat st;
        if (stat(path, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) return ng_set_error("'%s' exists and is not a directory", path);
        } else if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            return ng_set_error("cannot create directory '%s': %s", path, strerror(errno));
        }
        path[i] = c;
    }
    return NG_OK;
}

int ng_sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    char *dir = ng_malloc(n + 1, "directory name");
    if (!dir) return NG_ERR;
    if (slash) memcpy(dir, path, n);
    else dir[0] = '.';
    dir[n] = 0;
    int rc = NG_OK, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = ng_set_error("%s: written, but cannot open directory '%s' to sync it: %s", path, dir, strerror(errno));
    } else {
        /* some file systems cannot sync a directory (EINVAL): nothing more can be done there */
        if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP)
            rc = ng_set_error("%s: written, but syncing directory '%s' failed: %s", path, dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return rc;
}

int ng_atomic_open(ng_atomic_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->path = path;
    size_t n = strlen(path) + 5;
    if (!(f->tmp = ng_malloc(n, "temporary file name"))) return NG_ERR;
    snprintf(f->tmp, n, "%s.tmp", path);
    if (!(f->fp = fopen(f->tmp, "wb"))) {
        ng_set_error("cannot write '%s': cannot create '%s': %s", path, f->tmp, strerror(errno));
        free(f->tmp); f->tmp = NULL;
        return NG_ERR;
    }
    return NG_OK;
}

int ng_atomic_commit(ng_atomic_file *f, int ok) {
    if (!f->fp) return NG_ERR;
    int good = ok;
    if (good && (ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0)) {
        ng_set_error("cannot write '%s' (via '%s'): %s", f->path, f->tmp, strerror(errno ? errno : EIO));
        good = 0;
    }
    if (fclose(f->fp) != 0 && good) {
        ng_set_error("cannot write '%s' (closing '%s'): %s", f->path, f->tmp, strerror(errno));
        good = 0;
    }
    f->fp = NULL;
    if (good && rename(f->tmp, f->path) != 0) {
        ng_set_error("cannot write '%s': renaming '%s' over it failed: %s", f->path, f->tmp, strerror(errno));
        good = 0;
    }
    if (!good) remove(f->tmp);
    free(f->tmp); f->tmp = NULL;
    if (!good) return NG_ERR;
    return ng_sync_parent_dir(f->path);
}
