/* One image file (PNG or JPEG) decoded to 8-bit RGBA, for image-folder datasets.
 *
 * The decoders are stb_image's (Debian's libstb-dev), compiled here with only its PNG and JPEG
 * decoders: its other decoders (PNM, HDR, PSD, ...) crash or hang on hostile files, and vkgen claims
 * only PNG and JPEG. Before stb_image sees a byte, this file checks what stb_image would trust:
 *  - the format comes from the signature bytes, never from the file name;
 *  - the size comes from the header (PNG IHDR; the JPEG frame header) and is refused above
 *    VKG_IMAGE_MAX_SIDE per side or VKG_IMAGE_MAX_PIXELS in all, before anything is allocated;
 *  - a JPEG's marker structure is walked to its end: one supported frame (baseline, extended or
 *    progressive Huffman, 8-bit), every component in some scan (for a progressive one, in a DC scan),
 *    at most MAX_SCANS scans, Huffman tables of at most 256 codes (stb_image 2.27 overflows on more),
 *    and an end-of-image marker. So a file with no or truncated scan data is refused instead of
 *    leaving pixels unwritten;
 *  - every allocation stb_image makes is zeroed and capped from the declared size, so a zlib stream
 *    that inflates past what the header declares (a "zip bomb") fails instead of eating memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

// ---- stb_image, PNG and JPEG only ----

/* The largest single allocation stb_image may make for the image being decoded (set per decode). */
static _Thread_local size_t alloc_cap;
static _Thread_local int cap_hit; /* an allocation was refused for going over alloc_cap */

static void *capped_malloc(size_t n) {
  if (n > alloc_cap) return cap_hit = 1, NULL;
  return calloc(1, n ? n : 1);
}
static void *capped_realloc(void *p, size_t n) {
  if (n > alloc_cap) return cap_hit = 1, NULL;
  return realloc(p, n ? n : 1);
}

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS VKG_IMAGE_MAX_SIDE
#define STBI_MALLOC(n) capped_malloc(n)
#define STBI_REALLOC(p, n) capped_realloc(p, n)
#define STBI_FREE(p) free(p)
/* stb_image declares every function static, and some are never used: gcc warns about those only at
 * the end of the file, so that warning stays off for all of it. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb_image.h>
#pragma GCC diagnostic pop

// ---- header checks ----

enum { MAX_SCANS = 256 }; /* progressive encoders write about 10; each scan walks the whole image */

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static unsigned be16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

/* What a file that is neither PNG nor JPEG seems to be, for the error message. */
static const char *guess_format(const unsigned char *b, size_t n) {
  if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return "a PNM/PGM/PPM image";
  if (n >= 2 && b[0] == '#' && b[1] == '?') return "a Radiance HDR image";
  if (n >= 4 && !memcmp(b, "GIF8", 4)) return "a GIF image";
  if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "a BMP image";
  if (n >= 4 && !memcmp(b, "8BPS", 4)) return "a Photoshop file";
  if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "a WebP image";
  if (n >= 4 && (!memcmp(b, "II*", 4) || !memcmp(b, "MM\0*", 4))) return "a TIFF image";
  if (n == 0) return "empty";
  return NULL;
}

static vkg_status refuse(const char *name, const char *fmt, const char *what) {
  vkg_status s = vkg__fail(VKG_ERR_FORMAT, fmt, name, what);
  vkg__hint("remove or replace that file: every image of the folder must be a valid PNG or JPEG");
  return s;
}

static vkg_status check_size(const char *name, const char *kind, uint32_t w, uint32_t h) {
  if (w == 0 || h == 0)
    return vkg__fail(VKG_ERR_FORMAT, "image '%s': its %s header declares %ux%u pixels", name, kind, w, h);
  if (w > VKG_IMAGE_MAX_SIDE || h > VKG_IMAGE_MAX_SIDE || (uint64_t)w * h > VKG_IMAGE_MAX_PIXELS) {
    vkg_status s = vkg__fail(VKG_ERR_FORMAT, "image '%s' is %ux%u pixels, over the limit of %d per side and %d in all",
                             name, w, h, VKG_IMAGE_MAX_SIDE, VKG_IMAGE_MAX_PIXELS);
    vkg__hint("scale it down first: vkgen resizes every image to at most 64x64 anyway");
    return s;
  }
  return VKG_OK;
}

