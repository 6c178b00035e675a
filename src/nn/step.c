/* The recorded training step (nn/step.h). */
#include <stdlib.h>

#include "internal.h"
#include "nn/dist.h"
#include "nn/progress.h"
#include "nn/step.h"

/* With several ranks: the optimizer graph of phase p. Its streamed input is the averaged gradient
 * bucket; each parameter's gradient is a slice of it, in the order of `trainable`. */
static vkg_status build_optimizer(struct nn_step *st, struct nn_step_phase *ph, vkg_tensor **trainable, int ntrain) {
  vkg_status s = vkg_graph_create(st->m->params.ctx, &ph->og);
  if (s) return s;
  vkg_graph *g = ph->og;
  ph->og_lr = vkg_scalar(g, "lr");
  ph->og_step = vkg_scalar(g, "step");
  vkg_t *pids = malloc(sizeof *pids * (size_t)ntrain * 2), *gids = pids ? pids + ntrain : NULL;
  if (!pids) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  int total = (int)ph->ngrad, off = 0;
  ph->grads_in = vkg_input_streamed(g, "grads", VKG_F32, 1, &total);
  for (int k = 0; k < ntrain; k++) {
    pids[k] = vkg_bind(g, trainable[k]);
    int n = (int)vkg_tensor_numel(trainable[k]);
    gids[k] = vkg_slice(g, ph->grads_in, 0, off, off + n); /* flat: the update reads it as (n,) */
    off += n;
  }
  vkg_t norm = vkg__optim_apply_grads(g, ph->opt, pids, gids);
  ph->norm_hist = vkg_history(g, norm, st->hist_n, ph->og_step);
  free(pids);
  return vkg_graph_compile(g);
}

