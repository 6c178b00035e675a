/* Datasets: IDX files (Fashion-MNIST), text corpora (the fortunes files) and epoch shuffles.
 *
 * The data comes from Debian packages (dataset-fashion-mnist, fortunes), so a missing file is
 * reported with the package to install; a corrupt or truncated file is VKG_ERR_FORMAT with the
 * expected and actual sizes. */
#define _POSIX_C_SOURCE 200809L /* strdup, lstat, readlink, O_CLOEXEC, fsync */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "internal.h"

#define IDX_MAX_DIMS 4
#define FASHION_HINT "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
#define FORTUNES_HINT "install the Debian package fortunes (apt-get install fortunes)"

/* "dir/name" in a new buffer, or NULL when out of memory. */
static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  size_t l = a;
  if (a && dir[a - 1] != '/') p[l++] = '/';
  memcpy(p + l, name, b + 1);
  return p;
}

static const char *dims_str(const int *dims, int ndim, char *buf, size_t n) {
  return vkg__shape_str(dims, ndim, buf, n);
}

// ---- IDX files ----

/* zlib's message without the "path: " it puts in front (our messages name the file already). */
static const char *gz_msg(gzFile f, const char *path, int *err) {
  const char *msg = gzerror(f, err);
  size_t l = strlen(path);
  if (msg && strncmp(msg, path, l) == 0 && msg[l] == ':' && msg[l + 1] == ' ') msg += l + 2;
  return msg ? msg : "unknown zlib error";
}

/* Reads up to n bytes; returns the count, or -1 on a zlib or I/O error (status set). */
static long long gz_read_all(gzFile f, const char *path, void *dst, size_t n, size_t *got, vkg_status *s) {
  *got = 0;
  while (*got < n) {
    unsigned chunk = n - *got > (1u << 30) ? (1u << 30) : (unsigned)(n - *got);
    int r = gzread(f, (char *)dst + *got, chunk);
    if (r < 0) {
      int e;
      const char *msg = gz_msg(f, path, &e);
      *s = e == Z_ERRNO ? vkg__fail(VKG_ERR_IO, "IDX file '%s': read failed: %s", path, strerror(errno))
                        : vkg__fail(VKG_ERR_FORMAT, "IDX file '%s': corrupt gzip data: %s", path, msg);
      return -1;
    }
    if (r == 0) break;
    *got += (size_t)r;
  }
  return (long long)*got;
}

/* After a short read: VKG_OK at a clean end of file, or the zlib error (a truncated gzip stream). */
static vkg_status gz_end_state(gzFile f, const char *path, const char **why) {
  int e;
  const char *msg = gz_msg(f, path, &e);
  *why = "";
  if (e == Z_OK) return VKG_OK;
  if (e == Z_BUF_ERROR) {
    *why = " (the gzip stream ends early)";
    return VKG_OK; /* reported as a truncated file by the caller */
  }
  if (e == Z_ERRNO) return vkg__fail(VKG_ERR_IO, "IDX file '%s': read failed: %s", path, strerror(errno));
  return vkg__fail(VKG_ERR_FORMAT, "IDX file '%s': corrupt gzip data: %s", path, msg);
}

static const char *idx_type_name(int t) {
  switch (t) {
  case 0x08: return "unsigned byte";
  case 0x09: return "signed byte";
  case 0x0B: return "short";
  case 0x0C: return "int";
  case 0x0D: return "float";
  case 0x0E: return "double";
  default: return NULL;
  }
}