static vkg_status png_header(const char *name, const unsigned char *b, size_t n, uint32_t *w, uint32_t *h) {
  if (n < 8 + 8 + 13 + 4 || be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4))
    return refuse(name, "image '%s': %s", "a PNG file whose first chunk is not a complete IHDR header");
  const unsigned char *p = b + 16;
  *w = be32(p), *h = be32(p + 4);
  unsigned depth = p[8], type = p[9];
  int ok = (type == 0 && (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)) ||
           (type == 3 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
           ((type == 2 || type == 4 || type == 6) && (depth == 8 || depth == 16));
  if (!ok || p[10] != 0 || p[11] != 0 || p[12] > 1)
    return refuse(name, "image '%s': %s", "a PNG header with an invalid bit depth, color type or method");
  /* stb_image 2.27 does pointer arithmetic on NULL for an empty IDAT chunk before any data (undefined
   * behavior): such files are refused. */
  for (size_t at = 8; at + 12 <= n;) {
    uint32_t len = be32(b + at);
    if (!memcmp(b + at + 4, "IDAT", 4)) {
      if (len == 0) return refuse(name, "image '%s': %s", "a PNG file whose first IDAT chunk is empty");
      break;
    }
    if (!memcmp(b + at + 4, "IEND", 4) || len > n - at - 12) break; /* stb_image reports what is missing */
    at += 12 + (size_t)len;
  }
  return check_size(name, "PNG", *w, *h);
}

/* Walks a JPEG's markers from SOI to EOI (see the top of the file for what is checked). */
static vkg_status jpeg_header(const char *name, const unsigned char *b, size_t n, uint32_t *w, uint32_t *h) {
  size_t i = 2;
  int frame = 0, progressive = 0, ncomp = 0, scans = 0;
  unsigned char ids[4], covered[4] = {0};
  for (;;) {
    /* At a marker: 0xFF, any fill bytes 0xFF, then the code. */
    if (i >= n || b[i] != 0xFF) return refuse(name, "image '%s': %s", "a JPEG file that is truncated or malformed");
    while (i < n && b[i] == 0xFF)
      i++;
    if (i >= n) return refuse(name, "image '%s': %s", "a JPEG file that ends without an end-of-image marker");
    unsigned m = b[i++];
    if (m == 0xD9) break; /* EOI */
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
    if (m == 0xD8 || m == 0x00) return refuse(name, "image '%s': %s", "a JPEG file with a misplaced marker");
    if (i + 2 > n) return refuse(name, "image '%s': %s", "a JPEG file that is truncated inside a header");
    size_t len = be16(b + i);
    if (len < 2 || i + len > n) return refuse(name, "image '%s': %s", "a JPEG file that is truncated inside a header");
    const unsigned char *seg = b + i + 2;
    size_t sl = len - 2;
    i += len;
    if (m == 0xC4) { /* DHT: stb_image 2.27 overflows a table given more than 256 codes */
      size_t k = 0;
      while (k < sl) {
        if (k + 17 > sl || seg[k] >> 4 > 1 || (seg[k] & 15) > 3)
          return refuse(name, "image '%s': %s", "a JPEG file with a malformed Huffman table");
        size_t codes = 0;
        for (int b16 = 1; b16 <= 16; b16++)
          codes += seg[k + (size_t)b16];
        if (codes > 256 || k + 17 + codes > sl)
          return refuse(name, "image '%s': %s", "a JPEG file with a malformed Huffman table");
        k += 17 + codes;
      }
    }
    int sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (frame) return refuse(name, "image '%s': %s", "a JPEG file with more than one frame");
      if (m > 0xC2)
        return refuse(name, "image '%s': %s",
                      "a lossless, hierarchical or arithmetic-coded JPEG (only baseline and progressive are read)");
      if (sl < 6) return refuse(name, "image '%s': %s", "a JPEG file with a truncated frame header");
      if (seg[0] != 8) return refuse(name, "image '%s': %s", "a JPEG file with 12- or 16-bit samples (8-bit only)");
      *h = be16(seg + 1), *w = be16(seg + 3);
      ncomp = seg[5];
      if (ncomp != 1 && ncomp != 3 && ncomp != 4)
        return refuse(name, "image '%s': %s", "a JPEG file with a number of components other than 1, 3 or 4");
      if (sl < 6 + 3 * (size_t)ncomp)
        return refuse(name, "image '%s': %s", "a JPEG file with a truncated frame header");
      for (int k = 0; k < ncomp; k++)
        ids[k] = seg[6 + 3 * k];
      if (*h == 0) return refuse(name, "image '%s': %s", "a JPEG file whose height is only given after the scan (DNL)");
      vkg_status s = check_size(name, "JPEG", *w, *h);
      if (s) return s;
      frame = 1, progressive = m == 0xC2;
    } else if (m == 0xDA) { /* SOS, then entropy-coded data up to the next marker other than RSTn */
      if (!frame) return refuse(name, "image '%s': %s", "a JPEG file with scan data before its frame header");
      if (++scans > MAX_SCANS) return refuse(name, "image '%s': %s", "a JPEG file with more than 256 scans");
      if (sl < 1 || sl < 1 + 2 * (size_t)seg[0] + 3) return refuse(name, "image '%s': %s", "a JPEG scan header");
      int ns = seg[0], ss = seg[1 + 2 * ns];
      for (int c = 0; c < ns; c++)
        for (int k = 0; k < ncomp; k++)
          if (seg[1 + 2 * c] == ids[k] && (!progressive || ss == 0)) covered[k] = 1;
      while (i + 1 < n && !(b[i] == 0xFF && b[i + 1] != 0 && !(b[i + 1] >= 0xD0 && b[i + 1] <= 0xD7)))
        i++;
    }
  }
  if (!frame) return refuse(name, "image '%s': %s", "a JPEG file without a frame header");
  for (int k = 0; k < ncomp; k++)
    if (!covered[k])
      return refuse(name, "image '%s': %s",
                    scans ? "a JPEG file whose scans leave a color component undecoded"
                          : "a JPEG file without scan data");
  return VKG_OK;
}

