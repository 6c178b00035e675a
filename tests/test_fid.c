/* FID: the Frechet distance against scipy.linalg.sqrtm (tests/fixtures/fid_ref.safetensors, written by
 * tools/fid_reference.py) on dims 1, 2, 7, 64 with singular covariances, the Jacobi eigen-decomposition
 * and matrix square root, the statistics, and the features of a small randomly initialized classifier
 * (a weights file the test writes) against a plain-C forward, their determinism and independence of
 * batching, the image conversion to 28x28 grayscale, FID of image sets (self = 0, symmetric), and the
 * errors of loading wrong weights. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "models/models.h"
#include "nn/fid.h"
#include "check/ref_conv.h"

static int contains(const char *s, const char *sub) { return s && sub && strstr(s, sub) != NULL; }

/* |got - ref| <= atol + rtol |ref| for doubles, as th_close does for floats. */
static int close_d(const char *what, const double *got, const double *ref, int n, double atol, double rtol) {
  int worst = -1;
  double worst_err = 0;
  for (int i = 0; i < n; i++) {
    double err = fabs(got[i] - ref[i]), lim = atol + rtol * fabs(ref[i]);
    if (!(err <= lim) && (worst < 0 || err > worst_err)) worst = i, worst_err = err;
  }
  if (worst >= 0)
    return th_check(0, "%s: element %d is %.17g, expected %.17g (|diff| %.3g)", what, worst, got[worst], ref[worst],
                    worst_err);
  return th_check(1, "%s", what);
}

/* An F64 tensor of the fixture, with its element count checked. */
static const double *fixture(const vkg_st *st, const char *name, int numel) {
  int i = vkg_st_find(st, name);
  size_t bytes = 0;
  const void *p = i >= 0 && !strcmp(vkg_st_dtype(st, i), "F64") ? vkg_st_data(st, i, &bytes) : NULL;
  if (!p || bytes != (size_t)numel * sizeof(double)) {
    fprintf(stderr, "fixture tensor %s missing or of the wrong size/dtype\n", name);
    exit(1);
  }
  return p;
}

// ---- the distance against scipy ----

static void test_reference(void) {
  vkg_st *st;
  if (!th_ok(vkg_st_open(FIXTURE_DIR "/fid_ref.safetensors", &st), "open fid_ref.safetensors")) return;
  const char *cases = vkg_st_metadata(st, "cases");
  int n = cases ? atoi(cases) : 0;
  th_check(n >= 6, "the fixture holds %d cases", n);
  for (int c = 0; c < n; c++) {
    char name[64];
    snprintf(name, sizeof name, "case%d.mu1", c);
    int64_t shape[8];
    int d = (int)(vkg_st_shape(st, vkg_st_find(st, name), shape) == 1 ? shape[0] : 0);
    const double *p[5];
    const char *parts[5] = {"mu1", "cov1", "mu2", "cov2", "fid"};
    for (int k = 0; k < 5; k++) {
      snprintf(name, sizeof name, "case%d.%s", c, parts[k]);
      p[k] = fixture(st, name, k == 4 ? 1 : k % 2 ? d * d : d);
    }
    snprintf(name, sizeof name, "case%d.fid_svd", c);
    const double *exact = fixture(st, name, 1);
    double f12 = fid_distance(p[0], p[1], p[2], p[3], d), f21 = fid_distance(p[2], p[3], p[0], p[1], d);
    char what[128];
    snprintf(what, sizeof what, "case %d (D %d): FID vs scipy sqrtm (rel 1e-6)", c, d);
    close_d(what, &f12, p[4], 1, 1e-9, 1e-6);
    snprintf(what, sizeof what, "case %d (D %d): FID vs the singular-value value (rel 1e-8)", c, d);
    close_d(what, &f12, exact, 1, 1e-9, 1e-8);
    snprintf(what, sizeof what, "case %d (D %d): FID symmetric", c, d);
    close_d(what, &f21, &f12, 1, 1e-9, 1e-9);
    /* Each distribution with itself: 0 up to rounding, singular covariances included. */
    double self1 = fid_distance(p[0], p[1], p[0], p[1], d), self2 = fid_distance(p[2], p[3], p[2], p[3], d);
    double tr = 0;
    for (int j = 0; j < d; j++)
      tr += p[1][j * d + j] + p[3][j * d + j];
    th_check(self1 >= 0 && self2 >= 0 && self1 <= 1e-7 * tr && self2 <= 1e-7 * tr,
             "case %d: FID with itself is %.3g and %.3g (trace %.3g)", c, self1, self2, tr);
  }
  const double *a = fixture(st, "sqrtm.a", 49), *want = fixture(st, "sqrtm.out", 49);
  double got[49];
  th_check(fid_sqrtm_psd(a, 7, got) == 0, "sqrtm converges");
  close_d("sqrtm of a 7x7 SPD matrix vs scipy", got, want, 49, 1e-12, 1e-9);
  vkg_st_close(st);
}

