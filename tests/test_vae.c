/* The VAE (src/models/vae.c) against a plain-C forward pass in double precision:
 * - shapes for 28/32/64-pixel images of 1 and 3 channels (mu, logvar (B, Z); logits (B, C, S, S));
 * - the training loss (negative ELBO per image) and its two parts for a given eps, on random weights
 *   and images, for every one of those shapes (atol 1e-3 + rtol 1e-4 of values in the hundreds);
 * - vae_encode_mu / vae_decode_z over 300 rows (two chunks, the second padded) and vae_evaluate's
 *   reconstruction BCE, MSE and KL over 5 images in padded chunks (rtol 1e-4);
 * - 30 training steps of the shared loop on 64 Fashion-MNIST images make the loss fall;
 * - sampling is reproducible by seed (bitwise), keeps its prefix for a larger n, and survives a
 *   save/load round trip bitwise; bad weights files give clear errors.
 * Shape letters: B batch, C channels, S image size, Z latent size, F encoder features. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "models/vae.h"
#include "check/ref_conv.h"
#include "check/ref_random.h"

// ---- the plain-C reference ----

struct hostp {
  double *t[VAE_NPARAM];
};

/* Copies the parameters to the host in double. */
static void host_params(const struct nn_params *p, struct hostp *h) {
  for (int i = 0; i < VAE_NPARAM; i++) {
    size_t n = vkg_tensor_numel(p->t[i]);
    float *f = th_alloc(n);
    th_ok(vkg_tensor_download_f32(p->t[i], f, n), "download parameter");
    h->t[i] = malloc(sizeof(double) * n);
    for (size_t k = 0; k < n; k++)
      h->t[i][k] = f[k];
    free(f);
  }
}

static void host_free(struct hostp *h) {
  for (int i = 0; i < VAE_NPARAM; i++)
    free(h->t[i]);
}

/* Fills every parameter with uniform(-a, a), so the test does not only see near-zero logits. */
static void randomize(const struct nn_params *p, float a) {
  for (int i = 0; i < p->n; i++) {
    size_t n = vkg_tensor_numel(p->t[i]);
    float *f = th_alloc(n);
    th_fill(f, n, -a, a);
    th_ok(vkg_tensor_upload_f32(p->t[i], f, n), "upload parameter");
    free(f);
  }
}

static double relu(double v) { return v > 0 ? v : 0; }
static double softplus(double v) { return (v > 0 ? v : 0) + log1p(exp(-fabs(v))); }

/* y (B, O) = x (B, I) W^T + b with W (O, I). */
static void linear(double *y, const double *x, const double *W, const double *b, int B, int I, int O) {
  for (int r = 0; r < B; r++)
    for (int o = 0; o < O; o++) {
      double s = b[o];
      for (int i = 0; i < I; i++)
        s += x[(size_t)r * I + i] * W[(size_t)o * I + i];
      y[(size_t)r * O + o] = s;
    }
}

static struct ref_conv halving(int B, int C, int H, int O, int transpose) {
  int OH = transpose ? 2 * H : H / 2;
  return (struct ref_conv){B, C, H, H, O, 4, 4, OH, OH, 2, 2, 1, 1, 1, 1, 1};
}

