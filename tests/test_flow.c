/* The normalizing flow (src/models/flow.c), layer by layer and whole:
 * - each layer (actnorm, 1x1 convolution in LU form, affine coupling, squeeze, split with its prior,
 *   logit preprocessing): the GPU forward against a plain-C forward in double, and its log|det J|
 *   against the log-determinant of a Jacobian computed by central differences of that C forward (double,
 *   one 4x3x3 image, D = 36), which is also checked against the layer's own formula;
 * - x -> z -> x round trips of each layer on real Fashion-MNIST images (squeezed to (B, 4, 14, 14)),
 *   within 1e-4, forward and reverse run on the GPU;
 * - the whole model: data-dependent actnorm init gives zero mean and unit variance, encode/decode of real
 *   images round-trips within 1e-4, the bits/dim loss equals flow_evaluate's, a save/load round trip
 *   keeps the latents, and sampling is reproducible by seed.
 * Shape letters: B batch, C channels, H W height width, D = C*H*W. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/ref_conv.h"
#include "harness.h"
#include "models/flow.h"

enum { C = 4, WIDTH = 5 };

// ---- the plain-C references (one image (C, H, W), double) ----

enum kind { ACTNORM, INVCONV, COUPLING, SQUEEZE, SPLIT, LOGIT, NKIND };
static const char *kind_name[NKIND] = {"actnorm", "invconv", "coupling", "squeeze", "split", "logit"};

/* Parameters of one layer of each kind, random. */
struct layer {
  enum kind k;
  int H, W;
  float bias[C], logs[C];                                           /* actnorm */
  float lower[C * C], upper[C * C], perm[C * C], sign[C], log_s[C]; /* invconv */
  double w[C * C], winv[C * C];                                     /* its weight and inverse */
  float c1w[WIDTH * (C / 2) * 9], c1b[WIDTH], c2w[WIDTH * WIDTH], c2b[WIDTH], c3w[C * WIDTH * 9], c3b[C];
  float sw[C * (C / 2) * 9], sb[C]; /* split prior */
  float alpha;
};

static void fill(float *v, int n, float a) { th_fill(v, (size_t)n, -a, a); }

/* W^-1 of W = P Lu Uu column by column, independently of the model's Gauss-Jordan: W x = e_j is
 * Lu Uu x = P^T e_j, solved by forward substitution (unit lower Lu) and back substitution (Uu). */
static void lu_inverse(const double *perm, const double *lu_l, const double *lu_u, double *inv, int n) {
  for (int j = 0; j < n; j++) {
    double b[C], y[C], x[C];
    for (int i = 0; i < n; i++)
      b[i] = perm[j * n + i]; /* (P^T e_j)_i = P[j][i] */
    for (int i = 0; i < n; i++) {
      y[i] = b[i];
      for (int k = 0; k < i; k++)
        y[i] -= lu_l[i * n + k] * y[k];
    }
    for (int i = n - 1; i >= 0; i--) {
      x[i] = y[i];
      for (int k = i + 1; k < n; k++)
        x[i] -= lu_u[i * n + k] * x[k];
      x[i] /= lu_u[i * n + i];
    }
    for (int i = 0; i < n; i++)
      inv[i * n + j] = x[i];
  }
}

