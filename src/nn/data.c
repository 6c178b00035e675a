/* The datasets of every family (nn/data.h): images, text corpora, audio folders. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "nn/data.h"
#include "nn/nn.h"

static int exists(const char *dir, const char *file) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  return access(path, F_OK) == 0;
}

int nn_data_is_fashion(const char *dir) {
  if (!dir) return 1;
  static const char *names[] = {"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz",
                                "t10k-images-idx3-ubyte"};
  for (int i = 0; i < 4; i++)
    if (exists(dir, names[i])) return 1;
  return 0;
}

/* Copies the images of `all` that are (want_test) or are not held out into out. */
static vkg_status split_images(const struct vkg_images *all, int want_test, struct vkg_images *out) {
  size_t P = (size_t)all->c * all->h * all->w;
  int n = 0;
  for (int i = 0; i < all->n; i++)
    n += nn_data_held_out((size_t)i, NN_DATA_TEST_EVERY) == want_test;
  if (n == 0) { /* too few images to hold any out: both sets are every image */
    n = all->n;
    want_test = -1;
  }
  out->pixels = malloc(sizeof *out->pixels * P * (size_t)n + 1);
  if (!out->pixels) return vkg__fail(VKG_ERR_OOM, "out of host memory for %d images", n);
  out->n = n, out->c = all->c, out->h = all->h, out->w = all->w;
  int k = 0;
  for (int i = 0; i < all->n; i++)
    if (want_test < 0 || nn_data_held_out((size_t)i, NN_DATA_TEST_EVERY) == want_test)
      memcpy(out->pixels + P * (size_t)k++, all->pixels + P * (size_t)i, P * sizeof(float));
  return VKG_OK;
}

static vkg_status synthetic_images(int n, int channels, int size, uint64_t seed, struct vkg_images *im) {
  size_t px = (size_t)channels * size * size;
  im->n = n, im->c = channels, im->h = im->w = size;
  im->pixels = malloc(sizeof *im->pixels * (size_t)n * px);
  im->labels = malloc((size_t)n);
  if (!im->pixels || !im->labels) return vkg__fail(VKG_ERR_OOM, "out of host memory for %d images", n);
  for (size_t i = 0; i < (size_t)n * px; i++)
    im->pixels[i] = (float)(nn_mix(seed, i) >> 40) / (float)(1 << 24);
  for (int i = 0; i < n; i++)
    im->labels[i] = (uint8_t)(i % 10);
  return VKG_OK;
}

vkg_status nn_image_data_load(const char *dir, int size, int channels, int synthetic, uint64_t seed,
                              struct vkg_images *train, struct vkg_images *test) {
  if (train) memset(train, 0, sizeof *train);
  if (test) memset(test, 0, sizeof *test);
  if (!train && !test) return vkg__fail(VKG_ERR_ARG, "nn_image_data_load: neither a training nor a test set asked for");
  vkg_status s = VKG_OK;
  if (synthetic > 0) {
    if (train) s = synthetic_images(synthetic, channels, size, seed, train);
    if (!s && test) s = synthetic_images(synthetic, channels, size, seed, test);
  } else if (nn_data_is_fashion(dir)) {
    if (train) s = vkg_fashion_mnist_load(dir, "train", train);
    if (!s && test) s = vkg_fashion_mnist_load(dir, "test", test);
  } else {
    struct vkg_images all = {0};
    s = vkg_image_folder_load(dir, size, channels, &all);
    if (!s && all.n < 1) s = vkg__fail(VKG_ERR_IO, "no images in '%s'", dir);
    /* Every 10th image is held out as the test set, so train and test cover the folder evenly
     * whatever order its files come in. */
    if (!s && !test) {
      *train = all;
      all = (struct vkg_images){0};
    }
    if (!s && test && train) s = split_images(&all, 0, train);
    if (!s && test) s = split_images(&all, 1, test);
    vkg_images_free(&all);
  }
  if (s) {
    if (train) vkg_images_free(train);
    if (test) vkg_images_free(test);
  }
  return s;
}

// ---- text ----

struct buf {
  char *p;
  size_t n, cap;
};
static int buf_add(struct buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->n + n + 1 > cap)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p, b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return 1;
}

