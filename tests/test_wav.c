/* WAV files and audio folders: files of every supported format written byte by byte here and read
 * back exactly (8/16/24/32-bit PCM, 32-bit float, WAVE_FORMAT_EXTENSIBLE, several channels mixed
 * down, odd-sized chunks with and without their pad byte), the 16-bit writer round trip, resampling
 * (a tone keeps its shape, one above the new Nyquist frequency is removed, a constant stays exact),
 * mu-law (every class survives decode then encode; the error of encode then decode is within half a
 * step), recursive folders with classes, and the errors of malformed files. Host only. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

// ---- writing test files byte by byte ----

struct buf {
  uint8_t b[1 << 16];
  size_t n;
};
static void put(struct buf *b, const void *p, size_t n) {
  memcpy(b->b + b->n, p, n);
  b->n += n;
}
static void u16(struct buf *b, uint32_t v) { put(b, (uint8_t[]){(uint8_t)v, (uint8_t)(v >> 8)}, 2); }
static void u32(struct buf *b, uint32_t v) { u16(b, v), u16(b, v >> 16); }

/* A WAV file: fmt (plain or extensible), an optional odd-sized LIST chunk before data (with its pad
 * byte), then data; RIFF size from the content. */
static void make_wav(struct buf *b, int tag, int ext, int ch, int rate, int bits, const void *data, size_t bytes,
                     int list) {
  b->n = 0;
  put(b, "RIFF\0\0\0\0WAVEfmt ", 16);
  u32(b, ext ? 40 : 16);
  u16(b, ext ? 0xFFFE : (uint32_t)tag), u16(b, (uint32_t)ch), u32(b, (uint32_t)rate);
  u32(b, (uint32_t)(rate * ch * bits / 8)), u16(b, (uint32_t)(ch * bits / 8)), u16(b, (uint32_t)bits);
  if (ext) {
    u16(b, 22), u16(b, (uint32_t)bits), u32(b, 0), u16(b, (uint32_t)tag);
    static const uint8_t guid_tail[14] = {0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71};
    put(b, guid_tail, 14);
  }
  if (list)
    put(b,
        "LIST\x05\0\0\0"
        "abcde\0",
        14);
  put(b, "data", 4), u32(b, (uint32_t)bytes), put(b, data, bytes);
  uint32_t riff = (uint32_t)(b->n - 8);
  memcpy(b->b + 4, &riff, 4); /* little-endian host */
}

