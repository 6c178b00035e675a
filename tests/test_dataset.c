/* Datasets: IDX parsing (plain and gzip) with every kind of damage, the Fashion-MNIST loader on
 * small fake files and on the real Debian data when installed, text corpora with index files,
 * symlinks, subdirectories and FIFOs to skip, and the epoch shuffle's determinism and uniformity.
 * Checks that need the Debian packages are skipped with a note when they are absent. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"

static int contains(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

static void write_gz(const char *path, const void *data, size_t n) {
  gzFile f = gzopen(path, "wb");
  if (!f || (n && gzwrite(f, data, (unsigned)n) != (int)n) || gzclose(f) != Z_OK) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

/* An IDX file image in memory: magic, big-endian dims, then data bytes i*7+3 (mod 256). */
static unsigned char *idx_bytes(int type, int ndim, const int *dims, size_t *n) {
  size_t data = 1;
  for (int i = 0; i < ndim; i++)
    data *= (size_t)dims[i];
  *n = 4 + 4 * (size_t)ndim + data;
  unsigned char *b = malloc(*n + 1);
  b[0] = b[1] = 0;
  b[2] = (unsigned char)type;
  b[3] = (unsigned char)ndim;
  for (int i = 0; i < ndim; i++)
    for (int k = 0; k < 4; k++)
      b[4 + 4 * i + k] = (unsigned char)((unsigned)dims[i] >> (24 - 8 * k));
  for (size_t i = 0; i < data; i++)
    b[4 + 4 * ndim + i] = (unsigned char)(i * 7 + 3);
  return b;
}

/* vkg_idx_load must fail with `want` and a message naming the file and containing `what`. */
static void expect_idx_fail(const char *label, const char *path, vkg_status want, const char *what) {
  int nd = -1, dims[4];
  uint8_t *data = (uint8_t *)1;
  vkg_status s = vkg_idx_load(path, &nd, dims, &data);
  th_check(s == want && data == NULL && contains(vkg_last_error(), path) && contains(vkg_last_error(), what),
           "%s: %s (%s)", label, vkg_status_str(s), vkg_last_error());
  if (s == VKG_OK) free(data);
}

// ---- IDX ----