vkg_status vkg_idx_load(const char *path, int *ndim, int *dims, uint8_t **data) {
  if (!path || !ndim || !dims || !data) return vkg__fail(VKG_ERR_ARG, "vkg_idx_load: NULL argument");
  *data = NULL;
  *ndim = 0;
  struct stat sb;
  if (stat(path, &sb) != 0) return vkg__fail(VKG_ERR_IO, "IDX file '%s': cannot open: %s", path, strerror(errno));
  if (S_ISDIR(sb.st_mode)) return vkg__fail(VKG_ERR_IO, "IDX file '%s': is a directory", path);
  if (!S_ISREG(sb.st_mode)) return vkg__fail(VKG_ERR_IO, "IDX file '%s': is not a regular file", path);
  /* gzread reads plain files too, so one path serves both. */
  gzFile f = gzopen(path, "rb");
  if (!f) {
    int e = errno;
    return e ? vkg__fail(VKG_ERR_IO, "IDX file '%s': cannot open: %s", path, strerror(e))
             : vkg__fail(VKG_ERR_OOM, "IDX file '%s': out of memory opening it", path);
  }
  gzbuffer(f, 1u << 17);
  vkg_status s = VKG_OK;
  uint8_t *buf = NULL;
  const char *why;
  unsigned char hdr[4 + 4 * IDX_MAX_DIMS];
  size_t got;
  if (gz_read_all(f, path, hdr, 4, &got, &s) < 0) goto fail;
  if (got < 4) {
    if ((s = gz_end_state(f, path, &why))) goto fail;
    s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s': only %zu bytes%s; an IDX file starts with a 4-byte magic number",
                  path, got, why);
    goto fail;
  }
  unsigned magic = (unsigned)hdr[0] << 24 | (unsigned)hdr[1] << 16 | (unsigned)hdr[2] << 8 | hdr[3];
  if (hdr[0] != 0 || hdr[1] != 0 || !idx_type_name(hdr[2])) {
    s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s': bad magic number 0x%08x: not an IDX file", path, magic);
    vkg__hint("IDX files start with 00 00 <type> <ndims>, e.g. 0x00000803 for 3-D unsigned bytes");
    goto fail;
  }
  if (hdr[2] != 0x08) {
    s = vkg__fail(VKG_ERR_FORMAT,
                  "IDX file '%s' holds %s data (magic 0x%08x); only unsigned bytes (type 0x08) are supported", path,
                  idx_type_name(hdr[2]), magic);
    goto fail;
  }
  int nd = hdr[3];
  if (nd < 1 || nd > IDX_MAX_DIMS) {
    s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s' has %d dims (magic 0x%08x); 1 to %d are supported", path, nd, magic,
                  IDX_MAX_DIMS);
    goto fail;
  }
  if (gz_read_all(f, path, hdr + 4, 4 * (size_t)nd, &got, &s) < 0) goto fail;
  if (got < 4 * (size_t)nd) {
    if ((s = gz_end_state(f, path, &why))) goto fail;
    s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s' is truncated in its header: %d dims need %d bytes, got %zu%s", path,
                  nd, 4 * nd, got, why);
    goto fail;
  }
  size_t need = 1;
  for (int i = 0; i < nd; i++) {
    const unsigned char *p = hdr + 4 + 4 * i;
    uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (d > INT32_MAX) {
      s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s': dim %d is %u, too large", path, i, d);
      goto fail;
    }
    dims[i] = (int)d;
    if (__builtin_mul_overflow(need, (size_t)d, &need)) {
      s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s': dims overflow the address space", path);
      goto fail;
    }
  }
  char ds[96];
  dims_str(dims, nd, ds, sizeof ds);

  /* The buffer grows as data arrives, so a corrupt header claiming terabytes fails on the data
   * it actually has rather than on a giant allocation. */
  size_t cap = need < ((size_t)1 << 26) ? need : ((size_t)1 << 26), have = 0;
  buf = malloc(cap ? cap : 1);
  if (!buf) {
    s = vkg__fail(VKG_ERR_OOM, "IDX file '%s': out of host memory", path);
    goto fail;
  }
  while (have < need) {
    if (have == cap) {
      size_t ncap = cap > need / 2 ? need : 2 * cap;
      uint8_t *nb = realloc(buf, ncap);
      if (!nb) {
        s = vkg__fail(VKG_ERR_OOM, "IDX file '%s': out of host memory for %zu bytes", path, need);
        goto fail;
      }
      buf = nb;
      cap = ncap;
    }
    if (gz_read_all(f, path, buf + have, cap - have, &got, &s) < 0) goto fail;
    have += got;
    if (have < cap) break; /* end of file */
  }
  if (have < need) {
    if ((s = gz_end_state(f, path, &why))) goto fail;
    s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s' is truncated: dims %s need %zu data bytes, got %zu%s", path, ds, need,
                  have, why);
    vkg__hint("the file is incomplete; download or reinstall it");
    goto fail;
  }
  /* Nothing may follow the data. */
  size_t extra = 0;
  unsigned char tail[4096];
  for (;;) {
    if (gz_read_all(f, path, tail, sizeof tail, &got, &s) < 0) goto fail;
    extra += got;
    if (got < sizeof tail) break;
  }
  if ((s = gz_end_state(f, path, &why))) goto fail;
  if (extra) {
    s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s' has %zu bytes after the data (dims %s need %zu)%s", path, extra, ds,
                  need, why);
    goto fail;
  }
  if (*why) {
    /* The data was all there but the gzip trailer is missing. */
    s = vkg__fail(VKG_ERR_FORMAT, "IDX file '%s': the gzip stream is truncated after the data", path);
    goto fail;
  }
  gzclose(f);
  *ndim = nd;
  *data = buf;
  return VKG_OK;