static void make_layer(struct layer *L, enum kind k, int H, int W) {
  memset(L, 0, sizeof *L);
  L->k = k, L->H = H, L->W = W, L->alpha = 0.05f;
  fill(L->bias, C, 0.5f), fill(L->logs, C, 0.5f);
  fill(L->lower, C * C, 0.7f), fill(L->upper, C * C, 0.7f), fill(L->log_s, C, 0.4f);
  /* A permutation that moves every channel, and mixed signs. */
  static const int pi[C] = {2, 0, 3, 1};
  for (int r = 0; r < C; r++) {
    L->sign[r] = r % 2 ? -1.0f : 1.0f;
    for (int c = 0; c < C; c++)
      L->perm[r * C + c] = pi[c] == r ? 1.0f : 0.0f;
  }
  double lm[C * C], um[C * C], pm[C * C];
  for (int r = 0; r < C; r++)
    for (int c = 0; c < C; c++) {
      lm[r * C + c] = c < r ? L->lower[r * C + c] : c == r;
      um[r * C + c] = c > r ? L->upper[r * C + c] : c == r ? L->sign[r] * exp((double)L->log_s[r]) : 0;
    }
  for (int r = 0; r < C; r++)
    for (int c = 0; c < C; c++) {
      double acc = 0;
      for (int j = 0; j < C; j++)
        for (int m = 0; m < C; m++)
          acc += L->perm[r * C + j] * lm[j * C + m] * um[m * C + c];
      L->w[r * C + c] = acc;
      pm[r * C + c] = L->perm[r * C + c];
    }
  lu_inverse(pm, lm, um, L->winv, C);
  /* The coupling's last conv is random here (it starts at zero in a new model), so the layer is not
   * the identity. */
  fill(L->c1w, WIDTH * (C / 2) * 9, 0.5f), fill(L->c1b, WIDTH, 0.3f), fill(L->c2w, WIDTH * WIDTH, 0.5f);
  fill(L->c2b, WIDTH, 0.3f), fill(L->c3w, C * WIDTH * 9, 0.3f), fill(L->c3b, C, 0.3f);
  fill(L->sw, C * (C / 2) * 9, 0.3f), fill(L->sb, C, 0.3f);
}

static void to_d(const float *f, double *d, int n) {
  for (int i = 0; i < n; i++)
    d[i] = f[i];
}

/* 3x3 (pad 1) or 1x1 convolution of one image in double. */
static void conv_d(double *y, const double *x, const float *wf, const float *bf, int Ci, int O, int H, int W, int k) {
  double *w = malloc(sizeof *w * (size_t)O * Ci * k * k), b[64];
  to_d(wf, w, O * Ci * k * k);
  to_d(bf, b, O);
  struct ref_conv p = {.B = 1,
                       .C = Ci,
                       .H = H,
                       .W = W,
                       .O = O,
                       .KH = k,
                       .KW = k,
                       .OH = H,
                       .OW = W,
                       .stride_h = 1,
                       .stride_w = 1,
                       .pad_t = k / 2,
                       .pad_l = k / 2,
                       .dil_h = 1,
                       .dil_w = 1,
                       .groups = 1};
  ref_conv2d_f64(y, x, w, b, &p);
  free(w);
}

