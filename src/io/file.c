/* Atomic file writes: data goes to a temporary file beside the target, which is fsync'd and renamed
 * over it, and the directory is fsync'd. Readers see the old file or the new one, never a torn one;
 * on any failure the temporary file is removed and an existing file at the path is untouched. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, O_NOFOLLOW, fsync */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

vkg_status vkg__atomic_open(struct vkg_atomic_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  struct stat sb;
  if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    vkg__fail(VKG_ERR_IO, "writing '%s': it is a directory", path);
    vkg__hint("give a file name inside it, e.g. '%s/out'", path);
    return VKG_ERR_IO;
  }
  size_t plen = strlen(path);
  f->path = strdup(path);
  f->tmp = malloc(plen + 32);
  f->dir = malloc(plen + 2);
  if (!f->path || !f->tmp || !f->dir) {
    vkg__atomic_abort(f);
    return vkg__fail(VKG_ERR_OOM, "writing '%s': out of host memory", path);
  }
  snprintf(f->tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
  const char *slash = strrchr(path, '/');
  if (!slash)
    strcpy(f->dir, ".");
  else if (slash == path)
    strcpy(f->dir, "/");
  else {
    memcpy(f->dir, path, (size_t)(slash - path));
    f->dir[slash - path] = 0;
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
  if (fsync(f->fd) != 0)
    s = vkg__fail(VKG_ERR_IO, "writing '%s': fsync of '%s' failed: %s", f->path, f->tmp, strerror(errno));
  int fd = f->fd;
  f->fd = -1;
  if (close(fd) != 0 && !s)
    s = vkg__fail(VKG_ERR_IO, "writing '%s': close of '%s' failed: %s", f->path, f->tmp, strerror(errno));
  if (!s && rename(f->tmp, f->path) != 0)
    s = vkg__fail(VKG_ERR_IO, "writing '%s': cannot rename '%s' over it: %s", f->path, f->tmp, strerror(errno));
  if (s) {
    vkg__atomic_abort(f);
    return s;
  }
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
  if (f->fd >= 0) close(f->fd);
  if (f->tmp) unlink(f->tmp);
  free(f->tmp);
  free(f->dir);
  free(f->path);
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