// ---- linear algebra ----

static void test_linalg(void) {
  /* sqrtm of a diagonal matrix, with a zero and a tiny negative (rounding) eigenvalue. */
  double diag[5] = {4, 9, 0, 2.25, -1e-15}, a[25] = {0}, s[25], want[25] = {0};
  for (int i = 0; i < 5; i++)
    a[i * 5 + i] = diag[i], want[i * 5 + i] = diag[i] > 0 ? sqrt(diag[i]) : 0;
  th_check(fid_sqrtm_psd(a, 5, s) == 0, "diagonal sqrtm converges");
  close_d("sqrtm of diag(4, 9, 0, 2.25, -1e-15)", s, want, 25, 1e-15, 1e-15);

  /* A random symmetric (indefinite) 13x13: A V = V diag(l), V^T V = I, l ascending. */
  enum { N = 13 };
  double A[N * N], l[N], V[N * N], AV[N * N], VL[N * N], VtV[N * N], I[N * N];
  th_seed(5);
  for (int i = 0; i < N; i++)
    for (int j = 0; j <= i; j++)
      A[i * N + j] = A[j * N + i] = th_uniform(-1, 1);
  th_check(fid_eigh(A, N, l, V) == 0, "eigh converges (13x13)");
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      double av = 0, vtv = 0;
      for (int k = 0; k < N; k++)
        av += A[i * N + k] * V[k * N + j], vtv += V[k * N + i] * V[k * N + j];
      AV[i * N + j] = av, VL[i * N + j] = V[i * N + j] * l[j], VtV[i * N + j] = vtv, I[i * N + j] = i == j;
    }
  close_d("eigh: A V = V diag(l)", AV, VL, N * N, 1e-13, 0);
  close_d("eigh: V orthonormal", VtV, I, N * N, 1e-13, 0);
  int sorted = 1;
  for (int i = 1; i < N; i++)
    sorted &= l[i - 1] <= l[i];
  th_check(sorted, "eigenvalues ascending");
  double one = 7, l1, v1;
  th_check(fid_eigh(&one, 1, &l1, &v1) == 0 && l1 == 7 && v1 == 1, "eigh of a 1x1 matrix");

  /* Statistics: mean and unbiased covariance against a direct double computation. */
  enum { R = 50, D = 5 };
  float x[R * D];
  th_fill(x, R * D, -2, 3);
  double mu[D], cov[D * D], rmu[D] = {0}, rcov[D * D] = {0};
  th_ok(fid_stats(x, R, D, mu, cov), "fid_stats");
  for (int i = 0; i < R; i++)
    for (int j = 0; j < D; j++)
      rmu[j] += x[i * D + j] / (double)R;
  for (int j = 0; j < D; j++)
    for (int k = 0; k < D; k++) {
      for (int i = 0; i < R; i++)
        rcov[j * D + k] += (x[i * D + j] - rmu[j]) * (x[i * D + k] - rmu[k]);
      rcov[j * D + k] /= R - 1;
    }
  close_d("fid_stats mean", mu, rmu, D, 1e-12, 1e-12);
  close_d("fid_stats covariance (unbiased)", cov, rcov, D * D, 1e-12, 1e-12);
  th_check(fid_stats(x, 1, D, mu, cov) == VKG_ERR_ARG, "fid_stats of one vector is VKG_ERR_ARG");
  x[7] = NAN;
  th_check(fid_stats(x, R, D, mu, cov) == VKG_ERR_NUMERIC, "fid_stats of NaN features is VKG_ERR_NUMERIC");
  rcov[3] = NAN;
  th_check(isnan(fid_distance(rmu, rcov, rmu, rcov, D)), "fid_distance of a NaN covariance is NaN");
}

// ---- the classifier's features ----

enum { C1 = 4, C2 = 6, HID = 12 };

