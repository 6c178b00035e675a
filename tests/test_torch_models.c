/* tools/torch_models.py, the PyTorch twins of the GAN and VAE that tools/compare.py trains beside vkgen,
 * checked against the C code it claims to reproduce. This program writes what the C side computes into
 * the test's temporary directory, then runs `torch_models.py selfcheck DIR`, which recomputes each
 * value in Python and fails on any difference:
 *   - vkg_shuffle permutations (exact), vkg_random_normal's Philox numbers (2e-6) and the per-step seeds
 *     of the training loop (exact): the data order and noise compare.py feeds PyTorch;
 *   - the initial parameters of a GAN, a conditional GAN and a VAE (names, order, values to 1e-7), and
 *     the weights files' config text;
 *   - the loss and every gradient of both GAN training phases (the graphs the training loop builds,
 *     through the model's own build_loss and write_batch) and of the VAE's negative ELBO, computed by
 *     torch autograd from the same weights, batch and noise (losses to 1e-4 relative, gradients to 2e-4
 *     of each tensor's largest value plus 1e-3 relative).
 * Without /usr/bin/python3 and its torch the Python half is skipped with a note. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/gan.h"
#include "models/vae.h"

#define TOOL FIXTURE_DIR "/../../tools/torch_models.py"

static void add_u32(vkg_st_writer *w, const char *name, int ndim, const int64_t *shape, const uint32_t *v) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  th_ok(vkg_st_add(w, name, "U32", ndim, shape, v, n * sizeof *v), name);
}

static void add_meta_u64(vkg_st_writer *w, const char *key, uint64_t v) {
  char s[32];
  snprintf(s, sizeof s, "%llu", (unsigned long long)v);
  th_ok(vkg_st_add_metadata(w, key, s), key);
}

static void write_file(vkg_st_writer *w, const char *name) {
  th_ok(vkg_st_write(w, th_tmppath(name)), name);
  vkg_st_writer_destroy(w);
}

// ---- data order, noise and the loop's seeds ----

static void write_random(vkg_ctx *ctx) {
  vkg_st_writer *w = vkg_st_writer_create();
  static const uint32_t cases[][3] = {{1, 1, 0},    {2, 3, 0},     {7, 1, 0},     {13, 5, 3},   {127, 42, 1},
                                      {1000, 1, 0}, {60000, 1, 0}, {60000, 1, 1}, {60000, 7, 2}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    uint32_t n = cases[k][0], *perm = malloc(sizeof *perm * n);
    vkg_shuffle(perm, n, cases[k][1], cases[k][2]);
    char name[64];
    snprintf(name, sizeof name, "shuffle.%u.%u.%u", n, cases[k][1], cases[k][2]);
    int64_t shape[1] = {n};
    add_u32(w, name, 1, shape, perm);
    free(perm);
  }
  /* Normal numbers as the training graphs draw them: the first random op (stream 0), seed from a slot. */
  static const struct {
    int n;
    uint32_t seed;
  } normals[] = {{1001, 0x9e3779b9u}, {6, 0}, {64, 12345}};
  for (size_t k = 0; k < sizeof normals / sizeof normals[0]; k++) {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    int slot = vkg_scalar(g, "seed"), shape[1] = {normals[k].n};
    vkg_t r = vkg_random_normal(g, 1, shape, slot, 0, 1);
    vkg_output(g, r);
    float *v = th_alloc((size_t)normals[k].n);
    if (th_ok(vkg_graph_compile(g), "compile normal") && th_ok(vkg_graph_set_u32(g, slot, normals[k].seed), "seed") &&
        th_ok(th_run(g), "run normal") && th_ok(vkg_graph_read(g, r, v, (size_t)normals[k].n), "read normal")) {
      char name[64];
      snprintf(name, sizeof name, "normal.%u", normals[k].seed);
      th_ok(vkg_st_add_f32(w, name, 1, shape, v), name);
    }
    free(v);
    vkg_graph_destroy(g);
  }
  /* The loop's per-phase seed: nn_mix(nn_mix(seed, step), phase) as a u32 (src/nn/train.c). */
  uint32_t rows[6][4] = {{1, 1, 0}, {1, 1, 1}, {1, 2, 0}, {7, 300, 1}, {2147483647u, 5, 0}, {0, 1000000, 1}};
  for (int r = 0; r < 6; r++)
    rows[r][3] = (uint32_t)nn_mix(nn_mix(rows[r][0], rows[r][1]), rows[r][2]);
  int64_t shape[2] = {6, 4};
  add_u32(w, "step_seed", 2, shape, &rows[0][0]);
  write_file(w, "random.safetensors");
}