static void idx_files(void) {
  static const int shapes[][5] = {{1, 5}, {2, 3, 4}, {3, 2, 3, 4}, {4, 2, 1, 3, 2}, {3, 1, 28, 28}, {1, 0}};
  for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
    int nd = shapes[c][0];
    const int *dims = shapes[c] + 1;
    size_t n;
    unsigned char *b = idx_bytes(0x08, nd, dims, &n);
    for (int gz = 0; gz < 2; gz++) {
      char name[32];
      snprintf(name, sizeof name, "ok%zu%s", c, gz ? ".gz" : "");
      if (gz)
        write_gz(th_tmppath(name), b, n);
      else
        th_write_file(th_tmppath(name), b, n);
      int gnd = 0, gdims[4] = {0};
      uint8_t *data = NULL;
      if (th_ok(vkg_idx_load(th_tmppath(name), &gnd, gdims, &data), name)) {
        int ok = gnd == nd && memcmp(data, b + 4 + 4 * nd, n - 4 - 4 * (size_t)nd) == 0;
        for (int i = 0; ok && i < nd; i++)
          ok = gdims[i] == dims[i];
        th_check(ok, "%s IDX with %d dims reads back dims and bytes", gz ? "gzip" : "plain", nd);
        free(data);
      }
    }
    free(b);
  }

  int d3[3] = {2, 3, 4};
  size_t n;
  unsigned char *b = idx_bytes(0x08, 3, d3, &n); /* 16 header bytes + 24 data bytes */
  /* Truncated data: plain and gzip give the expected and actual byte counts. */
  th_write_file(th_tmppath("trunc"), b, n - 5);
  expect_idx_fail("truncated plain IDX", th_tmppath("trunc"), VKG_ERR_FORMAT, "need 24 data bytes, got 19");
  write_gz(th_tmppath("trunc.gz"), b, n - 5);
  expect_idx_fail("truncated gzip IDX (complete stream)", th_tmppath("trunc.gz"), VKG_ERR_FORMAT,
                  "need 24 data bytes, got 19");
  th_write_file(th_tmppath("trunchdr"), b, 10);
  expect_idx_fail("truncated in the dims", th_tmppath("trunchdr"), VKG_ERR_FORMAT, "truncated in its header");
  th_write_file(th_tmppath("tiny"), b, 2);
  expect_idx_fail("2-byte file", th_tmppath("tiny"), VKG_ERR_FORMAT, "only 2 bytes");
  th_write_file(th_tmppath("empty"), b, 0);
  expect_idx_fail("empty file", th_tmppath("empty"), VKG_ERR_FORMAT, "only 0 bytes");

  /* A gzip stream cut short: every length of the compressed file fails cleanly. */
  write_gz(th_tmppath("full.gz"), b, n);
  size_t gn;
  unsigned char *gzb = th_read_file(th_tmppath("full.gz"), &gn);
  int all = 1;
  for (size_t len = 0; len < gn; len++) {
    th_write_file(th_tmppath("cut.gz"), gzb, len);
    int nd, dims[4];
    uint8_t *data = NULL;
    vkg_status s = vkg_idx_load(th_tmppath("cut.gz"), &nd, dims, &data);
    if (s != VKG_ERR_FORMAT || data || !contains(vkg_last_error(), th_tmppath("cut.gz"))) {
      all = 0;
      fprintf(stderr, "gzip prefix %zu: %s: %s\n", len, vkg_status_str(s), vkg_last_error());
      free(data);
    }
  }
  th_check(all, "each of the %zu proper prefixes of a gzip IDX file fails with VKG_ERR_FORMAT", gn);
  /* A flipped byte inside the compressed data is caught by zlib or by the checks after it. */
  gzb[gn / 2] ^= 0x55;
  th_write_file(th_tmppath("flip.gz"), gzb, gn);
  {
    int nd, dims[4];
    uint8_t *data = NULL;
    vkg_status s = vkg_idx_load(th_tmppath("flip.gz"), &nd, dims, &data);
    th_check(s == VKG_ERR_FORMAT && !data, "a corrupted gzip stream is VKG_ERR_FORMAT: %s", vkg_last_error());
    free(data);
  }
  free(gzb);

  /* Trailing bytes. */
  unsigned char *longer = malloc(n + 3);
  memcpy(longer, b, n);
  memset(longer + n, 0xAB, 3);
  th_write_file(th_tmppath("trail"), longer, n + 3);
  expect_idx_fail("trailing bytes (plain)", th_tmppath("trail"), VKG_ERR_FORMAT, "3 bytes after the data");
  write_gz(th_tmppath("trail.gz"), longer, n + 3);
  expect_idx_fail("trailing bytes (gzip)", th_tmppath("trail.gz"), VKG_ERR_FORMAT, "3 bytes after the data");
  free(longer);

  /* Bad magic, other dtypes, bad dim counts. */
  unsigned char bad[40];
  memcpy(bad, b, n < 40 ? n : 40);
  bad[0] = 0x12;
  th_write_file(th_tmppath("magic"), bad, 40);
  expect_idx_fail("bad magic", th_tmppath("magic"), VKG_ERR_FORMAT, "bad magic number 0x12000803");
  memcpy(bad, "PK\x03\x04", 4);
  th_write_file(th_tmppath("zip"), bad, 40);
  expect_idx_fail("a zip file", th_tmppath("zip"), VKG_ERR_FORMAT, "not an IDX file");
  memcpy(bad, b, 4);
  bad[2] = 0x07;
  th_write_file(th_tmppath("type7"), bad, 40);
  expect_idx_fail("unknown element type", th_tmppath("type7"), VKG_ERR_FORMAT, "bad magic");
  size_t fn;
  unsigned char *fl = idx_bytes(0x0D, 3, d3, &fn);
  th_write_file(th_tmppath("float"), fl, fn);
  expect_idx_fail("float IDX", th_tmppath("float"), VKG_ERR_FORMAT, "holds float data (magic 0x00000d03)");
  free(fl);
  memcpy(bad, b, 4);
  bad[3] = 0;
  th_write_file(th_tmppath("dims0"), bad, 40);
  expect_idx_fail("0 dims", th_tmppath("dims0"), VKG_ERR_FORMAT, "has 0 dims");
  bad[3] = 5;
  th_write_file(th_tmppath("dims5"), bad, 40);
  expect_idx_fail("5 dims", th_tmppath("dims5"), VKG_ERR_FORMAT, "has 5 dims");
  /* dims claiming far more than the file holds fail on the data, not on a giant allocation. */
  int huge[3] = {60000, 60000, 60000};
  unsigned char hb[16];
  size_t hn;
  unsigned char *h = idx_bytes(0x08, 1, (int[]){1}, &hn);
  memcpy(hb, h, 4);
  free(h);
  hb[3] = 3;
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 4; k++)
      hb[4 + 4 * i + k] = (unsigned char)((unsigned)huge[i] >> (24 - 8 * k));
  th_write_file(th_tmppath("huge"), hb, 16);
  expect_idx_fail("dims claiming 216e12 bytes", th_tmppath("huge"), VKG_ERR_FORMAT, "got 0");
  memset(hb + 4, 0xFF, 12);
  th_write_file(th_tmppath("huge2"), hb, 16);
  expect_idx_fail("a dim over 2^31", th_tmppath("huge2"), VKG_ERR_FORMAT, "too large");

  expect_idx_fail("missing file", th_tmppath("nope.gz"), VKG_ERR_IO, "No such file");
  expect_idx_fail("a directory", th_tmpdir(), VKG_ERR_IO, "directory");
  mkfifo(th_tmppath("fifo"), 0644); /* opening it would block: it must be refused before that */
  expect_idx_fail("a FIFO", th_tmppath("fifo"), VKG_ERR_IO, "not a regular file");
  free(b);
}