vkg_status nn_text_data_load(const char *dir, const vkg_tokenizer *tok, struct nn_text_data *c) {
  memset(c, 0, sizeof *c);
  struct vkg_text text;
  vkg_status s = vkg_text_load(dir, &text);
  if (s) return s;
  struct buf tr = {0}, va = {0};
  int cap_texts = 0, index = 0, oom = 0;
  /* A fortune is the lines up to a line holding only "%". */
  size_t start = 0, i = 0;
  while (i <= text.n && !oom) {
    size_t e = i;
    while (e < text.n && text.bytes[e] != '\n')
      e++;
    size_t ll = e - i;
    int sep = (ll == 1 && text.bytes[i] == '%') || (ll == 2 && text.bytes[i] == '%' && text.bytes[i + 1] == '\r');
    int end = e >= text.n;
    if (sep || end) {
      size_t fend = sep ? i : text.n;
      size_t len = fend > start ? fend - start : 0;
      const char *f = text.bytes + start;
      int blank = 1;
      for (size_t k = 0; k < len; k++)
        blank &= f[k] == ' ' || f[k] == '\n' || f[k] == '\t' || f[k] == '\r';
      if (!blank) {
        int held = nn_data_held_out((size_t)index++, NN_TEXT_TEST_EVERY);
        struct buf *b = held ? &va : &tr;
        oom |= !buf_add(b, f, len) || !buf_add(b, "%\n", 2);
        if (held && !oom) {
          if (c->nval_texts == cap_texts) {
            cap_texts = cap_texts ? 2 * cap_texts : 256;
            char **nt = realloc(c->val_texts, sizeof *nt * (size_t)cap_texts);
            if (!nt) {
              oom = 1;
              break;
            }
            c->val_texts = nt;
          }
          char *copy = malloc(len + 1);
          if (!copy)
            oom = 1;
          else {
            memcpy(copy, f, len);
            copy[len] = 0;
            c->val_texts[c->nval_texts++] = copy;
          }
        }
      }
      start = e + 1;
    }
    if (end) break;
    i = e + 1;
  }
  vkg_text_free(&text);
  if (oom)
    s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  else if (!tr.n || !va.n) {
    s = vkg__fail(VKG_ERR_FORMAT, "the corpus in '%s' has too few fortunes for a validation split (needs 20 or more)",
                  dir ? dir : VKG_FORTUNES_DIR);
    vkg__hint("fortunes are separated by lines holding only '%%'; point --data at a directory of fortune files");
  }
  if (!s) s = vkg_tokenize(tok, tr.p, tr.n, &c->train, &c->ntrain);
  if (!s) s = vkg_tokenize(tok, va.p, va.n, &c->val, &c->nval);
  c->val_bytes = va.n;
  free(tr.p);
  free(va.p);
  if (s) nn_text_data_free(c);
  return s;
}

void nn_text_data_free(struct nn_text_data *c) {
  free(c->train);
  free(c->val);
  for (int i = 0; i < c->nval_texts; i++)
    free(c->val_texts[i]);
  free(c->val_texts);
  memset(c, 0, sizeof *c);
}

// ---- audio ----

vkg_status nn_audio_data_load(const char *dir, int rate, struct nn_audio_data *d) {
  memset(d, 0, sizeof *d);
  struct vkg_audio_folder f;
  vkg_status s = vkg_audio_folder_load(dir ? dir : VKG_SPEECH_EN_DIR, rate, &f);
  if (s) return s;
  if (f.n_clips < 10) {
    vkg_audio_folder_free(&f);
    s = vkg__fail(VKG_ERR_IO,
                  "audio folder '%s' holds %d .wav files; at least 10 are needed (every 10th is the "
                  "test set)",
                  dir ? dir : VKG_SPEECH_EN_DIR, f.n_clips);
    return s;
  }
  size_t n = f.start[f.n_clips];
  d->q = malloc(n ? n : 1);
  if (!d->q) {
    vkg_audio_folder_free(&f);
    return vkg__fail(VKG_ERR_OOM, "out of host memory for %zu samples", n);
  }
  vkg_mulaw_encode(f.samples, n, d->q);
  d->n_clips = f.n_clips, d->n_classes = f.n_classes;
  d->start = f.start, d->label = f.label, d->class_names = f.class_names;
  f.start = NULL, f.label = NULL, f.class_names = NULL, f.n_classes = 0;
  vkg_audio_folder_free(&f);
  return VKG_OK;
}

vkg_status nn_audio_data_synthetic(int n, size_t len, uint64_t seed, struct nn_audio_data *d) {
  memset(d, 0, sizeof *d);
  d->n_clips = n, d->n_classes = 1;
  d->q = malloc((size_t)n * len);
  d->start = calloc((size_t)n + 1, sizeof *d->start);
  d->label = calloc((size_t)n, sizeof *d->label);
  d->class_names = calloc(1, sizeof *d->class_names);
  if (!d->q || !d->start || !d->label || !d->class_names || !(d->class_names[0] = strdup(""))) {
    nn_audio_data_free(d);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  for (int i = 0; i < n; i++)
    d->start[i + 1] = d->start[i] + len;
  for (size_t i = 0; i < (size_t)n * len; i++)
    d->q[i] = (uint8_t)(nn_mix(seed, i) >> 56);
  return VKG_OK;
}

void nn_audio_data_free(struct nn_audio_data *d) {
  if (!d) return;
  for (int i = 0; i < d->n_classes && d->class_names; i++)
    free(d->class_names[i]);
  free(d->class_names), free(d->q), free(d->start), free(d->label);
  memset(d, 0, sizeof *d);
}
