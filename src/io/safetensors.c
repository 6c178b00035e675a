/* safetensors files: a checking reader and a crash-safe writer.
 *
 * The format: an 8-byte little-endian header length N, N bytes of JSON (an object mapping each
 * tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, plus an optional "__metadata__"
 * object of strings), then the data buffer. Offsets are relative to the start of the data buffer,
 * and the tensors must cover it exactly: no overlaps, no holes, no trailing bytes.
 *
 * The reader reads the whole file into memory and validates every field before handing out a
 * pointer, so a corrupt or truncated file gives an error naming the file, never a crash. Every
 * reader error starts with "weights '<path>': ". */
#define _POSIX_C_SOURCE 200809L /* strdup, lstat, readlink, O_CLOEXEC, fsync */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "internal.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u * 1000u * 1000u) /* 100 MB: anything larger is corruption */

// ---- dtypes ----

enum {
  ST_F64,
  ST_F32,
  ST_F16,
  ST_BF16,
  ST_I64,
  ST_I32,
  ST_I16,
  ST_I8,
  ST_U8,
  ST_BOOL,
  ST_U16,
  ST_U32,
  ST_U64,
  ST_F8_E4M3,
  ST_F8_E5M2,
  ST_NDTYPES
};
static const struct {
  const char *name;
  unsigned size;
} dtypes[ST_NDTYPES] = {
    [ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4},         [ST_F16] = {"F16", 2},         [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4},         [ST_I16] = {"I16", 2},         [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},       [ST_U16] = {"U16", 2},         [ST_U32] = {"U32", 4},
    [ST_U64] = {"U64", 8}, [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define ST_KNOWN_DTYPES "F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL (and U16 U32 U64 F8_E4M3 F8_E5M2)"

static int dtype_lookup(const char *s) {
  for (int i = 0; i < ST_NDTYPES; i++)
    if (strcmp(s, dtypes[i].name) == 0) return i;
  return -1;
}

/* "(2, 3)", "(5,)" or "()", as Python prints shapes. */
static const char *shape_str64(const int64_t *shape, int ndim, char *buf, size_t n) {
  size_t l = (size_t)snprintf(buf, n, "(");
  for (int i = 0; i < ndim && l < n; i++)
    l += (size_t)snprintf(buf + l, n - l, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (l < n) snprintf(buf + l, n - l, "%s)", ndim == 1 ? "," : "");
  return buf;
}

/* numel * elem_size with overflow detection; 0 on overflow. */
static int bytes_of(const int64_t *shape, int ndim, unsigned elem, uint64_t *out) {
  uint64_t n = elem;
  for (int i = 0; i < ndim; i++)
    if (__builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return 0;
  *out = n;
  return 1;
}

static int host_little_endian(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 1;
}

static uint64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

// ---- reader ----

/* Sort keys, so that qsort needs no global state (two threads may open files at once). */
struct name_key {
  const char *name;
  int idx;
};
struct range_key {
  uint64_t begin, end;
  int idx;
};
struct st_entry {
  const char *name; /* points into the cJSON tree */
  int dtype, ndim;
  int64_t shape[ST_MAX_DIMS];
  uint64_t begin, end;
};

struct vkg_st {
  char *path;
  unsigned char *buf;        /* the file after its 8-byte length, with padding in front */
  const unsigned char *data; /* the data buffer, 16-byte aligned in memory */
  uint64_t data_size;
  cJSON *header;
  const cJSON *meta; /* "__metadata__" or NULL */
  struct st_entry *e;
  int n;
  struct name_key *by_name; /* entries sorted by name, for vkg_st_find */
};

/* Reader failure: records "weights '<path>': <message>". */
static vkg_status st_fail(vkg_status s, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static vkg_status st_fail(vkg_status s, const char *path, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return vkg__fail(s, "weights '%s': %s", path, msg);
}

/* A JSON number that is a non-negative integer exactly representable in a double. */
static int json_uint(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return 0;
  double v = j->valuedouble;
  if (!(v >= 0 && v <= 9007199254740992.0)) return 0; /* 2^53; also rejects NaN */
  uint64_t u = (uint64_t)v;
  if ((double)u != v) return 0;
  *out = u;
  return 1;
}

/* Reads exactly n bytes at the current position; returns what read() could get before EOF. */
static size_t read_full(int fd, void *dst, size_t n, int *err) {
  size_t got = 0;
  *err = 0;
  while (got < n) {
    size_t chunk = n - got > (1u << 30) ? (1u << 30) : n - got;
    ssize_t r = read(fd, (char *)dst + got, chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *err = errno;
      break;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return got;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const struct name_key *)a)->name, ((const struct name_key *)b)->name);
}
static int cmp_range(const void *a, const void *b) {
  const struct range_key *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* Validates one tensor entry of the header into e. */
static vkg_status parse_entry(const char *path, const cJSON *item, uint64_t data_size, struct st_entry *e) {
  const char *name = item->string;
  if (!cJSON_IsObject(item))
    return st_fail(VKG_ERR_FORMAT, path, "header entry for tensor '%s' is not a JSON object", name);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
  if (!cJSON_IsString(dt) || !dt->valuestring)
    return st_fail(VKG_ERR_FORMAT, path, "tensor '%s' has no \"dtype\" string", name);
  e->name = name;
  e->dtype = dtype_lookup(dt->valuestring);
  if (e->dtype < 0) {
    st_fail(VKG_ERR_FORMAT, path, "tensor '%s' has unknown dtype \"%.40s\"", name, dt->valuestring);
    vkg__hint("known safetensors dtypes: " ST_KNOWN_DTYPES);
    return VKG_ERR_FORMAT;
  }

  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
  if (!cJSON_IsArray(sh)) return st_fail(VKG_ERR_FORMAT, path, "tensor '%s' has no \"shape\" array", name);
  int nd = cJSON_GetArraySize(sh);
  if (nd > ST_MAX_DIMS)
    return st_fail(VKG_ERR_FORMAT, path, "tensor '%s' has %d dims (at most %d are supported)", name, nd, ST_MAX_DIMS);
  e->ndim = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, sh) {
    uint64_t v;
    if (!json_uint(d, &v))
      return st_fail(VKG_ERR_FORMAT, path, "tensor '%s': shape entry %d is not a non-negative integer", name, e->ndim);
    e->shape[e->ndim++] = (int64_t)v;
  }

  const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
  uint64_t b, en;
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_uint(cJSON_GetArrayItem(off, 0), &b) ||
      !json_uint(cJSON_GetArrayItem(off, 1), &en))
    return st_fail(VKG_ERR_FORMAT, path,
                   "tensor '%s' has no \"data_offsets\" pair [begin, end] of non-negative integers", name);
  e->begin = b;
  e->end = en;
  if (b > en)
    return st_fail(VKG_ERR_FORMAT, path, "tensor '%s' has data_offsets [%llu, %llu]: begin is after end", name,
                   (unsigned long long)b, (unsigned long long)en);
  if (en > data_size) {
    st_fail(VKG_ERR_FORMAT, path, "tensor '%s' has data_offsets [%llu, %llu] past the end of the data (%llu bytes)",
            name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_size);
    vkg__hint("the file is truncated or corrupt; write it again");
    return VKG_ERR_FORMAT;
  }
  uint64_t need;
  char shs[160];
  if (!bytes_of(e->shape, e->ndim, dtypes[e->dtype].size, &need))
    return st_fail(VKG_ERR_FORMAT, path, "tensor '%s' has shape %s, too large to address", name,
                   shape_str64(e->shape, e->ndim, shs, sizeof shs));
  if (en - b != need)
    return st_fail(VKG_ERR_FORMAT, path,
                   "tensor '%s' (%s %s) needs %llu bytes but its data_offsets [%llu, %llu] hold %llu", name,
                   dtypes[e->dtype].name, shape_str64(e->shape, e->ndim, shs, sizeof shs), (unsigned long long)need,
                   (unsigned long long)b, (unsigned long long)en, (unsigned long long)(en - b));
  return VKG_OK;
}

/* Parses and validates the header JSON of st (st->data_size already known). */
static vkg_status parse_header(vkg_st *st, const unsigned char *hdr, size_t len) {
  const char *path = st->path;
  if (len == 0 || hdr[0] != '{') {
    st_fail(VKG_ERR_FORMAT, path, "the header does not start with '{': not a safetensors file");
    vkg__hint("safetensors files start with an 8-byte header length and a JSON object");
    return VKG_ERR_FORMAT;
  }
  /* cJSON gets a NUL-terminated copy so that no parse can read past the header. */
  char *text = malloc(len + 1);
  if (!text) return st_fail(VKG_ERR_OOM, path, "out of host memory for a %zu-byte header", len);
  memcpy(text, hdr, len);
  text[len] = 0;
  const char *end = NULL;
  st->header = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  size_t at = end ? (size_t)(end - text) : 0;
  if (!st->header) {
    /* Show a little of the text where parsing stopped, with unprintable bytes as '?'. */
    char near[24];
    size_t k = 0;
    for (size_t i = at; i < len && k < sizeof near - 1; i++)
      near[k++] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
    near[k] = 0;
    free(text);
    return st_fail(VKG_ERR_FORMAT, path, "the header is not valid JSON (error at byte %zu of %zu, near \"%s\")", at,
                   len, near);
  }
  /* The spec allows the header to be padded with spaces; anything else after the object is corrupt. */
  for (size_t i = at; i < len; i++)
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
      free(text);
      return st_fail(VKG_ERR_FORMAT, path, "the header has stray bytes after its JSON object (at byte %zu of %zu)", i,
                     len);
    }
  free(text);
  if (!cJSON_IsObject(st->header)) return st_fail(VKG_ERR_FORMAT, path, "the header is not a JSON object");

  int count = 0, nmeta = 0;
  const cJSON *item;
  cJSON_ArrayForEach(item, st->header) {
    if (!item->string) return st_fail(VKG_ERR_FORMAT, path, "the header has an entry without a name");
    if (strcmp(item->string, "__metadata__") == 0)
      nmeta++;
    else
      count++;
  }
  if (nmeta > 1) return st_fail(VKG_ERR_FORMAT, path, "the header has \"__metadata__\" %d times", nmeta);
  st->e = calloc((size_t)count + 1, sizeof *st->e);
  st->by_name = calloc((size_t)count + 1, sizeof *st->by_name);
  struct range_key *by_off = calloc((size_t)count + 1, sizeof *by_off);
  if (!st->e || !st->by_name || !by_off) {
    free(by_off);
    return st_fail(VKG_ERR_OOM, path, "out of host memory for %d tensor entries", count);
  }

  vkg_status s = VKG_OK;
  cJSON_ArrayForEach(item, st->header) {
    if (strcmp(item->string, "__metadata__") == 0) {
      if (!cJSON_IsObject(item)) {
        s = st_fail(VKG_ERR_FORMAT, path, "\"__metadata__\" is not a JSON object");
        goto done;
      }
      const cJSON *m;
      cJSON_ArrayForEach(m, item) {
        if (!m->string || !cJSON_IsString(m) || !m->valuestring) {
          s = st_fail(VKG_ERR_FORMAT, path, "metadata '%s' is not a string", m->string ? m->string : "");
          goto done;
        }
        for (const cJSON *o = item->child; o != m; o = o->next)
          if (strcmp(o->string, m->string) == 0) {
            s = st_fail(VKG_ERR_FORMAT, path, "metadata '%s' appears twice", m->string);
            goto done;
          }
      }
      st->meta = item;
      continue;
    }
    s = parse_entry(path, item, st->data_size, &st->e[st->n]);
    if (s) goto done;
    const struct st_entry *e = &st->e[st->n];
    st->by_name[st->n] = (struct name_key){e->name, st->n};
    by_off[st->n] = (struct range_key){e->begin, e->end, st->n};
    st->n++;
  }

  /* Duplicate names are not allowed (JSON permits them; safetensors does not). */
  qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_name);
  for (int i = 1; i < st->n; i++)
    if (strcmp(st->by_name[i].name, st->by_name[i - 1].name) == 0) {
      s = st_fail(VKG_ERR_FORMAT, path, "tensor '%s' appears twice in the header", st->by_name[i].name);
      goto done;
    }

  /* The ranges must tile the data buffer: sorted by offset, each starts where the previous ended. */
  qsort(by_off, (size_t)st->n, sizeof *by_off, cmp_range);
  uint64_t pos = 0;
  const char *prev = NULL;
  for (int i = 0; i < st->n; i++) {
    const struct st_entry *e = &st->e[by_off[i].idx];
    if (e->begin < pos) {
      s = st_fail(VKG_ERR_FORMAT, path, "tensors '%s' and '%s' overlap in the data (bytes %llu to %llu)", prev, e->name,
                  (unsigned long long)e->begin, (unsigned long long)pos);
      goto done;
    }
    if (e->begin > pos) {
      s = st_fail(VKG_ERR_FORMAT, path, "data bytes %llu to %llu belong to no tensor (a hole %s '%s')",
                  (unsigned long long)pos, (unsigned long long)e->begin, prev ? "after" : "before",
                  prev ? prev : e->name);
      goto done;
    }
    pos = e->end;
    prev = e->name;
  }
  if (pos != st->data_size) {
    s = st_fail(VKG_ERR_FORMAT, path, "the last %llu of %llu data bytes belong to no tensor",
                (unsigned long long)(st->data_size - pos), (unsigned long long)st->data_size);
    vkg__hint("the file has trailing bytes: it was appended to or is corrupt");
  }
done:
  free(by_off);
  return s;
}

vkg_status vkg_st_open(const char *path, vkg_st **out) {
  if (!out) return vkg__fail(VKG_ERR_ARG, "vkg_st_open: out is NULL");
  *out = NULL;
  if (!path) return vkg__fail(VKG_ERR_ARG, "vkg_st_open: path is NULL");
  vkg_st *st = calloc(1, sizeof *st);
  if (!st || !(st->path = strdup(path))) {
    free(st);
    return vkg__fail(VKG_ERR_OOM, "weights '%s': out of host memory", path);
  }
  vkg_status s = VKG_OK;
  int err;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    s = st_fail(VKG_ERR_IO, path, "cannot open: %s", strerror(errno));
    goto fail;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    s = st_fail(VKG_ERR_IO, path, "cannot stat: %s", strerror(errno));
    goto fail;
  }
  if (S_ISDIR(sb.st_mode)) {
    s = st_fail(VKG_ERR_IO, path, "is a directory, not a safetensors file");
    goto fail;
  }
  if (!S_ISREG(sb.st_mode)) {
    s = st_fail(VKG_ERR_IO, path, "is not a regular file");
    goto fail;
  }
  uint64_t size = (uint64_t)sb.st_size;
  unsigned char lenbuf[8];
  size_t got = size >= 8 ? read_full(fd, lenbuf, 8, &err) : 0;
  if (size >= 8 && got < 8 && err) {
    s = st_fail(VKG_ERR_IO, path, "read failed: %s", strerror(err));
    goto fail;
  }
  if (got < 8) {
    s = st_fail(VKG_ERR_FORMAT, path,
                "the file is %llu bytes, shorter than the 8-byte header length: not a safetensors file",
                (unsigned long long)(size < 8 ? size : got));
    goto fail;
  }
  uint64_t hlen = le64(lenbuf);
  if (hlen > ST_MAX_HEADER) {
    s = st_fail(VKG_ERR_FORMAT, path, "the header length %llu is absurd (more than 100 MB): not a safetensors file",
                (unsigned long long)hlen);
    vkg__hint("safetensors files start with an 8-byte little-endian header length");
    goto fail;
  }
  if (hlen > size - 8) {
    s = st_fail(VKG_ERR_FORMAT, path,
                "the header length %llu exceeds the %llu bytes after it: truncated or not a safetensors file",
                (unsigned long long)hlen, (unsigned long long)(size - 8));
    goto fail;
  }
  if (size - 8 > (uint64_t)SIZE_MAX - 32) {
    s = st_fail(VKG_ERR_OOM, path, "the file is too large for this machine's address space");
    goto fail;
  }
  /* Pad in front so that the data buffer starts 16-byte aligned in memory. */
  size_t rest = (size_t)(size - 8), pad = (size_t)((16 - hlen % 16) % 16);
  st->buf = malloc(rest + pad + 1);
  if (!st->buf) {
    s = st_fail(VKG_ERR_OOM, path, "out of host memory reading %zu bytes", rest);
    goto fail;
  }
  got = read_full(fd, st->buf + pad, rest, &err);
  if (err) {
    s = st_fail(VKG_ERR_IO, path, "read failed: %s", strerror(err));
    goto fail;
  }
  if (got != rest) {
    s = st_fail(VKG_ERR_IO, path, "the file shrank while it was read (%zu of %zu bytes)", got, rest);
    goto fail;
  }
  close(fd);
  fd = -1;
  st->data = st->buf + pad + hlen;
  st->data_size = rest - hlen;
  s = parse_header(st, st->buf + pad, (size_t)hlen);
  if (s) goto fail;
  *out = st;
  return VKG_OK;
fail:
  if (fd >= 0) close(fd);
  vkg_st_close(st);
  return s;
}

