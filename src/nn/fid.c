/* FID: classifier features on the GPU, statistics and the Frechet distance in double on the CPU.
 * Shape letters: N images, D feature dimension. Matrices are row-major D x D. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "io/resample.h"
#include "models/models.h"
#include "nn/fid.h"
#include "nn/progress.h"

// ---- symmetric eigen-decomposition (cyclic Jacobi) ----

int fid_eigh(const double *a, int n, double *evals, double *evecs) {
  if (n < 1) return -1;
  double *A = malloc(sizeof *A * (size_t)n * n), *V = malloc(sizeof *V * (size_t)n * n);
  if (!A || !V) {
    free(A);
    free(V);
    return -1;
  }
  /* Work on the symmetric part, so a matrix that is symmetric only up to rounding is fine. */
  double frob = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double v = 0.5 * (a[(size_t)i * n + j] + a[(size_t)j * n + i]);
      A[(size_t)i * n + j] = v;
      V[(size_t)i * n + j] = i == j;
      frob += v * v;
    }
  frob = sqrt(frob);
  int converged = 0;
  for (int sweep = 0; sweep <= 100 && !converged; sweep++) {
    double off = 0;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++)
        off += A[(size_t)p * n + q] * A[(size_t)p * n + q];
    off = sqrt(2 * off);
    /* Jacobi converges quadratically, so this is reached in about 10 sweeps; the off-diagonal mass
     * that is left bounds each eigenvalue's error. Should rounding ever stall it just above the
     * target, 1e-10 of the norm after 100 sweeps is still far more than FID needs. */
    if (off == 0 || off <= 1e-15 * frob || (sweep == 100 && off <= 1e-10 * frob)) {
      converged = 1;
      break;
    }
    if (sweep == 100 || off != off) break; /* NaN input, or no convergence */
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        double apq = A[(size_t)p * n + q];
        if (fabs(apq) < DBL_MIN) continue;
        /* The rotation angle that zeroes A[p][q]: t = tan(phi), the smaller root of
         * t^2 + 2 theta t - 1 = 0, which keeps the rotation below 45 degrees (stable). */
        double theta = (A[(size_t)q * n + q] - A[(size_t)p * n + p]) / (2 * apq);
        double t = fabs(theta) > 1e150 ? 0.5 / theta : (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c, tau = s / (1 + c);
        A[(size_t)p * n + p] -= t * apq;
        A[(size_t)q * n + q] += t * apq;
        A[(size_t)p * n + q] = A[(size_t)q * n + p] = 0;
        for (int r = 0; r < n; r++)
          if (r != p && r != q) {
            double g = A[(size_t)p * n + r], h = A[(size_t)q * n + r];
            A[(size_t)r * n + p] = A[(size_t)p * n + r] = g - s * (h + g * tau);
            A[(size_t)r * n + q] = A[(size_t)q * n + r] = h + s * (g - h * tau);
          }
        /* V is kept transposed (row k = eigenvector k), so this touches two contiguous rows. */
        double *vp = V + (size_t)p * n, *vq = V + (size_t)q * n;
        for (int r = 0; evecs && r < n; r++) {
          double g = vp[r], h = vq[r];
          vp[r] = g - s * (h + g * tau);
          vq[r] = h + s * (g - h * tau);
        }
      }
  }
  if (converged) {
    /* Ascending order (selection sort: n is small next to the O(n^3) sweeps). */
    for (int i = 0; i < n; i++)
      evals[i] = A[(size_t)i * n + i];
    for (int i = 0; i < n; i++) {
      int k = i;
      for (int j = i + 1; j < n; j++)
        if (evals[j] < evals[k]) k = j;
      if (k == i) continue;
      double e = evals[i];
      evals[i] = evals[k], evals[k] = e;
      for (int r = 0; r < n; r++) {
        double v = V[(size_t)i * n + r];
        V[(size_t)i * n + r] = V[(size_t)k * n + r], V[(size_t)k * n + r] = v;
      }
    }
    for (int i = 0; evecs && i < n; i++)
      for (int r = 0; r < n; r++)
        evecs[(size_t)r * n + i] = V[(size_t)i * n + r];
  }
  free(A);
  free(V);
  return converged ? 0 : -1;
}

