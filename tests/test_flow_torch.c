/* tools/torch_flow.py, the PyTorch twin of the flow family, against the C model: this program writes two
 * small flows (weights after the data-dependent actnorm init, every zero-initialized parameter
 * perturbed so no gradient vanishes), a batch, its dequantization noise, and the bits/dim loss and
 * every parameter's gradient that the C graph computes, then runs `torch_flow.py check DIR`, which
 * recomputes them with torch autograd in double precision and fails on any difference (loss to 1e-5
 * relative, gradients to 2e-4 of each tensor's largest value plus 1e-3 relative).
 * flow_a: 8x8 grey, 2 levels of 2 steps, centered; flow_b: 8x8 RGB, 3 levels of 1 step, logit.
 * Without /usr/bin/python3 and its torch the Python half is skipped with a note. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/flow.h"

#define TOOL FIXTURE_DIR "/../../tools/torch_flow.py"

static void write_case(vkg_ctx *ctx, const char *tag, struct flow_config c) {
  enum { B = 5 };
  struct nn_params p;
  struct flow_net net;
  nn_params_init(&p, ctx);
  if (!th_ok(flow_net_create(&net, &p, &c, 7), "flow_net_create")) return;
  int D = flow_dims(&c), xs[4] = {B, c.channels, c.size, c.size};
  float *x0 = th_alloc((size_t)B * D);
  for (int i = 0; i < B * D; i++) /* 8-bit pixel values */
    x0[i] = (float)(int)th_uniform(0, 256) / 255.0f;
  th_ok(flow_actnorm_init(&net, x0, B, 3), "actnorm init");
  for (int i = 0; i < p.n; i++) {
    if (!strstr(p.names[i], "conv3") && !strstr(p.names[i], "split") && !strstr(p.names[i], "top")) continue;
    size_t n = vkg_tensor_numel(p.t[i]);
    float *v = th_alloc(n);
    th_fill(v, n, -0.1f, 0.1f);
    vkg_tensor_upload_f32(p.t[i], v, n);
    free(v);
  }
  char file[64];
  snprintf(file, sizeof file, "%s.safetensors", tag);
  th_ok(flow_save(th_tmppath(file), &net), "flow_save");

  vkg_graph *g;
  vkg_graph_create(ctx, &g);
  struct flow_ids ids;
  th_ok(flow_bind(g, &net, 0, 0, NULL, &ids), "bind");
  vkg_t xin = vkg_input(g, "x", VKG_F32, 4, xs);
  float *u;
  vkg_t uin = th_input(g, 4, xs, 0, 1, &u);
  vkg_t loss = flow_bpd_loss(g, &net, &ids, xin, uin);
  vkg_backward(g, loss);
  vkg_output(g, loss);
  for (int i = 0; i < p.n; i++)
    if (p.trainable[i]) vkg_output(g, vkg_grad(g, ids.p[i]));
  vkg_st_writer *w = vkg_st_writer_create();
  if (th_ok(vkg_graph_compile(g), tag) && th_ok(th_write_inputs(g), "inputs") &&
      th_ok(vkg_graph_write(g, xin, x0, (size_t)B * D), "x") && th_ok(th_run(g), tag)) {
    float v;
    int one[1] = {1};
    vkg_graph_read(g, loss, &v, 1);
    vkg_st_add_f32(w, "loss", 1, one, &v);
    vkg_st_add_f32(w, "x", 4, xs, x0);
    vkg_st_add_f32(w, "u", 4, xs, u);
    for (int i = 0; i < p.n; i++) {
      if (!p.trainable[i]) continue;
      vkg_t gr = vkg_grad(g, ids.p[i]);
      int nd = vkg_ndim(g, gr), shape[8];
      size_t n = 1;
      for (int k = 0; k < nd; k++)
        n *= (size_t)(shape[k] = vkg_dim(g, gr, k));
      float *buf = th_alloc(n);
      vkg_graph_read(g, gr, buf, n);
      char name[192];
      snprintf(name, sizeof name, "grad.%s", p.names[i]);
      th_ok(vkg_st_add_f32(w, name, nd, shape, buf), name);
      free(buf);
    }
  }
  snprintf(file, sizeof file, "%s_io.safetensors", tag);
  th_ok(vkg_st_write(w, th_tmppath(file)), file);
  vkg_st_writer_destroy(w);
  vkg_graph_destroy(g);
  flow_ids_free(&ids);
  free(x0);
  flow_net_free(&net);
  nn_params_free(&p);
}

int main(void) {
  vkg_ctx *ctx = th_ctx();
  th_seed(5);
  struct flow_config a = flow_config_default(), b = flow_config_default();
  a.size = 8, a.channels = 1, a.levels = 2, a.depth = 2, a.width = 6;
  b.size = 8, b.channels = 3, b.levels = 3, b.depth = 1, b.width = 5;
  strcpy(b.preprocess, "logit");
  write_case(ctx, "flow_a", a);
  write_case(ctx, "flow_b", b);
  th_twin(TOOL, "check", th_tmpdir(), "torch_flow.py check agrees with the C flow's loss and every gradient");
  return th_finish(ctx);
}