// ---- Fashion-MNIST ----

/* A fake Fashion-MNIST directory with n images; labels[i] = label_fn. */
static void fake_fashion(const char *dir, const char *prefix, int n, int h, int w, int nlabels, int bad_label, int gz) {
  mkdir(dir, 0755);
  int di[3] = {n, h, w}, dl[1] = {nlabels};
  size_t ni, nl;
  unsigned char *im = idx_bytes(0x08, 3, di, &ni), *lb = idx_bytes(0x08, 1, dl, &nl);
  for (int i = 0; i < nlabels; i++)
    lb[8 + i] = (unsigned char)(i % 10);
  if (bad_label >= 0) lb[8 + bad_label] = 10;
  char p[300];
  snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
  if (gz)
    write_gz(p, im, ni);
  else
    th_write_file(p, im, ni);
  snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
  if (gz)
    write_gz(p, lb, nl);
  else
    th_write_file(p, lb, nl);
  free(im);
  free(lb);
}

static void fashion_fake(void) {
  struct vkg_images im;
  const char *d = th_tmppath("fm");
  fake_fashion(d, "train", 3, 28, 28, 3, -1, 1);
  if (th_ok(vkg_fashion_mnist_load(d, "train", &im), "load a fake train split")) {
    int ok = im.n == 3 && im.c == 1 && im.h == 28 && im.w == 28 && im.labels && im.labels[2] == 2;
    for (int i = 0; ok && i < 3 * 784; i++)
      ok = im.pixels[i] == (float)(unsigned char)(i * 7 + 3) / 255.0f;
    th_check(ok, "fake images: (3, 1, 28, 28), pixels = byte / 255, labels read");
    vkg_images_free(&im);
    th_check(im.pixels == NULL && im.labels == NULL && im.n == 0, "vkg_images_free clears the struct");
  }
  /* Uncompressed files are found too. */
  const char *d2 = th_tmppath("fmplain");
  fake_fashion(d2, "t10k", 2, 28, 28, 2, -1, 0);
  if (th_ok(vkg_fashion_mnist_load(d2, "test", &im), "load a fake test split from uncompressed files")) {
    th_check(im.n == 2, "2 test images");
    vkg_images_free(&im);
  }
  vkg_status s = vkg_fashion_mnist_load(d2, "train", &im);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), "train-images-idx3-ubyte.gz") &&
               contains(vkg_last_hint(), "apt-get install dataset-fashion-mnist") && im.pixels == NULL,
           "a missing file is VKG_ERR_IO with the package hint: %s [hint: %s]", vkg_last_error(), vkg_last_hint());
  s = vkg_fashion_mnist_load(d, "valid", &im);
  th_check(s == VKG_ERR_ARG && contains(vkg_last_error(), "valid"), "an unknown split is VKG_ERR_ARG: %s",
           vkg_last_error());
  s = vkg_fashion_mnist_load(d, NULL, &im);
  th_check(s == VKG_ERR_ARG, "a NULL split is VKG_ERR_ARG");
  s = vkg_fashion_mnist_load(th_tmppath("no-such-dir"), "train", &im);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), "no-such-dir") &&
               contains(vkg_last_hint(), "dataset-fashion-mnist"),
           "a missing directory is VKG_ERR_IO with the package hint: %s [hint: %s]", vkg_last_error(), vkg_last_hint());

  const char *d3 = th_tmppath("fmcount");
  fake_fashion(d3, "train", 4, 28, 28, 5, -1, 1);
  s = vkg_fashion_mnist_load(d3, "train", &im);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), "4 images") && contains(vkg_last_error(), "5 labels"),
           "image and label counts must match: %s", vkg_last_error());
  const char *d4 = th_tmppath("fmlabel");
  fake_fashion(d4, "train", 4, 28, 28, 4, 2, 1);
  s = vkg_fashion_mnist_load(d4, "train", &im);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), "label 10 of image 2"), "labels must be < 10: %s",
           vkg_last_error());
  const char *d5 = th_tmppath("fmdims");
  fake_fashion(d5, "train", 4, 27, 28, 4, -1, 1);
  s = vkg_fashion_mnist_load(d5, "train", &im);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), "(4, 27, 28)") && im.pixels == NULL,
           "images must be 28x28: %s", vkg_last_error());
  /* A truncated image file inside the dataset is VKG_ERR_FORMAT naming that file. */
  char p[300];
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", d);
  size_t n;
  unsigned char *gzb = th_read_file(p, &n);
  th_write_file(p, gzb, n / 2);
  free(gzb);
  s = vkg_fashion_mnist_load(d, "train", &im);
  th_check(s == VKG_ERR_FORMAT && contains(vkg_last_error(), p), "a truncated dataset file: %s", vkg_last_error());
}