void vkg_st_close(vkg_st *st) {
  if (!st) return;
  cJSON_Delete(st->header);
  free(st->e);
  free(st->by_name);
  free(st->buf);
  free(st->path);
  free(st);
}

int vkg_st_count(const vkg_st *st) { return st ? st->n : 0; }

const char *vkg_st_name(const vkg_st *st, int i) { return st && i >= 0 && i < st->n ? st->e[i].name : NULL; }

int vkg_st_find(const vkg_st *st, const char *name) {
  if (!st || !name) return -1;
  int lo = 0, hi = st->n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2, c = strcmp(st->by_name[mid].name, name);
    if (c == 0) return st->by_name[mid].idx;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

const char *vkg_st_dtype(const vkg_st *st, int i) {
  return st && i >= 0 && i < st->n ? dtypes[st->e[i].dtype].name : NULL;
}

int vkg_st_shape(const vkg_st *st, int i, int64_t *shape) {
  if (!st || i < 0 || i >= st->n) return -1;
  if (shape) memcpy(shape, st->e[i].shape, sizeof(int64_t) * (size_t)st->e[i].ndim);
  return st->e[i].ndim;
}

const void *vkg_st_data(const vkg_st *st, int i, size_t *bytes) {
  if (!st || i < 0 || i >= st->n) {
    if (bytes) *bytes = 0;
    return NULL;
  }
  if (bytes) *bytes = (size_t)(st->e[i].end - st->e[i].begin);
  return st->data + st->e[i].begin;
}

const char *vkg_st_metadata(const vkg_st *st, const char *key) {
  if (!st || !st->meta || !key) return NULL;
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(st->meta, key);
  return m ? m->valuestring : NULL;
}

/* Index of tensor `name`, or an error that names the file and lists a few of its tensors. */
static vkg_status st_lookup(const vkg_st *st, const char *name, int *idx) {
  if (!st || !name) return vkg__fail(VKG_ERR_ARG, "vkg_st_read: NULL file or tensor name");
  *idx = vkg_st_find(st, name);
  if (*idx >= 0) return VKG_OK;
  st_fail(VKG_ERR_FORMAT, st->path, "no tensor named '%s' (the file holds %d tensor%s)", name, st->n,
          st->n == 1 ? "" : "s");
  char list[400];
  size_t l = 0;
  list[0] = 0;
  for (int i = 0; i < st->n && l < sizeof list - 8; i++)
    l += (size_t)snprintf(list + l, sizeof list - l, "%s'%s'", i ? ", " : "", st->e[i].name);
  if (l >= sizeof list - 8) snprintf(list + sizeof list - 8, 8, ", ...");
  if (st->n) vkg__hint("the file holds %s", list);
  return VKG_ERR_FORMAT;
}

/* Checks entry idx against an expected shape. */
static vkg_status st_check_shape(const vkg_st *st, int idx, int ndim, const int *shape) {
  if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim > 0 && !shape))
    return vkg__fail(VKG_ERR_ARG, "weights '%s': tensor '%s': expected shape with %d dims is invalid", st->path,
                     st->e[idx].name, ndim);
  const struct st_entry *e = &st->e[idx];
  int same = e->ndim == ndim;
  for (int i = 0; same && i < ndim; i++)
    same = e->shape[i] == shape[i];
  if (same) return VKG_OK;
  int64_t want[ST_MAX_DIMS];
  for (int i = 0; i < ndim; i++)
    want[i] = shape[i];
  char a[160], b[160];
  return vkg__fail(VKG_ERR_SHAPE, "weights '%s': tensor '%s' has shape %s, expected %s", st->path, e->name,
                   shape_str64(e->shape, e->ndim, a, sizeof a), shape_str64(want, ndim, b, sizeof b));
}

