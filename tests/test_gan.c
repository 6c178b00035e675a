/* The GAN family (src/models/gan.c): generator and discriminator shapes for every image size and
 * channel count (and conditional), which parameters each training phase updates, 30 training steps on
 * real Fashion-MNIST through the shared loop with finite losses, a checkpointed and resumed run equal
 * to an uninterrupted one, sampling determinism (same seed: identical PNG; another seed: another PNG;
 * saved and reloaded weights: identical PNG), latents that do not depend on n, and load errors. All
 * with tiny widths so the whole test stays well under a minute on lavapipe. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "models/gan.h"

static char tmp[64];

/* Removes dir and the plain files in it. */
static void rm_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static int same_file(const char *a, const char *b) {
  size_t na, nb;
  char *x = th_read_file(a, &na), *y = th_read_file(b, &nb);
  int same = x && y && na == nb && memcmp(x, y, na) == 0;
  free(x), free(y);
  return same;
}

static struct gan_arch tiny(int size, int channels, int classes) {
  struct gan_arch a = {.size = size, .channels = channels, .z = 8, .width = 2, .classes = classes, .embed = 4};
  return a;
}

// ---- shapes ----

/* G (B, Z) -> (B, C, S, S) in [-1, 1] (inference) and D -> (B, 1) (training-mode batchnorm). */
static void check_shapes(vkg_ctx *ctx, struct gan_arch a) {
  struct gan_arch arch = a;
  struct nn_create_opts o = {.batch = 2, .synthetic = 4, .seed = 1};
  struct nn_model *m;
  if (!th_ok(gan_create(ctx, &arch, &o, &m), "gan_create")) return;
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  vkg_t *ids = malloc(sizeof *ids * (size_t)m->params.n);
  nn_bind_all(g, &m->params, -1, ids);
  enum { B = 3 };
  int zs[2] = {B, a.z}, ys[1] = {B};
  vkg_t z = vkg_input(g, "z", VKG_F32, 2, zs);
  vkg_t y = a.classes ? vkg_input(g, "y", VKG_I32, 1, ys) : VKG_NONE;
  vkg_t img = gan_generator(m, g, ids, z, y, GAN_INFER);
  vkg_t logits = gan_discriminator(m, g, ids, img, y, GAN_TRAIN);
  vkg_output(g, img);
  vkg_output(g, logits);
  char what[96];
  snprintf(what, sizeof what, "%d px, %d channel(s)%s", a.size, a.channels, a.classes ? ", conditional" : "");
  if (th_ok(vkg_graph_compile(g), what)) {
    th_check(vkg_ndim(g, img) == 4 && vkg_dim(g, img, 0) == B && vkg_dim(g, img, 1) == a.channels &&
                 vkg_dim(g, img, 2) == a.size && vkg_dim(g, img, 3) == a.size,
             "%s: G gives (%d, %d, %d, %d)", what, vkg_dim(g, img, 0), vkg_dim(g, img, 1), vkg_dim(g, img, 2),
             vkg_dim(g, img, 3));
    th_check(vkg_ndim(g, logits) == 2 && vkg_dim(g, logits, 0) == B && vkg_dim(g, logits, 1) == 1,
             "%s: D gives (%d, %d)", what, vkg_dim(g, logits, 0), vkg_dim(g, logits, 1));
    float *zh = th_alloc((size_t)B * a.z), *ih = th_alloc((size_t)B * a.channels * a.size * a.size), lh[B];
    int32_t yh[B] = {0, 1, 9};
    for (int i = 0; i < B * a.z; i++)
      zh[i] = th_normal();
    vkg_graph_write(g, z, zh, (size_t)B * a.z);
    if (a.classes) vkg_graph_write_i32(g, y, yh, B);
    th_ok(th_run(g), "run G and D");
    vkg_graph_read(g, img, ih, (size_t)B * a.channels * a.size * a.size);
    vkg_graph_read(g, logits, lh, B);
    int ok = 1;
    for (size_t i = 0; i < (size_t)B * a.channels * a.size * a.size; i++)
      ok &= ih[i] >= -1 && ih[i] <= 1;
    for (int i = 0; i < B; i++)
      ok &= isfinite(lh[i]);
    th_check(ok, "%s: images in [-1, 1], finite logits", what);
    free(zh), free(ih);
  }
  free(ids);
  vkg_graph_destroy(g);
  gan_destroy(m);
}