fail:
  gzclose(f);
  free(buf);
  return s;
}

// ---- Fashion-MNIST ----

void vkg_images_free(struct vkg_images *im) {
  if (!im) return;
  free(im->pixels);
  free(im->labels);
  memset(im, 0, sizeof *im);
}

/* dir/name, or dir/name without its ".gz" when only the uncompressed file is there. */
static vkg_status fashion_file(const char *dir, const char *name, char **out) {
  *out = join(dir, name);
  if (!*out) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  struct stat sb;
  if (stat(*out, &sb) == 0) return VKG_OK;
  size_t l = strlen(*out);
  (*out)[l - 3] = 0; /* drop ".gz" */
  if (stat(*out, &sb) == 0) return VKG_OK;
  (*out)[l - 3] = '.';
  vkg__fail(VKG_ERR_IO, "Fashion-MNIST file '%s' is missing", *out);
  vkg__hint(FASHION_HINT);
  free(*out);
  *out = NULL;
  return VKG_ERR_IO;
}

vkg_status vkg_fashion_mnist_load(const char *dir, const char *split, struct vkg_images *out) {
  if (!out) return vkg__fail(VKG_ERR_ARG, "vkg_fashion_mnist_load: out is NULL");
  memset(out, 0, sizeof *out);
  if (!dir) dir = VKG_FASHION_MNIST_DIR;
  const char *prefix;
  if (split && strcmp(split, "train") == 0)
    prefix = "train";
  else if (split && strcmp(split, "test") == 0)
    prefix = "t10k";
  else {
    vkg__fail(VKG_ERR_ARG, "Fashion-MNIST has no split '%s'", split ? split : "(null)");
    vkg__hint("use \"train\" (60000 images) or \"test\" (10000 images)");
    return VKG_ERR_ARG;
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    vkg__fail(VKG_ERR_IO, "Fashion-MNIST directory '%s' %s", dir,
              stat(dir, &sb) != 0 ? "does not exist" : "is not a directory");
    vkg__hint(FASHION_HINT);
    return VKG_ERR_IO;
  }
  char iname[64], lname[64];
  snprintf(iname, sizeof iname, "%s-images-idx3-ubyte.gz", prefix);
  snprintf(lname, sizeof lname, "%s-labels-idx1-ubyte.gz", prefix);
  char *ipath = NULL, *lpath = NULL;
  uint8_t *img = NULL, *lab = NULL;
  int ind = 0, lnd = 0, idims[4] = {0}, ldims[4] = {0};
  char ds[96];
  vkg_status s = fashion_file(dir, iname, &ipath);
  if (!s) s = fashion_file(dir, lname, &lpath);
  if (!s) s = vkg_idx_load(ipath, &ind, idims, &img);
  if (!s) s = vkg_idx_load(lpath, &lnd, ldims, &lab);
  if (s) goto done;
  if (ind != 3 || idims[1] != 28 || idims[2] != 28) {
    s = vkg__fail(VKG_ERR_FORMAT, "Fashion-MNIST file '%s' has dims %s, expected (n, 28, 28)", ipath,
                  dims_str(idims, ind, ds, sizeof ds));
    goto done;
  }
  if (lnd != 1) {
    s = vkg__fail(VKG_ERR_FORMAT, "Fashion-MNIST file '%s' has dims %s, expected (n,)", lpath,
                  dims_str(ldims, lnd, ds, sizeof ds));
    goto done;
  }
  if (idims[0] != ldims[0]) {
    s = vkg__fail(VKG_ERR_FORMAT, "Fashion-MNIST: '%s' holds %d images but '%s' holds %d labels", ipath, idims[0],
                  lpath, ldims[0]);
    goto done;
  }
  int n = idims[0];
  for (int i = 0; i < n; i++)
    if (lab[i] >= 10) {
      s = vkg__fail(VKG_ERR_FORMAT, "Fashion-MNIST file '%s': label %d of image %d is not a class 0..9", lpath, lab[i],
                    i);
      goto done;
    }
  size_t np = (size_t)n * 28 * 28;
  out->pixels = malloc(np ? np * sizeof(float) : 1);
  if (!out->pixels) {
    s = vkg__fail(VKG_ERR_OOM, "out of host memory for %d Fashion-MNIST images", n);
    goto done;
  }
  for (size_t i = 0; i < np; i++)
    out->pixels[i] = (float)img[i] / 255.0f;
  out->n = n;
  out->c = 1;
  out->h = out->w = 28;
  out->labels = lab;
  lab = NULL;
done:
  if (s) vkg_images_free(out);
  free(ipath);
  free(lpath);
  free(img);
  free(lab);
  return s;
}