/* Converts entry idx (F32, F16 or BF16) to n floats. */
static void to_f32(const vkg_st *st, int idx, float *out, size_t n) {
  const struct st_entry *e = &st->e[idx];
  const unsigned char *p = st->data + e->begin;
  if (n == 0) return; /* out may be NULL for an empty tensor */
  if (e->dtype == ST_F32) {
    if (host_little_endian()) {
      memcpy(out, p, n * 4);
      return;
    }
    for (size_t i = 0; i < n; i++) {
      uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                   (uint32_t)p[4 * i + 3] << 24;
      memcpy(&out[i], &u, 4);
    }
  } else if (e->dtype == ST_F16) {
    for (size_t i = 0; i < n; i++)
      out[i] = vkg__f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
  } else { /* BF16: the top half of an f32 */
    for (size_t i = 0; i < n; i++) {
      uint32_t u = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
      memcpy(&out[i], &u, 4);
    }
  }
}

static vkg_status check_float_dtype(const vkg_st *st, int idx, const char *into) {
  int dt = st->e[idx].dtype;
  if (dt == ST_F32 || dt == ST_F16 || dt == ST_BF16) return VKG_OK;
  st_fail(VKG_ERR_FORMAT, st->path, "tensor '%s' is %s; only F32, F16 and BF16 convert to %s", st->e[idx].name,
          dtypes[dt].name, into);
  return VKG_ERR_FORMAT;
}