static void fashion_real(void) {
  struct stat sb;
  if (stat(VKG_FASHION_MNIST_DIR, &sb) != 0) {
    printf("note: %s is absent (Debian package dataset-fashion-mnist); skipping the real-data checks\n",
           VKG_FASHION_MNIST_DIR);
    return;
  }
  struct vkg_images tr, te;
  if (th_ok(vkg_fashion_mnist_load(NULL, "train", &tr), "load the real train split")) {
    th_check(tr.n == 60000 && tr.c == 1 && tr.h == 28 && tr.w == 28, "train is (60000, 1, 28, 28): (%d, %d, %d, %d)",
             tr.n, tr.c, tr.h, tr.w);
    float lo = 1, hi = 0;
    size_t np = (size_t)tr.n * 784;
    for (size_t i = 0; i < np; i++) {
      if (tr.pixels[i] < lo) lo = tr.pixels[i];
      if (tr.pixels[i] > hi) hi = tr.pixels[i];
    }
    th_check(lo == 0.0f && hi == 1.0f, "pixels span [0, 1]: [%g, %g]", lo, hi);
    /* The first labels and the first image, read straight from the files. */
    gzFile f = gzopen(VKG_FASHION_MNIST_DIR "/train-labels-idx1-ubyte.gz", "rb");
    unsigned char lb[8 + 32];
    int got = f ? gzread(f, lb, sizeof lb) : -1;
    if (f) gzclose(f);
    th_check(got == (int)sizeof lb && lb[2] == 8 && lb[3] == 1 && memcmp(tr.labels, lb + 8, 32) == 0,
             "the first 32 train labels match the label file (first: %d %d %d %d)", tr.labels[0], tr.labels[1],
             tr.labels[2], tr.labels[3]);
    int hist[10] = {0};
    for (int i = 0; i < tr.n; i++)
      hist[tr.labels[i] < 10 ? tr.labels[i] : 0]++;
    int balanced = 1;
    for (int c = 0; c < 10; c++)
      balanced &= hist[c] == 6000;
    th_check(balanced, "6000 train images per class");
    f = gzopen(VKG_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", "rb");
    unsigned char ib[16 + 784];
    got = f ? gzread(f, ib, sizeof ib) : -1;
    if (f) gzclose(f);
    int same = got == (int)sizeof ib;
    for (int i = 0; same && i < 784; i++)
      same = fabsf(tr.pixels[i] * 255.0f - ib[16 + i]) < 1e-3f;
    th_check(same, "the first train image matches the image file");
    vkg_images_free(&tr);
  }
  if (th_ok(vkg_fashion_mnist_load(VKG_FASHION_MNIST_DIR, "test", &te), "load the real test split")) {
    th_check(te.n == 10000 && te.labels, "test has 10000 images: %d", te.n);
    vkg_images_free(&te);
  }
}

// ---- text ----

static void text_fake(void) {
  const char *d = th_tmppath("fortunes");
  mkdir(d, 0755);
  char p[300], q[300];
  snprintf(p, sizeof p, "%s/b", d);
  th_write_file(p, "bee\n%\n", 6);
  snprintf(p, sizeof p, "%s/a", d);
  th_write_file(p, "ay\n%\n", 5);
  snprintf(p, sizeof p, "%s/a.dat", d);
  th_write_file(p, "\x00\x00\x00\x02", 4);
  snprintf(p, sizeof p, "%s/a.u8", d);
  symlink("a", p);
  snprintf(p, sizeof p, "%s/c.dat", d);
  th_write_file(p, "\x01\x02", 2);
  snprintf(p, sizeof p, "%s/link-to-index", d);
  symlink("c.dat", p);
  snprintf(p, sizeof p, "%s/zz-alias", d);
  symlink("b", p);
  snprintf(p, sizeof p, "%s/dangling", d);
  symlink("nothing-here", p);
  snprintf(p, sizeof p, "%s/off", d);
  mkdir(p, 0755);
  snprintf(q, sizeof q, "%s/off/rude", d);
  th_write_file(q, "subdirectory text\n", 18);
  snprintf(p, sizeof p, "%s/fifo", d);
  mkfifo(p, 0644); /* reading it would block forever: it must be skipped */
  snprintf(p, sizeof p, "%s/C", d);
  th_write_file(p, "upper\n", 6); /* 'C' sorts before 'a' bytewise */
  struct vkg_text t;
  if (th_ok(vkg_text_load(d, &t), "load a fake fortunes directory")) {
    const char *want = "upper\nay\n%\nbee\n%\nbee\n%\n";
    th_check(t.n == strlen(want) && memcmp(t.bytes, want, t.n) == 0 && t.bytes[t.n] == 0,
             "text = C + a + b + zz-alias (symlink to b), skipping .dat, .u8, index symlinks, off/, the FIFO and the "
             "dangling link (%zu bytes)",
             t.n);
    vkg_text_free(&t);
    th_check(t.bytes == NULL && t.n == 0, "vkg_text_free clears the struct");
  }
  const char *e = th_tmppath("emptytext");
  mkdir(e, 0755);
  snprintf(p, sizeof p, "%s/x.dat", e);
  th_write_file(p, "x", 1);
  vkg_status s = vkg_text_load(e, &t);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), e) && contains(vkg_last_hint(), "fortunes"),
           "a directory with only index files is VKG_ERR_IO: %s [hint: %s]", vkg_last_error(), vkg_last_hint());
  s = vkg_text_load(th_tmppath("missing-fortunes"), &t);
  th_check(s == VKG_ERR_IO && contains(vkg_last_error(), "missing-fortunes") &&
               contains(vkg_last_hint(), "apt-get install fortunes") && t.bytes == NULL,
           "a missing directory is VKG_ERR_IO naming the package: %s [hint: %s]", vkg_last_error(), vkg_last_hint());
  snprintf(p, sizeof p, "%s/a", d);
  s = vkg_text_load(p, &t);
  th_check(s == VKG_ERR_IO, "a file given as the directory is VKG_ERR_IO: %s", vkg_last_error());
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void text_real(void) {
  struct stat sb;
  if (stat(VKG_FORTUNES_DIR, &sb) != 0) {
    printf("note: %s is absent (Debian package fortunes); skipping the real-corpus checks\n", VKG_FORTUNES_DIR);
    return;
  }
  /* The expected size and first file, computed independently: regular files (after following links),
   * not named *.dat or *.u8, not links to such names. */
  DIR *d = opendir(VKG_FORTUNES_DIR);
  char *names[1024];
  int nn = 0;
  size_t total = 0;
  struct dirent *de;
  while (d && (de = readdir(d)) && nn < 1024) {
    size_t l = strlen(de->d_name);
    if ((l > 4 && !strcmp(de->d_name + l - 4, ".dat")) || (l > 3 && !strcmp(de->d_name + l - 3, ".u8"))) continue;
    char p[600], target[600];
    snprintf(p, sizeof p, "%s/%s", VKG_FORTUNES_DIR, de->d_name);
    if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
    ssize_t tl = readlink(p, target, sizeof target - 1);
    if (tl > 0) {
      target[tl] = 0;
      size_t k = (size_t)tl;
      if ((k > 4 && !strcmp(target + k - 4, ".dat")) || (k > 3 && !strcmp(target + k - 3, ".u8"))) continue;
    }
    total += (size_t)sb.st_size;
    names[nn++] = strdup(de->d_name);
  }
  if (d) closedir(d);
  qsort(names, (size_t)nn, sizeof *names, cmpstr);
  struct vkg_text t;
  if (th_ok(vkg_text_load(NULL, &t), "load the real fortunes")) {
    th_check(t.n > 0 && t.n == total, "the fortunes corpus holds %zu bytes from %d files (expected %zu)", t.n, nn,
             total);
    size_t fn = 0;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", VKG_FORTUNES_DIR, nn ? names[0] : "");
    unsigned char *first = nn ? th_read_file(p, &fn) : NULL;
    th_check(first && fn <= t.n && memcmp(t.bytes, first, fn) == 0,
             "the corpus starts with the first file by name (%s)", nn ? names[0] : "?");
    free(first);
    vkg_text_free(&t);
  }
  for (int i = 0; i < nn; i++)
    free(names[i]);
}

