/* One image file decoded (src/io/imagefile.c): PNGs this test encodes itself (every color type and
 * bit depth, palettes with transparency, all five row filters, Adam7 interlacing) against the pixels
 * they were made from; JPEGs made with libjpeg (baseline 4:4:4 and 4:2:0, progressive, grayscale,
 * restart markers) against libjpeg's own decode of the same bytes; and the hostile files that must be
 * refused with an error naming them: other formats under a .png name (PGM, Radiance HDR), sizes over
 * the limit, truncated data, a JPEG without scan data, a zlib stream that inflates past the declared
 * size. Host only: no device needed.
 *
 * With an argument DIR, also writes every file it makes into DIR (seeds for fuzz_imagefolder). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifdef VKGEN_TEST_LIBJPEG
#include <jpeglib.h>
#endif

#include "harness.h"
#include "internal.h"

static const char *seed_dir;

static void seed(const char *name, const unsigned char *b, size_t n) {
  if (!seed_dir) return;
  char p[512];
  snprintf(p, sizeof p, "%s/%s", seed_dir, name);
  FILE *f = fopen(p, "wb");
  if (f) {
    fwrite(b, 1, n, f);
    fclose(f);
  }
}

// ---- a byte buffer ----

struct buf {
  unsigned char *p;
  size_t n, cap;
};
static void put(struct buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = 2 * (b->n + n) + 64;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void put32(struct buf *b, uint32_t v) {
  unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
  put(b, c, 4);
}
static void chunk(struct buf *b, const char *type, const unsigned char *d, size_t n) {
  put32(b, (uint32_t)n);
  size_t at = b->n;
  put(b, type, 4);
  if (n) put(b, d, n);
  put32(b, (uint32_t)crc32(0, b->p + at, (uInt)(n + 4)));
}

// ---- a PNG encoder written from the specification ----

/* An image as samples: channels per pixel for its color type, each 0..2^depth-1 (palette indices for
 * type 3). */
struct png_img {
  int w, h, type, depth, interlace;
  const uint16_t *s;                /* (h, w, ch) */
  const unsigned char *plte, *trns; /* palette (3 bytes each) and its alpha, for type 3 */
  int nplte, ntrns;
};
static int png_channels(int type) { return type == 0 ? 1 : type == 2 ? 3 : type == 3 ? 1 : type == 4 ? 2 : 4; }

