/* Every output file of vkgen is written here. The rule for an output path:
 *  - a regular file (or a new name): data goes to a temporary file beside it, which is fsync'd and
 *    renamed over it, and the directory is fsync'd. Readers see the old file or the new one, never a
 *    torn one; on any failure the temporary file is removed and an existing file is untouched;
 *  - a symbolic link: the same for the file it points to (the link itself is never replaced);
 *  - "-": standard output; a FIFO or a character device (/dev/null, /dev/stdout on a pipe or a
 *    terminal): written straight into, since there is nothing to replace;
 *  - a directory, block device or socket: refused with an error. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, O_NOFOLLOW, fsync */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The temporary file being written, for vkg__atomic_unlink_in_flight (from a signal handler). */
static char in_flight[4200];
static volatile sig_atomic_t in_flight_set;

void vkg__atomic_unlink_in_flight(void) {
  if (in_flight_set) unlink(in_flight);
}

static void set_in_flight(const char *tmp) {
  in_flight_set = 0;
  if (tmp && strlen(tmp) < sizeof in_flight) {
    memcpy(in_flight, tmp, strlen(tmp) + 1);
    in_flight_set = 1;
  }
}

/* The file a write to path lands in: path itself, or the end of its chain of symbolic links (a link
 * is never replaced; its target is written). malloc'd; NULL on a loop or a chain over 40 links. */
char *vkg__output_target(const char *path) {
  char *p = strdup(path);
  for (int hops = 0; p && hops < 40; hops++) {
    struct stat sb;
    if (lstat(p, &sb) != 0 || !S_ISLNK(sb.st_mode)) return p;
    char link[4096];
    ssize_t n = readlink(p, link, sizeof link - 1);
    if (n <= 0) return p;
    link[n] = 0;
    char *next;
    const char *slash = strrchr(p, '/');
    if (link[0] == '/' || !slash) {
      next = strdup(link);
    } else { /* relative to the link's directory */
      size_t d = (size_t)(slash - p) + 1;
      next = malloc(d + (size_t)n + 1);
      if (next) memcpy(next, p, d), memcpy(next + d, link, (size_t)n + 1);
    }
    free(p);
    p = next;
  }
  free(p);
  return NULL;
}

/* Writing into a special file (a FIFO, a character device such as /dev/null or a terminal, or
 * standard output for "-"): straight into it, since there is nothing to replace atomically. */
static vkg_status open_direct(struct vkg_atomic_file *f, const char *path, int fd) {
  f->path = strdup(path);
  if (!f->path) {
    if (fd >= 0) close(fd);
    return vkg__fail(VKG_ERR_OOM, "writing '%s': out of host memory", path);
  }
  f->direct = 1;
  f->fd = fd >= 0 ? fd : open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (f->fd < 0) {
    vkg_status s = vkg__fail(VKG_ERR_IO, "writing '%s': %s", path, strerror(errno));
    vkg__atomic_abort(f);
    return s;
  }
  return VKG_OK;
}

vkg_status vkg__atomic_open(struct vkg_atomic_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  if (!strcmp(path, "-")) {
    int fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return vkg__fail(VKG_ERR_IO, "writing to standard output: %s", strerror(errno));
    vkg_status s = open_direct(f, "standard output", fd);
    return s;
  }
  struct stat sb;
  if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) { /* through any links */
    if (S_ISDIR(sb.st_mode)) {
      vkg__fail(VKG_ERR_IO, "writing '%s': it is a directory", path);
      vkg__hint("give a file name inside it, e.g. '%s/out'", path);
      return VKG_ERR_IO;
    }
    if (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode)) return open_direct(f, path, -1);
    vkg__fail(VKG_ERR_IO, "writing '%s': it is a %s, not a regular file", path,
              S_ISBLK(sb.st_mode)    ? "block device"
              : S_ISSOCK(sb.st_mode) ? "socket"
                                     : "special file");
    vkg__hint("vkgen writes regular files, FIFOs, character devices such as /dev/null, and '-' (standard output)");
    return VKG_ERR_IO;
  }
  /* A symbolic link stays: its target is written, with the temporary file beside the target. */
  char *target = vkg__output_target(path);
  if (!target) {
    vkg__fail(VKG_ERR_IO, "writing '%s': too many levels of symbolic links", path);
    return VKG_ERR_IO;
  }
  size_t plen = strlen(target);
  f->path = strdup(path);
  f->target = target;
  f->tmp = malloc(plen + 32);
  f->dir = malloc(plen + 2);
  if (!f->path || !f->tmp || !f->dir) {
    vkg__atomic_abort(f);
    return vkg__fail(VKG_ERR_OOM, "writing '%s': out of host memory", path);
  }
  snprintf(f->tmp, plen + 32, "%s.tmp.%ld", target, (long)getpid());
  const char *slash = strrchr(target, '/');
  if (!slash)
    strcpy(f->dir, ".");
  else if (slash == target)
    strcpy(f->dir, "/");
  else {
    memcpy(f->dir, target, (size_t)(slash - target));
    f->dir[slash - target] = 0;
  }
  f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (f->fd < 0 && errno == EEXIST && unlink(f->tmp) == 0) /* a stale file of an earlier process with our pid */
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (f->fd < 0) {
    vkg_status s =
        vkg__fail(VKG_ERR_IO, "writing '%s': cannot create the temporary file '%s': %s", path, f->tmp, strerror(errno));
    vkg__hint("check that the directory '%s' exists and is writable", f->dir);
    free(f->tmp), f->tmp = NULL; /* nothing was created: nothing to remove */
    vkg__atomic_abort(f);
    return s;
  }
  set_in_flight(f->tmp);
  return VKG_OK;
}