/* mu, lv (B, Z); logits (B, C, S, S) of z = mu + exp(lv / 2) eps, or of z = mu when eps is NULL. */
static void ref_forward(const struct vae_config *c, const struct hostp *h, const float *xf, const float *eps, int B,
                        double *mu, double *lv, double *logits) {
  const int S = c->size, C = c->channels, w = c->w, Z = c->z, S4 = S / 4, F = 2 * w * S4 * S4;
  size_t P = (size_t)C * S * S;
  double *x = malloc(sizeof *x * B * P), *h1 = calloc((size_t)B * w * (S / 2) * (S / 2), sizeof *h1);
  double *h2 = calloc((size_t)B * F, sizeof *h2), *o = malloc(sizeof *o * B * 2 * Z), *z = malloc(sizeof *z * B * Z);
  double *d = malloc(sizeof *d * B * F), *g1 = calloc((size_t)B * w * (S / 2) * (S / 2), sizeof *g1);
  for (size_t i = 0; i < B * P; i++)
    x[i] = xf[i];
  struct ref_conv e1 = halving(B, C, S, w, 0), e2 = halving(B, w, S / 2, 2 * w, 0);
  struct ref_conv d1 = halving(B, 2 * w, S4, w, 1), d2 = halving(B, w, S / 2, C, 1);
  ref_conv2d_f64(h1, x, h->t[VAE_E1_W], h->t[VAE_E1_B], &e1);
  for (size_t i = 0; i < (size_t)B * w * (S / 2) * (S / 2); i++)
    h1[i] = relu(h1[i]);
  ref_conv2d_f64(h2, h1, h->t[VAE_E2_W], h->t[VAE_E2_B], &e2);
  for (size_t i = 0; i < (size_t)B * F; i++)
    h2[i] = relu(h2[i]);
  linear(o, h2, h->t[VAE_EFC_W], h->t[VAE_EFC_B], B, F, 2 * Z);
  for (int r = 0; r < B; r++)
    for (int j = 0; j < Z; j++) {
      mu[r * Z + j] = o[r * 2 * Z + j];
      lv[r * Z + j] = o[r * 2 * Z + Z + j];
      z[r * Z + j] = mu[r * Z + j] + (eps ? exp(0.5 * lv[r * Z + j]) * eps[r * Z + j] : 0);
    }
  linear(d, z, h->t[VAE_DFC_W], h->t[VAE_DFC_B], B, Z, F);
  for (size_t i = 0; i < (size_t)B * F; i++)
    d[i] = relu(d[i]);
  ref_conv_transpose2d_f64(g1, d, h->t[VAE_D1_W], h->t[VAE_D1_B], &d1);
  for (size_t i = 0; i < (size_t)B * w * (S / 2) * (S / 2); i++)
    g1[i] = relu(g1[i]);
  memset(logits, 0, sizeof *logits * B * P);
  ref_conv_transpose2d_f64(logits, g1, h->t[VAE_D2_W], h->t[VAE_D2_B], &d2);
  free(x), free(h1), free(h2), free(o), free(z), free(d), free(g1);
}

/* Per-image sums: Bernoulli NLL (B), squared error of the sigmoid (B), KL (B). */
static void ref_terms(const struct vae_config *c, const float *x, const double *mu, const double *lv,
                      const double *logits, int B, double *bce, double *sse, double *kl) {
  size_t P = (size_t)c->channels * c->size * c->size;
  for (int r = 0; r < B; r++) {
    double b = 0, e = 0, k = 0;
    for (size_t i = 0; i < P; i++) {
      double l = logits[r * P + i], t = x[r * P + i], s = 1 / (1 + exp(-l));
      b += softplus(l) - l * t;
      e += (s - t) * (s - t);
    }
    for (int j = 0; j < c->z; j++) {
      double m = mu[r * c->z + j], v = lv[r * c->z + j];
      k += 0.5 * (m * m + exp(v) - v - 1);
    }
    if (bce) bce[r] = b;
    if (sse) sse[r] = e;
    if (kl) kl[r] = k;
  }
}

// ---- shapes and the loss for a given eps ----