/* y = layer(x) for one image; returns the analytic log|det J|. */
static double ref_forward(const struct layer *L, const double *x, double *y) {
  int H = L->H, W = L->W, P = H * W, D = C * P;
  double ld = 0;
  switch (L->k) {
  case ACTNORM:
    for (int c = 0; c < C; c++) {
      for (int i = 0; i < P; i++)
        y[c * P + i] = (x[c * P + i] + L->bias[c]) * exp((double)L->logs[c]);
      ld += P * (double)L->logs[c];
    }
    return ld;
  case INVCONV:
    for (int r = 0; r < C; r++)
      for (int i = 0; i < P; i++) {
        double acc = 0;
        for (int c = 0; c < C; c++)
          acc += L->w[r * C + c] * x[c * P + i];
        y[r * P + i] = acc;
      }
    for (int c = 0; c < C; c++)
      ld += P * (double)L->log_s[c];
    return ld;
  case COUPLING: {
    int Ca = C / 2, Cb = C - Ca;
    double *h1 = malloc(sizeof *h1 * WIDTH * P), *h2 = malloc(sizeof *h2 * WIDTH * P),
           *h3 = malloc(sizeof *h3 * 2 * Cb * P);
    conv_d(h1, x, L->c1w, L->c1b, Ca, WIDTH, H, W, 3);
    for (int i = 0; i < WIDTH * P; i++)
      h1[i] = h1[i] > 0 ? h1[i] : 0;
    conv_d(h2, h1, L->c2w, L->c2b, WIDTH, WIDTH, H, W, 1);
    for (int i = 0; i < WIDTH * P; i++)
      h2[i] = h2[i] > 0 ? h2[i] : 0;
    conv_d(h3, h2, L->c3w, L->c3b, WIDTH, 2 * Cb, H, W, 3);
    memcpy(y, x, sizeof *y * (size_t)Ca * P);
    for (int i = 0; i < Cb * P; i++) {
      double sc = 1 / (1 + exp(-(h3[Cb * P + i] + 2)));
      y[Ca * P + i] = (x[Ca * P + i] + h3[i]) * sc;
      ld += log(sc);
    }
    free(h1), free(h2), free(h3);
    return ld;
  }
  case SQUEEZE: /* (C, H, W) -> (4C, H/2, W/2), channel c*4 + 2i + j */
    for (int c = 0; c < C; c++)
      for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
          y[((c * 4 + (h % 2) * 2 + (w % 2)) * (H / 2) + h / 2) * (W / 2) + w / 2] = x[(c * H + h) * W + w];
    return 0;
  case SPLIT: {
    int Ch = C / 2;
    double *hh = malloc(sizeof *hh * C * P);
    conv_d(hh, x, L->sw, L->sb, Ch, C, H, W, 3);
    memcpy(y, x, sizeof *y * (size_t)Ch * P);
    for (int i = 0; i < Ch * P; i++) {
      double mu = hh[i], logs = hh[Ch * P + i];
      y[Ch * P + i] = (x[Ch * P + i] - mu) * exp(-logs);
      ld -= logs;
    }
    free(hh);
    return ld;
  }
  case LOGIT:
    for (int i = 0; i < D; i++) {
      double a = L->alpha, t = a + (1 - 2 * a) * x[i];
      y[i] = log(t) - log(1 - t);
      ld += log(1 - 2 * a) - log(t) - log(1 - t);
    }
    return ld;
  default: return 0;
  }
}

/* log|det A| by LU with partial pivoting (A destroyed). */
static double logabsdet(double *a, int n) {
  double ld = 0;
  for (int k = 0; k < n; k++) {
    int best = k;
    for (int i = k + 1; i < n; i++)
      if (fabs(a[i * n + k]) > fabs(a[best * n + k])) best = i;
    for (int j = 0; j < n; j++) {
      double t = a[k * n + j];
      a[k * n + j] = a[best * n + j], a[best * n + j] = t;
    }
    ld += log(fabs(a[k * n + k]));
    for (int i = k + 1; i < n; i++) {
      double f = a[i * n + k] / a[k * n + k];
      for (int j = k; j < n; j++)
        a[i * n + j] -= f * a[k * n + j];
    }
  }
  return ld;
}

/* log|det J| of the reference forward at x, J by central differences (step 1e-5). */
static double numeric_logdet(const struct layer *L, const double *x, int D) {
  double *J = malloc(sizeof *J * (size_t)D * D), *xp = malloc(sizeof *xp * D), *yp = malloc(sizeof *yp * D),
         *ym = malloc(sizeof *ym * D);
  const double h = 1e-5;
  for (int j = 0; j < D; j++) {
    memcpy(xp, x, sizeof *xp * D);
    xp[j] = x[j] + h;
    ref_forward(L, xp, yp);
    xp[j] = x[j] - h;
    ref_forward(L, xp, ym);
    for (int i = 0; i < D; i++)
      J[i * D + j] = (yp[i] - ym[i]) / (2 * h);
  }
  double ld = logabsdet(J, D);
  free(J), free(xp), free(yp), free(ym);
  return ld;
}

// ---- the layers on the GPU ----

static vkg_t in_data(vkg_graph *g, int nd, const int *shape, const float *v, vkg_t *ins, const float **data, int *n) {
  vkg_t t = vkg_input(g, "p", VKG_F32, nd, shape);
  ins[*n] = t, data[*n] = v, (*n)++;
  return t;
}

/* Runs the layer forward on x (B, C, H, W) and its reverse on the result: y (same size as x except
 * the squeeze's shape, same count), logdet (B), xr (x's shape). */