vkg_status vkg_st_read_f32(const vkg_st *st, const char *name, int ndim, const int *shape, float *out) {
  int idx = -1;
  vkg_status s = st_lookup(st, name, &idx);
  if (!s) s = check_float_dtype(st, idx, "f32");
  if (!s) s = st_check_shape(st, idx, ndim, shape);
  if (s) return s;
  size_t n = (size_t)((st->e[idx].end - st->e[idx].begin) / dtypes[st->e[idx].dtype].size);
  if (n && !out) return vkg__fail(VKG_ERR_ARG, "vkg_st_read_f32: out is NULL");
  to_f32(st, idx, out, n);
  return VKG_OK;
}

/* The index of the first NaN or infinity among n floating-point values of dtype dt at p (all
 * exponent bits set, read straight from the little-endian bytes), or n if there is none. */
static size_t first_nonfinite(int dt, const unsigned char *p, size_t n, int *nan) {
  for (size_t i = 0; i < n; i++) {
    uint64_t exp, frac;
    if (dt == ST_F64) {
      uint64_t v = le64(p + 8 * i);
      exp = v >> 52 & 0x7FF, frac = v & 0xFFFFFFFFFFFFFull, exp = exp == 0x7FF;
    } else if (dt == ST_F32) {
      uint32_t v = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                   (uint32_t)p[4 * i + 3] << 24;
      exp = (v >> 23 & 0xFF) == 0xFF, frac = v & 0x7FFFFF;
    } else if (dt == ST_F16) {
      unsigned v = (unsigned)p[2 * i] | (unsigned)p[2 * i + 1] << 8;
      exp = (v >> 10 & 0x1F) == 0x1F, frac = v & 0x3FF;
    } else if (dt == ST_BF16) {
      unsigned v = (unsigned)p[2 * i] | (unsigned)p[2 * i + 1] << 8;
      exp = (v >> 7 & 0xFF) == 0xFF, frac = v & 0x7F;
    } else {
      return n;
    }
    if (exp) {
      *nan = frac != 0;
      return i;
    }
  }
  return n;
}

