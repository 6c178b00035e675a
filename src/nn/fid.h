/* Frechet Inception Distance, with the Fashion-MNIST classifier (src/models/classifier.c) in place of
 * Inception: images go through the classifier and the activations of its hidden layer (after the
 * ReLU, `hidden` values per image) are the features. Two sets of features are summarized by their mean
 * and covariance, and
 *
 *   FID = |mu1 - mu2|^2 + tr(C1 + C2 - 2 sqrt(C1 C2)).
 *
 * The matrix square root is taken in double precision on the CPU: tr sqrt(C1 C2) equals
 * tr sqrt(S C2 S) with S = sqrt(C1), and S C2 S is symmetric positive semi-definite, so both roots come
 * from symmetric eigen-decompositions (Jacobi), with rounding-level negative eigenvalues clamped to 0.
 * That works for singular (rank-deficient) covariances too, e.g. from fewer images than features.
 *
 * Images of any size and channel count are converted first to 28x28 grayscale: luminance
 * Y = 0.299 R + 0.587 G + 0.114 B (Rec. 601, as PIL's "L"), then each axis is resized independently
 * (no crop): area averaging when shrinking, bilinear (half-pixel centers) when growing. */
#ifndef VKGEN_FID_H
#define VKGEN_FID_H
#include "vkgen.h"

/* Converts images (n, c, h, w) in [0, 1], c = 1 or 3, to (n, 1, 28, 28) in out (n*784 floats); values
 * are first clamped to [0, 1], as vkg_png_grid shows them. c must be 1 or 3 (VKG_ERR_ARG); a NaN or
 * infinite value is VKG_ERR_NUMERIC (no metric is computed from such images). */
vkg_status fid_to_gray28(const float *images, int n, int c, int h, int w, float *out);

/* Features of n images (n, c, h, w) in [0, 1] from the classifier weights file: *features gets a
 * malloc'd (n, dim) array (caller frees), *dim the classifier's hidden size. Errors: the weights file
 * missing/corrupt/of another model (with a hint to train one: `vkgen train classifier`), c not 1 or
 * 3, n < 1. */
vkg_status fid_features(vkg_ctx *ctx, const char *classifier_weights, const float *images, int n, int c, int h, int w,
                        float **features, int *dim);

/* Mean (dim) and unbiased covariance (dim x dim, row-major, divided by n - 1) of n feature rows
 * (n, dim). n must be at least 2 (VKG_ERR_ARG otherwise); NaN or infinite features are
 * VKG_ERR_NUMERIC. */
vkg_status fid_stats(const float *features, int n, int dim, double *mean, double *cov);

/* The Frechet distance between N(mu1, cov1) and N(mu2, cov2); covariances (dim x dim) symmetric PSD.
 * Never negative (tiny negative results of rounding are returned as 0); NaN if a covariance holds NaN. */
double fid_distance(const double *mu1, const double *cov1, const double *mu2, const double *cov2, int dim);

/* A set of images for FID: n images (n, c, h, w) in [0, 1] (any geometry: converted as fid_to_gray28
 * says); logits, if not NULL, receives the classifier's (n, 10) logits of the set. */
struct fid_images {
  const float *pixels;
  int n, c, h, w;
  float *logits;
};
/* Every image family's FID: generated images `gen` against `test`, and (train and floor not NULL) the
 * floor a perfect generator would reach, `train` against the same `test`. One classifier, loaded once
 * from classifier_weights, gives the features of all sets; each set needs at least 2 images. */
vkg_status fid_eval(vkg_ctx *ctx, const char *classifier_weights, const struct fid_images *gen,
                    const struct fid_images *test, const struct fid_images *train, double *fid, double *floor);

/* FID between two image sets of the same geometry (n, c, h, w): features of both with one loaded
 * classifier, then fid_stats and fid_distance. Each set needs at least 2 images. */
vkg_status fid_of_images(vkg_ctx *ctx, const char *classifier_weights, const float *images_a, int n_a,
                         const float *images_b, int n_b, int c, int h, int w, double *fid);

/* fid_eval with the precision and recall of the generated images (NULL: not computed): the k-nearest-
 * neighbour manifold estimate (fid_precision_recall, k = FID_PR_K) in the same feature space, against the
 * test images; and the same two numbers for the training images (the floor's set), as their reference. */
#define FID_PR_K 3
struct fid_pr {
  double precision, recall;             /* generated vs test */
  double floor_precision, floor_recall; /* training vs test (NaN without a training set) */
};
vkg_status fid_eval_pr(vkg_ctx *ctx, const char *classifier_weights, const struct fid_images *gen,
                       const struct fid_images *test, const struct fid_images *train, double *fid, double *floor,
                       struct fid_pr *pr);

// ---- precision and recall (Kynkaanniemi et al. 2019), nearest neighbours ----

/* Improved precision and recall: the manifold of a set of feature rows is the union of balls around its
 * rows, each with the radius of its k-th nearest other row of the same set (Euclidean). Precision is
 * the fraction of generated rows inside the real manifold, recall the fraction of real rows inside the
 * generated one. real (n_real, dim), gen (n_gen, dim); both sets need more than k rows (VKG_ERR_ARG);
 * a NaN or infinite value is VKG_ERR_NUMERIC. O((n_real + n_gen)^2 dim) on the CPU, in double. */
vkg_status fid_precision_recall(const float *real, int n_real, const float *gen, int n_gen, int dim, int k,
                                double *precision, double *recall);

/* For each of nq query rows (nq, dim), the index of its nearest reference row (nr, dim) in Euclidean
 * distance (the first on ties) into idx, and that distance into dist (may be NULL). nr >= 1. */
void fid_nearest(const float *query, int nq, const float *ref, int nr, int dim, int *idx, double *dist);

// ---- linear algebra (exposed for tests) ----

/* Eigen-decomposition of a symmetric matrix a (dim x dim, row-major; not modified) by the cyclic
 * Jacobi method: eigenvalues in evals (ascending), eigenvectors as the columns of evecs (dim x dim,
 * may be NULL). Returns 0, or -1 if it failed to converge (never expected) or out of memory. */
int fid_eigh(const double *a, int dim, double *evals, double *evecs);

/* The symmetric PSD square root of a symmetric PSD matrix a (dim x dim): V diag(sqrt(max(l, 0))) V^T.
 * Returns 0 or -1 as fid_eigh. */
int fid_sqrtm_psd(const double *a, int dim, double *out);

/* tr sqrt(C1 C2) for symmetric PSD C1, C2, computed as tr sqrt(S C2 S), S = sqrt(C1). NaN on failure. */
double fid_trace_sqrt_product(const double *cov1, const double *cov2, int dim);
#endif
