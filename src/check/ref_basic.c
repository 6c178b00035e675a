/* Plain-C references for matmul and the elementwise ops (see ref_basic.h). */
#include "ref_basic.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double *alloc_d(size_t n) {
  double *d = malloc((n ? n : 1) * sizeof(double));
  if (!d) abort();
  return d;
}

/* A double copy of n floats (NULL stays NULL); aborts if memory runs out, as a reference cannot fail
 * halfway. */
static double *to_d(const float *x, size_t n) {
  if (!x) return NULL;
  double *d = alloc_d(n);
  for (size_t i = 0; i < n; i++)
    d[i] = x[i];
  return d;
}

// ---- matmul ----

void ref_matmul_d(double *c, const double *a, const double *b, const double *bias, int batch, int M, int N, int K,
                  int trans_a, int trans_b, int a_batched, int b_batched) {
  for (int p = 0; p < batch; p++) {
    const double *A = a + (a_batched ? (size_t)p * M * K : 0), *B = b + (b_batched ? (size_t)p * K * N : 0);
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) {
        double s = bias ? bias[n] : 0.0;
        for (int k = 0; k < K; k++)
          s += (trans_a ? A[(size_t)k * M + m] : A[(size_t)m * K + k]) *
               (trans_b ? B[(size_t)n * K + k] : B[(size_t)k * N + n]);
        c[((size_t)p * M + m) * N + n] = s;
      }
  }
}

void ref_matmul_bwd(double *ga, double *gb, double *gbias, const double *a, const double *b, const double *gc,
                    int batch, int M, int N, int K, int trans_a, int trans_b, int a_batched, int b_batched) {
  for (int p = 0; p < batch; p++)
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) {
        double g = gc[((size_t)p * M + m) * N + n];
        size_t ao = a_batched ? (size_t)p * M * K : 0, bo = b_batched ? (size_t)p * K * N : 0;
        for (int k = 0; k < K; k++) {
          size_t ia = ao + (trans_a ? (size_t)k * M + m : (size_t)m * K + k);
          size_t ib = bo + (trans_b ? (size_t)n * K + k : (size_t)k * N + n);
          if (ga) ga[ia] += g * b[ib];
          if (gb) gb[ib] += g * a[ia];
        }
        if (gbias) gbias[n] += g;
      }
}

void ref_matmul(float *c, const float *a, const float *b, const float *bias, int batch, int M, int N, int K,
                int trans_a, int trans_b, int a_batched, int b_batched) {
  size_t na = (size_t)(a_batched ? batch : 1) * M * K, nb = (size_t)(b_batched ? batch : 1) * K * N,
         nc = (size_t)batch * M * N;
  double *ad = to_d(a, na), *bd = to_d(b, nb), *biasd = to_d(bias, (size_t)N), *cd = alloc_d(nc);
  ref_matmul_d(cd, ad, bd, biasd, batch, M, N, K, trans_a, trans_b, a_batched, b_batched);
  for (size_t i = 0; i < nc; i++)
    c[i] = (float)cd[i];
  free(ad), free(bd), free(biasd), free(cd);
}

// ---- elementwise ----

double ref_unop_d(vkg_unop op, double x, double alpha, double beta) {
  switch (op) {
  case VKG_RELU: return x > 0 ? x : 0;
  case VKG_LEAKY_RELU: return x >= 0 ? x : alpha * x;
  case VKG_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
  case VKG_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  case VKG_TANH: return tanh(x);
  case VKG_SIGMOID: return 1 / (1 + exp(-x));
  case VKG_SILU: return x / (1 + exp(-x));
  case VKG_SOFTPLUS: return log1p(exp(x));
  case VKG_EXP: return exp(x);
  case VKG_LOG: return log(x);
  case VKG_NEG: return -x;
  case VKG_ABS: return fabs(x);
  case VKG_SQRT: return sqrt(x);
  case VKG_SQUARE: return x * x;
  case VKG_AFFINE: return alpha * x + beta;
  case VKG_UNOP_COUNT: break;
  }
  return NAN;
}

/* The derivative, written independently of the forward (finite differences check it). */
double ref_unop_grad(vkg_unop op, double x, double alpha) {
  double s = 1 / (1 + exp(-x)), t = tanh(x);
  switch (op) {
  case VKG_RELU: return x > 0;
  case VKG_LEAKY_RELU: return x >= 0 ? 1 : alpha;
  case VKG_GELU: return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
  case VKG_GELU_TANH: {
    double c = sqrt(2 / M_PI), u = tanh(c * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + u) + 0.5 * x * (1 - u * u) * c * (1 + 3 * 0.044715 * x * x);
  }
  case VKG_TANH: return 1 - t * t;
  case VKG_SIGMOID: return s * (1 - s);
  case VKG_SILU: return s + x * s * (1 - s);
  case VKG_SOFTPLUS: return s;
  case VKG_EXP: return exp(x);
  case VKG_LOG: return 1 / x;
  case VKG_NEG: return -1;
  case VKG_ABS: return x > 0 ? 1 : -1;
  case VKG_SQRT: return 0.5 / sqrt(x);
  case VKG_SQUARE: return 2 * x;
  case VKG_AFFINE: return alpha;
  case VKG_UNOP_COUNT: break;
  }
  return NAN;
}