int fid_sqrtm_psd(const double *a, int n, double *out) {
  double *l = malloc(sizeof *l * (size_t)n), *V = malloc(sizeof *V * (size_t)n * n);
  int r = l && V ? fid_eigh(a, n, l, V) : -1;
  if (!r) {
    /* out = V diag(sqrt(l)) V^T, negative eigenvalues (rounding of a PSD matrix) taken as 0. */
    for (int k = 0; k < n; k++)
      l[k] = l[k] > 0 ? sqrt(l[k]) : 0;
    for (int i = 0; i < n; i++)
      for (int j = i; j < n; j++) {
        double acc = 0;
        for (int k = 0; k < n; k++)
          acc += V[(size_t)i * n + k] * l[k] * V[(size_t)j * n + k];
        out[(size_t)i * n + j] = out[(size_t)j * n + i] = acc;
      }
  }
  free(l);
  free(V);
  return r;
}

double fid_trace_sqrt_product(const double *c1, const double *c2, int n) {
  if (n < 1) return NAN;
  /* With C1 = V L V^T, S = sqrt(C1) = V L^1/2 V^T and S C2 S = V (L^1/2 W L^1/2) V^T where
   * W = V^T C2 V: the same eigenvalues as M = L^1/2 W L^1/2, which is symmetric PSD. */
  double *l = malloc(sizeof *l * (size_t)n), *V = malloc(sizeof *V * (size_t)n * n);
  double *T = malloc(sizeof *T * (size_t)n * n), *M = calloc((size_t)n * n, sizeof *M);
  double result = NAN;
  if (!l || !V || !T || !M || fid_eigh(c1, n, l, V)) goto done;
  for (int k = 0; k < n; k++)
    l[k] = l[k] > 0 ? sqrt(l[k]) : 0;
  for (int i = 0; i < n; i++) // T = C2 V
    for (int j = 0; j < n; j++) {
      double acc = 0;
      for (int k = 0; k < n; k++)
        acc += c2[(size_t)i * n + k] * V[(size_t)k * n + j];
      T[(size_t)i * n + j] = acc;
    }
  for (int i = 0; i < n; i++) // M = L^1/2 V^T T L^1/2
    for (int j = i; j < n; j++) {
      double acc = 0;
      for (int k = 0; k < n; k++)
        acc += V[(size_t)k * n + i] * T[(size_t)k * n + j];
      M[(size_t)i * n + j] = M[(size_t)j * n + i] = l[i] * acc * l[j];
    }
  if (fid_eigh(M, n, l, NULL)) goto done;
  result = 0;
  for (int k = 0; k < n; k++)
    result += l[k] > 0 ? sqrt(l[k]) : 0;
done:
  free(l);
  free(V);
  free(T);
  free(M);
  return result;
}

// ---- statistics and distance ----

vkg_status fid_stats(const float *x, int n, int d, double *mean, double *cov) {
  if (n < 2 || d < 1)
    return vkg__fail(VKG_ERR_ARG, "FID statistics need at least 2 feature vectors (got %d of dimension %d)", n, d);
  double *c = malloc(sizeof *c * (size_t)d);
  if (!c) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int j = 0; j < d; j++)
    mean[j] = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++)
      mean[j] += x[(size_t)i * d + j];
  for (int j = 0; j < d; j++)
    mean[j] /= n;
  for (int j = 0; j < d; j++)
    if (!isfinite(mean[j])) {
      free(c);
      return vkg__fail(VKG_ERR_NUMERIC, "FID features hold NaN or infinite values (feature %d)", j);
    }
  memset(cov, 0, sizeof *cov * (size_t)d * d);
  /* Two passes (centered products) keep the covariance accurate when the mean is large. */
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < d; j++)
      c[j] = x[(size_t)i * d + j] - mean[j];
    for (int j = 0; j < d; j++)
      for (int k = j; k < d; k++)
        cov[(size_t)j * d + k] += c[j] * c[k];
  }
  for (int j = 0; j < d; j++)
    for (int k = j; k < d; k++)
      cov[(size_t)k * d + j] = cov[(size_t)j * d + k] /= (n - 1);
  free(c);
  return VKG_OK;
}