// ---- the GAN's two training phases ----

/* Initial weights (tag.safetensors), then each phase's loss and gradients on one batch of synthetic
 * images (tag_io.safetensors), with the metadata the script needs to rebuild the batch and the noise. */
static void write_gan(vkg_ctx *ctx, const char *tag, struct gan_arch a) {
  enum { N = 16, B = 8 };
  const uint64_t seed = 11;
  struct gan_arch arch = a;
  struct nn_create_opts o = {.batch = B, .synthetic = N, .seed = seed};
  struct nn_model *m;
  char file[64];
  if (!th_ok(gan_create(ctx, &arch, &o, &m), "gan_create")) return;
  snprintf(file, sizeof file, "%s.safetensors", tag);
  th_ok(gan_save(m, th_tmppath(file)), "gan_save");
  /* Noise seeds picked so that no (leaky) ReLU input of either model lies within 1e-6 of zero: there a
   * rounding difference may flip its side and legitimately change a gradient (seed 4242 does that to
   * one element of the plain GAN's G phase). */
  uint32_t perm[N], seeds[2] = {2, 99};
  vkg_shuffle(perm, N, 3, 0);
  vkg_st_writer *w = vkg_st_writer_create();
  int64_t ishape[1] = {B};
  add_u32(w, "idx", 1, ishape, perm);
  vkg_t *ids = malloc(sizeof *ids * (size_t)m->params.n);
  for (int p = 0; p < 2; p++) {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    int slot = vkg_scalar(g, "seed"), group = m->phases[p].group;
    nn_bind_all(g, &m->params, group, ids);
    vkg_t loss = m->build_loss(m, g, ids, p);
    vkg_backward(g, loss);
    vkg_output(g, loss);
    for (int i = 0; i < m->params.n; i++)
      if (m->params.trainable[i] && m->params.group[i] == group) vkg_output(g, vkg_grad(g, ids[i]));
    char what[96];
    snprintf(what, sizeof what, "%s: phase %s", tag, m->phases[p].name);
    if (th_ok(vkg_graph_compile(g), what) && th_ok(m->write_batch(m, g, p, perm), "write_batch") &&
        th_ok(vkg_graph_set_u32(g, slot, seeds[p]), "seed") && th_ok(th_run(g), what)) {
      float v;
      char name[192];
      vkg_graph_read(g, loss, &v, 1);
      int one[1] = {1};
      snprintf(name, sizeof name, "phase%d.loss", p);
      vkg_st_add_f32(w, name, 1, one, &v);
      for (int i = 0; i < m->params.n; i++) {
        if (!m->params.trainable[i] || m->params.group[i] != group) continue;
        vkg_t gr = vkg_grad(g, ids[i]);
        int nd = vkg_ndim(g, gr), shape[8];
        size_t n = 1;
        for (int k = 0; k < nd; k++)
          n *= (size_t)(shape[k] = vkg_dim(g, gr, k));
        float *buf = th_alloc(n);
        vkg_graph_read(g, gr, buf, n);
        snprintf(name, sizeof name, "phase%d.grad.%s", p, m->params.names[i]);
        th_ok(vkg_st_add_f32(w, name, nd, shape, buf), name);
        free(buf);
      }
    }
    vkg_graph_destroy(g);
  }
  add_meta_u64(w, "init_seed", seed);
  add_meta_u64(w, "synthetic", N);
  add_meta_u64(w, "batch", B);
  add_meta_u64(w, "seed0", seeds[0]);
  add_meta_u64(w, "seed1", seeds[1]);
  snprintf(file, sizeof file, "%s_io.safetensors", tag);
  write_file(w, file);
  free(ids);
  gan_destroy(m);
}