/* The classifier forward in double from the weights file: features (n, HID) and logits (n, 10). */
static void ref_classifier(const char *path, const float *images, int n, float *feat, float *logits) {
  vkg_st *st;
  if (vkg_st_open(path, &st)) exit(1);
  float c1w[C1 * 25], c1b[C1], c2w[C2 * C1 * 25], g[C2], b[C2], rm[C2], rv[C2], f1w[HID * C2 * 49], f1b[HID],
      f2w[10 * HID], f2b[10];
  struct {
    const char *name;
    int ndim, shape[4];
    float *out;
  } t[] = {{"conv1.weight", 4, {C1, 1, 5, 5}, c1w},
           {"conv1.bias", 1, {C1}, c1b},
           {"conv2.weight", 4, {C2, C1, 5, 5}, c2w},
           {"bn.weight", 1, {C2}, g},
           {"bn.bias", 1, {C2}, b},
           {"bn.running_mean", 1, {C2}, rm},
           {"bn.running_var", 1, {C2}, rv},
           {"fc1.weight", 2, {HID, C2 * 49}, f1w},
           {"fc1.bias", 1, {HID}, f1b},
           {"fc2.weight", 2, {10, HID}, f2w},
           {"fc2.bias", 1, {10}, f2b}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (vkg_st_read_f32(st, t[i].name, t[i].ndim, t[i].shape, t[i].out)) exit(1);
  vkg_st_close(st);
  double *x = malloc(sizeof *x * 784), *h1 = malloc(sizeof *h1 * C1 * 196), *h2 = malloc(sizeof *h2 * C2 * 49);
  double w1[C1 * 25], b1[C1], w2[C2 * C1 * 25];
  for (int i = 0; i < C1 * 25; i++)
    w1[i] = c1w[i];
  for (int i = 0; i < C1; i++)
    b1[i] = c1b[i];
  for (int i = 0; i < C2 * C1 * 25; i++)
    w2[i] = c2w[i];
  struct ref_conv p1 = {1, 1, 28, 28, C1, 5, 5, 14, 14, 2, 2, 2, 2, 1, 1, 1};
  struct ref_conv p2 = {1, C1, 14, 14, C2, 5, 5, 7, 7, 2, 2, 2, 2, 1, 1, 1};
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 784; k++)
      x[k] = images[(size_t)i * 784 + k];
    ref_conv2d_f64(h1, x, w1, b1, &p1);
    for (int k = 0; k < C1 * 196; k++)
      h1[k] = h1[k] > 0 ? h1[k] : 0;
    ref_conv2d_f64(h2, h1, w2, NULL, &p2);
    for (int c = 0; c < C2; c++)
      for (int k = 0; k < 49; k++) {
        double v = (h2[c * 49 + k] - rm[c]) / sqrt((double)rv[c] + 1e-5) * g[c] + b[c];
        h2[c * 49 + k] = v > 0 ? v : 0;
      }
    double hid[HID];
    for (int j = 0; j < HID; j++) {
      double acc = f1b[j];
      for (int k = 0; k < C2 * 49; k++)
        acc += f1w[j * C2 * 49 + k] * h2[k];
      hid[j] = acc > 0 ? acc : 0;
      feat[(size_t)i * HID + j] = (float)hid[j];
    }
    for (int j = 0; j < 10; j++) {
      double acc = f2b[j];
      for (int k = 0; k < HID; k++)
        acc += f2w[j * HID + k] * hid[k];
      logits[(size_t)i * 10 + j] = (float)acc;
    }
  }
  free(x);
  free(h1);
  free(h2);
}

/* Writes a small classifier with random weights and random batchnorm statistics to path. */
static int write_random_classifier(vkg_ctx *ctx, const char *path) {
  struct classifier_opts o = classifier_opts_default();
  o.c1 = C1, o.c2 = C2, o.hidden = HID, o.seed = 42, o.no_data = 1;
  struct nn_model *m;
  if (!th_ok(classifier_create(ctx, &o, &m), "classifier_create without data")) return 0;
  float mean[C2], var[C2];
  for (int c = 0; c < C2; c++)
    mean[c] = th_uniform(-0.3f, 0.3f), var[c] = th_uniform(0.2f, 2.0f);
  int ok = th_ok(vkg_tensor_upload_f32(m->params.t[nn_param_index(&m->params, "bn.running_mean")], mean, C2),
                 "set running mean") &&
           th_ok(vkg_tensor_upload_f32(m->params.t[nn_param_index(&m->params, "bn.running_var")], var, C2),
                 "set running var") &&
           th_ok(classifier_save(m, path), "classifier_save");
  classifier_destroy(m);
  return ok;
}