static int contains(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

// ---- the checks ----

/* Every sample format: random frames encoded here, decoded by the reader, compared exactly. */
static void formats(void) {
  enum { F = 37 };
  static const struct { int tag, bits; } kinds[] = {{1, 8}, {1, 16}, {1, 24}, {1, 32}, {3, 32}};
  for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
    for (int ext = 0; ext < 2; ext++)
      for (int ch = 1; ch <= 3; ch += 2) {
        int bits = kinds[k].bits, bps = bits / 8;
        uint8_t raw[F * 3 * 4];
        float want[F];
        for (int i = 0; i < F; i++) {
          double acc = 0;
          for (int c = 0; c < ch; c++) {
            uint8_t *p = raw + (i * ch + c) * bps;
            double v;
            if (kinds[k].tag == 3) {
              float x = th_uniform(-1.2f, 1.2f);
              memcpy(p, &x, 4);
              v = x;
            } else {
              /* Extremes first, then random codes. */
              int64_t lo = bits == 8 ? 0 : -((int64_t)1 << (bits - 1)),
                      hi = bits == 8 ? 255 : ((int64_t)1 << (bits - 1)) - 1;
              int64_t q = i == 0 ? lo : i == 1 ? hi : lo + (int64_t)((double)th_uniform(0, 1) * (double)(hi - lo));
              for (int j = 0; j < bps; j++)
                p[j] = (uint8_t)((uint64_t)q >> (8 * j));
              v = bits == 8 ? (q - 128) / 128.0 : (double)q / (double)((int64_t)1 << (bits - 1));
            }
            acc += v;
          }
          want[i] = (float)(acc / ch);
        }
        struct buf b;
        make_wav(&b, kinds[k].tag, ext, ch, 11025, bits, raw, (size_t)F * ch * bps, k & 1);
        struct vkg_audio a;
        char what[96];
        snprintf(what, sizeof what, "%s %d-bit%s, %d channel(s)", kinds[k].tag == 3 ? "float" : "PCM", bits,
                 ext ? " (extensible)" : "", ch);
        if (th_ok(vkg_wav_decode("t.wav", b.b, b.n, 0, &a), what)) {
          th_check(a.rate == 11025 && a.n == F, "%s: rate %d, %zu frames", what, a.rate, a.n);
          if (a.n == F) th_close(what, a.samples, want, F, 1e-7f, 1e-6f);
          vkg_audio_free(&a);
        }
      }
  /* The pad byte of an odd last chunk may be missing. */
  struct buf b;
  uint8_t one = 200;
  make_wav(&b, 1, 0, 1, 8000, 8, &one, 1, 0);
  struct vkg_audio a;
  if (th_ok(vkg_wav_decode("t.wav", b.b, b.n, 0, &a), "odd data chunk without its pad byte"))
    th_check(a.n == 1 && a.samples[0] == 72 / 128.0f, "the odd chunk's one sample: %g", a.n ? a.samples[0] : -9);
  vkg_audio_free(&a);
}

/* The writer: 16-bit PCM, read back by the reader, equal to the rounding it documents. */
static void writer(void) {
  enum { N = 1001 };
  float x[N], want[N];
  for (int i = 0; i < N; i++) {
    x[i] = i < 3 ? (float[]){-1.5f, 1.5f, 0}[i] : th_uniform(-1, 1);
    float c = x[i] < -1 ? -1 : x[i] > 1 ? 1 : x[i];
    want[i] = (float)lrintf(c * 32767.0f) / 32768.0f;
  }
  const char *p = th_tmppath("w.wav");
  th_ok(vkg_wav_write(p, x, N, 16000), "write a WAV");
  struct vkg_audio a;
  if (th_ok(vkg_wav_load(p, 0, &a), "read it back")) {
    th_check(a.rate == 16000 && a.n == N, "written: %d Hz, %zu samples", a.rate, a.n);
    if (a.n == N) th_close("16-bit round trip", a.samples, want, N, 0, 0);
    vkg_audio_free(&a);
  }
  size_t n;
  void *bytes = th_read_file(p, &n);
  th_check(n == 44 + 2 * N, "the file is 44 + 2N bytes: %zu", n);
  free(bytes);
  /* A bad sample leaves no file behind and an existing file untouched. */
  x[500] = NAN;
  vkg_status s = vkg_wav_write(p, x, N, 16000);
  th_check(s == VKG_ERR_ARG && contains(vkg_last_error(), "sample 500"), "NaN refused: %s", vkg_last_error());
  bytes = th_read_file(p, &n);
  th_check(bytes && n == 44 + 2 * N, "the earlier file is untouched");
  free(bytes);
  s = vkg_wav_write(th_tmppath("new.wav"), x, N, 16000);
  th_check(s && access(th_tmppath("new.wav"), F_OK) != 0, "no partial file");
  x[500] = 0;
  s = vkg_wav_write(th_tmpdir(), x, N, 16000);
  th_check(s != VKG_OK, "a directory as the output is refused: %s", vkg_last_error());
}

static double rms(const float *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += (double)x[i] * x[i];
  return sqrt(s / (double)n);
}

/* Resampling: through the writer-independent float format so the input is exact. */
static void resampling(void) {
  static float x[44100];
  struct buf b;
  struct vkg_audio a;
  /* 440 Hz at 44.1 kHz -> 8 kHz: the same tone (away from the ends, where the kernel is cut). */
  for (int i = 0; i < 8820; i++)
    x[i] = 0.8f * (float)sin(2 * M_PI * 440 * i / 44100.0);
  make_wav(&b, 3, 0, 1, 44100, 32, x, 8820 * 4, 0);
  if (th_ok(vkg_wav_decode("t.wav", b.b, b.n, 8000, &a), "44.1 kHz -> 8 kHz")) {
    th_check(a.rate == 8000 && a.n == 1600, "%zu samples at %d Hz (0.2 s)", a.n, a.rate);
    float want[1400];
    for (int i = 0; i < 1400; i++)
      want[i] = 0.8f * (float)sin(2 * M_PI * 440 * (i + 100) / 8000.0);
    if (a.n == 1600) th_close("440 Hz tone resampled", a.samples + 100, want, 1400, 2e-3f, 0);
    vkg_audio_free(&a);
  }
  /* 6 kHz (above 4 kHz, the new Nyquist frequency) is removed: below -40 dB. */
  for (int i = 0; i < 8820; i++)
    x[i] = 0.8f * (float)sin(2 * M_PI * 6000 * i / 44100.0);
  make_wav(&b, 3, 0, 1, 44100, 32, x, 8820 * 4, 0);
  if (th_ok(vkg_wav_decode("t.wav", b.b, b.n, 8000, &a), "a 6 kHz tone to 8 kHz")) {
    double r = a.n == 1600 ? rms(a.samples + 100, 1400) / (0.8 / sqrt(2)) : 1;
    th_check(r < 0.01, "a tone above the new Nyquist frequency is attenuated to %.2g (< 0.01)", r);
    vkg_audio_free(&a);
  }
  /* Up: 1 kHz at 8 kHz -> 16 kHz. */
  for (int i = 0; i < 4000; i++)
    x[i] = 0.5f * (float)sin(2 * M_PI * 1000 * i / 8000.0 + 0.3);
  make_wav(&b, 3, 0, 1, 8000, 32, x, 4000 * 4, 0);
  if (th_ok(vkg_wav_decode("t.wav", b.b, b.n, 16000, &a), "8 kHz -> 16 kHz")) {
    float want[7000];
    for (int i = 0; i < 7000; i++)
      want[i] = 0.5f * (float)sin(2 * M_PI * 1000 * (i + 500) / 16000.0 + 0.3);
    th_check(a.n == 8000, "8000 samples: %zu", a.n);
    if (a.n == 8000) th_close("1 kHz tone upsampled", a.samples + 500, want, 7000, 2e-3f, 0);
    vkg_audio_free(&a);
  }
  /* A constant stays exact at every sample, the ends included (rate ratio 3/7). */
  for (int i = 0; i < 700; i++)
    x[i] = 0.25f;
  make_wav(&b, 3, 0, 1, 7000, 32, x, 700 * 4, 0);
  if (th_ok(vkg_wav_decode("t.wav", b.b, b.n, 3000, &a), "7 kHz -> 3 kHz")) {
    float want[300];
    for (int i = 0; i < 300; i++)
      want[i] = 0.25f;
    th_check(a.n == 300, "300 samples: %zu", a.n);
    if (a.n == 300) th_close("a constant resampled", a.samples, want, 300, 1e-6f, 0);
    vkg_audio_free(&a);
  }
}

static void mulaw(void) {
  uint8_t c[256], c2[256];
  float x[256];
  for (int i = 0; i < 256; i++)
    c[i] = (uint8_t)i;
  vkg_mulaw_decode(c, 256, x);
  vkg_mulaw_encode(x, 256, c2);
  th_check(!memcmp(c, c2, 256), "every class survives decode then encode");
  int mono = 1;
  for (int i = 1; i < 256; i++)
    mono &= x[i] > x[i - 1];
  th_check(mono && x[0] == -1.0f && x[255] == 1.0f, "decoded classes rise from -1 to 1");
  /* Encode then decode: the nearest class in the companded domain, so within half a step there. */
  int ok = 1;
  for (int i = 0; i < 2000; i++) {
    float v = i < 4 ? (float[]){0, -1, 1, 1e-6f}[i] : th_uniform(-1, 1);
    uint8_t k;
    vkg_mulaw_encode(&v, 1, &k);
    double y = (v < 0 ? -1 : 1) * log1p(255 * fabs(v)) / log1p(255.0), yk = 2.0 * k / 255 - 1;
    ok &= fabs(y - yk) <= 1.0 / 255 + 1e-9;
  }
  th_check(ok, "encoding picks the nearest class in the companded domain");
  float odd[4] = {NAN, 5.0f, -5.0f, 0};
  vkg_mulaw_encode(odd, 4, c2);
  th_check(c2[0] == 128 && c2[1] == 255 && c2[2] == 0 && c2[3] == 128, "NaN -> 128, out of range clamped: %d %d %d %d",
           c2[0], c2[1], c2[2], c2[3]);
}

/* Malformed files: each is refused with an error naming the file and the problem. */
static void bad(void) {
  int16_t pcm[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  struct buf good, b;
  make_wav(&good, 1, 0, 2, 8000, 16, pcm, sizeof pcm, 1);
  struct {
    const char *what, *expect;
    size_t off; /* where to patch (or the length to cut to, for truncations) */
    uint32_t value;
    int kind; /* 0: patch u32, 1: patch u16, 2: truncate to off */
  } cases[] = {
      {"not RIFF", "not a WAV", 0, 0x46464952 ^ 1, 0},
      {"RIFF size past the end", "RIFF size", 4, 0x7fffffff, 0},
      {"fmt size past the end", "past the end", 16, 1000, 0},
      {"short fmt", "at least 16", 16, 14, 0},
      {"zero channels", "0 channels", 22, 0, 1},
      {"absurd rate", "sample rate 4000000000", 24, 4000000000u, 0},
      {"zero rate", "sample rate 0", 24, 0, 0},
      {"12-bit", "12-bit", 34, 12, 1},
      {"a-law", "format tag 6", 20, 6, 1},
      {"block align", "block align", 32, 3, 1},
      {"data size past the end", "past the end", 54, 17, 0},
      {"odd data size", "whole number", 54, 15, 0},
      {"no data chunk", "no data chunk", 50, 0x61746164 ^ 0x20, 0},
      {"truncated header", "not a WAV", 10, 0, 2},
      {"truncated in fmt", "RIFF size", 30, 0, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    b = good;
    if (cases[i].kind == 2)
      b.n = cases[i].off;
    else
      memcpy(b.b + cases[i].off, &cases[i].value, cases[i].kind ? 2 : 4);
    /* For "odd data size" the chunk then ends one byte early: data still fits. "no data chunk" renames it. */
    struct vkg_audio a;
    vkg_status s = vkg_wav_decode("bad.wav", b.b, b.n, 0, &a);
    th_check(s == VKG_ERR_FORMAT && !a.samples && contains(vkg_last_error(), "bad.wav") &&
                 contains(vkg_last_error(), cases[i].expect),
             "%s: %s", cases[i].what, vkg_last_error());
  }
  /* Truncating the file without fixing the RIFF size: every length is refused, none crashes. */
  int all = 1;
  for (size_t n = 0; n < good.n; n++) {
    struct vkg_audio a;
    all &= vkg_wav_decode("cut.wav", good.b, n, 0, &a) == VKG_ERR_FORMAT;
  }
  th_check(all, "every truncation of a good file is refused");
  /* A chunk header cut inside the RIFF size. */
  b = good;
  b.n -= sizeof pcm + 8 - 3;
  uint32_t riff = (uint32_t)(b.n - 8);
  memcpy(b.b + 4, &riff, 4);
  struct vkg_audio a;
  vkg_status s = vkg_wav_decode("bad.wav", b.b, b.n, 0, &a);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), "truncated chunk header"), "cut chunk header: %s",
           vkg_last_error());
  float inf = INFINITY;
  make_wav(&b, 3, 0, 1, 8000, 32, &inf, 4, 0);
  s = vkg_wav_decode("inf.wav", b.b, b.n, 0, &a);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), "finite"), "infinite float: %s", vkg_last_error());
  s = vkg_wav_load(th_tmppath("missing.wav"), 0, &a);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), "missing.wav"), "missing file: %s", vkg_last_error());
}