static int gpu_layer(vkg_ctx *ctx, const struct layer *L, const float *x, int B, float *y, float *ld, float *xr) {
  int H = L->H, W = L->W, D = C * H * W, xs[4] = {B, C, H, W};
  int cc[2] = {C, C}, c1[1] = {C}, chan[4] = {1, C, 1, 1};
  int w1[4] = {WIDTH, C / 2, 3, 3}, w2[4] = {WIDTH, WIDTH, 1, 1}, w3[4] = {C, WIDTH, 3, 3}, bw[1] = {WIDTH};
  int sws[4] = {C, C / 2, 3, 3};
  vkg_t ins[32];
  const float *data[32];
  int n = 0;
  float ml[C * C], mu[C * C], eye[C * C], wi[C * C];
  for (int r = 0; r < C; r++)
    for (int c = 0; c < C; c++) {
      ml[r * C + c] = c<r, mu[r * C + c] = c> r, eye[r * C + c] = c == r;
      wi[r * C + c] = (float)L->winv[r * C + c];
    }
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t xin = in_data(g, 4, xs, x, ins, data, &n), yv = VKG_NONE, ldv = VKG_NONE, xrv = VKG_NONE;
  switch (L->k) {
  case ACTNORM: {
    vkg_t b = in_data(g, 4, chan, L->bias, ins, data, &n), s = in_data(g, 4, chan, L->logs, ins, data, &n);
    yv = flow_actnorm(g, xin, b, s, 0, &ldv, NULL);
    xrv = flow_actnorm(g, yv, b, s, 1, NULL, NULL);
    break;
  }
  case INVCONV: {
    vkg_t lo = in_data(g, 2, cc, L->lower, ins, data, &n), up = in_data(g, 2, cc, L->upper, ins, data, &n);
    vkg_t ls = in_data(g, 1, c1, L->log_s, ins, data, &n), pm = in_data(g, 2, cc, L->perm, ins, data, &n);
    vkg_t sg = in_data(g, 1, c1, L->sign, ins, data, &n), m1 = in_data(g, 2, cc, ml, ins, data, &n);
    vkg_t m2 = in_data(g, 2, cc, mu, ins, data, &n), ey = in_data(g, 2, cc, eye, ins, data, &n);
    vkg_t winv = in_data(g, 2, cc, wi, ins, data, &n);
    yv = flow_invconv(g, xin, flow_invconv_weight(g, lo, up, ls, pm, sg, m1, m2, ey), ls, &ldv);
    xrv = flow_invconv(g, yv, winv, VKG_NONE, NULL);
    break;
  }
  case COUPLING: {
    vkg_t w[6] = {in_data(g, 4, w1, L->c1w, ins, data, &n), in_data(g, 1, bw, L->c1b, ins, data, &n),
                  in_data(g, 4, w2, L->c2w, ins, data, &n), in_data(g, 1, bw, L->c2b, ins, data, &n),
                  in_data(g, 4, w3, L->c3w, ins, data, &n), in_data(g, 1, c1, L->c3b, ins, data, &n)};
    yv = flow_coupling(g, xin, w, 0, &ldv);
    vkg_t back;
    xrv = flow_coupling(g, yv, w, 1, &back);
    /* The reverse's log-det is the negative of the forward's at the corresponding point. */
    ldv = vkg_binary(g, VKG_SUB, ldv, vkg_binary(g, VKG_ADD, ldv, back));
    break;
  }
  case SQUEEZE:
    yv = flow_squeeze(g, xin);
    xrv = flow_unsqueeze(g, yv);
    ldv = vkg_full(g, 1, (int[1]){B}, 0);
    break;
  case SPLIT: {
    vkg_t sw = in_data(g, 4, sws, L->sw, ins, data, &n), sb = in_data(g, 1, c1, L->sb, ins, data, &n), eps;
    vkg_t z1 = flow_split(g, xin, sw, sb, &eps, &ldv);
    vkg_t parts[2] = {z1, eps};
    yv = vkg_concat(g, 2, parts, 1);
    xrv = flow_unsplit(g, z1, eps, sw, sb);
    break;
  }
  case LOGIT: {
    struct flow_config c = flow_config_default();
    strcpy(c.preprocess, "logit");
    c.alpha = L->alpha;
    yv = flow_preprocess(g, &c, xin, 0, &ldv);
    xrv = flow_preprocess(g, &c, yv, 1, NULL);
    break;
  }
  default: break;
  }
  vkg_output(g, yv);
  vkg_output(g, ldv);
  vkg_output(g, xrv);
  int ok = th_ok(vkg_graph_compile(g), kind_name[L->k]);
  for (int i = 0; ok && i < n; i++)
    ok = th_ok(vkg_graph_write(g, ins[i], data[i], vkg_numel(g, ins[i])), "write");
  ok = ok && th_ok(th_run(g), "run");
  size_t nld = vkg_numel(g, ldv);
  if (ok) {
    vkg_graph_read(g, yv, y, (size_t)B * D);
    vkg_graph_read(g, xrv, xr, (size_t)B * D);
    float tmp[64];
    vkg_graph_read(g, ldv, tmp, nld);
    for (int b = 0; b < B; b++)
      ld[b] = tmp[nld == 1 ? 0 : b]; /* actnorm and invconv: one value shared by every image */
  }
  vkg_graph_destroy(g);
  return ok;
}

