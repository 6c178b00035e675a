/* Audio files: the RIFF/WAVE reader (every size checked against the file before anything is read
 * through it), resampling, the 16-bit PCM writer, folders of clips, and mu-law companding.
 *
 * A WAV file is "RIFF" <size> "WAVE" followed by chunks, each <id:4> <size:4, little-endian> <data>
 * padded to an even length. The reader walks the chunks inside the RIFF size, takes exactly one "fmt "
 * and one "data" (fmt first) and skips the others (LIST, fact, cue, ...). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#define MU 255.0

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

// ---- resampling ----

/* Hann-windowed sinc, zero crossings on each side of the kernel. */
#define SINC_ZEROS 16

/* x (n) at rate `from` -> *out (*m) at rate `to`. The kernel is a low-pass at fc = min(from, to) / 2,
 * i.e. sinc(fc' (t - j)) in source samples with fc' = min(1, to / from), windowed by a Hann window over
 * SINC_ZEROS zero crossings on each side; each output's taps are normalized to sum to 1, which also
 * handles the ends of the clip (missing taps are left out, not taken as zeros). */
static vkg_status resample(const char *name, const float *x, size_t n, int from, int to, float **out, size_t *m) {
  *out = NULL, *m = 0;
  size_t len = (size_t)((uint64_t)n * (uint64_t)to / (uint64_t)from);
  float *y = malloc(sizeof *y * (len ? len : 1));
  if (!y) return vkg__fail(VKG_ERR_OOM, "out of host memory resampling '%s'", name);
  double fc = to < from ? (double)to / from : 1.0; /* cutoff in cycles per source sample, times 2 */
  double half = SINC_ZEROS / fc;                   /* half-width in source samples */
  for (size_t i = 0; i < len; i++) {
    double t = (double)i * from / to; /* output i's time in source samples */
    long j0 = (long)ceil(t - half), j1 = (long)floor(t + half);
    if (j0 < 0) j0 = 0;
    if (j1 > (long)n - 1) j1 = (long)n - 1;
    double acc = 0, wsum = 0;
    for (long j = j0; j <= j1; j++) {
      double d = (t - (double)j) * fc, w;
      if (fabs(d) >= SINC_ZEROS) continue;
      double sinc = d == 0 ? 1.0 : sin(M_PI * d) / (M_PI * d);
      w = sinc * (0.5 + 0.5 * cos(M_PI * d / SINC_ZEROS));
      acc += w * x[j], wsum += w;
    }
    y[i] = wsum != 0 ? (float)(acc / wsum) : 0.0f;
  }
  *out = y, *m = len;
  return VKG_OK;
}

// ---- the reader ----

struct fmt {
  unsigned tag, channels, rate, align, bits;
};

/* The fmt chunk's fields, checked for a format this reader decodes. */
static vkg_status parse_fmt(const char *name, const uint8_t *p, uint32_t size, struct fmt *f) {
  if (size < 16) return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': fmt chunk of %u bytes, expected at least 16", name, size);
  f->tag = rd16(p), f->channels = rd16(p + 2), f->rate = rd32(p + 4), f->align = rd16(p + 12), f->bits = rd16(p + 14);
  if (f->tag == 0xFFFE) { /* WAVE_FORMAT_EXTENSIBLE: the real tag is the subformat GUID's first two bytes */
    if (size < 40 || rd16(p + 16) < 22)
      return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': extensible fmt chunk of %u bytes, expected at least 40", name, size);
    f->tag = rd16(p + 24);
  }
  if (f->tag != 1 && f->tag != 3) {
    vkg_status s = vkg__fail(VKG_ERR_FORMAT, "WAV '%s': format tag %u is not PCM (1) or IEEE float (3)", name, f->tag);
    vkg__hint("convert it to PCM, e.g. sox in.wav -e signed -b 16 out.wav");
    return s;
  }
  if (f->channels < 1 || f->channels > 64)
    return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': %u channels, expected 1 to 64", name, f->channels);
  if (f->rate < VKG_WAV_MIN_RATE || f->rate > VKG_WAV_MAX_RATE)
    return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': sample rate %u Hz is outside %d..%d", name, f->rate, VKG_WAV_MIN_RATE,
                     VKG_WAV_MAX_RATE);
  int ok = f->tag == 1 ? (f->bits == 8 || f->bits == 16 || f->bits == 24 || f->bits == 32) : f->bits == 32;
  if (!ok)
    return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': %u-bit %s samples are not supported (PCM: 8, 16, 24, 32; float: 32)",
                     name, f->bits, f->tag == 1 ? "PCM" : "float");
  if (f->align != f->channels * f->bits / 8)
    return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': block align %u, expected %u (channels %u x %u bits)", name, f->align,
                     f->channels * f->bits / 8, f->channels, f->bits);
  return VKG_OK;
}