// ---- which parameters each phase trains ----

/* The D phase's loss gives gradients to D's params only (G is a constant there), the G phase's to
 * G's only (through the frozen D). */
static void check_phase_grads(vkg_ctx *ctx) {
  struct gan_arch arch = tiny(28, 1, 10);
  struct nn_create_opts o = {.batch = 2, .synthetic = 4, .seed = 1};
  struct nn_model *m;
  if (!th_ok(gan_create(ctx, &arch, &o, &m), "gan_create")) return;
  th_check(m->nphases == 2 && !strcmp(m->phases[0].name, "d") && !strcmp(m->phases[1].name, "g"),
           "two phases, d then g");
  for (int p = 0; p < 2; p++) {
    vkg_graph *g;
    vkg_graph_create(ctx, &g);
    vkg_scalar(g, "lr"), vkg_scalar(g, "step"), vkg_scalar(g, "seed");
    vkg_t *ids = malloc(sizeof *ids * (size_t)m->params.n);
    int group = m->phases[p].group;
    nn_bind_all(g, &m->params, group, ids);
    vkg_backward(g, m->build_loss(m, g, ids, p));
    int right = 1;
    for (int i = 0; i < m->params.n; i++) {
      int has = vkg_grad(g, ids[i]) != VKG_NONE;
      int want = m->params.trainable[i] && m->params.group[i] == group;
      int is_g = m->params.names[i][0] == 'g';
      if (has != want || (want && is_g != (p == 1))) {
        right = 0;
        fprintf(stderr, "phase %s: %s %s a gradient\n", m->phases[p].name, m->params.names[i], has ? "has" : "lacks");
      }
    }
    th_check(right, "phase %s: gradients for exactly the %s params", m->phases[p].name, p ? "g.*" : "d.*");
    th_ok(vkg_graph_compile(g), "compile phase");
    free(ids);
    vkg_graph_destroy(g);
  }
  gan_destroy(m);
}

// ---- training through the shared loop ----

static struct nn_model *fmnist_model(vkg_ctx *ctx, int classes) {
  struct gan_arch arch = tiny(28, 1, classes);
  arch.width = 4;
  struct nn_create_opts o = {.batch = 8, .limit = 64, .seed = 7};
  struct nn_model *m = NULL;
  vkg_status s = gan_create(ctx, &arch, &o, &m);
  if (s == VKG_ERR_IO) fprintf(stderr, "note: %s (is dataset-fashion-mnist installed?)\n", vkg_last_error());
  th_ok(s, "gan_create on Fashion-MNIST");
  return m;
}

static vkg_status train(struct nn_model *m, const char *dir, long steps, int resume, int ckpt_every) {
  struct nn_train_opts t = {.steps = steps,
                            .seed = 3,
                            .out_dir = dir,
                            .resume = resume,
                            .log_every = 5,
                            .ckpt_every = ckpt_every,
                            .quiet = 1};
  t.lr.lr = 2e-4f;
  t.optim = vkg_optim_desc_default(VKG_ADAM);
  t.optim.beta1 = 0.5f;
  return nn_train(m, &t);
}

/* The "loss_d" and "loss_g" values of metrics.jsonl, as text (bit-exact comparison). */
static int read_losses(const char *dir, char lines[][64], int max, double *first_d, double *first_g, int *finite) {
  char path[256], line[1024];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "r");
  int n = 0;
  *finite = 1;
  if (!f) return 0;
  while (fgets(line, sizeof line, f) && n < max) {
    const char *d = strstr(line, "\"loss_d\": "), *g = strstr(line, "\"loss_g\": ");
    if (!d || !g) continue;
    double vd = strtod(d + 10, NULL), vg = strtod(g + 10, NULL);
    if (n == 0) *first_d = vd, *first_g = vg;
    *finite &= isfinite(vd) && isfinite(vg);
    snprintf(lines[n++], 64, "%.20s %.20s", d + 10, g + 10);
  }
  fclose(f);
  return n;
}