static void check_loss(vkg_ctx *ctx, int size, int channels, int w, int z, int B) {
  struct vae_config c = {.z = z, .w = w, .size = size, .channels = channels};
  char what[128];
  snprintf(what, sizeof what, "%dx%dx%d w %d z %d B %d", channels, size, size, w, z, B);
  struct nn_params p;
  nn_params_init(&p, ctx);
  if (!th_ok(vae_params_create(&p, &c, 3), "params")) return;
  randomize(&p, 0.3f);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t ids[VAE_NPARAM], mu, lv, rec, kl;
  nn_bind_all(g, &p, -1, ids);
  int xs[4] = {B, channels, size, size}, es[2] = {B, z};
  float *x, *eps;
  vkg_t xin = th_input(g, 4, xs, 0, 1, &x), ein = th_input(g, 2, es, -2, 2, &eps);
  vkg_t loss = vae_neg_elbo(g, &c, ids, xin, ein, &rec, &kl);
  vae_encode(g, &c, ids, xin, &mu, &lv);
  vkg_t logits = vae_decode(g, &c, ids, mu);
  th_check(vkg_ndim(g, mu) == 2 && vkg_dim(g, mu, 0) == B && vkg_dim(g, mu, 1) == z && vkg_dim(g, lv, 1) == z,
           "%s: mu, logvar are (%d, %d)", what, B, z);
  th_check(vkg_ndim(g, logits) == 4 && vkg_dim(g, logits, 0) == B && vkg_dim(g, logits, 1) == channels &&
               vkg_dim(g, logits, 2) == size && vkg_dim(g, logits, 3) == size,
           "%s: logits are (%d, %d, %d, %d)", what, B, channels, size, size);
  vkg_output(g, loss);
  vkg_output(g, rec);
  vkg_output(g, kl);
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), "inputs") && th_ok(th_run(g), "run")) {
    float got[3];
    vkg_graph_read(g, loss, &got[0], 1);
    vkg_graph_read(g, rec, &got[1], 1);
    vkg_graph_read(g, kl, &got[2], 1);
    struct hostp h;
    host_params(&p, &h);
    size_t P = (size_t)channels * size * size;
    double *m = malloc(sizeof *m * B * z), *v = malloc(sizeof *v * B * z), *lg = malloc(sizeof *lg * B * P);
    double *bce = malloc(sizeof *bce * B), *k = malloc(sizeof *k * B);
    ref_forward(&c, &h, x, eps, B, m, v, lg);
    ref_terms(&c, x, m, v, lg, B, bce, NULL, k);
    double rb = 0, rk = 0;
    for (int r = 0; r < B; r++)
      rb += bce[r] / B, rk += k[r] / B;
    float ref[3] = {(float)(rb + rk), (float)rb, (float)rk};
    char name[512];
    snprintf(name, sizeof name, "%s: -ELBO, reconstruction, KL = %.3f %.3f %.3f", what, ref[0], ref[1], ref[2]);
    th_close(name, got, ref, 3, 1e-3f, 1e-4f);
    free(m), free(v), free(lg), free(bce), free(k);
    host_free(&h);
  }
  vkg_graph_destroy(g);
  nn_params_free(&p);
}

// ---- the inference helpers ----