static int paeth(int a, int b, int c) {
  int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Appends the filtered rows of the sub-image of pixels (x0 + i*dx, y0 + j*dy) to raw. */
static void png_rows(struct buf *raw, const struct png_img *im, int x0, int y0, int dx, int dy) {
  int ch = png_channels(im->type), bits = ch * im->depth, bpp = bits < 8 ? 1 : bits / 8;
  int pw = im->w > x0 ? (im->w - x0 + dx - 1) / dx : 0, ph = im->h > y0 ? (im->h - y0 + dy - 1) / dy : 0;
  if (!pw || !ph) return;
  size_t rb = ((size_t)pw * bits + 7) / 8;
  unsigned char *prev = calloc(rb, 1), *cur = calloc(rb, 1), *out = malloc(rb);
  for (int j = 0; j < ph; j++) {
    memset(cur, 0, rb);
    for (int i = 0; i < pw; i++)
      for (int c = 0; c < ch; c++) {
        unsigned v = im->s[(((size_t)(y0 + j * dy)) * im->w + (x0 + i * dx)) * ch + c];
        size_t bit = ((size_t)i * ch + c) * im->depth;
        if (im->depth == 16)
          cur[bit / 8] = (unsigned char)(v >> 8), cur[bit / 8 + 1] = (unsigned char)v;
        else if (im->depth == 8)
          cur[bit / 8] = (unsigned char)v;
        else
          cur[bit / 8] |= (unsigned char)(v << (8 - im->depth - bit % 8));
      }
    int f = j % 5; /* every filter type in turn */
    for (size_t k = 0; k < rb; k++) {
      int a = k >= (size_t)bpp ? cur[k - bpp] : 0, b = prev[k], c = k >= (size_t)bpp ? prev[k - bpp] : 0;
      int pred = f == 0 ? 0 : f == 1 ? a : f == 2 ? b : f == 3 ? (a + b) / 2 : paeth(a, b, c);
      out[k] = (unsigned char)(cur[k] - pred);
    }
    unsigned char fb = (unsigned char)f;
    put(raw, &fb, 1);
    put(raw, out, rb);
    memcpy(prev, cur, rb);
  }
  free(prev), free(cur), free(out);
}

static struct buf png_encode(const struct png_img *im) {
  struct buf b = {0}, raw = {0};
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  put(&b, sig, 8);
  unsigned char ihdr[13] = {0};
  for (int k = 0; k < 4; k++)
    ihdr[k] = (unsigned char)(im->w >> (24 - 8 * k)), ihdr[4 + k] = (unsigned char)(im->h >> (24 - 8 * k));
  ihdr[8] = (unsigned char)im->depth, ihdr[9] = (unsigned char)im->type, ihdr[12] = (unsigned char)im->interlace;
  chunk(&b, "IHDR", ihdr, 13);
  if (im->type == 3) chunk(&b, "PLTE", im->plte, 3 * (size_t)im->nplte);
  if (im->ntrns) chunk(&b, "tRNS", im->trns, (size_t)im->ntrns);
  if (!im->interlace)
    png_rows(&raw, im, 0, 0, 1, 1);
  else {
    static const int ax[7] = {0, 4, 0, 2, 0, 1, 0}, ay[7] = {0, 0, 4, 0, 2, 0, 1};
    static const int adx[7] = {8, 8, 4, 4, 2, 2, 1}, ady[7] = {8, 8, 8, 4, 4, 2, 2};
    for (int p = 0; p < 7; p++)
      png_rows(&raw, im, ax[p], ay[p], adx[p], ady[p]);
  }
  uLongf zn = compressBound((uLong)raw.n);
  unsigned char *z = malloc(zn);
  compress2(z, &zn, raw.p, (uLong)raw.n, 9);
  /* Two IDAT chunks, to check they are joined. */
  chunk(&b, "IDAT", z, zn / 2);
  chunk(&b, "IDAT", z + zn / 2, zn - zn / 2);
  chunk(&b, "IEND", NULL, 0);
  free(z);
  free(raw.p);
  return b;
}

/* The RGBA8 pixel a PNG sample set means (16-bit samples to 8 bits by their high byte, as stb_image
 * does; the test allows 1 level for that rounding). */
static void png_expect(const struct png_img *im, size_t i, unsigned char px[4]) {
  int ch = png_channels(im->type);
  const uint16_t *s = im->s + i * ch;
  unsigned maxv = (1u << im->depth) - 1;
  unsigned v[4];
  for (int c = 0; c < ch; c++)
    v[c] = im->depth == 16 ? s[c] >> 8 : im->type == 3 ? s[c] : s[c] * 255u / maxv;
  if (im->type == 3) {
    for (int c = 0; c < 3; c++)
      px[c] = im->plte[3 * s[0] + c];
    px[3] = s[0] < im->ntrns ? im->trns[s[0]] : 255;
    return;
  }
  if (ch <= 2)
    px[0] = px[1] = px[2] = (unsigned char)v[0], px[3] = ch == 2 ? (unsigned char)v[1] : 255;
  else
    for (int c = 0; c < 4; c++)
      px[c] = c < ch ? (unsigned char)v[c] : 255;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned rnd(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (unsigned)(rng >> 32);
}

static void check_png(int type, int depth, int interlace, int w, int h) {
  int ch = png_channels(type);
  uint16_t *s = malloc(sizeof *s * (size_t)w * h * ch);
  unsigned maxv = (1u << depth) - 1;
  unsigned char plte[256 * 3], trns[256];
  int npl = type == 3 ? (int)maxv + 1 : 0;
  for (int i = 0; i < npl * 3; i++)
    plte[i] = (unsigned char)rnd();
  for (int i = 0; i < npl; i++)
    trns[i] = (unsigned char)rnd();
  for (size_t i = 0; i < (size_t)w * h * ch; i++)
    s[i] = (uint16_t)(rnd() & maxv);
  struct png_img im = {w, h, type, depth, interlace, s, plte, trns, npl, type == 3 ? npl / 2 : 0};
  struct buf b = png_encode(&im);
  char name[64];
  snprintf(name, sizeof name, "t%d-d%d-i%d-%dx%d.png", type, depth, interlace, w, h);
  seed(name, b.p, b.n);
  int gw, gh;
  unsigned char *px;
  vkg_status st = vkg__image_decode(name, b.p, b.n, &gw, &gh, NULL, &px);
  th_check(!st, "PNG %s decodes (%s)", name, vkg_last_error());
  if (!st) {
    th_check(gw == w && gh == h, "PNG %s: size %dx%d", name, gw, gh);
    int worst = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
      unsigned char e[4];
      png_expect(&im, i, e);
      for (int c = 0; c < 4; c++) {
        int d = abs((int)px[i * 4 + c] - e[c]);
        worst = d > worst ? d : worst;
      }
    }
    th_check(worst <= (depth == 16 ? 1 : 0), "PNG %s: every pixel as encoded (worst difference %d levels)", name,
             worst);
    free(px);
  }
  free(b.p);
  free(s);
}

// ---- refusals ----

static void expect_refused(const char *name, const unsigned char *b, size_t n, const char *why) {
  int w, h;
  unsigned char *px = (unsigned char *)1;
  seed(name, b, n);
  vkg_status s = vkg__image_decode(name, b, n, &w, &h, NULL, &px);
  const char *e = vkg_last_error();
  th_check(s == VKG_ERR_FORMAT && px == NULL && e && strstr(e, name) && strstr(e, why),
           "%s is refused with an error naming it and saying '%s' (got %s: %s)", name, why, vkg_status_str(s), e);
  if (!s) free(px);
}

static void hostile_files(void) {
  /* A 16-bit PGM and a truncated Radiance HDR, each named like a PNG (stb_image's PNM and HDR
   * decoders crash and hang on these). */
  const char pgm[] = "P5\n4 4\n65535\n\x01\x02\x03";
  expect_refused("a.png", (const unsigned char *)pgm, sizeof pgm - 1, "not a PNG or JPEG file (it is a PNM");
  const char hdr[] = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 8 +X 8\n\x02\x02\x00\x08\x7f";
  expect_refused("x.png", (const unsigned char *)hdr, sizeof hdr - 1, "Radiance HDR");
  expect_refused("empty.jpg", (const unsigned char *)"", 0, "not a PNG or JPEG");

  /* A small PNG that declares 16000x16000 pixels: refused from its header, before decoding. */
  uint16_t s[4] = {1, 2, 3, 4};
  struct png_img im = {2, 2, 0, 8, 0, s, NULL, NULL, 0, 0};
  struct buf b = png_encode(&im);
  unsigned char *big = malloc(b.n);
  memcpy(big, b.p, b.n);
  for (int k = 0; k < 4; k++)
    big[16 + k] = (unsigned char)(16000 >> (24 - 8 * k)), big[20 + k] = (unsigned char)(16000 >> (24 - 8 * k));
  uint32_t c = (uint32_t)crc32(0, big + 12, 17);
  for (int k = 0; k < 4; k++)
    big[29 + k] = (unsigned char)(c >> (24 - 8 * k));
  expect_refused("huge.png", big, b.n, "16000x16000 pixels, over the limit");
  /* Truncated in its data, and without its IHDR. */
  expect_refused("cut.png", b.p, b.n - 20, "cannot decode");
  expect_refused("noihdr.png", b.p, 20, "IHDR");
  free(big);
  free(b.p);

  /* A zlib stream that inflates far past what a 64x64 grey image needs: refused, without inflating
   * it all. */
  struct buf z = {0};
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  put(&z, sig, 8);
  unsigned char ihdr[13] = {0, 0, 0, 64, 0, 0, 0, 64, 8, 0, 0, 0, 0};
  chunk(&z, "IHDR", ihdr, 13);
  size_t rawn = 64u << 20;
  unsigned char *zeros = calloc(rawn, 1);
  uLongf zn = compressBound((uLong)rawn);
  unsigned char *zd = malloc(zn);
  compress2(zd, &zn, zeros, (uLong)rawn, 9);
  chunk(&z, "IDAT", zd, zn);
  chunk(&z, "IEND", NULL, 0);
  expect_refused("bomb.png", z.p, z.n, "expands beyond");
  free(zeros), free(zd), free(z.p);
}

// ---- JPEG, against libjpeg ----

#ifdef VKGEN_TEST_LIBJPEG
static struct buf jpeg_encode(int w, int h, int comps, int progressive, int subsample, int restart) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char *mem = NULL;
  unsigned long n = 0;
  jpeg_mem_dest(&c, &mem, &n);
  c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
  c.input_components = comps;
  c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 90, TRUE);
  if (comps == 3)
    for (int k = 0; k < 3; k++)
      c.comp_info[k].h_samp_factor = c.comp_info[k].v_samp_factor = (k == 0 && subsample) ? 2 : 1;
  if (progressive) jpeg_simple_progression(&c);
  c.restart_in_rows = restart;
  jpeg_start_compress(&c, TRUE);
  unsigned char *row = malloc((size_t)w * comps);
  while (c.next_scanline < c.image_height) {
    int y = (int)c.next_scanline;
    for (int x = 0; x < w; x++)
      for (int k = 0; k < comps; k++) /* smooth gradients with some texture */
        row[x * comps + k] = (unsigned char)((x * 255 / (w > 1 ? w - 1 : 1) + y * (k + 1) * 7 + ((x ^ y) & 15)) & 255);
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  free(row);
  struct buf b = {0};
  put(&b, mem, n);
  free(mem);
  return b;
}