static void test_features(vkg_ctx *ctx, const char *weights) {
  enum { N = 37, BIG = 300 };
  struct nn_model *m;
  if (!th_ok(classifier_load(ctx, weights, &m), "classifier_load")) return;
  th_check(classifier_feature_dim(m) == HID, "feature dim %d", classifier_feature_dim(m));
  float *img = th_alloc((size_t)BIG * 784), *feat = th_alloc((size_t)BIG * HID), *lg = th_alloc((size_t)BIG * 10);
  float *rf = th_alloc((size_t)BIG * HID), *rl = th_alloc((size_t)BIG * 10), *again = th_alloc((size_t)BIG * HID);
  th_fill(img, (size_t)BIG * 784, 0, 1);
  ref_classifier(weights, img, BIG, rf, rl);

  th_ok(classifier_features(m, img, N, feat, lg, NULL), "classifier_features (37 images)");
  th_close("features (37, 12) vs plain-C forward", feat, rf, (size_t)N * HID, 1e-4f, 1e-4f);
  th_close("logits (37, 10) vs plain-C forward", lg, rl, (size_t)N * 10, 1e-4f, 1e-4f);
  int positive = 0;
  for (int i = 0; i < N * HID; i++)
    positive += feat[i] > 0;
  th_check(positive > N * HID / 5 && positive < N * HID, "features are ReLU outputs, not all zero (%d of %d > 0)",
           positive, N * HID);
  th_ok(classifier_features(m, img, N, again, NULL, NULL), "classifier_features again");
  th_check(!memcmp(feat, again, sizeof *feat * N * HID), "features are deterministic (bitwise)");
  th_ok(classifier_features(m, img + 784 * 3, 5, again, NULL, NULL), "classifier_features (5 images, padded batch)");
  th_check(!memcmp(feat + 3 * HID, again, sizeof *feat * 5 * HID), "a padded batch gives the same features");
  classifier_destroy(m);

  /* A fresh model and more images than one batch (256 + 44): the same values. */
  if (th_ok(classifier_load(ctx, weights, &m), "classifier_load again")) {
    th_ok(classifier_features(m, img, BIG, again, lg, NULL), "classifier_features (300 images, 2 batches)");
    th_close("features (300, 12) vs plain-C forward", again, rf, (size_t)BIG * HID, 1e-4f, 1e-4f);
    th_close("logits (300, 10) vs plain-C forward", lg, rl, (size_t)BIG * 10, 1e-4f, 1e-4f);
    th_close("features do not depend on the batch size", again, feat, (size_t)N * HID, 1e-6f, 1e-6f);
    /* Accuracy: labels chosen so that exactly the first 100 images count as right. */
    struct vkg_images set = {.n = 200, .c = 1, .h = 28, .w = 28, .pixels = img, .labels = malloc(200)};
    for (int i = 0; i < 200; i++) {
      int best = 0;
      for (int k = 1; k < 10; k++)
        if (rl[i * 10 + k] > rl[i * 10 + best]) best = k;
      set.labels[i] = (uint8_t)(i < 100 ? best : (best + 1) % 10);
    }
    double acc = -1;
    th_ok(classifier_accuracy(m, &set, &acc), "classifier_accuracy");
    th_check(fabs(acc - 0.5) < 0.011, "accuracy %.3f, expected 0.5", acc); /* a near tie may flip one */
    free(set.labels);
    classifier_destroy(m);
  }
  free(img);
  free(feat);
  free(lg);
  free(rf);
  free(rl);
  free(again);
}