vkg_status vkg__atomic_write(struct vkg_atomic_file *f, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      vkg_status s = vkg__fail(VKG_ERR_IO, "writing '%s': write to '%s' failed: %s", f->path, f->tmp,
                               w < 0 ? strerror(errno) : "no progress");
      if (errno == ENOSPC) vkg__hint("the disk is full");
      return s;
    }
    p += w;
    n -= (size_t)w;
  }
  return VKG_OK;
}

vkg_status vkg__atomic_commit(struct vkg_atomic_file *f) {
  vkg_status s = VKG_OK;
  if (f->direct) { /* a special file: nothing to sync or rename */
    if (close(f->fd) != 0) s = vkg__fail(VKG_ERR_IO, "writing '%s': %s", f->path, strerror(errno));
    f->fd = -1;
    vkg__atomic_abort(f);
    return s;
  }
  if (fsync(f->fd) != 0)
    s = vkg__fail(VKG_ERR_IO, "writing '%s': fsync of '%s' failed: %s", f->path, f->tmp, strerror(errno));
  int fd = f->fd;
  f->fd = -1;
  if (close(fd) != 0 && !s)
    s = vkg__fail(VKG_ERR_IO, "writing '%s': close of '%s' failed: %s", f->path, f->tmp, strerror(errno));
  if (!s && rename(f->tmp, f->target) != 0)
    s = vkg__fail(VKG_ERR_IO, "writing '%s': cannot rename '%s' over it: %s", f->path, f->tmp, strerror(errno));
  if (s) {
    vkg__atomic_abort(f);
    return s;
  }
  in_flight_set = 0;
  free(f->tmp), f->tmp = NULL; /* renamed: nothing left to remove */
  /* Make the rename itself durable. Some filesystems cannot fsync a directory (EINVAL): nothing to do there. */
  int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    if (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP)
      s = vkg__fail(VKG_ERR_IO, "writing '%s': the file was written but fsync of directory '%s' failed: %s", f->path,
                    f->dir, strerror(errno));
    close(dfd);
  }
  vkg__atomic_abort(f);
  return s;
}

void vkg__atomic_abort(struct vkg_atomic_file *f) {
  in_flight_set = 0;
  if (f->fd >= 0) close(f->fd);
  if (f->tmp) unlink(f->tmp);
  free(f->tmp);
  free(f->dir);
  free(f->path);
  free(f->target);
  memset(f, 0, sizeof *f);
  f->fd = -1;
}

vkg_status vkg__write_file(const char *path, const void *data, size_t n) {
  struct vkg_atomic_file f;
  vkg_status s = vkg__atomic_open(&f, path);
  if (!s) s = vkg__atomic_write(&f, data, n);
  if (!s) return vkg__atomic_commit(&f);
  vkg__atomic_abort(&f);
  return s;
}

vkg_status vkg__read_file(const char *path, const char *what, size_t max, unsigned char **buf, size_t *n) {
  *buf = NULL, *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return vkg__fail(VKG_ERR_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
  struct stat st;
  vkg_status s = VKG_OK;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    s = vkg__fail(VKG_ERR_IO, "%s '%s' is not a regular file", what, path);
  else if ((unsigned long long)st.st_size > max)
    s = vkg__fail(VKG_ERR_FORMAT, "%s '%s' is %lld bytes, over the limit of %zu MiB for one %s", what, path,
                  (long long)st.st_size, max >> 20, what);
  unsigned char *p = s ? NULL : malloc((size_t)st.st_size + 1);
  if (!s && !p) s = vkg__fail(VKG_ERR_OOM, "out of host memory reading %s '%s'", what, path);
  size_t got = 0;
  if (!s) {
    got = fread(p, 1, (size_t)st.st_size + 1, f); /* one byte more: a file that grew is refused */
    if (ferror(f) || got != (size_t)st.st_size)
      s = vkg__fail(VKG_ERR_IO, "cannot read %s '%s'%s", what, path, ferror(f) ? "" : ": it changed while being read");
  }
  fclose(f);
  if (s) {
    free(p);
    return s;
  }
  *buf = p, *n = got;
  return VKG_OK;
}