double fid_distance(const double *mu1, const double *cov1, const double *mu2, const double *cov2, int d) {
  double diff = 0, tr = 0;
  for (int j = 0; j < d; j++) {
    diff += (mu1[j] - mu2[j]) * (mu1[j] - mu2[j]);
    tr += cov1[(size_t)j * d + j] + cov2[(size_t)j * d + j];
  }
  double f = diff + tr - 2 * fid_trace_sqrt_product(cov1, cov2, d);
  return f < 0 ? 0 : f; /* NaN (a failed eigen-decomposition) passes through */
}

// ---- precision and recall, nearest neighbours ----

static double dist2(const float *a, const float *b, int dim) {
  double d = 0;
  for (int j = 0; j < dim; j++) {
    double t = (double)a[j] - b[j];
    d += t * t;
  }
  return d;
}

/* The squared distance of every row of x (n, dim) to its k-th nearest other row, into r2 (n). The k
 * smallest distances are kept sorted by insertion (k is small). */
static vkg_status knn_radii2(const float *x, int n, int dim, int k, double *r2) {
  double *best = malloc(sizeof *best * (size_t)k);
  if (!best) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int i = 0; i < n; i++) {
    int nb = 0;
    for (int j = 0; j < n; j++) {
      if (j == i) continue;
      double d = dist2(x + (size_t)i * dim, x + (size_t)j * dim, dim);
      if (nb == k && d >= best[k - 1]) continue;
      int p = nb < k ? nb++ : k - 1;
      for (; p > 0 && best[p - 1] > d; p--)
        best[p] = best[p - 1];
      best[p] = d;
    }
    r2[i] = best[k - 1];
  }
  free(best);
  return VKG_OK;
}

/* The fraction of rows of a (na, dim) inside the manifold of b (nb rows, squared radii rb2). */
static double coverage(const float *a, int na, const float *b, int nb, const double *rb2, int dim) {
  long in = 0;
  for (int i = 0; i < na; i++)
    for (int j = 0; j < nb; j++)
      if (dist2(a + (size_t)i * dim, b + (size_t)j * dim, dim) <= rb2[j]) {
        in++;
        break;
      }
  return (double)in / na;
}

vkg_status fid_precision_recall(const float *real, int n_real, const float *gen, int n_gen, int dim, int k,
                                double *precision, double *recall) {
  *precision = *recall = NAN;
  if (k < 1 || dim < 1 || n_real <= k || n_gen <= k)
    return vkg__fail(VKG_ERR_ARG,
                     "precision and recall with k = %d need more than k rows in each set (got %d real, %d generated)",
                     k, n_real, n_gen);
  for (size_t i = 0; i < (size_t)n_real * dim; i++)
    if (!isfinite(real[i])) return vkg__fail(VKG_ERR_NUMERIC, "precision/recall: a real feature is not finite");
  for (size_t i = 0; i < (size_t)n_gen * dim; i++)
    if (!isfinite(gen[i])) return vkg__fail(VKG_ERR_NUMERIC, "precision/recall: a generated feature is not finite");
  double *rr = malloc(sizeof *rr * (size_t)n_real), *rg = malloc(sizeof *rg * (size_t)n_gen);
  vkg_status s = rr && rg ? VKG_OK : vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (!s) s = knn_radii2(real, n_real, dim, k, rr);
  if (!s) s = knn_radii2(gen, n_gen, dim, k, rg);
  if (!s) {
    *precision = coverage(gen, n_gen, real, n_real, rr, dim);
    *recall = coverage(real, n_real, gen, n_gen, rg, dim);
  }
  free(rr);
  free(rg);
  return s;
}