/* One sample of frame data p, channel c, as a float. */
static float sample_at(const struct fmt *f, const uint8_t *p) {
  switch (f->bits) {
  case 8: return ((int)p[0] - 128) / 128.0f;
  case 16: return (float)(int16_t)rd16(p) / 32768.0f;
  case 24:
    return (float)((int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) >> 8) / 8388608.0f;
  default:
    if (f->tag == 3) {
      uint32_t u = rd32(p);
      float v;
      memcpy(&v, &u, 4);
      return v;
    }
    return (float)((double)(int32_t)rd32(p) / 2147483648.0);
  }
}

vkg_status vkg_wav_decode(const char *name, const uint8_t *d, size_t n, int rate, struct vkg_audio *out) {
  memset(out, 0, sizeof *out);
  if (rate != 0 && (rate < VKG_WAV_MIN_RATE || rate > VKG_WAV_MAX_RATE))
    return vkg__fail(VKG_ERR_ARG, "WAV '%s': target rate %d Hz is outside %d..%d", name, rate, VKG_WAV_MIN_RATE,
                     VKG_WAV_MAX_RATE);
  if (n < 12 || memcmp(d, "RIFF", 4) || memcmp(d + 8, "WAVE", 4)) {
    vkg_status s = vkg__fail(VKG_ERR_FORMAT, "'%s' is not a WAV file (no RIFF/WAVE header)", name);
    vkg__hint("vkgen reads RIFF/WAVE files with PCM or 32-bit float samples");
    return s;
  }
  uint64_t riff = rd32(d + 4);
  if (riff < 4 || riff > n - 8)
    return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': RIFF size %llu does not fit the file of %zu bytes (truncated?)", name,
                     (unsigned long long)riff, n);
  uint64_t end = 8 + riff, off = 12;
  struct fmt f = {0};
  int have_fmt = 0;
  const uint8_t *data = NULL;
  uint32_t data_size = 0;
  while (off < end) {
    if (end - off < 8)
      return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': truncated chunk header at offset %llu (%llu bytes left)", name,
                       (unsigned long long)off, (unsigned long long)(end - off));
    const uint8_t *h = d + off;
    uint32_t size = rd32(h + 4);
    char id[5];
    for (int i = 0; i < 4; i++)
      id[i] = isprint(h[i]) ? (char)h[i] : '?';
    id[4] = 0;
    if (size > end - off - 8)
      return vkg__fail(VKG_ERR_FORMAT,
                       "WAV '%s': chunk '%s' at offset %llu has size %u, past the end (%llu bytes left)", name, id,
                       (unsigned long long)off, size, (unsigned long long)(end - off - 8));
    if (!memcmp(h, "fmt ", 4)) {
      if (have_fmt)
        return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': a second fmt chunk at offset %llu", name, (unsigned long long)off);
      vkg_status s = parse_fmt(name, h + 8, size, &f);
      if (s) return s;
      have_fmt = 1;
    } else if (!memcmp(h, "data", 4)) {
      if (data)
        return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': a second data chunk at offset %llu", name, (unsigned long long)off);
      if (!have_fmt) return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': data chunk before the fmt chunk", name);
      if (size % f.align)
        return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': data chunk of %u bytes is not a whole number of %u-byte frames",
                         name, size, f.align);
      data = h + 8, data_size = size;
    }
    /* The pad byte of an odd-sized chunk; writers often leave it out after the last chunk. */
    off += 8 + (uint64_t)size + (size & 1);
  }
  if (!have_fmt) return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': no fmt chunk", name);
  if (!data) return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': no data chunk", name);

  size_t frames = data_size / f.align;
  float *x = malloc(sizeof *x * (frames ? frames : 1));
  if (!x) return vkg__fail(VKG_ERR_OOM, "out of host memory for WAV '%s' (%zu frames)", name, frames);
  unsigned bps = f.bits / 8;
  for (size_t i = 0; i < frames; i++) {
    const uint8_t *fr = data + i * f.align;
    double acc = 0;
    for (unsigned c = 0; c < f.channels; c++) {
      float v = sample_at(&f, fr + c * bps);
      if (!isfinite(v) || fabsf(v) > VKG_WAV_MAX_FLOAT) {
        free(x);
        return vkg__fail(VKG_ERR_FORMAT, "WAV '%s': sample %zu of channel %u is %g, not a finite number within +-%g",
                         name, i, c, (double)v, (double)VKG_WAV_MAX_FLOAT);
      }
      acc += v;
    }
    x[i] = (float)(acc / f.channels);
  }
  out->rate = (int)f.rate, out->n = frames, out->samples = x;
  if (rate && rate != (int)f.rate) {
    float *y;
    size_t m;
    vkg_status s = resample(name, x, frames, (int)f.rate, rate, &y, &m);
    free(x);
    out->samples = NULL;
    if (s) return s;
    out->rate = rate, out->n = m, out->samples = y;
  }
  return VKG_OK;
}