// ---- shuffle ----

static int is_perm(const uint32_t *p, size_t n) {
  unsigned char *seen = calloc(n + 1, 1);
  int ok = 1;
  for (size_t i = 0; i < n && ok; i++) {
    ok = p[i] < n && !seen[p[i]];
    if (ok) seen[p[i]] = 1;
  }
  free(seen);
  return ok;
}

static void shuffle(void) {
  static const size_t sizes[] = {0, 1, 2, 7, 1000, 60000};
  int perms = 1, determ = 1;
  uint32_t *a = malloc(60000 * 4), *b = malloc(60000 * 4);
  for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
    size_t n = sizes[c];
    for (uint64_t e = 0; e < 3; e++) {
      vkg_shuffle(a, n, 1234, e);
      vkg_shuffle(b, n, 1234, e);
      perms &= is_perm(a, n);
      determ &= memcmp(a, b, n * 4) == 0;
    }
  }
  th_check(perms, "vkg_shuffle gives a permutation for n = 0, 1, 2, 7, 1000, 60000");
  th_check(determ, "the same (seed, epoch) gives the same permutation");
  vkg_shuffle(a, 60000, 1234, 0);
  vkg_shuffle(b, 60000, 1234, 1);
  th_check(memcmp(a, b, 60000 * 4) != 0, "epochs 0 and 1 differ");
  vkg_shuffle(b, 60000, 1235, 0);
  th_check(memcmp(a, b, 60000 * 4) != 0, "seeds 1234 and 1235 differ");
  size_t fixed = 0;
  for (size_t i = 0; i < 60000; i++)
    fixed += a[i] == i;
  th_check(fixed < 10, "a shuffle of 60000 leaves few fixed points (%zu; about 1 expected)", fixed);
  /* A golden value: the permutation must be the same on every machine and every build. */
  static const uint32_t golden[10] = {4, 5, 8, 9, 0, 1, 7, 2, 6, 3};
  vkg_shuffle(a, 10, 42, 7);
  printf("shuffle(n=10, seed=42, epoch=7) =");
  for (int i = 0; i < 10; i++)
    printf(" %u", a[i]);
  printf("\n");
  th_check(memcmp(a, golden, sizeof golden) == 0, "shuffle(n=10, seed=42, epoch=7) matches the recorded permutation");

  /* Uniformity over epochs: each value lands at each position with probability 1/5, and each of
   * the 120 permutations of 5 appears with probability 1/120. */
  enum { N = 5, SHUFFLES = 120000 };
  static int pos[N][N], whole[3125];
  for (uint64_t e = 0; e < SHUFFLES; e++) {
    uint32_t p[N];
    vkg_shuffle(p, N, 99, e);
    int code = 0;
    for (int i = 0; i < N; i++) {
      pos[i][p[i]]++;
      code = code * 5 + (int)p[i];
    }
    whole[code]++;
  }
  double worst = 0;
  for (int i = 0; i < N; i++)
    for (int v = 0; v < N; v++) {
      double ex = SHUFFLES / 5.0, sd = sqrt(SHUFFLES * 0.2 * 0.8), z = fabs(pos[i][v] - ex) / sd;
      if (z > worst) worst = z;
    }
  th_check(worst < 5, "position counts over %d shuffles of 5 are within 5 sigma (worst %.2f)", SHUFFLES, worst);
  worst = 0;
  int seen = 0;
  for (int c = 0; c < 3125; c++)
    if (whole[c]) {
      seen++;
      double ex = SHUFFLES / 120.0, sd = sqrt(SHUFFLES * (1 / 120.0) * (119 / 120.0)), z = fabs(whole[c] - ex) / sd;
      if (z > worst) worst = z;
    }
  th_check(seen == 120 && worst < 5, "all 120 permutations appear, each within 5 sigma (worst %.2f)", worst);
  /* Across seeds as well, for one fixed epoch. */
  memset(pos, 0, sizeof pos);
  for (uint64_t s = 0; s < SHUFFLES; s++) {
    uint32_t p[N];
    vkg_shuffle(p, N, s, 0);
    for (int i = 0; i < N; i++)
      pos[i][p[i]]++;
  }
  worst = 0;
  for (int i = 0; i < N; i++)
    for (int v = 0; v < N; v++) {
      double z = fabs(pos[i][v] - SHUFFLES / 5.0) / sqrt(SHUFFLES * 0.2 * 0.8);
      if (z > worst) worst = z;
    }
  th_check(worst < 5, "position counts across %d seeds are within 5 sigma (worst %.2f)", SHUFFLES, worst);
  free(a);
  free(b);
}

int main(void) {
  idx_files();
  fashion_fake();
  fashion_real();
  text_fake();
  text_real();
  shuffle();
  return th_finish(NULL); /* no device needed */
}