/* libjpeg's decode to RGB (w, h, 3). */
static unsigned char *jpeg_reference(const struct buf *b, int *w, int *h) {
  struct jpeg_decompress_struct d;
  struct jpeg_error_mgr err;
  d.err = jpeg_std_error(&err);
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, b->p, (unsigned long)b->n);
  jpeg_read_header(&d, TRUE);
  d.out_color_space = JCS_RGB;
  jpeg_start_decompress(&d);
  *w = (int)d.output_width, *h = (int)d.output_height;
  unsigned char *out = malloc((size_t)*w * *h * 3);
  while (d.output_scanline < d.output_height) {
    JSAMPROW r = out + (size_t)d.output_scanline * *w * 3;
    jpeg_read_scanlines(&d, &r, 1);
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  return out;
}

static void check_jpeg(int w, int h, int comps, int progressive, int subsample, int restart) {
  struct buf b = jpeg_encode(w, h, comps, progressive, subsample, restart);
  char name[80];
  snprintf(name, sizeof name, "c%d-p%d-s%d-r%d-%dx%d.jpg", comps, progressive, subsample, restart, w, h);
  seed(name, b.p, b.n);
  int rw, rh, gw, gh;
  unsigned char *ref = jpeg_reference(&b, &rw, &rh), *px;
  vkg_status s = vkg__image_decode(name, b.p, b.n, &gw, &gh, NULL, &px);
  th_check(!s, "JPEG %s decodes (%s)", name, vkg_last_error());
  if (!s) {
    th_check(gw == rw && gh == rh, "JPEG %s: size %dx%d, libjpeg %dx%d", name, gw, gh, rw, rh);
    int worst = 0;
    double sum = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
      for (int c = 0; c < 3; c++) {
        int d = abs((int)px[i * 4 + c] - ref[i * 3 + c]);
        worst = d > worst ? d : worst;
        sum += d;
      }
      worst = px[i * 4 + 3] != 255 ? 999 : worst;
    }
    /* Both use an integer IDCT; their YCbCr conversion and (for 4:2:0) chroma upsampling round
     * differently, by a level or two. */
    int tol = subsample ? 3 : 2;
    th_check(worst <= tol && sum / (3.0 * w * h) < 0.2,
             "JPEG %s: matches libjpeg's decode (worst %d levels, tolerance %d; mean %.3f)", name, worst, tol,
             sum / (3.0 * w * h));
    free(px);
  }
  free(ref);

  /* The same file cut before its end, and with its scans removed: refused, never half-decoded. */
  expect_refused("cut.jpg", b.p, b.n * 2 / 3, "JPEG");
  size_t sos = 0;
  for (size_t i = 2; i + 1 < b.n; i++)
    if (b.p[i] == 0xFF && b.p[i + 1] == 0xDA) {
      sos = i;
      break;
    }
  th_check(sos > 0, "JPEG %s has a scan", name);
  if (sos) {
    unsigned char *noscan = malloc(sos + 2);
    memcpy(noscan, b.p, sos);
    noscan[sos] = 0xFF, noscan[sos + 1] = 0xD9;
    expect_refused("noscan.jpg", noscan, sos + 2, "without scan data");
    free(noscan);
  }
  free(b.p);
}
#endif

