/* Shared by the fuzz targets: the readers under test take paths, so each input is handed to them
 * as a file. A memfd keeps that off the disk (and needs no cleanup when the process dies); the
 * reader opens it again through /proc/self/fd/N, which fstat() sees as a regular file. */
#ifndef VKGEN_FUZZ_H
#define VKGEN_FUZZ_H
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A property of the code under test failed: crash so the fuzzer keeps the input. */
#define FUZZ_ASSERT(c)                                                                                                 \
  do {                                                                                                                 \
    if (!(c)) {                                                                                                        \
      fprintf(stderr, "fuzz: property failed at %s:%d: %s\n", __FILE__, __LINE__, #c);                                 \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

/* Writes data to a new memfd and puts its /proc path in path. Returns the fd (close it when done),
 * or -1 if the kernel refused (the input is then skipped). */
static inline int fuzz_memfd(const void *data, size_t n, char *path, size_t path_n) {
  int fd = memfd_create("vkgen-fuzz", MFD_CLOEXEC);
  if (fd < 0) return -1;
  for (size_t done = 0; done < n;) {
    ssize_t w = write(fd, (const char *)data + done, n - done);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    done += (size_t)w;
  }
  snprintf(path, path_n, "/proc/self/fd/%d", fd);
  return fd;
}

/* The next part of a multi-part input: the bytes up to the first NUL (or the end). */
static inline const uint8_t *fuzz_part(const uint8_t **p, size_t *left, size_t *n) {
  const uint8_t *start = *p, *nul = memchr(*p, 0, *left);
  *n = nul ? (size_t)(nul - start) : *left;
  *p += *n + (nul ? 1 : 0);
  *left -= *n + (nul ? 1 : 0);
  return start;
}

static char fuzz_dir_[64];
static inline int fuzz_rm_(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  remove(path);
  return 0;
}
static inline void fuzz_tmpdir_remove_(void) { nftw(fuzz_dir_, fuzz_rm_, 8, FTW_DEPTH | FTW_PHYS); }

/* A private directory for readers that need real file names (on tmpfs when there is one, since the
 * writers fsync); made once per process and removed at exit. */
static inline const char *fuzz_tmpdir(void) {
  if (!fuzz_dir_[0]) {
    snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/vkgen-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(fuzz_dir_)) abort();
    atexit(fuzz_tmpdir_remove_);
  }
  return fuzz_dir_;
}
#endif