vkg_status vkg_st_load_tensor(const vkg_st *st, const char *name, vkg_tensor *t) {
  if (!t) return vkg__fail(VKG_ERR_ARG, "vkg_st_load_tensor: tensor is NULL");
  int idx = -1;
  vkg_status s = st_lookup(st, name, &idx);
  if (!s) s = st_check_shape(st, idx, t->ndim, t->shape);
  if (s) return s;
  const struct st_entry *e = &st->e[idx];
  size_t n = vkg_tensor_numel(t);
  const void *src = st->data + e->begin;
  /* Weights holding NaN or infinity are refused at load, naming the tensor: every output computed
   * from them would be meaningless, and metrics could even look finite. */
  int nan = 0;
  size_t bad = first_nonfinite(e->dtype, src, n, &nan);
  if (bad < n) {
    st_fail(VKG_ERR_NUMERIC, st->path, "tensor '%s' holds %s at element %zu of %zu", e->name,
            nan ? "NaN" : "an infinity", bad, n);
    vkg__hint("the file is damaged or was written by a run that diverged; use an earlier checkpoint or retrain");
    return VKG_ERR_NUMERIC;
  }
  /* Raw uploads when the file holds the tensor's own dtype (the device is little-endian like the file). */
  if ((t->dtype == VKG_F16 && e->dtype == ST_F16) || (t->dtype == VKG_I32 && e->dtype == ST_I32) ||
      (t->dtype == VKG_F32 && e->dtype == ST_F32 && host_little_endian()))
    return vkg_tensor_upload(t, src, n * vkg_dtype_size(t->dtype));
  if (t->dtype == VKG_I32) {
    if (e->dtype != ST_I64) {
      st_fail(VKG_ERR_FORMAT, st->path, "tensor '%s' is %s; an i32 tensor loads only I32 or I64 data", e->name,
              dtypes[e->dtype].name);
      return VKG_ERR_FORMAT;
    }
    int32_t *buf = malloc(n * 4 + 1);
    if (!buf) return st_fail(VKG_ERR_OOM, st->path, "out of host memory loading tensor '%s'", e->name);
    const unsigned char *p = src;
    for (size_t i = 0; i < n; i++) {
      int64_t v = (int64_t)le64(p + 8 * i);
      if (v < INT32_MIN || v > INT32_MAX) {
        free(buf);
        return st_fail(VKG_ERR_FORMAT, st->path, "tensor '%s' element %zu is %lld, outside the i32 range", e->name, i,
                       (long long)v);
      }
      buf[i] = (int32_t)v;
    }
    s = vkg_tensor_upload(t, buf, n * 4);
    free(buf);
    return s;
  }
  /* f32 from F16/BF16, f16 from F32/BF16: convert through f32 (f16 rounds to nearest even). */
  s = check_float_dtype(st, idx, vkg_dtype_str(t->dtype));
  if (s) return s;
  float *buf = malloc(n * 4 + 1);
  if (!buf) return st_fail(VKG_ERR_OOM, st->path, "out of host memory loading tensor '%s'", e->name);
  to_f32(st, idx, buf, n);
  s = vkg_tensor_upload_f32(t, buf, n);
  free(buf);
  return s;
}