int main(int argc, char **argv) {
  seed_dir = argc > 1 ? argv[1] : NULL;
  /* Every PNG color type and bit depth, plain and interlaced, on sizes that do and do not fill the
   * Adam7 pattern or whole bytes. */
  static const int types[][2] = {{0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}, {2, 8}, {2, 16}, {3, 1},
                                 {3, 2}, {3, 4}, {3, 8}, {4, 8}, {4, 16}, {6, 8}, {6, 16}};
  static const int sizes[][2] = {{1, 1}, {7, 13}, {13, 7}, {33, 17}};
  for (size_t t = 0; t < sizeof types / sizeof *types; t++)
    for (int il = 0; il < 2; il++)
      for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
        check_png(types[t][0], types[t][1], il, sizes[z][0], sizes[z][1]);
  hostile_files();
#ifdef VKGEN_TEST_LIBJPEG
  check_jpeg(37, 29, 3, 0, 0, 0);
  check_jpeg(37, 29, 3, 0, 1, 0);
  check_jpeg(64, 48, 3, 1, 1, 0);
  check_jpeg(13, 7, 3, 1, 0, 0);
  check_jpeg(41, 23, 1, 0, 0, 0);
  check_jpeg(41, 23, 1, 1, 0, 1);
  check_jpeg(50, 50, 3, 0, 1, 2);
#else
  printf("note: built without libjpeg (libjpeg62-turbo-dev): the JPEG checks against libjpeg did not run\n");
#endif
  return th_finish(NULL); /* no device needed */
}