static void check_training(vkg_ctx *ctx) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/run30", tmp);
  struct nn_model *m = fmnist_model(ctx, 0);
  if (!m) return;
  th_ok(train(m, dir, 30, 0, 0), "30 training steps");
  gan_destroy(m);
  char lines[40][64];
  double d1 = 0, g1 = 0;
  int finite;
  int n = read_losses(dir, lines, 40, &d1, &g1, &finite);
  th_check(n == 30 && finite, "30 steps logged with finite D and G losses (%d logged)", n);
  /* At the start D's logits are near 0: each BCE term is about ln 2. */
  th_check(fabs(d1 - 2 * log(2.0)) < 0.15 && fabs(g1 - log(2.0)) < 0.15,
           "first losses near the untrained values: loss_d %.4f (2 ln 2), loss_g %.4f (ln 2)", d1, g1);
  rm_dir(dir);
}

/* 8 steps in one go, and 4 + 4 with a resume from the checkpoint: the same losses bit for bit and the
 * same final weights file. Conditional, to cover the label inputs too. */
static void check_resume(vkg_ctx *ctx) {
  char full[128], split[128], wa[160], wb[160];
  snprintf(full, sizeof full, "%s/full", tmp);
  snprintf(split, sizeof split, "%s/split", tmp);
  struct nn_model *m = fmnist_model(ctx, 10);
  if (!m) return;
  th_ok(train(m, full, 8, 0, 4), "8 steps");
  gan_destroy(m);
  m = fmnist_model(ctx, 10);
  th_ok(train(m, split, 4, 0, 0), "4 steps");
  gan_destroy(m);
  m = fmnist_model(ctx, 10);
  th_ok(train(m, split, 8, 1, 0), "4 more with resume");
  gan_destroy(m);
  char a[10][64], b[10][64];
  double d, g;
  int fa, fb, na = read_losses(full, a, 10, &d, &g, &fa), nb = read_losses(split, b, 10, &d, &g, &fb);
  int same = na == 8 && nb == 8;
  for (int i = 0; same && i < 8; i++)
    same = !strcmp(a[i], b[i]);
  th_check(same, "a resumed run logs the same 8 loss pairs as an uninterrupted one (%d and %d logged)", na, nb);
  snprintf(wa, sizeof wa, "%s/gan.safetensors", full);
  snprintf(wb, sizeof wb, "%s/gan.safetensors", split);
  th_check(same_file(wa, wb), "and writes the same weights, byte for byte");
  rm_dir(full);
  rm_dir(split);
}

// ---- sampling ----

static vkg_status sample_png(struct nn_model *m, uint32_t seed, int n, const char *path) {
  const struct gan_arch *a = gan_arch_of(m);
  float *z = th_alloc((size_t)n * a->z), *img = th_alloc((size_t)n * a->channels * a->size * a->size);
  int32_t *y = NULL;
  if (a->classes) {
    y = malloc(sizeof *y * (size_t)n);
    for (int i = 0; i < n; i++)
      y[i] = i % a->classes;
  }
  vkg_status s = nn_prior(m->params.ctx, n, gan_arch_of(m)->z, seed, z);
  if (!s) s = gan_generate(m, z, y, n, img);
  if (!s) s = vkg_png_grid(path, img, n, a->channels, a->size, a->size, 4);
  free(z), free(img), free(y);
  return s;
}