/* Phase p's graph: forward, loss, backward over its group, its optimizer, and the histories. */
static vkg_status build_phase(struct nn_step *st, const struct vkg_optim_desc *od, int p) {
  struct nn_model *m = st->m;
  struct nn_step_phase *ph = &st->ph[p];
  int group = m->nphases ? m->phases[p].group : 0, ntrain;
  vkg_ctx *ctx = m->params.ctx;
  vkg_tensor **trainable = nn_trainable(&m->params, group, &ntrain);
  vkg_status s = vkg_optim_create(ctx, od, ntrain, trainable, &ph->opt);
  free(trainable);
  if (s) return s;
  if ((s = vkg_graph_create(ctx, &ph->g))) return s;
  vkg_graph *g = ph->g;
  ph->slot_lr = vkg_scalar(g, "lr");
  ph->slot_step = vkg_scalar(g, "step");
  ph->slot_seed = vkg_scalar(g, "seed");
  vkg_t *ids = malloc(sizeof *ids * (size_t)(m->params.n + 1)),
        *tids = malloc(sizeof *tids * (size_t)(m->params.n + 1));
  if (!ids || !tids) {
    free(ids), free(tids);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  nn_bind_all(g, &m->params, group, ids);
  if (st->ranks > 1) vkg__graph_rng_shard(g, nn_dist_rank(), st->ranks);
  vkg_t loss = m->build_loss(m, g, ids, p);
  vkg_backward(g, loss);
  int k = 0;
  for (int i = 0; i < m->params.n; i++)
    if (m->params.trainable[i] && m->params.group[i] == group) tids[k++] = ids[i];
  if (st->ranks == 1) {
    vkg_t norm = vkg_optim_apply(g, ph->opt, tids);
    ph->loss_hist = vkg_history(g, loss, st->hist_n, ph->slot_step);
    ph->norm_hist = vkg_history(g, norm, st->hist_n, ph->slot_step);
  } else { /* the gradients, flattened into one bucket for the host */
    for (int i = 0; i < k; i++) {
      int n = (int)vkg_numel(g, tids[i]);
      tids[i] = vkg_reshape(g, vkg_grad(g, tids[i]), 1, &n);
      ph->ngrad += (size_t)n;
    }
    ph->grads = vkg_concat(g, k, tids, 0);
    vkg_output(g, ph->grads);
    ph->loss_hist = vkg_history(g, loss, st->hist_n, ph->slot_step);
  }
  free(ids);
  free(tids);
  vkg_status s2 = vkg_graph_compile(g);
  if (!s2 && st->ranks > 1) {
    trainable = nn_trainable(&m->params, group, &ntrain);
    s2 = trainable ? build_optimizer(st, ph, trainable, ntrain) : vkg__fail(VKG_ERR_OOM, "out of host memory");
    free(trainable);
  }
  return s2;
}

vkg_status nn_step_create(struct nn_model *m, const struct vkg_optim_desc *od, int hist_n, struct nn_step *st) {
  *st = (struct nn_step){
      .m = m, .nph = m->nphases ? m->nphases : 1, .hist_n = hist_n > 0 ? hist_n : 1, .ranks = nn_dist_size()};
  vkg_status s = VKG_OK;
  for (int p = 0; p < st->nph && !s; p++)
    s = build_phase(st, od, p);
  size_t most = 0;
  for (int p = 0; p < st->nph && !s; p++)
    most = st->ph[p].ngrad > most ? st->ph[p].ngrad : most;
  if (!s && st->ranks > 1 && !(st->bucket = malloc(sizeof *st->bucket * most)))
    s = vkg__fail(VKG_ERR_OOM, "out of host memory for a gradient bucket of %zu values", most);
  for (int i = 0; !s && st->ranks > 1 && i < m->params.n; i++)
    if (!m->params.trainable[i]) st->nbuf += vkg_tensor_numel(m->params.t[i]);
  if (!s && st->nbuf && !(st->buf = malloc(sizeof *st->buf * st->nbuf)))
    s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  if (s) nn_step_destroy(st);
  return s;
}

/* With several ranks, after a step: the non-trainable params (running statistics) from rank 0 to all,
 * so every rank holds the same model (PyTorch's DistributedDataParallel broadcasts its buffers too). */
static vkg_status sync_buffers(struct nn_step *st) {
  const struct nn_params *pa = &st->m->params;
  int writer = nn_dist_rank() == 0;
  vkg_status s = VKG_OK;
  size_t off = 0;
  for (int i = 0; i < pa->n && !s && writer; i++)
    if (!pa->trainable[i]) {
      size_t n = vkg_tensor_numel(pa->t[i]);
      s = vkg_tensor_download_f32(pa->t[i], st->buf + off, n);
      off += n;
    }
  if (!s) s = nn_dist_bcast(st->buf, sizeof *st->buf * st->nbuf);
  off = 0;
  for (int i = 0; i < pa->n && !s && !writer; i++)
    if (!pa->trainable[i]) {
      size_t n = vkg_tensor_numel(pa->t[i]);
      s = vkg_tensor_upload_f32(pa->t[i], st->buf + off, n);
      off += n;
    }
  return s;
}

vkg_status nn_step_run(struct nn_step *st, const uint32_t *idx, float lr, long step, uint64_t seed) {
  for (int p = 0; p < st->nph; p++) {
    struct nn_step_phase *ph = &st->ph[p];
    vkg_status s = st->m->write_batch(st->m, ph->g, p, idx);
    if (s) return s;
    vkg_graph_set_f32(ph->g, ph->slot_lr, lr);
    vkg_graph_set_u32(ph->g, ph->slot_step, (uint32_t)step);
    vkg_graph_set_u32(ph->g, ph->slot_seed, (uint32_t)nn_mix(nn_mix(seed, (uint64_t)step), (uint64_t)p));
    if ((s = vkg_graph_run_async(ph->g))) return s;
    if (st->ranks == 1) continue;
    /* The host's allreduce: the bucket is read when the backward pass ends, averaged over the ranks,
     * and staged for the optimizer graph (the next phase's graph runs after it on the same queue). */
    if ((s = vkg_graph_read(ph->g, ph->grads, st->bucket, ph->ngrad))) return s;
    if ((s = nn_dist_mean(st->bucket, ph->ngrad))) return s;
    if ((s = vkg_graph_write(ph->og, ph->grads_in, st->bucket, ph->ngrad))) return s;
    vkg_graph_set_f32(ph->og, ph->og_lr, lr);
    vkg_graph_set_u32(ph->og, ph->og_step, (uint32_t)step);
    if ((s = vkg_graph_run_async(ph->og))) return s;
  }
  return st->nbuf ? sync_buffers(st) : VKG_OK;
}

vkg_status nn_step_wait(struct nn_step *st) {
  vkg_status s = VKG_OK;
  for (int p = 0; p < st->nph && !s; p++) {
    if (st->ph[p].g) s = vkg_graph_wait(st->ph[p].g);
    if (!s && st->ph[p].og) s = vkg_graph_wait(st->ph[p].og);
  }
  return s;
}

vkg_status nn_step_read(struct nn_step *st, float *loss, float *norm) {
  size_t hn = (size_t)st->hist_n;
  vkg_status s = VKG_OK;
  for (int p = 0; p < st->nph && !s; p++) {
    s = vkg_graph_read(st->ph[p].g, st->ph[p].loss_hist, loss + p * hn, hn);
    if (!s) s = vkg_graph_read(st->ph[p].og ? st->ph[p].og : st->ph[p].g, st->ph[p].norm_hist, norm + p * hn, hn);
  }
  /* The gradient norms are of the averaged gradients, the same on every rank; the losses are each
   * rank's own. */
  if (!s && st->ranks > 1) s = nn_dist_mean(loss, (size_t)st->nph * hn);
  return s;
}

void nn_step_destroy(struct nn_step *st) {
  for (int p = 0; p < NN_MAX_PHASES; p++) {
    if (st->ph[p].g) vkg_graph_wait(st->ph[p].g);
    if (st->ph[p].og) vkg_graph_wait(st->ph[p].og);
    vkg_graph_destroy(st->ph[p].g);
    vkg_graph_destroy(st->ph[p].og);
    vkg_optim_destroy(st->ph[p].opt);
    st->ph[p].g = NULL, st->ph[p].og = NULL, st->ph[p].opt = NULL;
  }
  free(st->bucket);
  free(st->buf);
  st->bucket = st->buf = NULL;
}

vkg_status nn_step_bench(struct nn_model *m, const struct vkg_optim_desc *od, float lr, int steps,
                         double *steps_per_s) {
  struct nn_step st;
  vkg_status s = nn_step_create(m, od, 1, &st);
  if (s) return s;
  uint32_t *idx = malloc(sizeof *idx * (size_t)m->batch);
  if (!idx) s = vkg__fail(VKG_ERR_OOM, "out of host memory");
  for (int i = 0; idx && i < m->batch; i++)
    idx[i] = (uint32_t)i;
  double t0 = 0;
  for (long k = 0; k <= steps && !s; k++) {
    if (k == 1) { /* step 0 warms up */
      s = nn_step_wait(&st);
      t0 = nn_now();
    }
    if (!s) s = nn_step_run(&st, idx, lr, k + 1, 1);
  }
  if (!s) s = nn_step_wait(&st);
  if (!s) {
    double el = nn_now() - t0;
    *steps_per_s = steps / (el > 0 ? el : 1e-9);
  }
  free(idx);
  nn_step_destroy(&st);
  return s;
}