void fid_nearest(const float *query, int nq, const float *ref, int nr, int dim, int *idx, double *dist) {
  for (int i = 0; i < nq; i++) {
    double best = INFINITY;
    int bi = 0;
    for (int j = 0; j < nr; j++) {
      double d = dist2(query + (size_t)i * dim, ref + (size_t)j * dim, dim);
      if (d < best) best = d, bi = j;
    }
    idx[i] = bi;
    if (dist) dist[i] = sqrt(best);
  }
}

// ---- features ----

vkg_status fid_to_gray28(const float *images, int n, int c, int h, int w, float *out) {
  if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1)
    return vkg__fail(VKG_ERR_ARG, "FID images must be (n, 1 or 3, h, w) with n >= 1 (got (%d, %d, %d, %d))", n, c, h,
                     w);
  size_t hw = (size_t)h * w;
  float *gray = malloc(sizeof *gray * hw); // (h, w)
  if (!gray) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = VKG_OK;
  for (int i = 0; i < n && !s; i++) {
    const float *im = images + (size_t)i * c * hw;
    for (size_t k = 0; k < hw; k++) {
      float v = c == 1 ? im[k] : VKG_LUMA_R * im[k] + VKG_LUMA_G * im[hw + k] + VKG_LUMA_B * im[2 * hw + k];
      if (!isfinite(v)) { /* clamping would give a finite, meaningless FID */
        s = vkg__fail(VKG_ERR_NUMERIC, "FID: image %d of %d holds %s values, so no FID can be computed", i + 1, n,
                      isnan(v) ? "NaN" : "infinite");
        vkg__hint("the model producing the images diverged or its weights are damaged");
        break;
      }
      gray[k] = v < 0 ? 0 : v > 1 ? 1 : v; /* as vkg_png_grid shows them */
    }
    if (s) break;
    if (vkg__resize_plane(gray, h, w, out + (size_t)i * 784, 28, 28)) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  free(gray);
  return s;
}

/* Features (n, D) of images with a loaded classifier, and their logits (n, 10) if logits is not NULL;
 * *out is malloc'd. */
static vkg_status features_with(struct nn_model *m, const float *images, int n, int c, int h, int w, float **out,
                                float *logits, struct nn_progress *pg) {
  *out = NULL;
  int D = classifier_feature_dim(m);
  float *x = malloc(sizeof *x * (size_t)n * 784), *f = malloc(sizeof *f * (size_t)n * D);
  vkg_status s = x && f ? VKG_OK : vkg__fail(VKG_ERR_OOM, "out of host memory for the features of %d images", n);
  if (!s) s = fid_to_gray28(images, n, c, h, w, x);
  if (!s) s = classifier_features(m, x, n, f, logits, pg);
  free(x);
  if (s)
    free(f);
  else
    *out = f;
  return s;
}

vkg_status fid_features(vkg_ctx *ctx, const char *weights, const float *images, int n, int c, int h, int w,
                        float **features, int *dim) {
  *features = NULL;
  if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1)
    return vkg__fail(VKG_ERR_ARG, "FID images must be (n, 1 or 3, h, w) with n >= 1 (got (%d, %d, %d, %d))", n, c, h,
                     w);
  struct nn_model *m;
  vkg_status s = classifier_load(ctx, weights, &m);
  if (s) return s;
  *dim = classifier_feature_dim(m);
  s = features_with(m, images, n, c, h, w, features, NULL, NULL);
  classifier_destroy(m);
  return s;
}

/* The mean and covariance of one set's features (mu: D, cov: D x D); keep, if not NULL, gets the
 * features (n, D) (malloc'd, the caller frees them). */