// ---- writer ----

struct wt_entry {
  char *name;
  int dtype, ndim;
  int64_t shape[ST_MAX_DIMS];
  void *data;
  size_t bytes;
  uint64_t offset; /* in the data buffer, set by vkg_st_write */
};

struct vkg_st_writer {
  struct wt_entry *t;
  int n, cap;
  char **keys, **vals;
  int nmeta, capmeta;
};

vkg_st_writer *vkg_st_writer_create(void) {
  vkg_st_writer *w = calloc(1, sizeof *w);
  if (!w) vkg__fail(VKG_ERR_OOM, "out of host memory creating a safetensors writer");
  return w;
}

void vkg_st_writer_destroy(vkg_st_writer *w) {
  if (!w) return;
  for (int i = 0; i < w->n; i++) {
    free(w->t[i].name);
    free(w->t[i].data);
  }
  for (int i = 0; i < w->nmeta; i++) {
    free(w->keys[i]);
    free(w->vals[i]);
  }
  free(w->t);
  free(w->keys);
  free(w->vals);
  free(w);
}

/* Adds a tensor whose data buffer the writer takes over (freed on failure too). */
static vkg_status add_owned(vkg_st_writer *w, const char *name, const char *dtype, int ndim, const int64_t *shape,
                            void *data, size_t bytes) {
  vkg_status s = VKG_OK;
  char shs[160];
  int dt = -1;
  uint64_t need = 0;
  if (!w || !name) {
    s = vkg__fail(VKG_ERR_ARG, "vkg_st_add: NULL writer or name");
    goto fail;
  }
  if (!name[0] || strcmp(name, "__metadata__") == 0) {
    s = vkg__fail(VKG_ERR_ARG, "safetensors writer: '%s' is not a valid tensor name", name);
    goto fail;
  }
  if (!dtype || (dt = dtype_lookup(dtype)) < 0) {
    s = vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' has unknown dtype \"%.40s\"", name,
                  dtype ? dtype : "(null)");
    vkg__hint("known safetensors dtypes: " ST_KNOWN_DTYPES);
    goto fail;
  }
  if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim > 0 && !shape)) {
    s = vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' has %d dims (0 to %d allowed)", name, ndim,
                  ST_MAX_DIMS);
    goto fail;
  }
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) {
      s = vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' has negative dim %d: %s", name, i,
                    shape_str64(shape, ndim, shs, sizeof shs));
      goto fail;
    }
  if (!bytes_of(shape, ndim, dtypes[dt].size, &need)) {
    s = vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' has shape %s, too large to address", name,
                  shape_str64(shape, ndim, shs, sizeof shs));
    goto fail;
  }
  if (need != bytes) {
    s = vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' (%s %s) needs %llu bytes, %zu given", name,
                  dtypes[dt].name, shape_str64(shape, ndim, shs, sizeof shs), (unsigned long long)need, bytes);
    goto fail;
  }
  if (bytes && !data) {
    s = vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' has no data", name);
    goto fail;
  }
  for (int i = 0; i < w->n; i++)
    if (strcmp(w->t[i].name, name) == 0) {
      s = vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' is added twice", name);
      goto fail;
    }
  if (w->n == w->cap) {
    int cap = w->cap ? 2 * w->cap : 16;
    struct wt_entry *t = realloc(w->t, sizeof *t * (size_t)cap);
    if (!t) {
      s = vkg__fail(VKG_ERR_OOM, "out of host memory adding tensor '%s'", name);
      goto fail;
    }
    w->t = t;
    w->cap = cap;
  }
  struct wt_entry *e = &w->t[w->n];
  memset(e, 0, sizeof *e);
  if (!(e->name = strdup(name))) {
    s = vkg__fail(VKG_ERR_OOM, "out of host memory adding tensor '%s'", name);
    goto fail;
  }
  e->dtype = dt;
  e->ndim = ndim;
  if (ndim) memcpy(e->shape, shape, sizeof(int64_t) * (size_t)ndim);
  e->data = data;
  e->bytes = bytes;
  w->n++;
  return VKG_OK;
fail:
  free(data);
  return s;
}

vkg_status vkg_st_add(vkg_st_writer *w, const char *name, const char *dtype, int ndim, const int64_t *shape,
                      const void *data, size_t bytes) {
  if (bytes && !data)
    return vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' has %zu bytes but no data", name ? name : "", bytes);
  void *copy = malloc(bytes ? bytes : 1);
  if (!copy)
    return vkg__fail(VKG_ERR_OOM, "out of host memory copying tensor '%s' (%zu bytes)", name ? name : "", bytes);
  if (bytes && data) memcpy(copy, data, bytes);
  return add_owned(w, name, dtype, ndim, shape, copy, bytes);
}