float ref_unop(vkg_unop op, float x, float alpha, float beta) { return (float)ref_unop_d(op, x, alpha, beta); }

double ref_binop_d(vkg_binop op, double x, double y) {
  switch (op) {
  case VKG_ADD: return x + y;
  case VKG_SUB: return x - y;
  case VKG_MUL: return x * y;
  case VKG_DIV: return x / y;
  case VKG_MAXIMUM: return x >= y ? x : y;
  case VKG_MINIMUM: return x <= y ? x : y;
  case VKG_POW: return pow(x, y);
  }
  return NAN;
}

void ref_binop_grad(vkg_binop op, double x, double y, double *gx, double *gy) {
  switch (op) {
  case VKG_ADD: *gx = 1, *gy = 1; return;
  case VKG_SUB: *gx = 1, *gy = -1; return;
  case VKG_MUL: *gx = y, *gy = x; return;
  case VKG_DIV: *gx = 1 / y, *gy = -x / (y * y); return;
  case VKG_MAXIMUM: *gx = x >= y, *gy = x < y; return;
  case VKG_MINIMUM: *gx = x <= y, *gy = x > y; return;
  case VKG_POW: *gx = y * pow(x, y - 1), *gy = pow(x, y) * log(x); return;
  }
  *gx = *gy = NAN;
}

float ref_binop(vkg_binop op, float x, float y) { return (float)ref_binop_d(op, x, y); }

int ref_broadcast_shape(int *oshape, const int *ashape, int and_, const int *bshape, int bnd) {
  int n = and_ > bnd ? and_ : bnd;
  for (int i = 0; i < n; i++) {
    int a = i < n - and_ ? 1 : ashape[i - (n - and_)], b = i < n - bnd ? 1 : bshape[i - (n - bnd)];
    oshape[i] = a > b ? a : b;
  }
  return n;
}

size_t ref_broadcast_index(size_t e, const int *os, int ond, const int *s, int nd) {
  size_t idx = 0, stride = 1;
  for (int d = ond - 1; d >= 0; d--) {
    size_t c = e % (size_t)os[d];
    e /= (size_t)os[d];
    int sd = d - (ond - nd), dim = sd < 0 ? 1 : s[sd];
    idx += (dim == 1 ? 0 : c) * stride;
    stride *= (size_t)dim;
  }
  return idx;
}

static size_t numel(const int *s, int n) {
  size_t t = 1;
  for (int i = 0; i < n; i++)
    t *= (size_t)s[i];
  return t;
}

int ref_binary_d(vkg_binop op, double *out, int *oshape, const double *a, const int *ashape, int and_, const double *b,
                 const int *bshape, int bnd) {
  int n = ref_broadcast_shape(oshape, ashape, and_, bshape, bnd);
  size_t total = numel(oshape, n);
  for (size_t e = 0; e < total; e++)
    out[e] = ref_binop_d(op, a[ref_broadcast_index(e, oshape, n, ashape, and_)],
                         b[ref_broadcast_index(e, oshape, n, bshape, bnd)]);
  return n;
}

void ref_binary_bwd(vkg_binop op, double *ga, double *gb, const double *a, const int *ashape, int and_, const double *b,
                    const int *bshape, int bnd, const double *gout) {
  int os[VKG_MAX_DIMS];
  int n = ref_broadcast_shape(os, ashape, and_, bshape, bnd);
  size_t total = numel(os, n);
  for (size_t e = 0; e < total; e++) {
    size_t ia = ref_broadcast_index(e, os, n, ashape, and_), ib = ref_broadcast_index(e, os, n, bshape, bnd);
    double gx, gy;
    ref_binop_grad(op, a[ia], b[ib], &gx, &gy);
    if (ga) ga[ia] += gout[e] * gx;
    if (gb) gb[ib] += gout[e] * gy;
  }
}

int ref_binary(vkg_binop op, float *out, int *oshape, const float *a, const int *ashape, int and_, const float *b,
               const int *bshape, int bnd) {
  double *ad = to_d(a, numel(ashape, and_)), *bd = to_d(b, numel(bshape, bnd));
  int n = ref_broadcast_shape(oshape, ashape, and_, bshape, bnd);
  size_t total = numel(oshape, n);
  double *od = alloc_d(total);
  ref_binary_d(op, od, oshape, ad, ashape, and_, bd, bshape, bnd);
  for (size_t e = 0; e < total; e++)
    out[e] = (float)od[e];
  free(ad), free(bd), free(od);
  return n;
}
