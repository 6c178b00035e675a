/* tools/torch_text.py, the PyTorch twins of the gpt, lstm and gru families that tools/compare.py trains
 * beside vkgen, checked against the C code. This program writes what the C side computes into the
 * test's temporary directory, then runs `torch_text.py selfcheck DIR`, which recomputes each value in
 * Python and fails on any difference:
 *   - the corpus split and byte tokens of a small fortune directory (nn_text_data_load; exact);
 *   - each family's initial parameters (names, order, values to 1e-7) and its weights' config text;
 *   - the loss and every gradient of the graph the training loop trains (the model's own
 *     build_loss, on the batch its write_batch feeds from windows picked by vkg_shuffle) at random
 *     weights of +-0.7, computed by torch autograd in float64 from the same weights (loss to 1e-5
 *     relative, gradients to 1e-4 of each tensor's largest value plus 1e-3 relative). The LSTM and
 *     GRU twins are torch.nn.LSTM and torch.nn.GRU.
 * Shapes are small and awkward (dim 12 with 3 heads, 2 layers, windows of 7, a batch of 3).
 * Without /usr/bin/python3 and its torch the Python half is skipped with a note. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "models/lm.h"

#define TOOL FIXTURE_DIR "/../../tools/torch_text.py"

static void add_meta_u64(vkg_st_writer *w, const char *key, uint64_t v) {
  char s[32];
  snprintf(s, sizeof s, "%llu", (unsigned long long)v);
  th_ok(vkg_st_add_metadata(w, key, s), key);
}

static void add_i32(vkg_st_writer *w, const char *name, int ndim, const int64_t *shape, const int32_t *v) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  th_ok(vkg_st_add(w, name, "I32", ndim, shape, v, n * sizeof *v), name);
}

/* Two fortune files (read in name order), with blank fortunes, CRLF separators and no final "%". */
static const char *write_corpus(void) {
  const char *dir = th_tmppath("corpus");
  mkdir(dir, 0755);
  char path[4096];
  snprintf(path, sizeof path, "%s/b", dir);
  FILE *f = fopen(path, "w");
  for (int i = 0; i < 30; i++)
    fprintf(f, "Fortune %d: a bird in the hand\nis worth %d in the bush.\n%s\n", i, i % 7, i == 4 ? "%\r" : "%");
  fputs("\n%\ntail without a separator", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/a", dir);
  f = fopen(path, "w");
  for (int i = 0; i < 25; i++)
    fprintf(f, "Q%d: Why?\nA: Because %d.\n%%\n", i, i * i);
  fclose(f);
  return dir;
}

static void write_family(vkg_ctx *ctx, const char *fam, const char *dir) {
  enum { B = 3, T = 7 };
  const uint64_t seed = 11;
  struct lm_config c = lm_config_default(fam);
  c.layers = 2, c.dim = 12, c.context = T;
  if (!strcmp(fam, "gpt")) c.heads = 3, c.mlp = 20;
  struct lm *lm = NULL;
  struct nn_model *m = NULL;
  struct lm_train_opts o = {.batch = B, .data_dir = dir};
  char file[64];
  if (!th_ok(lm_create(ctx, &c, NULL, seed, &lm), fam) || !th_ok(lm_model_create(lm, &o, &m), fam)) {
    lm_destroy(lm);
    return;
  }
  snprintf(file, sizeof file, "%s.safetensors", fam);
  th_ok(lm_save(lm, th_tmppath(file)), "lm_save");
  /* The loss and gradients are taken at larger random weights than the initial ones, so that every
   * nonlinearity works outside its near-linear range (GELU's tanh form, saturated gates). */
  th_seed(17);
  for (int i = 0; i < lm->params.n; i++) {
    size_t n = vkg_tensor_numel(lm->params.t[i]);
    float *v = th_alloc(n);
    th_fill(v, n, -0.7f, 0.7f);
    th_ok(vkg_tensor_upload_f32(lm->params.t[i], v, n), "random weights");
    free(v);
  }
  snprintf(file, sizeof file, "%s_w.safetensors", fam);
  th_ok(lm_save(lm, th_tmppath(file)), "lm_save");
  uint32_t *perm = malloc(sizeof *perm * m->n_train);
  vkg_shuffle(perm, (uint32_t)m->n_train, 5, 1);
  vkg_st_writer *w = vkg_st_writer_create();
  int64_t ishape[1] = {B};
  int32_t idx[B];
  for (int b = 0; b < B; b++)
    idx[b] = (int32_t)perm[b];
  add_i32(w, "idx", 1, ishape, idx);
  vkg_t *ids = malloc(sizeof *ids * (size_t)m->params.n);
  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  nn_bind_all(g, &m->params, 0, ids);
  vkg_t loss = m->build_loss(m, g, ids, 0);
  vkg_backward(g, loss);
  vkg_output(g, loss);
  for (int i = 0; i < m->params.n; i++)
    vkg_output(g, vkg_grad(g, ids[i]));
  if (th_ok(vkg_graph_compile(g), fam) && th_ok(m->write_batch(m, g, 0, perm), "write_batch") &&
      th_ok(th_run(g), fam)) {
    float v;
    int one[1] = {1};
    vkg_graph_read(g, loss, &v, 1);
    vkg_st_add_f32(w, "loss", 1, one, &v);
    for (int i = 0; i < m->params.n; i++) {
      vkg_t gr = vkg_grad(g, ids[i]);
      int nd = vkg_ndim(g, gr), shape[8];
      size_t n = 1;
      for (int k = 0; k < nd; k++)
        n *= (size_t)(shape[k] = vkg_dim(g, gr, k));
      float *buf = th_alloc(n);
      vkg_graph_read(g, gr, buf, n);
      char name[192];
      snprintf(name, sizeof name, "grad.%s", m->params.names[i]);
      th_ok(vkg_st_add_f32(w, name, nd, shape, buf), name);
      free(buf);
    }
  }
  vkg_graph_destroy(g);
  add_meta_u64(w, "init_seed", seed);
  snprintf(file, sizeof file, "%s_io.safetensors", fam);
  th_ok(vkg_st_write(w, th_tmppath(file)), file);
  vkg_st_writer_destroy(w);
  free(ids);
  free(perm);
  lm_model_destroy(m);
  lm_destroy(lm);
}

static void write_corpus_tokens(const char *dir) {
  vkg_tokenizer *tok = NULL;
  struct nn_text_data c;
  if (!th_ok(lm_tokenizer_make("bytes", &tok), "byte tokenizer") || !th_ok(nn_text_data_load(dir, tok, &c), "corpus"))
    return;
  vkg_st_writer *w = vkg_st_writer_create();
  int64_t nt[1] = {(int64_t)c.ntrain}, nv[1] = {(int64_t)c.nval};
  add_i32(w, "train", 1, nt, c.train);
  add_i32(w, "val", 1, nv, c.val);
  th_ok(vkg_st_write(w, th_tmppath("corpus.safetensors")), "corpus.safetensors");
  vkg_st_writer_destroy(w);
  nn_text_data_free(&c);
  vkg_tokenizer_free(tok);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  const char *dir = write_corpus();
  write_corpus_tokens(dir);
  write_family(ctx, "gpt", dir);
  write_family(ctx, "lstm", dir);
  write_family(ctx, "gru", dir);
  th_twin(TOOL, "selfcheck", th_tmpdir(), "torch_text.py selfcheck agrees with the C code");
  return th_finish(ctx);
}
