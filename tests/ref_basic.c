#include "ref_basic.h"

#include <math.h>
#include <string.h>

void ref_matmul(float *c, const float *a, const float *b, const float *bias, int batch, int M, int N, int K,
                int trans_a, int trans_b, int a_batched, int b_batched) {
  for (int p = 0; p < batch; p++) {
    const float *A = a + (a_batched ? (size_t)p * M * K : 0), *B = b + (b_batched ? (size_t)p * K * N : 0);
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) {
        double s = bias ? bias[n] : 0.0;
        for (int k = 0; k < K; k++) {
          float x = trans_a ? A[(size_t)k * M + m] : A[(size_t)m * K + k];
          float y = trans_b ? B[(size_t)n * K + k] : B[(size_t)k * N + n];
          s += (double)x * y;
        }
        c[((size_t)p * M + m) * N + n] = (float)s;
      }
  }
}

float ref_binop(vkg_binop op, float x, float y) {
  switch (op) {
  case VKG_ADD: return x + y;
  case VKG_SUB: return x - y;
  case VKG_MUL: return x * y;
  case VKG_DIV: return x / y;
  case VKG_MAXIMUM: return x > y ? x : y;
  case VKG_MINIMUM: return x < y ? x : y;
  case VKG_POW: return powf(x, y);
  }
  return NAN;
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

float ref_unop(vkg_unop op, float xf, float alpha, float beta) {
  double x = xf;
  switch (op) {
  case VKG_RELU: return x > 0 ? xf : 0.0f;
  case VKG_LEAKY_RELU: return x >= 0 ? xf : alpha * xf;
  case VKG_GELU: return (float)(0.5 * x * (1.0 + erf(x / sqrt(2.0))));
  case VKG_GELU_TANH: return (float)(0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))));
  case VKG_TANH: return (float)tanh(x);
  case VKG_SIGMOID: return (float)sigm(x);
  case VKG_SILU: return (float)(x * sigm(x));
  case VKG_SOFTPLUS: return (float)log1p(exp(x));
  case VKG_EXP: return (float)exp(x);
  case VKG_LOG: return (float)log(x);
  case VKG_NEG: return -xf;
  case VKG_ABS: return fabsf(xf);
  case VKG_SQRT: return (float)sqrt(x);
  case VKG_SQUARE: return (float)(x * x);
  case VKG_AFFINE: return (float)(alpha * x + beta);
  case VKG_UNOP_COUNT: break;
  }
  return NAN;
}

int ref_binary(vkg_binop op, float *out, int *oshape, const float *a, const int *ashape, int and_, const float *b,
               const int *bshape, int bnd) {
  int n = and_ > bnd ? and_ : bnd, as[VKG_MAX_DIMS], bs[VKG_MAX_DIMS];
  for (int i = 0; i < n; i++) {
    as[i] = i < n - and_ ? 1 : ashape[i - (n - and_)];
    bs[i] = i < n - bnd ? 1 : bshape[i - (n - bnd)];
    oshape[i] = as[i] > bs[i] ? as[i] : bs[i];
  }
  size_t total = 1;
  for (int i = 0; i < n; i++)
    total *= (size_t)oshape[i];
  for (size_t e = 0; e < total; e++) {
    size_t rem = e, ia = 0, ib = 0, sa = 1, sb = 1;
    for (int d = n - 1; d >= 0; d--) {
      size_t c = rem % (size_t)oshape[d];
      rem /= (size_t)oshape[d];
      ia += (as[d] == 1 ? 0 : c) * sa;
      ib += (bs[d] == 1 ? 0 : c) * sb;
      sa *= (size_t)as[d];
      sb *= (size_t)bs[d];
    }
    out[e] = ref_binop(op, a[ia], b[ib]);
  }
  return n;
}