/* Fashion-MNIST test images 0..n-1 (n, 1, 28, 28), or NULL with a note. */
static float *real_images(int n) {
  struct vkg_images im;
  if (vkg_fashion_mnist_load(NULL, "test", &im) != VKG_OK) {
    printf("note: Fashion-MNIST not found; round trips use random images\n");
    float *x = th_alloc((size_t)n * 784);
    for (int i = 0; i < n * 784; i++)
      x[i] = (float)(int)th_uniform(0, 256) / 255.0f;
    return x;
  }
  float *x = th_alloc((size_t)n * 784);
  memcpy(x, im.pixels, sizeof *x * (size_t)n * 784);
  vkg_images_free(&im);
  return x;
}

static void test_layer_jacobians(vkg_ctx *ctx) {
  enum { H = 3, W = 3, D = C * H * W };
  for (int k = 0; k < NKIND; k++) {
    struct layer L;
    make_layer(&L, (enum kind)k, k == SQUEEZE ? 4 : H, k == SQUEEZE ? 4 : W);
    int Dk = C * L.H * L.W;
    float x[64], y[64], xr[64], ld;
    double xd[64], yd[64];
    th_fill(x, (size_t)Dk, k == LOGIT ? 0.02f : -1.0f, k == LOGIT ? 0.98f : 1.0f);
    to_d(x, xd, Dk);
    double analytic = ref_forward(&L, xd, yd), numeric = numeric_logdet(&L, xd, Dk);
    th_check(fabs(analytic - numeric) <= 1e-6 * (1 + fabs(numeric)), "%s: formula log|det J| %.9f vs numerical %.9f",
             kind_name[k], analytic, numeric);
    if (!gpu_layer(ctx, &L, x, 1, y, &ld, xr)) continue;
    float yr[64];
    for (int i = 0; i < Dk; i++)
      yr[i] = (float)yd[i];
    char what[64];
    snprintf(what, sizeof what, "%s forward vs C (double)", kind_name[k]);
    th_close(what, y, yr, (size_t)Dk, 1e-5f, 1e-4f);
    th_check(fabs(ld - numeric) <= 1e-4 * (1 + fabs(numeric)), "%s: GPU log|det J| %.6f vs numerical Jacobian %.6f",
             kind_name[k], (double)ld, numeric);
    (void)D;
  }
}