static void check_inference(vkg_ctx *ctx) {
  struct vae_config c = {.z = 3, .w = 2, .size = 8, .channels = 3};
  struct nn_params p;
  nn_params_init(&p, ctx);
  th_ok(vae_params_create(&p, &c, 5), "params");
  randomize(&p, 0.4f);
  struct hostp h;
  host_params(&p, &h);
  const int N = 300; /* more than one chunk of 256 */
  size_t P = (size_t)c.channels * c.size * c.size;
  float *x = th_alloc((size_t)N * P), *mu = th_alloc((size_t)N * c.z), *img = th_alloc((size_t)N * P);
  float *rmu = th_alloc((size_t)N * c.z), *rimg = th_alloc((size_t)N * P);
  th_fill(x, (size_t)N * P, 0, 1);
  double *dm = malloc(sizeof *dm * N * c.z), *dv = malloc(sizeof *dv * N * c.z), *dl = malloc(sizeof *dl * N * P);
  ref_forward(&c, &h, x, NULL, N, dm, dv, dl);
  for (size_t i = 0; i < (size_t)N * c.z; i++)
    rmu[i] = (float)dm[i];
  if (th_ok(vae_encode_mu(&c, &p, x, N, mu), "vae_encode_mu"))
    th_close("vae_encode_mu, 300 rows", mu, rmu, (size_t)N * c.z, 1e-5f, 1e-4f);
  /* Decoding mu must give the reference's sigmoid(decode(mu)). */
  for (size_t i = 0; i < (size_t)N * P; i++)
    rimg[i] = (float)(1 / (1 + exp(-dl[i])));
  if (th_ok(vae_decode_z(&c, &p, rmu, N, img), "vae_decode_z"))
    th_close("vae_decode_z, 300 rows", img, rimg, (size_t)N * P, 1e-5f, 1e-4f);

  /* vae_evaluate over 5 images with 100 samples each runs chunks of 2 images, the last padded. */
  struct vkg_images im = {.n = 5, .c = c.channels, .h = c.size, .w = c.size, .pixels = x};
  struct vae_eval e;
  if (th_ok(vae_evaluate(&c, &p, &im, 5, 100, 9, &e, 0), "vae_evaluate")) {
    double bce[5], sse[5], kl[5], rb = 0, rs = 0, rk = 0;
    ref_terms(&c, x, dm, dv, dl, 5, bce, sse, kl);
    for (int r = 0; r < 5; r++)
      rb += bce[r] / 5, rs += sse[r] / (5.0 * P), rk += kl[r] / 5;
    float got[3] = {(float)e.rec_bce, (float)e.mse, (float)e.kl}, ref[3] = {(float)rb, (float)rs, (float)rk};
    th_close("vae_evaluate: reconstruction BCE, MSE, KL", got, ref, 3, 1e-5f, 1e-4f);
    th_check(fabs(e.neg_elbo - (e.rec_z + e.kl)) < 1e-9 && e.samples == 100 && e.n == 5,
             "vae_evaluate: -ELBO %.4f = sampled reconstruction %.4f + KL %.4f", e.neg_elbo, e.rec_z, e.kl);
    /* The noise: chunk k of 2 images draws eps (K, 2, Z) from seed nn_mix(9, k), stream 0 (the
     * graph's first random op); the reference decodes each sample on its own. */
    const int K = 100, CB = 2;
    double recz = 0, iw = 0;
    float *eps = th_alloc((size_t)K * CB * c.z);
    double m1[3], v1[3], *l1 = malloc(sizeof *l1 * P), b1;
    for (int i = 0; i < 5; i++) {
      int k = i / CB, r = i % CB;
      if (r == 0) ref_random_normal(eps, (size_t)K * CB * c.z, (uint32_t)nn_mix(9, (uint64_t)k), 0, 0, 1);
      double lw[100], top = -INFINITY, sum = 0;
      for (int j = 0; j < K; j++) {
        const float *ej = eps + ((size_t)j * CB + r) * c.z;
        ref_forward(&c, &h, x + (size_t)i * P, ej, 1, m1, v1, l1);
        ref_terms(&c, x + (size_t)i * P, m1, v1, l1, 1, &b1, NULL, NULL);
        lw[j] = -b1;
        for (int q = 0; q < c.z; q++) {
          double zq = m1[q] + exp(0.5 * v1[q]) * ej[q];
          lw[j] += -0.5 * zq * zq + 0.5 * (double)ej[q] * ej[q] + 0.5 * v1[q];
        }
        recz += b1 / (5.0 * K);
        top = lw[j] > top ? lw[j] : top;
      }
      for (int j = 0; j < K; j++)
        sum += exp(lw[j] - top);
      iw += -(top + log(sum / K)) / 5;
    }
    float got2[2] = {(float)e.rec_z, (float)e.iw_nll}, ref2[2] = {(float)recz, (float)iw};
    char name[200];
    snprintf(name, sizeof name, "vae_evaluate, 100 samples: sampled reconstruction %.4f, importance-weighted NLL %.4f",
             recz, iw);
    th_close(name, got2, ref2, 2, 1e-4f, 1e-4f);
    free(eps);
    free(l1);
  }
  struct vae_eval e2;
  th_check(vae_evaluate(&c, &p, &im, 6, 1, 0, &e2, 0) == VKG_ERR_ARG, "vae_evaluate refuses n larger than the set");
  free(x), free(mu), free(img), free(rmu), free(rimg), free(dm), free(dv), free(dl);
  host_free(&h);
  nn_params_free(&p);
}

// ---- training, sampling, weights files ----

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