static void check_sampling(vkg_ctx *ctx) {
  struct gan_arch arch = tiny(32, 3, 10);
  struct nn_create_opts o = {.batch = 2, .synthetic = 4, .seed = 11};
  struct nn_model *m, *m2 = NULL;
  if (!th_ok(gan_create(ctx, &arch, &o, &m), "gan_create")) return;
  char w[128], p1[128], p2[128], p3[128], p4[128];
  snprintf(w, sizeof w, "%s/g.safetensors", tmp);
  snprintf(p1, sizeof p1, "%s/a.png", tmp);
  snprintf(p2, sizeof p2, "%s/b.png", tmp);
  snprintf(p3, sizeof p3, "%s/c.png", tmp);
  snprintf(p4, sizeof p4, "%s/d.png", tmp);
  th_ok(sample_png(m, 5, 12, p1), "sample seed 5");
  th_ok(sample_png(m, 5, 12, p2), "sample seed 5 again");
  th_ok(sample_png(m, 6, 12, p3), "sample seed 6");
  th_check(same_file(p1, p2), "the same seed gives an identical PNG");
  th_check(!same_file(p1, p3), "another seed gives another PNG");
  th_ok(gan_save(m, w), "gan_save");
  if (th_ok(gan_load(ctx, w, &m2), "gan_load")) {
    th_check(!strcmp(m2->config, m->config), "the loaded model has the saved config %s", m2->config);
    th_ok(sample_png(m2, 5, 12, p4), "sample the reloaded model");
    th_check(same_file(p1, p4), "saved and reloaded weights give an identical PNG");
  }

  /* Latent row i depends on (seed, i) only; batches of 256 and of 300 - 256 give the same images. */
  const struct gan_arch *a = gan_arch_of(m);
  enum { N = 300 };
  size_t img = (size_t)a->channels * a->size * a->size;
  float *z = th_alloc((size_t)N * a->z), *zs = th_alloc(4 * (size_t)a->z);
  float *big = th_alloc(N * img), *small = th_alloc(4 * img);
  int32_t y[N];
  for (int i = 0; i < N; i++)
    y[i] = (i * 7) % 10;
  th_ok(nn_prior(m->params.ctx, N, gan_arch_of(m)->z, 9, z), "300 latents");
  th_ok(nn_prior(m->params.ctx, 4, gan_arch_of(m)->z, 9, zs), "4 latents");
  th_check(!memcmp(z, zs, sizeof *z * 4 * a->z), "the first 4 of 300 latents are the 4 latents of the same seed");
  th_ok(gan_generate(m, z, y, N, big), "300 images in batches of 256");
  th_ok(gan_generate(m, z + 296 * a->z, y + 296, 4, small), "the last 4 on their own");
  th_close("images do not depend on the batch they fall in", small, big + 296 * img, 4 * img, 1e-5f, 0);
  free(z), free(zs), free(big), free(small);

  float za[3] = {1, 0, 0}, zb[3] = {0, 2, 0}, out[3], mid[3];
  gan_slerp(za, zb, 3, 0, out);
  th_close("slerp at t = 0", out, za, 3, 1e-6f, 0);
  gan_slerp(za, zb, 3, 1, out);
  th_close("slerp at t = 1", out, zb, 3, 1e-6f, 1e-6f);
  gan_slerp(za, zb, 3, 0.5f, out);
  /* The angle is 90 degrees: both weights are sin(45)/sin(90) = 1/sqrt(2). */
  mid[0] = (float)sqrt(0.5), mid[1] = 2 * (float)sqrt(0.5), mid[2] = 0;
  th_close("slerp at t = 1/2", out, mid, 3, 1e-5f, 1e-5f);

  // ---- load errors ----
  char other[128], cut[128], noconf[128];
  snprintf(other, sizeof other, "%s/vae.safetensors", tmp);
  snprintf(cut, sizeof cut, "%s/cut.safetensors", tmp);
  snprintf(noconf, sizeof noconf, "%s/shape.safetensors", tmp);
  vkg_st_writer *wr = vkg_st_writer_create();
  float one = 1;
  int shape1[1] = {1};
  vkg_st_add_f32(wr, "x", 1, shape1, &one);
  vkg_st_add_metadata(wr, "format", "vkgen-weights");
  vkg_st_add_metadata(wr, "model", "vae");
  vkg_st_add_metadata(wr, "config", "{}");
  vkg_st_write(wr, other);
  vkg_st_writer_destroy(wr);
  struct nn_model *bad = NULL;
  vkg_status s = gan_load(ctx, other, &bad);
  th_check(s != VKG_OK && !bad && strstr(vkg_last_error(), "are for a vae model, not gan") && *vkg_last_hint(),
           "another family's weights: %s", vkg_last_error());
  /* A config that does not match the tensors: a wider model's config over these tensors. */
  wr = vkg_st_writer_create();
  nn_params_save(&m->params, wr, "");
  struct gan_arch wide = *a;
  wide.width = 3;
  char cfg[256];
  nn_cfg_json(&gan_cfg, &wide, cfg, sizeof cfg);
  vkg_st_add_metadata(wr, "format", "vkgen-weights");
  vkg_st_add_metadata(wr, "model", "gan");
  vkg_st_add_metadata(wr, "config", cfg);
  vkg_st_write(wr, noconf);
  vkg_st_writer_destroy(wr);
  s = gan_load(ctx, noconf, &bad);
  th_check(s == VKG_ERR_FORMAT && !bad && strstr(vkg_last_error(), "tensor 'd.conv0.weight'"),
           "mismatched shapes name the tensor: %s", vkg_last_error());
  size_t n;
  char *bytes = th_read_file(w, &n);
  FILE *f = fopen(cut, "wb");
  if (f && bytes) fwrite(bytes, 1, n / 2, f);
  if (f) fclose(f);
  free(bytes);
  s = gan_load(ctx, cut, &bad);
  th_check(s != VKG_OK && !bad && strstr(vkg_last_error(), cut), "a truncated file: %s", vkg_last_error());
  s = gan_load(ctx, "/nonexistent/gan.safetensors", &bad);
  th_check(s == VKG_ERR_IO && !bad, "a missing file: %s", vkg_last_error());

  unlink(w), unlink(p1), unlink(p2), unlink(p3), unlink(p4), unlink(other), unlink(cut), unlink(noconf);
  gan_destroy(m2);
  gan_destroy(m);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(1);
  snprintf(tmp, sizeof tmp, "/tmp/test_gan.XXXXXX");
  if (!mkdtemp(tmp)) {
    th_check(0, "mkdtemp");
    return th_finish(ctx);
  }
  struct gan_arch arch_ok = gan_arch_default(), arch_bad = arch_ok;
  arch_bad.size = 48;
  th_check(nn_cfg_check(&gan_cfg, &arch_ok) == VKG_OK && nn_cfg_check(&gan_cfg, &arch_bad) == VKG_ERR_ARG,
           "size 48 is refused: %s", vkg_last_error());
  char json[256];
  struct gan_arch back;
  arch_ok.classes = 10, arch_ok.embed = 16;
  nn_cfg_json(&gan_cfg, &arch_ok, json, sizeof json);
  th_check(nn_cfg_parse(&gan_cfg, json, "test", &back) == VKG_OK && !memcmp(&back, &arch_ok, sizeof back),
           "config round trip %s", json);
  th_check(nn_cfg_parse(&gan_cfg, "{\"size\": 28}", "test", &back) == VKG_ERR_FORMAT,
           "an incomplete config is refused");
  /* Fields the model does not have, and fractions where whole numbers belong, are refused by name. */
  char extra[300];
  snprintf(extra, sizeof extra, "%.*s, \"depth\": 3}", (int)strlen(json) - 1, json);
  th_check(nn_cfg_parse(&gan_cfg, extra, "test", &back) == VKG_ERR_FORMAT && strstr(vkg_last_error(), "'depth'"),
           "an unknown field is refused: %s", vkg_last_error());
  th_check(nn_cfg_parse(&gan_cfg,
                        "{\"size\": 28, \"channels\": 1, \"z\": 2.5, \"width\": 8, \"classes\": 0, \"embed\": 0}",
                        "test", &back) == VKG_ERR_FORMAT &&
               strstr(vkg_last_error(), "'z' is 2.5"),
           "a fractional size is refused: %s", vkg_last_error());

  check_shapes(ctx, tiny(28, 1, 0));
  check_shapes(ctx, tiny(28, 3, 0));
  check_shapes(ctx, tiny(32, 1, 0));
  check_shapes(ctx, tiny(32, 3, 0));
  check_shapes(ctx, tiny(64, 1, 0));
  check_shapes(ctx, tiny(64, 3, 10));
  check_shapes(ctx, tiny(28, 1, 10));
  check_phase_grads(ctx);
  check_sampling(ctx);
  check_training(ctx);
  check_resume(ctx);
  rm_dir(tmp);
  return th_finish(ctx);
}