// ---- text corpora ----

void vkg_text_free(struct vkg_text *t) {
  if (!t) return;
  free(t->bytes);
  t->bytes = NULL;
  t->n = 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The strfile indexes (.dat) and the UTF-8 aliases (.u8, symlinks to the text) are not text to learn. */
static int is_index_name(const char *name) { return ends_with(name, ".dat") || ends_with(name, ".u8"); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Whether entry `name` of dir is a text file to read: a regular file (or a symlink to one whose
 * target is not an index file), not itself named like an index file. */
static int wanted(const char *path, const char *name) {
  if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))) return 0;
  if (is_index_name(name)) return 0;
  struct stat lsb, sb;
  if (lstat(path, &lsb) != 0 || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
  if (S_ISLNK(lsb.st_mode)) {
    char target[4096];
    ssize_t l = readlink(path, target, sizeof target - 1);
    if (l < 0) return 0;
    target[l] = 0;
    if (is_index_name(target)) return 0;
  }
  return 1;
}

vkg_status vkg_text_load(const char *dir, struct vkg_text *out) {
  if (!out) return vkg__fail(VKG_ERR_ARG, "vkg_text_load: out is NULL");
  out->bytes = NULL;
  out->n = 0;
  if (!dir) dir = VKG_FORTUNES_DIR;
  DIR *d = opendir(dir);
  if (!d) {
    vkg__fail(VKG_ERR_IO, "text directory '%s': cannot open: %s", dir, strerror(errno));
    vkg__hint(FORTUNES_HINT);
    return VKG_ERR_IO;
  }
  vkg_status s = VKG_OK;
  char **names = NULL, *path = NULL;
  int n = 0, cap = 0;
  FILE *f = NULL;
  size_t len = 0, bcap = 0;
  char *bytes = NULL;
  struct dirent *de;
  for (errno = 0; (de = readdir(d)); errno = 0) {
    path = join(dir, de->d_name);
    if (!path) goto oom;
    int keep = wanted(path, de->d_name);
    free(path);
    path = NULL;
    if (!keep) continue;
    if (n == cap) {
      int nc = cap ? 2 * cap : 64;
      char **nn = realloc(names, sizeof *nn * (size_t)nc);
      if (!nn) goto oom;
      names = nn;
      cap = nc;
    }
    if (!(names[n] = strdup(de->d_name))) goto oom;
    n++;
  }
  if (errno) {
    s = vkg__fail(VKG_ERR_IO, "text directory '%s': cannot list: %s", dir, strerror(errno));
    goto done;
  }
  if (n == 0) {
    s = vkg__fail(VKG_ERR_IO, "text directory '%s' holds no text files", dir);
    vkg__hint(FORTUNES_HINT);
    goto done;
  }
  /* strcmp order: bytewise, the same in every locale. */
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  for (int i = 0; i < n; i++) {
    if (!(path = join(dir, names[i]))) goto oom;
    if (!(f = fopen(path, "rb"))) {
      s = vkg__fail(VKG_ERR_IO, "text file '%s': cannot open: %s", path, strerror(errno));
      goto done;
    }
    for (;;) {
      if (bcap - len < 65536) {
        size_t nc = bcap ? 2 * bcap : (size_t)1 << 20;
        char *nb = realloc(bytes, nc);
        if (!nb) goto oom;
        bytes = nb;
        bcap = nc;
      }
      size_t r = fread(bytes + len, 1, bcap - len - 1, f);
      len += r;
      if (r == 0) break;
    }
    if (ferror(f)) {
      s = vkg__fail(VKG_ERR_IO, "text file '%s': read failed: %s", path, strerror(errno));
      goto done;
    }
    fclose(f);
    f = NULL;
    free(path);
    path = NULL;
  }
  if (!bytes && !(bytes = malloc(1))) goto oom;
  bytes[len] = 0; /* a NUL after the text, for convenience; not counted in n */
  out->bytes = bytes;
  out->n = len;
  bytes = NULL;
  goto done;
oom:
  s = vkg__fail(VKG_ERR_OOM, "text directory '%s': out of host memory", dir);
done:
  if (f) fclose(f);
  closedir(d);
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
  free(path);
  free(bytes);
  return s;
}