vkg_status vkg__image_decode(const char *name, const unsigned char *buf, size_t n, int *w, int *h, int *comp_out,
                             unsigned char **rgba) {
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  *rgba = NULL;
  uint32_t W = 0, H = 0;
  vkg_status s;
  if (n >= 8 && !memcmp(buf, png_sig, 8))
    s = png_header(name, buf, n, &W, &H);
  else if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
    s = jpeg_header(name, buf, n, &W, &H);
  else {
    const char *g = guess_format(buf, n);
    if (g)
      s = vkg__fail(VKG_ERR_FORMAT, "image '%s' is not a PNG or JPEG file (it is %s)", name, g);
    else
      s = vkg__fail(VKG_ERR_FORMAT, "image '%s' is not a PNG or JPEG file", name);
    vkg__hint("vkgen reads PNG and JPEG images, recognized by their contents; convert or remove that file");
    return s;
  }
  if (s) return s;
  if (n > INT32_MAX) return vkg__fail(VKG_ERR_FORMAT, "image '%s' is larger than 2 GiB", name);
  /* The largest buffer stb_image needs: 16-bit RGBA (8 bytes a pixel), with MCU padding. */
  alloc_cap = 8 * ((size_t)W + 16) * ((size_t)H + 16) + (1u << 20);
  cap_hit = 0;
  int x, y, comp;
  unsigned char *px = stbi_load_from_memory(buf, (int)n, &x, &y, &comp, 4); // (H, W, RGBA)
  alloc_cap = 0;
  if (!px) {
    if (cap_hit)
      s = vkg__fail(VKG_ERR_FORMAT, "cannot decode image '%s': its data expands beyond the %ux%u pixels it declares",
                    name, W, H);
    else
      s = vkg__fail(VKG_ERR_FORMAT, "cannot decode image '%s': %s", name, stbi_failure_reason());
    vkg__hint("remove or replace that file: every image of the folder must be a valid PNG or JPEG");
    return s;
  }
  VKG_ASSERT((uint32_t)x == W && (uint32_t)y == H);
  *w = x, *h = y, *rgba = px;
  if (comp_out) *comp_out = comp;
  return VKG_OK;
}