/* fid_to_gray28 against direct expectations, and fid_features / fid_of_images on converted images. */
static void test_images(vkg_ctx *ctx, const char *weights) {
  enum { N = 24 };
  /* RGB 28x28: luminance only. Gray 56x56: means of 2x2 blocks. */
  float *rgb = th_alloc((size_t)N * 3 * 784), *gray = th_alloc((size_t)N * 784), *ref = th_alloc((size_t)N * 784);
  th_fill(rgb, (size_t)N * 3 * 784, 0, 1);
  th_ok(fid_to_gray28(rgb, N, 3, 28, 28, gray), "fid_to_gray28 RGB 28x28");
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 784; k++) {
      const float *p = rgb + (size_t)i * 3 * 784;
      ref[(size_t)i * 784 + k] = (float)(0.299 * p[k] + 0.587 * p[784 + k] + 0.114 * p[2 * 784 + k]);
    }
  th_close("RGB -> luminance", gray, ref, (size_t)N * 784, 1e-6f, 1e-6f);
  /* Images holding NaN or infinity give no FID (clamping them would give a finite, meaningless one). */
  rgb[(size_t)5 * 3 * 784 + 2 * 784 + 17] = NAN;
  th_check(fid_to_gray28(rgb, N, 3, 28, 28, gray) == VKG_ERR_NUMERIC && strstr(vkg_last_error(), "image 6 of 24"),
           "fid_to_gray28 of an image holding NaN is VKG_ERR_NUMERIC naming it (%s)", vkg_last_error());
  rgb[(size_t)5 * 3 * 784 + 2 * 784 + 17] = INFINITY;
  th_check(fid_to_gray28(rgb, N, 3, 28, 28, gray) == VKG_ERR_NUMERIC,
           "fid_to_gray28 of an infinity is VKG_ERR_NUMERIC");
  rgb[(size_t)5 * 3 * 784 + 2 * 784 + 17] = 0.5f;
  float *big = th_alloc((size_t)2 * 56 * 56);
  th_fill(big, 2 * 56 * 56, -0.2f, 1.2f); /* out of range values are clamped first */
  th_ok(fid_to_gray28(big, 2, 1, 56, 56, gray), "fid_to_gray28 gray 56x56");
  for (int i = 0; i < 2; i++)
    for (int y = 0; y < 28; y++)
      for (int x = 0; x < 28; x++) {
        double acc = 0;
        for (int k = 0; k < 4; k++) {
          float v = big[(size_t)i * 3136 + (2 * y + k / 2) * 56 + 2 * x + k % 2];
          acc += v < 0 ? 0 : v > 1 ? 1 : v;
        }
        ref[(size_t)i * 784 + y * 28 + x] = (float)(acc / 4);
      }
  th_close("56x56 -> 28x28 area average, clamped", gray, ref, 2 * 784, 1e-6f, 1e-6f);
  th_check(fid_to_gray28(rgb, N, 2, 28, 28, gray) == VKG_ERR_ARG, "2 channels is VKG_ERR_ARG");

  /* RGB 32x32 image sets. */
  float *a = th_alloc((size_t)N * 3 * 1024), *b = th_alloc((size_t)N * 3 * 1024);
  th_fill(a, (size_t)N * 3 * 1024, 0, 1);
  for (size_t i = 0; i < (size_t)N * 3 * 1024; i++)
    b[i] = 0.6f * th_uniform(0, 1) + 0.3f; /* lower contrast */
  float *fa = NULL, *fb = NULL;
  int dim = 0;
  if (th_ok(fid_features(ctx, weights, a, N, 3, 32, 32, &fa, &dim), "fid_features RGB 32x32") && dim == HID) {
    float *conv = th_alloc((size_t)N * 784), *direct = th_alloc((size_t)N * HID), *unused = th_alloc((size_t)N * 10);
    fid_to_gray28(a, N, 3, 32, 32, conv);
    ref_classifier(weights, conv, N, direct, unused);
    th_close("fid_features = classifier features of the converted images", fa, direct, (size_t)N * HID, 1e-4f, 1e-4f);
    free(conv);
    free(direct);
    free(unused);
  }
  th_check(dim == HID, "fid_features dim %d", dim);
  double fab = -1, fba = -1, faa = -1;
  th_ok(fid_of_images(ctx, weights, a, N, b, N, 3, 32, 32, &fab), "fid_of_images(a, b)");
  th_ok(fid_of_images(ctx, weights, b, N, a, N, 3, 32, 32, &fba), "fid_of_images(b, a)");
  th_ok(fid_of_images(ctx, weights, a, N, a, N, 3, 32, 32, &faa), "fid_of_images(a, a)");
  th_check(fab > 0 && fabs(fab - fba) <= 1e-9 * fab, "FID symmetric and positive: %.12g vs %.12g", fab, fba);
  th_check(faa >= 0 && faa < 1e-9 * fab + 1e-12, "FID of a set with itself is 0 (%.3g)", faa);
  /* The same from the pieces: features, stats, distance. */
  if (th_ok(fid_features(ctx, weights, b, N, 3, 32, 32, &fb, &dim), "fid_features b") && fa) {
    double mu[2 * HID], cov[2 * HID * HID];
    fid_stats(fa, N, HID, mu, cov);
    fid_stats(fb, N, HID, mu + HID, cov + HID * HID);
    double f = fid_distance(mu, cov, mu + HID, cov + HID * HID, HID);
    th_check(fabs(f - fab) <= 1e-9 * fab, "fid_of_images = fid_distance of the stats (%.12g vs %.12g)", fab, f);
  }
  /* Fewer images than features: singular covariances still give a finite FID. */
  double few = -1;
  th_ok(fid_of_images(ctx, weights, a, 5, b, 7, 3, 32, 32, &few), "fid_of_images with 5 and 7 images");
  th_check(few > 0 && isfinite(few), "FID of 5 vs 7 images (rank-deficient) is finite: %g", few);
  th_check(fid_of_images(ctx, weights, a, 1, b, N, 3, 32, 32, &few) == VKG_ERR_ARG, "one image is VKG_ERR_ARG");
  th_check(fid_of_images(ctx, weights, a, N, b, N, 4, 16, 16, &few) == VKG_ERR_ARG, "4 channels is VKG_ERR_ARG");
  free(fa);
  free(fb);
  free(a);
  free(b);
  free(big);
  free(rgb);
  free(gray);
  free(ref);
}