static int same_floats(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static void check_training(vkg_ctx *ctx, const char *tmp) {
  struct vae_config arch = vae_config_default();
  arch.w = 8;
  arch.z = 8;
  struct nn_create_opts o = {.batch = 8, .limit = 64, .seed = 1};
  struct nn_model *m;
  if (!th_ok(vae_create(ctx, &arch, &o, &m), "vae_create on Fashion-MNIST")) return;
  struct nn_train_opts t = {.steps = 30, .seed = 2, .out_dir = tmp, .log_every = 1, .quiet = 1};
  t.lr = (struct vkg_lr_schedule){.lr = 3e-3f};
  t.optim = vkg_optim_desc_default(VKG_ADAM);
  if (th_ok(nn_train(m, &t), "30 training steps")) {
    double loss[64];
    int n = read_losses(tmp, loss, 64);
    double first = 0, last = 0;
    for (int i = 0; i < 5 && n == 30; i++)
      first += loss[i] / 5, last += loss[25 + i] / 5;
    th_check(n == 30 && last < 0.92 * first,
             "30 steps on 64 images: -ELBO falls from %.1f to %.1f nats (mean of 5 steps)", first, last);
  }
  const struct vae_config *c = &arch;
  size_t P = (size_t)c->channels * c->size * c->size;
  float *a = th_alloc(5 * P), *b = th_alloc(5 * P), *d = th_alloc(3 * P), *e = th_alloc(5 * P);
  th_ok(vae_sample(c, &m->params, 5, 7, a), "sample");
  th_ok(vae_sample(c, &m->params, 5, 7, b), "sample again");
  th_ok(vae_sample(c, &m->params, 3, 7, d), "sample 3");
  th_ok(vae_sample(c, &m->params, 5, 8, e), "sample, another seed");
  th_check(same_floats(a, b, 5 * P), "the same seed gives the same samples, bit for bit");
  th_check(same_floats(a, d, 3 * P), "3 samples are the first 3 of 5 with the same seed");
  th_check(!same_floats(a, e, 5 * P), "another seed gives other samples");
  int inside = 1;
  for (size_t i = 0; i < 5 * P; i++)
    inside &= a[i] >= 0 && a[i] <= 1;
  th_check(inside, "samples lie in [0, 1]");

  /* Save and load: the loaded model samples the same images bit for bit. */
  char path[512];
  snprintf(path, sizeof path, "%s/round.safetensors", tmp);
  struct vae_config c2;
  struct nn_params p2;
  if (th_ok(vae_save(path, c, &m->params), "vae_save") && th_ok(vae_load(ctx, path, &c2, &p2), "vae_load")) {
    th_check(!memcmp(&c2, c, sizeof c2), "the loaded config is the saved one (z %d w %d size %d channels %d)", c2.z,
             c2.w, c2.size, c2.channels);
    th_ok(vae_sample(&c2, &p2, 5, 7, b), "sample after loading");
    th_check(same_floats(a, b, 5 * P), "samples after a save/load round trip are identical");
    nn_params_free(&p2);
  }
  /* The loop's own weights file loads too. */
  snprintf(path, sizeof path, "%s/vae.safetensors", tmp);
  if (th_ok(vae_load(ctx, path, &c2, &p2), "load the loop's vae.safetensors")) nn_params_free(&p2);
  free(a), free(b), free(d), free(e);
  vae_destroy(m);
}

static void check_bad_files(vkg_ctx *ctx, const char *tmp) {
  struct vae_config c = {.z = 2, .w = 2, .size = 8, .channels = 1}, c2;
  struct nn_params p, q;
  char path[512];
  nn_params_init(&p, ctx);
  th_ok(vae_params_create(&p, &c, 1), "params");

  snprintf(path, sizeof path, "%s/missing.safetensors", tmp);
  vkg_status s = vae_load(ctx, path, &c2, &q);
  th_check(s == VKG_ERR_IO && strstr(vkg_last_error(), "missing.safetensors") &&
               strstr(vkg_last_hint(), "vkgen train vae"),
           "a missing file: '%s' / '%s'", vkg_last_error(), vkg_last_hint());

  /* Another family's weights. */
  snprintf(path, sizeof path, "%s/gan.safetensors", tmp);
  vkg_st_writer *w = vkg_st_writer_create();
  nn_params_save(&p, w, "");
  vkg_st_add_metadata(w, "format", "vkgen-weights");
  vkg_st_add_metadata(w, "model", "gan");
  vkg_st_add_metadata(w, "config", "{\"z\": 2}");
  th_ok(vkg_st_write(w, path), "write gan file");
  vkg_st_writer_destroy(w);
  s = vae_load(ctx, path, &c2, &q);
  th_check(s != VKG_OK && strstr(vkg_last_error(), "are for a gan model, not vae") && *vkg_last_hint(),
           "another family: '%s'", vkg_last_error());

  /* A config that does not match the tensors: the error names the tensor and both shapes. */
  snprintf(path, sizeof path, "%s/mismatch.safetensors", tmp);
  w = vkg_st_writer_create();
  nn_params_save(&p, w, "");
  vkg_st_add_metadata(w, "format", "vkgen-weights");
  vkg_st_add_metadata(w, "model", "vae");
  vkg_st_add_metadata(w, "config", "{\"z\": 2, \"w\": 3, \"size\": 8, \"channels\": 1}");
  th_ok(vkg_st_write(w, path), "write mismatched file");
  vkg_st_writer_destroy(w);
  s = vae_load(ctx, path, &c2, &q);
  th_check(s == VKG_ERR_FORMAT && strstr(vkg_last_error(), "enc.conv1.weight"),
           "a shape mismatch names the tensor: '%s'", vkg_last_error());

  /* A tensor the model does not use. */
  snprintf(path, sizeof path, "%s/extra.safetensors", tmp);
  w = vkg_st_writer_create();
  nn_params_save(&p, w, "");
  int one[1] = {1};
  float zero = 0;
  vkg_st_add_f32(w, "enc.conv3.weight", 1, one, &zero);
  vkg_st_add_metadata(w, "format", "vkgen-weights");
  vkg_st_add_metadata(w, "model", "vae");
  vkg_st_add_metadata(w, "config", "{\"z\": 2, \"w\": 2, \"size\": 8, \"channels\": 1}");
  th_ok(vkg_st_write(w, path), "write a file with an extra tensor");
  vkg_st_writer_destroy(w);
  s = vae_load(ctx, path, &c2, &q);
  th_check(s == VKG_ERR_FORMAT && strstr(vkg_last_error(), "'enc.conv3.weight'") &&
               strstr(vkg_last_error(), "does not use"),
           "an unused tensor is named: '%s'", vkg_last_error());

  /* No metadata at all, and a truncated file. */
  snprintf(path, sizeof path, "%s/plain.safetensors", tmp);
  w = vkg_st_writer_create();
  nn_params_save(&p, w, "");
  th_ok(vkg_st_write(w, path), "write plain file");
  vkg_st_writer_destroy(w);
  s = vae_load(ctx, path, &c2, &q);
  th_check(s == VKG_ERR_FORMAT && strstr(vkg_last_error(), "not a vkgen weights file"), "no metadata: '%s'",
           vkg_last_error());
  FILE *f = fopen(path, "r+b");
  if (f) {
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fclose(f);
    th_check(truncate(path, len / 2) == 0, "truncate");
  }
  s = vae_load(ctx, path, &c2, &q);
  th_check(s != VKG_OK && strstr(vkg_last_error(), "plain.safetensors"), "a truncated file: '%s'", vkg_last_error());

  /* Configs. */
  th_check(nn_cfg_parse(&vae_cfg, "{\"z\": 2, \"w\": 2, \"size\": 8}", "t", &c2) == VKG_ERR_FORMAT &&
               strstr(vkg_last_error(), "lacks 'channels'"),
           "a config without channels: %s", vkg_last_error());
  th_check(nn_cfg_parse(&vae_cfg, "{\"z\": 2, \"w\": 2, \"size\": 30, \"channels\": 1}", "t", &c2) == VKG_ERR_FORMAT &&
               strstr(vkg_last_error(), "multiple of 4"),
           "size 30: '%s'", vkg_last_error());
  th_check(nn_cfg_parse(&vae_cfg, "{\"z\": 5, \"w\": 7, \"size\": 64, \"channels\": 3}", "t", &c2) == VKG_OK &&
               c2.z == 5 && c2.w == 7 && c2.size == 64 && c2.channels == 3,
           "a config parses");
  struct vae_config fm = vae_config_default();
  fm.size = 32;
  struct vkg_images tr;
  th_check(vae_data_load(NULL, &fm, 0, &tr, NULL) == VKG_ERR_ARG && strstr(vkg_last_error(), "28x28"),
           "Fashion-MNIST with size 32 is refused: '%s'", vkg_last_error());
  nn_params_free(&p);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(11);
  check_loss(ctx, 8, 1, 3, 4, 5); /* odd sizes: B 5, w 3 */
  check_loss(ctx, 28, 1, 2, 3, 2);
  check_loss(ctx, 32, 1, 2, 3, 2);
  check_loss(ctx, 32, 3, 2, 3, 2);
  check_loss(ctx, 64, 1, 2, 3, 1);
  check_loss(ctx, 64, 3, 2, 3, 2);
  check_inference(ctx);
  char tmp[] = "/tmp/vkgen_test_vae_XXXXXX";
  if (th_check(mkdtemp(tmp) != NULL, "temporary directory")) {
    check_training(ctx, tmp);
    check_bad_files(ctx, tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", tmp);
  }
  return th_finish(ctx);
}