static void test_layer_round_trips(vkg_ctx *ctx) {
  enum { B = 2, P = 784 };
  float *img = real_images(B);
  /* Real images in each layer's input range: dequantized at the bin centers for the logit, and
   * centered then squeezed to (B, 4, 14, 14) for the others. */
  float *x = th_alloc(B * P), *y = th_alloc(B * P), *xr = th_alloc(B * P), ld[B];
  for (int k = 0; k < NKIND; k++) {
    struct layer L;
    make_layer(&L, (enum kind)k, 14, 14);
    for (int b = 0; b < B; b++)
      for (int c = 0; c < 1; c++)
        for (int h = 0; h < 28; h++)
          for (int w = 0; w < 28; w++) {
            float v = (img[b * P + h * 28 + w] * 255 + 0.5f) / 256;
            x[b * P + ((2 * (h % 2) + w % 2) * 14 + h / 2) * 14 + w / 2] = k == LOGIT ? v : v - 0.5f;
          }
    if (!gpu_layer(ctx, &L, x, B, y, ld, xr)) continue;
    float err = 0;
    for (int i = 0; i < B * P; i++)
      err = fabsf(xr[i] - x[i]) > err ? fabsf(xr[i] - x[i]) : err;
    th_check(err <= 1e-4f, "%s: x -> z -> x on real images, max |error| %.2g (<= 1e-4)", kind_name[k], (double)err);
  }
  free(img), free(x), free(y), free(xr);
}

// ---- the whole model ----

/* Perturbs every zero-initialized parameter (last coupling convs, priors) so the model is far from
 * the identity. */
static void perturb(struct flow_net *net) {
  struct nn_params *p = net->p;
  for (int i = 0; i < p->n; i++) {
    if (!strstr(p->names[i], "conv3") && !strstr(p->names[i], "split") && !strstr(p->names[i], "top")) continue;
    size_t n = vkg_tensor_numel(p->t[i]);
    float *v = th_alloc(n);
    th_fill(v, n, -0.05f, 0.05f);
    th_ok(vkg_tensor_upload_f32(p->t[i], v, n), "perturb");
    free(v);
  }
}

static void test_model(vkg_ctx *ctx, const char *pre) {
  enum { N = 6 };
  struct flow_config c = flow_config_default();
  c.depth = 2, c.width = 8;
  strcpy(c.preprocess, pre);
  int D = flow_dims(&c);
  struct nn_params p;
  struct flow_net net;
  nn_params_init(&p, ctx);
  if (!th_ok(flow_net_create(&net, &p, &c, 3), "flow_net_create")) return;
  float *x = real_images(N);
  th_ok(flow_actnorm_init(&net, x, N, 9), "actnorm init");
  /* After the init, the first actnorm's output has zero mean and unit variance per channel on the same
   * images and noise: check through the layer itself. */
  {
    float b[4], s[4];
    vkg_tensor_download_f32(p.t[net.st[0].an_bias], b, 4);
    vkg_tensor_download_f32(p.t[net.st[0].an_logs], s, 4);
    double mean[4] = {0}, sq[4] = {0};
    for (int i = 0; i < N; i++) /* the init's noise is random: check with the bin centers, loosely */
      for (int h = 0; h < 28; h++)
        for (int w = 0; w < 28; w++) {
          int ch = 2 * (h % 2) + w % 2;
          double y = ((x[i * 784 + h * 28 + w] * 255 + 0.5) / 256 - (strcmp(pre, "logit") ? 0.5 : 0));
          if (!strcmp(pre, "logit")) {
            double t = c.alpha + (1 - 2 * c.alpha) * y;
            y = log(t) - log(1 - t);
          }
          double v = (y + b[ch]) * exp(s[ch]);
          mean[ch] += v, sq[ch] += v * v;
        }
    int ok = 1;
    for (int ch = 0; ch < 4; ch++) {
      double m = mean[ch] / (N * 196), var = sq[ch] / (N * 196) - m * m;
      ok &= fabs(m) < 0.02 && fabs(var - 1) < 0.05;
    }
    th_check(ok, "%s: data-dependent actnorm init normalizes its input", pre);
  }
  perturb(&net);
  float *eps = th_alloc((size_t)N * D), *xr = th_alloc((size_t)N * D);
  if (th_ok(flow_encode(&net, x, N, eps), "encode") && th_ok(flow_decode(&net, eps, N, xr), "decode")) {
    float err = 0;
    for (int i = 0; i < N * D; i++)
      err = fabsf(xr[i] - x[i]) > err ? fabsf(xr[i] - x[i]) : err;
    th_check(err <= 1e-4f, "%s: whole model x -> z -> x on real images, max |error| %.2g (<= 1e-4)", pre, (double)err);
  }
  /* The loss graph and flow_evaluate agree on the same images and noise draw. */
  {
    struct vkg_images im = {.n = N, .c = 1, .h = 28, .w = 28, .pixels = x};
    struct flow_eval e;
    th_ok(flow_evaluate(&net, &im, N, 1, 5, &e, NULL), "evaluate");
    struct flow_eval e4;
    th_ok(flow_evaluate(&net, &im, N, 4, 5, &e4, NULL), "evaluate K=4");
    th_check(e.bpd > 0 && e.bpd < 20 && fabs(e.bpd - e.iw_bpd) < 1e-9, "%s: bits/dim %.4f (K = 1: iw equal)", pre,
             e.bpd);
    th_check(e4.iw_bpd <= e4.bpd + 1e-9, "%s: importance-weighted bound %.5f <= single-draw %.5f", pre, e4.iw_bpd,
             e4.bpd);
  }
  /* Save, load: the same latents. */
  char *path = th_tmppath("flow.safetensors");
  if (th_ok(flow_save(path, &net), "save")) {
    struct flow_config c2;
    struct nn_params p2;
    struct flow_net net2;
    if (th_ok(flow_load(ctx, path, &c2, &p2, &net2), "load")) {
      float *e2 = th_alloc((size_t)N * D);
      th_ok(flow_encode(&net2, x, N, e2), "encode loaded");
      th_close("latents after save/load", e2, eps, (size_t)N * D, 0, 0);
      float *s1 = th_alloc((size_t)3 * D), *s2 = th_alloc((size_t)3 * D);
      th_ok(flow_sample(&net2, 3, 42, 0.7f, s1, NULL, NULL), "sample");
      th_ok(flow_sample(&net2, 3, 42, 0.7f, s2, NULL, NULL), "sample again");
      th_close("samples reproducible by seed", s1, s2, (size_t)3 * D, 0, 0);
      free(e2), free(s1), free(s2);
      flow_net_free(&net2);
      nn_params_free(&p2);
    }
  }
  free(eps), free(xr), free(x);
  flow_net_free(&net);
  nn_params_free(&p);
}