// ---- shuffling ----

/* splitmix64's output function: a bijective mix of 64 bits. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* 32 random bits for draw `attempt` at position i, a pure function of (key, i, attempt). */
static uint32_t draw32(uint64_t key, uint64_t i, uint32_t attempt) {
  return (uint32_t)(mix64(key ^ mix64(i * 0x9E3779B97F4A7C15ull + attempt)) >> 32);
}

/* Fisher-Yates from the end, each swap index an unbiased integer in [0, i] by Lemire's
 * multiply-and-reject method. The random numbers are a counter-based function of (seed, epoch,
 * position), so the permutation needs no generator state and is the same on every machine. perm
 * holds 32-bit indices, so n must be at most 2^32. */
void vkg_shuffle(uint32_t *perm, size_t n, uint64_t seed, uint64_t epoch) {
  if (!perm || n == 0) return;
  for (size_t i = 0; i < n; i++)
    perm[i] = (uint32_t)i;
  uint64_t key = mix64(mix64(seed ^ 0x6A09E667F3BCC909ull) + epoch * 0x9E3779B97F4A7C15ull + 1);
  for (size_t i = n - 1; i > 0; i--) {
    uint64_t range = (uint64_t)i + 1; /* <= 2^32 */
    uint32_t attempt = 0;
    uint64_t m = (uint64_t)draw32(key, i, attempt) * range;
    if ((uint32_t)m < range) {
      /* Reject the low products that would make some results more likely: 2^32 mod range of them. */
      uint64_t threshold = ((uint64_t)1 << 32) % range;
      while ((uint32_t)m < threshold)
        m = (uint64_t)draw32(key, i, ++attempt) * range;
    }
    size_t j = (size_t)(m >> 32);
    uint32_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}