static void test_errors(vkg_ctx *ctx, const char *dir) {
  struct nn_model *m = NULL;
  char path[256];
  snprintf(path, sizeof path, "%s/missing.safetensors", dir);
  vkg_status s = classifier_load(ctx, path, &m);
  th_check(s == VKG_ERR_IO && !m && contains(vkg_last_error(), path) &&
               contains(vkg_last_hint(), "vkgen train classifier"),
           "missing weights: VKG_ERR_IO with a hint (got %s: %s / %s)", vkg_status_str(s), vkg_last_error(),
           vkg_last_hint());
  /* Weights of another model. */
  snprintf(path, sizeof path, "%s/gan.safetensors", dir);
  vkg_st_writer *w = vkg_st_writer_create();
  float one = 1;
  int shape1[1] = {1};
  vkg_st_add_f32(w, "g.fc.weight", 1, shape1, &one);
  vkg_st_add_metadata(w, "format", "vkgen-weights");
  vkg_st_add_metadata(w, "model", "gan");
  vkg_st_add_metadata(w, "config", "{\"z\": 64}");
  th_ok(vkg_st_write(w, path), "write gan weights");
  vkg_st_writer_destroy(w);
  s = classifier_load(ctx, path, &m);
  th_check(s == VKG_ERR_FORMAT && !m && contains(vkg_last_error(), "are for a gan model, not classifier"),
           "other-family weights: VKG_ERR_FORMAT (got %s: %s)", vkg_status_str(s), vkg_last_error());
  /* A classifier config that its tensors do not match. */
  snprintf(path, sizeof path, "%s/bad.safetensors", dir);
  w = vkg_st_writer_create();
  vkg_st_add_f32(w, "conv1.weight", 1, shape1, &one);
  vkg_st_add_metadata(w, "model", "classifier");
  vkg_st_add_metadata(w, "config", "{\"c1\": 4, \"c2\": 6, \"hidden\": 12}");
  th_ok(vkg_st_write(w, path), "write bad weights");
  vkg_st_writer_destroy(w);
  s = classifier_load(ctx, path, &m);
  th_check(s != VKG_OK && !m && contains(vkg_last_error(), "conv1.weight"),
           "mismatched tensors: an error naming one (%s: %s)", vkg_status_str(s), vkg_last_error());
  float img[784] = {0}, *f = (float *)1;
  int dim;
  s = fid_features(ctx, path, img, 1, 1, 28, 28, &f, &dim);
  th_check(s != VKG_OK && f == NULL, "fid_features with bad weights fails cleanly (%s)", vkg_status_str(s));
}

int main(void) {
  test_reference();
  test_linalg();
  vkg_ctx *ctx = th_ctx();
  char dir[64] = "/tmp/vkgen-fid-XXXXXX", weights[128];
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(weights, sizeof weights, "%s/classifier.safetensors", dir);
  th_seed(11);
  if (write_random_classifier(ctx, weights)) {
    test_features(ctx, weights);
    test_images(ctx, weights);
  }
  test_errors(ctx, dir);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) fprintf(stderr, "note: could not remove %s\n", dir);
  return th_finish(ctx);
}