// ---- the VAE's loss ----

static void write_vae(vkg_ctx *ctx) {
  enum { B = 6 };
  const uint64_t seed = 5;
  const uint32_t noise_seed = 777;
  struct vae_config c = {.z = 5, .w = 3, .size = 12, .channels = 3};
  struct nn_params p;
  nn_params_init(&p, ctx);
  if (!th_ok(vae_params_create(&p, &c, seed), "vae_params_create")) return;
  th_ok(vae_save(th_tmppath("vae.safetensors"), &c, &p), "vae_save");
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  int slot = vkg_scalar(g, "seed");
  vkg_t ids[VAE_NPARAM], rec, kl;
  nn_bind_all(g, &p, 0, ids);
  int xs[4] = {B, c.channels, c.size, c.size}, es[2] = {B, c.z};
  float *x;
  vkg_t xin = th_input(g, 4, xs, 0, 1, &x);
  vkg_t loss = vae_neg_elbo(g, &c, ids, xin, vkg_random_normal(g, 2, es, slot, 0, 1), &rec, &kl);
  vkg_backward(g, loss);
  vkg_t out[3] = {loss, rec, kl};
  for (int i = 0; i < 3; i++)
    vkg_output(g, out[i]);
  for (int i = 0; i < VAE_NPARAM; i++)
    vkg_output(g, vkg_grad(g, ids[i]));
  vkg_st_writer *w = vkg_st_writer_create();
  if (th_ok(vkg_graph_compile(g), "vae graph") && th_ok(th_write_inputs(g), "inputs") &&
      th_ok(vkg_graph_set_u32(g, slot, noise_seed), "seed") && th_ok(th_run(g), "vae run")) {
    static const char *names[3] = {"loss", "rec", "kl"};
    int one[1] = {1};
    for (int i = 0; i < 3; i++) {
      float v;
      vkg_graph_read(g, out[i], &v, 1);
      vkg_st_add_f32(w, names[i], 1, one, &v);
    }
    th_ok(vkg_st_add_f32(w, "x", 4, xs, x), "x");
    for (int i = 0; i < VAE_NPARAM; i++) {
      int nd = vkg_ndim(g, ids[i]), shape[8];
      for (int k = 0; k < nd; k++)
        shape[k] = vkg_dim(g, ids[i], k);
      size_t n = vkg_tensor_numel(p.t[i]);
      float *buf = th_alloc(n);
      char name[192];
      vkg_graph_read(g, vkg_grad(g, ids[i]), buf, n);
      snprintf(name, sizeof name, "grad.%s", p.names[i]);
      th_ok(vkg_st_add_f32(w, name, nd, shape, buf), name);
      free(buf);
    }
  }
  add_meta_u64(w, "init_seed", seed);
  add_meta_u64(w, "seed", noise_seed);
  write_file(w, "vae_io.safetensors");
  vkg_graph_destroy(g);
  nn_params_free(&p);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  write_random(ctx);
  struct gan_arch plain = {.size = 28, .channels = 1, .z = 8, .width = 4, .classes = 0, .embed = 0};
  struct gan_arch cond = {.size = 32, .channels = 3, .z = 5, .width = 3, .classes = 10, .embed = 4};
  write_gan(ctx, "gan", plain);
  write_gan(ctx, "gan_cond", cond);
  write_vae(ctx);

  /* The Python half, when Debian's python3-torch is there. */
  th_twin(TOOL, "selfcheck", th_tmpdir(), "torch_models.py selfcheck agrees with the C code");
  return th_finish(ctx);
}
