/* The recorded training step (nn/step.h). */
#include <stdlib.h>

#include "internal.h"
#include "nn/progress.h"
#include "nn/step.h"

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
  vkg_t loss = m->build_loss(m, g, ids, p);
  vkg_backward(g, loss);
  int k = 0;
  for (int i = 0; i < m->params.n; i++)
    if (m->params.trainable[i] && m->params.group[i] == group) tids[k++] = ids[i];
  vkg_t norm = vkg_optim_apply(g, ph->opt, tids);
  ph->loss_hist = vkg_history(g, loss, st->hist_n, ph->slot_step);
  ph->norm_hist = vkg_history(g, norm, st->hist_n, ph->slot_step);
  free(ids);
  free(tids);
  return vkg_graph_compile(g);
}

vkg_status nn_step_create(struct nn_model *m, const struct vkg_optim_desc *od, int hist_n, struct nn_step *st) {
  *st = (struct nn_step){.m = m, .nph = m->nphases ? m->nphases : 1, .hist_n = hist_n > 0 ? hist_n : 1};
  vkg_status s = VKG_OK;
  for (int p = 0; p < st->nph && !s; p++)
    s = build_phase(st, od, p);
  if (s) nn_step_destroy(st);
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
  }
  return VKG_OK;
}

vkg_status nn_step_wait(struct nn_step *st) {
  vkg_status s = VKG_OK;
  for (int p = 0; p < st->nph && !s; p++)
    if (st->ph[p].g) s = vkg_graph_wait(st->ph[p].g);
  return s;
}

vkg_status nn_step_read(struct nn_step *st, float *loss, float *norm) {
  size_t hn = (size_t)st->hist_n;
  vkg_status s = VKG_OK;
  for (int p = 0; p < st->nph && !s; p++) {
    s = vkg_graph_read(st->ph[p].g, st->ph[p].loss_hist, loss + p * hn, hn);
    if (!s) s = vkg_graph_read(st->ph[p].g, st->ph[p].norm_hist, norm + p * hn, hn);
  }
  return s;
}

void nn_step_destroy(struct nn_step *st) {
  for (int p = 0; p < NN_MAX_PHASES; p++) {
    if (st->ph[p].g) vkg_graph_wait(st->ph[p].g);
    vkg_graph_destroy(st->ph[p].g);
    vkg_optim_destroy(st->ph[p].opt);
    st->ph[p].g = NULL, st->ph[p].opt = NULL;
  }
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