static vkg_status set_stats(struct nn_model *m, const struct fid_images *im, double *mu, double *cov,
                            struct nn_progress *pg, float **keep) {
  if (im->n < 2) return vkg__fail(VKG_ERR_ARG, "FID needs at least 2 images in each set (got %d)", im->n);
  if ((im->c != 1 && im->c != 3) || im->h < 1 || im->w < 1)
    return vkg__fail(VKG_ERR_ARG, "FID images must have 1 or 3 channels (got %d channels of %dx%d)", im->c, im->h,
                     im->w);
  float *f;
  vkg_status s = features_with(m, im->pixels, im->n, im->c, im->h, im->w, &f, im->logits, pg);
  if (!s) s = fid_stats(f, im->n, classifier_feature_dim(m), mu, cov);
  if (!s && keep)
    *keep = f;
  else if (!s)
    free(f);
  return s;
}

vkg_status fid_eval(vkg_ctx *ctx, const char *weights, const struct fid_images *gen, const struct fid_images *test,
                    const struct fid_images *train, double *fid, double *floor) {
  return fid_eval_pr(ctx, weights, gen, test, train, fid, floor, NULL);
}

vkg_status fid_eval_pr(vkg_ctx *ctx, const char *weights, const struct fid_images *gen, const struct fid_images *test,
                       const struct fid_images *train, double *fid, double *floor, struct fid_pr *pr) {
  *fid = NAN;
  if (floor) *floor = NAN;
  if (pr) pr->precision = pr->recall = pr->floor_precision = pr->floor_recall = NAN;
  float *feat[3] = {NULL, NULL, NULL}; /* kept for precision and recall */
  struct nn_model *m;
  vkg_status s = classifier_load(ctx, weights, &m);
  if (s) return s;
  size_t D = (size_t)classifier_feature_dim(m);
  double *mu = malloc(sizeof *mu * 3 * D), *cov = malloc(sizeof *cov * 3 * D * D);
  if (!mu || !cov) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  /* 0 the generated images, 1 the test images, 2 the training images (the floor). */
  const struct fid_images *sets[3] = {gen, test, train && floor ? train : NULL};
  long total = 0;
  for (int k = 0; k < 3; k++)
    total += sets[k] ? sets[k]->n : 0;
  struct nn_progress pg; /* thousands of images take tens of seconds on a CPU device */
  nn_progress_start(&pg, "FID features", 0, total, "images", 0);
  for (int k = 0; k < 3 && !s; k++)
    if (sets[k]) s = set_stats(m, sets[k], mu + k * D, cov + k * D * D, &pg, pr ? &feat[k] : NULL);
  if (!s)
    nn_progress_end(&pg, NULL);
  else
    nn_progress_break(&pg);
  for (int k = 0; k < 3 && !s; k += 2) {
    if (!sets[k]) continue;
    double d = fid_distance(mu + k * D, cov + k * D * D, mu + D, cov + D * D, (int)D);
    if (d != d) s = vkg__fail(VKG_ERR_NUMERIC, "FID: the eigen-decomposition of a covariance did not converge");
    *(k ? floor : fid) = d;
  }
  /* Precision and recall need more than k images in each set; with fewer they stay NaN. */
  for (int k = 0; k < 3 && !s && pr; k += 2)
    if (sets[k] && sets[k]->n > FID_PR_K && test->n > FID_PR_K)
      s = fid_precision_recall(feat[1], test->n, feat[k], sets[k]->n, (int)D, FID_PR_K,
                               k ? &pr->floor_precision : &pr->precision, k ? &pr->floor_recall : &pr->recall);
  for (int k = 0; k < 3; k++)
    free(feat[k]);
  classifier_destroy(m);
  free(mu);
  free(cov);
  return s;
}

vkg_status fid_of_images(vkg_ctx *ctx, const char *weights, const float *images_a, int n_a, const float *images_b,
                         int n_b, int c, int h, int w, double *fid) {
  struct fid_images a = {images_a, n_a, c, h, w, NULL}, b = {images_b, n_b, c, h, w, NULL};
  return fid_eval(ctx, weights, &a, &b, NULL, fid, NULL);
}