/* Losses logged in DIR/metrics.jsonl, in step order; returns their count. */
static int read_losses(const char *dir, double *loss, int max) {
  char path[512], line[1024];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "r");
  int n = 0;
  while (f && n < max && fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "\"loss\": ");
    if (p && sscanf(p, "\"loss\": %lf", &loss[n]) == 1) n++;
  }
  if (f) fclose(f);
  return n;
}

/* 20 Adam steps of the shared loop on 32 Fashion-MNIST images make bits/dim fall. */
static void test_training(vkg_ctx *ctx) {
  struct flow_opts o = flow_opts_default();
  o.arch.depth = 2, o.arch.width = 8, o.batch = 8, o.limit = 32;
  struct nn_model *m;
  if (!th_ok(flow_create(ctx, &o, &m), "flow_create on Fashion-MNIST")) return;
  struct nn_train_opts t = {.steps = 20, .seed = 2, .out_dir = th_tmppath("run"), .log_every = 1, .quiet = 1};
  t.lr = (struct vkg_lr_schedule){.lr = 3e-3f};
  t.optim = vkg_optim_desc_default(VKG_ADAM);
  if (th_ok(nn_train(m, &t), "20 training steps")) {
    double loss[64], first = 0, last = 0;
    int n = read_losses(t.out_dir, loss, 64);
    for (int i = 0; i < 4 && n == 20; i++)
      first += loss[i] / 4, last += loss[16 + i] / 4;
    th_check(n == 20 && last < first - 0.3, "20 steps on 32 images: bits/dim falls from %.3f to %.3f (mean of 4)",
             first, last);
  }
  flow_destroy(m);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(17);
  test_layer_jacobians(ctx);
  test_layer_round_trips(ctx);
  test_model(ctx, "centered");
  test_model(ctx, "logit");
  test_training(ctx);
  return th_finish(ctx);
}