vkg_status vkg_wav_load(const char *path, int rate, struct vkg_audio *out) {
  memset(out, 0, sizeof *out);
  unsigned char *buf;
  size_t n;
  vkg_status s = vkg__read_file(path, "WAV", VKG_WAV_MAX_FILE, &buf, &n);
  if (!s) s = vkg_wav_decode(path, buf, n, rate, out);
  free(buf);
  return s;
}

void vkg_audio_free(struct vkg_audio *a) {
  if (!a) return;
  free(a->samples);
  memset(a, 0, sizeof *a);
}

// ---- the writer ----

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v), put16(p + 2, v >> 16); }

vkg_status vkg_wav_write(const char *path, const float *x, size_t n, int rate) {
  if (rate < VKG_WAV_MIN_RATE || rate > VKG_WAV_MAX_RATE)
    return vkg__fail(VKG_ERR_ARG, "WAV '%s': rate %d Hz is outside %d..%d", path, rate, VKG_WAV_MIN_RATE,
                     VKG_WAV_MAX_RATE);
  if (n > (0xFFFFFFFFu - 36) / 2)
    return vkg__fail(VKG_ERR_ARG, "WAV '%s': %zu samples are too many for one file", path, n);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return vkg__fail(VKG_ERR_ARG, "WAV '%s': sample %zu is not a finite number", path, i);
  size_t bytes = 44 + 2 * n;
  uint8_t *b = malloc(bytes);
  if (!b) return vkg__fail(VKG_ERR_OOM, "out of host memory writing WAV '%s'", path);
  memcpy(b, "RIFF", 4), put32(b + 4, (uint32_t)(bytes - 8)), memcpy(b + 8, "WAVEfmt ", 8);
  put32(b + 16, 16), put16(b + 20, 1), put16(b + 22, 1), put32(b + 24, (uint32_t)rate);
  put32(b + 28, (uint32_t)rate * 2), put16(b + 32, 2), put16(b + 34, 16);
  memcpy(b + 36, "data", 4), put32(b + 40, (uint32_t)(2 * n));
  for (size_t i = 0; i < n; i++) {
    float v = x[i] < -1 ? -1 : x[i] > 1 ? 1 : x[i];
    put16(b + 44 + 2 * i, (uint16_t)(int16_t)lrintf(v * 32767.0f));
  }
  vkg_status s = vkg__write_file(path, b, bytes);
  free(b);
  return s;
}