vkg_status vkg_st_add_f32(vkg_st_writer *w, const char *name, int ndim, const int *shape, const float *data) {
  if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim > 0 && !shape))
    return vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' has %d dims (0 to %d allowed)", name ? name : "",
                     ndim, ST_MAX_DIMS);
  int64_t sh[ST_MAX_DIMS];
  int negative = 0;
  for (int i = 0; i < ndim; i++) {
    sh[i] = shape[i];
    negative |= shape[i] < 0;
  }
  uint64_t bytes = 0;
  if (negative || !bytes_of(sh, ndim, 4, &bytes) || bytes > SIZE_MAX / 2) /* add_owned names the bad shape */
    return add_owned(w, name, "F32", ndim, sh, NULL, 0);
  size_t n = (size_t)bytes / 4;
  if (!host_little_endian() && n) {
    /* The file is little-endian: convert before storing. */
    if (!data) return vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' has no data", name ? name : "");
    unsigned char *buf = malloc(n * 4);
    if (!buf) return vkg__fail(VKG_ERR_OOM, "out of host memory copying tensor '%s'", name ? name : "");
    for (size_t i = 0; i < n; i++) {
      uint32_t u;
      memcpy(&u, &data[i], 4);
      for (int k = 0; k < 4; k++)
        buf[4 * i + k] = (unsigned char)(u >> (8 * k));
    }
    return add_owned(w, name, "F32", ndim, sh, buf, n * 4);
  }
  return vkg_st_add(w, name, "F32", ndim, sh, data, n * 4);
}

vkg_status vkg_st_add_tensor(vkg_st_writer *w, const char *name, vkg_tensor *t) {
  if (!t) return vkg__fail(VKG_ERR_ARG, "vkg_st_add_tensor: tensor '%s' is NULL", name ? name : "");
  int64_t sh[ST_MAX_DIMS];
  for (int i = 0; i < t->ndim; i++)
    sh[i] = t->shape[i];
  size_t bytes = vkg_tensor_numel(t) * vkg_dtype_size(t->dtype);
  void *buf = malloc(bytes ? bytes : 1);
  if (!buf)
    return vkg__fail(VKG_ERR_OOM, "out of host memory downloading tensor '%s' (%zu bytes)", name ? name : "", bytes);
  vkg_status s = vkg_tensor_download(t, buf, bytes);
  if (s) {
    free(buf);
    return s;
  }
  const char *dt = t->dtype == VKG_F16 ? "F16" : t->dtype == VKG_I32 ? "I32" : "F32";
  return add_owned(w, name, dt, t->ndim, sh, buf, bytes);
}

vkg_status vkg_st_add_metadata(vkg_st_writer *w, const char *key, const char *value) {
  if (!w || !key || !value) return vkg__fail(VKG_ERR_ARG, "vkg_st_add_metadata: NULL writer, key or value");
  char *v = strdup(value);
  if (!v) return vkg__fail(VKG_ERR_OOM, "out of host memory adding metadata '%s'", key);
  /* Setting a key again replaces its value (and keeps its place). */
  for (int i = 0; i < w->nmeta; i++)
    if (strcmp(w->keys[i], key) == 0) {
      free(w->vals[i]);
      w->vals[i] = v;
      return VKG_OK;
    }
  if (w->nmeta == w->capmeta) {
    int cap = w->capmeta ? 2 * w->capmeta : 8;
    char **k = realloc(w->keys, sizeof *k * (size_t)cap);
    if (k) w->keys = k;
    char **vs = k ? realloc(w->vals, sizeof *vs * (size_t)cap) : NULL;
    if (vs) w->vals = vs;
    if (!k || !vs) {
      free(v);
      return vkg__fail(VKG_ERR_OOM, "out of host memory adding metadata '%s'", key);
    }
    w->capmeta = cap;
  }
  if (!(w->keys[w->nmeta] = strdup(key))) {
    free(v);
    return vkg__fail(VKG_ERR_OOM, "out of host memory adding metadata '%s'", key);
  }
  w->vals[w->nmeta++] = v;
  return VKG_OK;
}

/* A growing string for the header. */
struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void sb_str(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(struct sbuf *b, uint64_t v) {
  char t[24];
  sb_put(b, t, (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)v));
}

/* A JSON string literal: quotes, backslashes and control bytes escaped, UTF-8 passed through. */
static void sb_json(struct sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char t[8];
    if (*p == '"' || *p == '\\') {
      t[0] = '\\';
      t[1] = (char)*p;
      sb_put(b, t, 2);
    } else if (*p < 0x20) {
      sb_put(b, t, (size_t)snprintf(t, sizeof t, "\\u%04x", *p));
    } else {
      sb_put(b, (const char *)p, 1);
    }
  }
  sb_put(b, "\"", 1);
}

/* The header JSON, metadata first and tensors in insertion order, padded with spaces so that the
 * data starts at a multiple of 8 bytes into the file. */
static int build_header(const vkg_st_writer *w, struct sbuf *b) {
  sb_str(b, "{");
  if (w->nmeta) {
    sb_str(b, "\"__metadata__\":{");
    for (int i = 0; i < w->nmeta; i++) {
      if (i) sb_str(b, ",");
      sb_json(b, w->keys[i]);
      sb_str(b, ":");
      sb_json(b, w->vals[i]);
    }
    sb_str(b, "}");
  }
  for (int i = 0; i < w->n; i++) {
    const struct wt_entry *e = &w->t[i];
    if (i || w->nmeta) sb_str(b, ",");
    sb_json(b, e->name);
    sb_str(b, ":{\"dtype\":\"");
    sb_str(b, dtypes[e->dtype].name);
    sb_str(b, "\",\"shape\":[");
    for (int d = 0; d < e->ndim; d++) {
      if (d) sb_str(b, ",");
      sb_u64(b, (uint64_t)e->shape[d]);
    }
    sb_str(b, "],\"data_offsets\":[");
    sb_u64(b, e->offset);
    sb_str(b, ",");
    sb_u64(b, e->offset + e->bytes);
    sb_str(b, "]}");
  }
  sb_str(b, "}");
  while (!b->oom && b->n % 8)
    sb_str(b, " ");
  return !b->oom;
}