static void write_at(const char *rel, const struct buf *b) { th_write_file(th_tmppath(rel), b->b, b->n); }

static void folders(void) {
  int16_t s1[3] = {1000, 2000, 3000}, s2[2] = {-1000, -2000}, s3[1] = {500};
  struct buf b;
  mkdir(th_tmppath("f"), 0755), mkdir(th_tmppath("f/zed"), 0755), mkdir(th_tmppath("f/amy"), 0755);
  mkdir(th_tmppath("f/amy/deep"), 0755), mkdir(th_tmppath("f/.hidden"), 0755);
  make_wav(&b, 1, 0, 1, 8000, 16, s1, sizeof s1, 0);
  write_at("f/zed/b.WAV", &b);
  make_wav(&b, 1, 0, 1, 8000, 16, s2, sizeof s2, 0);
  write_at("f/amy/deep/a.wav", &b);
  make_wav(&b, 1, 0, 1, 8000, 16, s3, sizeof s3, 0);
  write_at("f/top.wav", &b);
  write_at("f/.hidden/x.wav", &(struct buf){.n = 3});
  write_at("f/notes.txt", &(struct buf){.n = 3});
  struct vkg_audio_folder f;
  if (th_ok(vkg_audio_folder_load(th_tmppath("f"), 8000, &f), "load a folder")) {
    th_check(f.n_clips == 3 && f.n_classes == 3, "3 clips in 3 classes: %d, %d", f.n_clips, f.n_classes);
    if (f.n_clips == 3 && f.n_classes == 3) {
      th_check(!strcmp(f.paths[0], "amy/deep/a.wav") && !strcmp(f.paths[1], "top.wav") &&
                   !strcmp(f.paths[2], "zed/b.WAV"),
               "sorted paths: %s %s %s", f.paths[0], f.paths[1], f.paths[2]);
      th_check(!strcmp(f.class_names[0], "") && !strcmp(f.class_names[1], "amy") && !strcmp(f.class_names[2], "zed"),
               "classes sorted: '%s' '%s' '%s'", f.class_names[0], f.class_names[1], f.class_names[2]);
      th_check(f.label[0] == 1 && f.label[1] == 0 && f.label[2] == 2, "labels %d %d %d", f.label[0], f.label[1],
               f.label[2]);
      th_check(f.start[1] == 2 && f.start[2] == 3 && f.start[3] == 6 && f.samples[0] == -1000 / 32768.0f &&
                   f.samples[5] == 3000 / 32768.0f,
               "concatenated in path order");
    }
    vkg_audio_folder_free(&f);
  }
  /* One bad file stops the load, naming it. */
  write_at("f/zed/c.wav", &(struct buf){.b = "RIFF", .n = 4});
  vkg_status s = vkg_audio_folder_load(th_tmppath("f"), 8000, &f);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), "zed/c.wav") && !f.samples, "bad file named: %s",
           vkg_last_error());
  mkdir(th_tmppath("empty"), 0755);
  s = vkg_audio_folder_load(th_tmppath("empty"), 8000, &f);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), "no .wav"), "empty folder: %s", vkg_last_error());
  s = vkg_audio_folder_load(th_tmppath("nope"), 8000, &f);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), "nope"), "missing folder: %s", vkg_last_error());
  /* A symbolic link to a parent is not followed (no loop). */
  unlink(th_tmppath("f/zed/c.wav"));
  th_check(symlink("..", th_tmppath("f/zed/loop")) == 0, "make a loop");
  s = vkg_audio_folder_load(th_tmppath("f"), 8000, &f);
  th_check(s == VKG_OK && f.n_clips == 3, "a link to a parent folder is not followed");
  vkg_audio_folder_free(&f);
}

int main(void) {
  th_seed(5);
  formats();
  writer();
  resampling();
  mulaw();
  bad();
  folders();
  return th_finish(NULL); /* no device needed */
}