// ---- mu-law ----

void vkg_mulaw_encode(const float *x, size_t n, uint8_t *classes) {
  for (size_t i = 0; i < n; i++) {
    double v = x[i] != x[i] ? 0 : x[i] < -1 ? -1 : x[i] > 1 ? 1 : x[i];
    double y = (v < 0 ? -1 : 1) * log1p(MU * fabs(v)) / log1p(MU);
    long c = lround((y + 1) / 2 * 255);
    classes[i] = (uint8_t)(c < 0 ? 0 : c > 255 ? 255 : c);
  }
}

void vkg_mulaw_decode(const uint8_t *classes, size_t n, float *x) {
  for (size_t i = 0; i < n; i++) {
    double y = 2.0 * classes[i] / 255 - 1;
    x[i] = (float)((y < 0 ? -1 : 1) * (pow(1 + MU, fabs(y)) - 1) / MU);
  }
}

// ---- folders ----

struct names {
  char **v;
  int n, cap;
};

static int names_add(struct names *l, const char *s) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    char **nv = realloc(l->v, sizeof *nv * (size_t)cap);
    if (!nv) return -1;
    l->v = nv, l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(s))) return -1;
  l->n++;
  return 0;
}

static void names_free(struct names *l) {
  for (int i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int is_wav_name(const char *name) {
  size_t n = strlen(name);
  return n > 4 && name[n - 4] == '.' && tolower((unsigned char)name[n - 3]) == 'w' &&
         tolower((unsigned char)name[n - 2]) == 'a' && tolower((unsigned char)name[n - 1]) == 'v';
}

#define MAX_DEPTH 16

/* Adds the .wav paths under dir/rel (rel "" at the top) to out, relative to dir. Symbolic links to
 * directories are not followed (no loops); links to files are. */
static vkg_status walk(const char *dir, const char *rel, int depth, struct names *out) {
  char path[4096];
  snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
  DIR *d = opendir(path);
  if (!d) {
    vkg_status s = vkg__fail(VKG_ERR_IO, "cannot open audio folder '%s': %s", path, strerror(errno));
    if (!depth)
      vkg__hint("pass a directory of .wav files, e.g. %s (Debian package asterisk-core-sounds-en-wav)",
                VKG_SPEECH_EN_DIR);
    return s;
  }
  vkg_status s = VKG_OK;
  struct dirent *e;
  while (!s && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char sub[4096], full[4096];
    int a = snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    int b = snprintf(full, sizeof full, "%s/%s", dir, sub);
    if (a < 0 || b < 0 || (size_t)a >= sizeof sub || (size_t)b >= sizeof full) {
      s = vkg__fail(VKG_ERR_IO, "audio folder '%s': path of '%s' is too long", dir, e->d_name);
      break;
    }
    struct stat ls, st;
    if (lstat(full, &ls) != 0) continue;
    if (S_ISDIR(ls.st_mode)) {
      if (depth + 1 >= MAX_DEPTH)
        s = vkg__fail(VKG_ERR_IO, "audio folder '%s': folders nested deeper than %d at '%s'", dir, MAX_DEPTH, sub);
      else
        s = walk(dir, sub, depth + 1, out);
    } else if (is_wav_name(e->d_name) && stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
      if (names_add(out, sub)) s = vkg__fail(VKG_ERR_OOM, "out of host memory listing '%s'", dir);
    }
  }
  closedir(d);
  return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The first-level folder of a relative path ("" for a file at the top), in buf. */
static void class_of(const char *rel, char *buf, size_t n) {
  const char *slash = strchr(rel, '/');
  size_t k = slash ? (size_t)(slash - rel) : 0;
  if (k >= n) k = n - 1;
  memcpy(buf, rel, k);
  buf[k] = 0;
}

vkg_status vkg_audio_folder_load(const char *dir, int rate, struct vkg_audio_folder *out) {
  memset(out, 0, sizeof *out);
  if (!dir) return vkg__fail(VKG_ERR_ARG, "audio folder: no directory given");
  if (rate < VKG_WAV_MIN_RATE || rate > VKG_WAV_MAX_RATE)
    return vkg__fail(VKG_ERR_ARG, "audio folder '%s': rate %d Hz is outside %d..%d", dir, rate, VKG_WAV_MIN_RATE,
                     VKG_WAV_MAX_RATE);
  struct names files = {0}, classes = {0};
  vkg_status s = walk(dir, "", 0, &files);
  if (!s && files.n == 0) {
    s = vkg__fail(VKG_ERR_IO, "audio folder '%s' holds no .wav files", dir);
    vkg__hint("for speech: apt-get install asterisk-core-sounds-en-wav, then --data %s", VKG_SPEECH_EN_DIR);
  }
  if (s) {
    names_free(&files);
    return s;
  }
  qsort(files.v, (size_t)files.n, sizeof *files.v, cmp_str);
  /* Classes: the distinct first-level folders, sorted (the file order is sorted, so equal names are
   * neighbours only within one folder; sort the distinct list separately). */
  char cls[1024];
  for (int i = 0; i < files.n && !s; i++) {
    class_of(files.v[i], cls, sizeof cls);
    int found = 0;
    for (int k = 0; k < classes.n && !found; k++)
      found = !strcmp(classes.v[k], cls);
    if (!found && names_add(&classes, cls)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  if (!s) qsort(classes.v, (size_t)classes.n, sizeof *classes.v, cmp_str);
  out->rate = rate, out->n_clips = files.n, out->n_classes = classes.n;
  out->start = calloc((size_t)files.n + 1, sizeof *out->start);
  out->label = calloc((size_t)files.n, sizeof *out->label);
  if (!s && (!out->start || !out->label)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  size_t total = 0, cap = 0;
  for (int i = 0; i < files.n && !s; i++) {
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", dir, files.v[i]);
    struct vkg_audio a;
    s = vkg_wav_load(full, rate, &a);
    if (s) break;
    if (total + a.n > cap) {
      size_t nc = cap ? cap : 1 << 16;
      while (nc < total + a.n)
        nc *= 2;
      float *ns = realloc(out->samples, sizeof *ns * nc);
      if (!ns) {
        vkg_audio_free(&a);
        s = vkg__fail(VKG_ERR_OOM, "out of host memory loading audio folder '%s'", dir);
        break;
      }
      out->samples = ns, cap = nc;
    }
    if (a.n) memcpy(out->samples + total, a.samples, sizeof *a.samples * a.n);
    total += a.n;
    out->start[i + 1] = total;
    class_of(files.v[i], cls, sizeof cls);
    for (int k = 0; k < classes.n; k++)
      if (!strcmp(classes.v[k], cls)) out->label[i] = k;
    vkg_audio_free(&a);
  }
  out->paths = files.v, out->class_names = classes.v;
  if (s) {
    vkg_audio_folder_free(out);
    return s;
  }
  return VKG_OK;
}

void vkg_audio_folder_free(struct vkg_audio_folder *f) {
  if (!f) return;
  for (int i = 0; i < f->n_clips && f->paths; i++)
    free(f->paths[i]);
  for (int i = 0; i < f->n_classes && f->class_names; i++)
    free(f->class_names[i]);
  free(f->paths), free(f->class_names), free(f->samples), free(f->start), free(f->label);
  memset(f, 0, sizeof *f);
}