/* The data buffer holds the tensors in order of decreasing element size (stable otherwise): with the
 * data starting 8-aligned in the file, every tensor then starts aligned to its element size, without
 * holes. The header still lists the tensors in insertion order. */
static void layout(vkg_st_writer *w) {
  uint64_t off = 0;
  for (unsigned size = 8; size >= 1; size /= 2)
    for (int i = 0; i < w->n; i++)
      if (dtypes[w->t[i].dtype].size == size) {
        w->t[i].offset = off;
        off += w->t[i].bytes;
      }
}

vkg_status vkg_st_write(vkg_st_writer *w, const char *path) {
  if (!w || !path || !path[0]) return vkg__fail(VKG_ERR_ARG, "vkg_st_write: NULL writer or empty path");
  layout(w);
  struct sbuf hdr = {0};
  if (!build_header(w, &hdr)) {
    free(hdr.p);
    return vkg__fail(VKG_ERR_OOM, "writing '%s': out of host memory for the header", path);
  }

  struct vkg_atomic_file f;
  vkg_status s = vkg__atomic_open(&f, path);
  unsigned char len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (unsigned char)((uint64_t)hdr.n >> (8 * i));
  if (!s) s = vkg__atomic_write(&f, len8, 8);
  if (!s) s = vkg__atomic_write(&f, hdr.p, hdr.n);
  /* The data area holds the largest element sizes first, so every tensor stays aligned without gaps. */
  for (unsigned size = 8; !s && size >= 1; size /= 2)
    for (int i = 0; !s && i < w->n; i++)
      if (dtypes[w->t[i].dtype].size == size) s = vkg__atomic_write(&f, w->t[i].data, w->t[i].bytes);
  if (!s)
    s = vkg__atomic_commit(&f);
  else if (f.fd >= 0)
    vkg__atomic_abort(&f);
  free(hdr.p);
  return s;
}

vkg_status vkg_st_add_tensor_as(vkg_st_writer *w, const char *name, vkg_tensor *t, const char *dtype) {
  if (!t) return vkg__fail(VKG_ERR_ARG, "vkg_st_add_tensor_as: tensor '%s' is NULL", name ? name : "");
  if (!dtype) return vkg_st_add_tensor(w, name, t);
  const char *nm = name ? name : "";
  int dt = dtype_lookup(dtype);
  if (dt != ST_F32 && dt != ST_F16 && dt != ST_BF16) {
    vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' cannot be stored as \"%.40s\"", nm, dtype);
    vkg__hint("floating-point tensors are stored as F32, F16 or BF16");
    return VKG_ERR_ARG;
  }
  if (t->dtype != VKG_F32 && t->dtype != VKG_F16) {
    vkg__fail(VKG_ERR_ARG, "safetensors writer: tensor '%s' is %s, not floating point; it cannot be stored as %s", nm,
              vkg_dtype_str(t->dtype), dtype);
    return VKG_ERR_ARG;
  }
  if ((dt == ST_F32 && t->dtype == VKG_F32) || (dt == ST_F16 && t->dtype == VKG_F16))
    return vkg_st_add_tensor(w, name, t);
  int64_t sh[ST_MAX_DIMS];
  for (int i = 0; i < t->ndim; i++)
    sh[i] = t->shape[i];
  size_t n = vkg_tensor_numel(t);
  float *f = malloc(n * 4 + 1);
  unsigned char *out = malloc(n * dtypes[dt].size + 1);
  vkg_status s = f && out ? VKG_OK : vkg__fail(VKG_ERR_OOM, "out of host memory converting tensor '%s'", nm);
  if (!s) s = vkg_tensor_download_f32(t, f, n);
  for (size_t i = 0; !s && i < n; i++) {
    if (!isfinite(f[i])) {
      s = vkg__fail(VKG_ERR_NUMERIC, "safetensors writer: tensor '%s' holds %s at element %zu of %zu", nm,
                    isnan(f[i]) ? "NaN" : "an infinity", i, n);
      break;
    }
    uint32_t u;
    if (dt == ST_F32) {
      memcpy(&u, &f[i], 4);
    } else {
      u = dt == ST_F16 ? vkg__f32_to_f16(f[i]) : vkg__f32_to_bf16(f[i]);
      unsigned inf = dt == ST_F16 ? (u & 0x7fffu) == 0x7c00u : (u & 0x7fffu) == 0x7f80u;
      if (inf) {
        s = vkg__fail(VKG_ERR_NUMERIC, "safetensors writer: tensor '%s' element %zu is %g, beyond the range of %s", nm,
                      i, (double)f[i], dtype);
        vkg__hint("store the weights as %s", dt == ST_F16 ? "bf16 or f32" : "f32");
        break;
      }
    }
    for (size_t k = 0; k < dtypes[dt].size; k++) /* little-endian, whatever the host */
      out[i * dtypes[dt].size + k] = (unsigned char)(u >> (8 * k));
  }
  free(f);
  if (s) {
    free(out);
    return s;
  }
  return add_owned(w, name, dtypes[dt].name, t->ndim, sh, out, n * dtypes[dt].size);
}
