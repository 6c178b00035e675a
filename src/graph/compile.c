#define _GNU_SOURCE /* qsort_r */
/* Compiling a graph: liveness, memory planning, descriptor sets, and recording the command buffer
 * with barriers only where a dispatch touches memory that an earlier, unbarriered dispatch wrote
 * (or writes memory that one read). Running is then one submission. */
#include <string.h>

#include "internal.h"

static size_t bytes_of(const struct vkg_gtensor *t) { return vkg__numel(t->shape, t->ndim) * vkg_dtype_size(t->dtype); }

/* The memory behind tensor t: buffer, offset and size in bytes. */
struct span {
  VkBuffer buf;
  VkDeviceSize off, size;
};
static struct span span_of(const vkg_graph *g, vkg_t t) {
  vkg_t r = vkg__root(g, t);
  const struct vkg_gtensor *rt = VKG_T(g, r);
  VkDeviceSize size = (bytes_of(VKG_T(g, t)) + 3) & ~(VkDeviceSize)3;
  if (rt->kind == VKG_KIND_INTERMEDIATE) return (struct span){g->arena.buffer, g->arena.offset + rt->offset, size};
  const struct vkg_alloc *a = rt->kind == VKG_KIND_BOUND ? &rt->bound->alloc : &rt->alloc;
  return (struct span){a->buffer, a->offset, size};
}

static int overlap(struct span a, struct span b) {
  return a.buf == b.buf && a.off < b.off + b.size && b.off < a.off + a.size;
}

// ---- memory planning ----

static VkDeviceSize align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

static int by_size_desc(const void *pa, const void *pb, void *gp) {
  const vkg_graph *g = gp;
  size_t a = bytes_of(VKG_T(g, *(const vkg_t *)pa)), b = bytes_of(VKG_T(g, *(const vkg_t *)pb));
  if (a != b) return a < b ? 1 : -1;
  return *(const vkg_t *)pa - *(const vkg_t *)pb;
}

/* Greedy placement: largest first, each at the lowest offset that does not overlap a placed tensor
 * whose lifetime meets its own. */
static vkg_status plan(vkg_graph *g) {
  for (int i = 0; i < g->nd; i++)
    for (int j = 0; j < g->d[i].nbind; j++) {
      struct vkg_gtensor *r = VKG_T(g, vkg__root(g, g->d[i].bind[j]));
      if (r->first < 0) {
        if ((r->kind == VKG_KIND_INTERMEDIATE || r->kind == VKG_KIND_OUTPUT) && !g->d[i].writes[j])
          return vkg__fail(VKG_ERR_ARG, "op %s reads a tensor that nothing has written", g->nodes[g->d[i].node].op);
        r->first = i;
      }
      r->last = i;
    }
  vkg_t *order = malloc(sizeof *order * (size_t)(g->nt + 1));
  int n = 0;
  g->unshared_bytes = 0;
  for (vkg_t t = 0; t < g->nt; t++)
    if (VKG_T(g, t)->kind == VKG_KIND_INTERMEDIATE && VKG_T(g, t)->first >= 0) {
      order[n++] = t;
      g->unshared_bytes += align_up(bytes_of(VKG_T(g, t)), g->ctx->align);
    }
  qsort_r(order, (size_t)n, sizeof *order, by_size_desc, g);
  VkDeviceSize end = 0, al = g->ctx->align;
  for (int i = 0; i < n; i++) {
    struct vkg_gtensor *t = VKG_T(g, order[i]);
    VkDeviceSize size = align_up(bytes_of(t), al), off = 0;
    for (int moved = 1; moved;) { /* bump past every conflicting placed tensor until none is left */
      moved = 0;
      for (int j = 0; j < i; j++) {
        struct vkg_gtensor *u = VKG_T(g, order[j]);
        if (u->last < t->first || t->last < u->first) continue;
        VkDeviceSize usize = align_up(bytes_of(u), al);
        if (off < u->offset + usize && u->offset < off + size) {
          off = u->offset + usize;
          moved = 1;
        }
      }
    }
    t->offset = off;
    if (off + size > end) end = off + size;
  }
  free(order);
  g->arena_bytes = end;
  if (end) return vkg__alloc(g->ctx, end, 0, &g->arena);
  return VKG_OK;
}

// ---- recording ----

static void full_barrier(VkCommandBuffer cb) {
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0,
                       NULL, 0, NULL);
}

static int staged(const struct vkg_gtensor *t) { return t->kind == VKG_KIND_STREAMED || t->kind == VKG_KIND_SCALARS; }

/* Records the whole graph into g->cb[slot]: copies of the staged tensors from that slot's staging
 * buffers, then every dispatch with barriers only at hazards. */
static vkg_status record(vkg_graph *g, int slot) {
  vkg_ctx *ctx = g->ctx;
  VkCommandBuffer cb = g->cb[slot];
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VK_CHECK(vkBeginCommandBuffer(cb, &bi));
  uint32_t q0 = g->qper * (uint32_t)slot; /* this slot's first query */
  int timed = g->profiled && g->qpool;    /* a timestamp before and after every dispatch */
  if (g->qpool) {
    vkCmdResetQueryPool(cb, g->qpool, q0, g->qper);
    vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, g->qpool, q0);
  }
  /* Order this run after the previous run's shaders (which may still read the staged tensors we are
   * about to overwrite) and after host uploads. */
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                        .dstAccessMask =
                            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0,
                       NULL);
  int copies = 0;
  for (vkg_t t = 0; t < g->nt; t++) {
    const struct vkg_gtensor *x = VKG_T(g, t);
    if (!staged(x) || x->first < 0) continue;
    VkBufferCopy region = {x->stage[slot].offset, x->alloc.offset, x->alloc.size};
    vkCmdCopyBuffer(cb, x->stage[slot].buffer, x->alloc.buffer, 1, &region);
    copies++;
  }
  if (copies) {
    VkMemoryBarrier cm = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT};
    vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &cm, 0, NULL,
                         0, NULL);
  }

  /* Memory touched since the last barrier. */
  int cap = 64, nw = 0, nr = 0;
  struct span *written = malloc(sizeof *written * (size_t)cap), *read = malloc(sizeof *read * (size_t)cap);
  struct vkg_pipeline *bound = NULL;
  g->barriers = 0;
  for (int i = 0; i < g->nd; i++) {
    struct vkg_dispatch *d = &g->d[i];
    int hazard = 0;
    struct span sp[VKG_MAX_BINDINGS];
    for (int j = 0; j < d->nbind; j++) {
      sp[j] = span_of(g, d->bind[j]);
      for (int k = 0; k < nw && !hazard; k++)
        hazard = overlap(sp[j], written[k]); /* RAW, WAW */
      for (int k = 0; k < nr && !hazard && d->writes[j]; k++)
        hazard = overlap(sp[j], read[k]); /* WAR */
    }
    if (hazard) {
      full_barrier(cb);
      g->barriers++;
      nw = nr = 0;
    } else if (timed && i > 0) /* profiling: one dispatch at a time, so that each time is its own */
      full_barrier(cb);
    for (int j = 0; j < d->nbind; j++) {
      if (nw + nr + 2 > cap) {
        cap *= 2;
        written = realloc(written, sizeof *written * (size_t)cap);
        read = realloc(read, sizeof *read * (size_t)cap);
      }
      if (d->writes[j])
        written[nw++] = sp[j];
      else
        read[nr++] = sp[j];
    }
    if (d->pipe != bound) {
      vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipe->pipeline);
      bound = d->pipe;
    }
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipe->layout, 0, 1, &d->set, 0, NULL);
    if (d->pc_size) vkCmdPushConstants(cb, d->pipe->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, d->pc_size, d->pc);
    /* BOTTOM_OF_PIPE: written once every earlier command has completed. */
    if (timed) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, g->qpool, q0 + 1 + 2 * (uint32_t)i);
    vkCmdDispatch(cb, d->groups[0], d->groups[1], d->groups[2]);
    if (timed) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, g->qpool, q0 + 2 + 2 * (uint32_t)i);
  }
  free(written);
  free(read);
  /* Make the results available to the copies that read them back. */
  VkMemoryBarrier tail = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_HOST_READ_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &tail, 0, NULL, 0, NULL);
  if (g->qpool) vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, g->qpool, q0 + g->qper - 1);
  VK_CHECK(vkEndCommandBuffer(cb));
  (void)ctx;
  return VKG_OK;
}

/* The timestamp pool (none without timestamps): the run's start and end per slot, and with profiled
 * set a pair around every dispatch. */
static vkg_status make_qpool(vkg_graph *g, int profiled) {
  vkg_ctx *ctx = g->ctx;
  if (g->qpool) vkDestroyQueryPool(ctx->device, g->qpool, NULL);
  g->qpool = VK_NULL_HANDLE;
  g->profiled = profiled;
  g->qper = 2 + (profiled ? 2 * (uint32_t)g->nd : 0);
  if (!ctx->info.timestamps) return VKG_OK;
  VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                              .queryType = VK_QUERY_TYPE_TIMESTAMP,
                              .queryCount = g->qper * VKG_SLOTS};
  VK_CHECK(vkCreateQueryPool(ctx->device, &qi, NULL, &g->qpool));
  return VKG_OK;
}

/* Command buffers, fences and the timestamp pool, then one recording per slot. */
static vkg_status record_all(vkg_graph *g) {
  vkg_ctx *ctx = g->ctx;
  VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = ctx->pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = VKG_SLOTS};
  VK_CHECK(vkAllocateCommandBuffers(ctx->device, &ai, g->cb));
  VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  for (int i = 0; i < VKG_SLOTS; i++)
    VK_CHECK(vkCreateFence(ctx->device, &fi, NULL, &g->fence[i]));
  vkg_status s = make_qpool(g, ctx->profiling);
  if (s) return s;
  for (int i = 0; i < VKG_SLOTS; i++) {
    vkg_status s = record(g, i);
    if (s) return s;
  }
  return VKG_OK;
}

static vkg_status descriptors(vkg_graph *g) {
  vkg_ctx *ctx = g->ctx;
  uint32_t nbuf = 0;
  for (int i = 0; i < g->nd; i++)
    nbuf += (uint32_t)g->d[i].nbind;
  if (g->nd == 0) return VKG_OK;
  VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, nbuf ? nbuf : 1};
  VkDescriptorPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                   .maxSets = (uint32_t)g->nd,
                                   .poolSizeCount = 1,
                                   .pPoolSizes = &ps};
  VK_CHECK(vkCreateDescriptorPool(ctx->device, &pi, NULL, &g->dpool));
  for (int i = 0; i < g->nd; i++) {
    struct vkg_dispatch *d = &g->d[i];
    VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                      .descriptorPool = g->dpool,
                                      .descriptorSetCount = 1,
                                      .pSetLayouts = &d->pipe->set_layout};
    VK_CHECK(vkAllocateDescriptorSets(ctx->device, &ai, &d->set));
    VkDescriptorBufferInfo info[VKG_MAX_BINDINGS];
    VkWriteDescriptorSet w[VKG_MAX_BINDINGS];
    for (int j = 0; j < d->nbind; j++) {
      struct span s = span_of(g, d->bind[j]);
      info[j] = (VkDescriptorBufferInfo){s.buf, s.off, s.size};
      w[j] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                    .dstSet = d->set,
                                    .dstBinding = (uint32_t)j,
                                    .descriptorCount = 1,
                                    .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                    .pBufferInfo = &info[j]};
    }
    vkUpdateDescriptorSets(ctx->device, (uint32_t)d->nbind, w, 0, NULL);
  }
  return VKG_OK;
}

/* Every binding must fit one storage-buffer descriptor: a larger range is invalid and reads past the
 * device's limit give wrong values silently, so refuse it before allocating anything. */
static vkg_status check_ranges(vkg_graph *g) {
  VkDeviceSize limit = g->ctx->props.limits.maxStorageBufferRange;
  for (int i = 0; i < g->nd; i++)
    for (int j = 0; j < g->d[i].nbind; j++) {
      const struct vkg_gtensor *t = VKG_T(g, g->d[i].bind[j]);
      VkDeviceSize bytes = (bytes_of(t) + 3) & ~(VkDeviceSize)3;
      if (bytes <= limit) continue;
      char sh[96];
      const char *op = g->d[i].node >= 0 ? g->nodes[g->d[i].node].op : "?";
      vkg__fail(VKG_ERR_UNSUPPORTED,
                "op %s binds an %s tensor %s of %llu bytes, over this device's maxStorageBufferRange of %llu bytes", op,
                vkg_dtype_str(t->dtype), vkg__shape_str(t->shape, t->ndim, sh, sizeof sh), (unsigned long long)bytes,
                (unsigned long long)limit);
      vkg__hint("split the tensor into blocks of at most %llu bytes (e.g. rows of a large embedding)",
                (unsigned long long)limit);
      return VKG_ERR_UNSUPPORTED;
    }
  return VKG_OK;
}

vkg_status vkg_graph_compile(vkg_graph *g) {
  vkg__clear_error();
  if (g->err) return vkg__fail(g->err, "%s", g->errmsg);
  if (g->compiled) return VKG_OK;
  vkg_ctx *ctx = g->ctx;
  vkg_status s = check_ranges(g);
  if (s) { /* nothing is allocated yet: keep the message (and its hint) for later calls */
    g->err = s;
    snprintf(g->errmsg, sizeof g->errmsg, "%s", vkg_last_error());
    return s;
  }
  for (vkg_t t = 0; t < g->nt && !s; t++) {
    struct vkg_gtensor *x = VKG_T(g, t);
    if (x->kind == VKG_KIND_INPUT || x->kind == VKG_KIND_OUTPUT || staged(x))
      s = vkg__alloc(ctx, bytes_of(x), 0, &x->alloc);
    for (int k = 0; k < VKG_SLOTS && staged(x) && !s; k++)
      s = vkg__alloc(ctx, bytes_of(x), VKG_HOST_VISIBLE, &x->stage[k]);
  }
  if (!s) s = plan(g);
  if (!s) s = descriptors(g);
  if (!s) s = record_all(g);
  if (s) {
    /* Keep the message, free what was made, and leave the graph unusable. */
    char msg[sizeof g->errmsg], hint[512];
    snprintf(msg, sizeof msg, "%s", vkg_last_error());
    snprintf(hint, sizeof hint, "%s", vkg_last_hint());
    vkg__graph_release(g);
    g->err = s;
    snprintf(g->errmsg, sizeof g->errmsg, "%s", msg);
    vkg__fail(s, "%s", msg);
    if (hint[0]) vkg__hint("%s", hint); /* e.g. out of device memory: a smaller --batch */
    return s;
  }
  g->compiled = 1;
  vkg__graph_register(g);
  return VKG_OK;
}

vkg_status vkg__graph_set_profiled(vkg_graph *g, int on) {
  if (!g->compiled || g->profiled == on) return VKG_OK;
  vkg_status s = vkg_graph_wait(g); /* collects the runs in flight under the old recording */
  if (!s) s = make_qpool(g, on);
  for (int i = 0; i < VKG_SLOTS && !s; i++) {
    VK_CHECK(vkResetCommandBuffer(g->cb[i], 0));
    s = record(g, i);
  }
  return s;
}

vkg_status vkg__graph_rerecord(vkg_graph *g) {
  if (!g->compiled) return VKG_OK;
  vkg_status s = vkg_graph_wait(g);
  for (int i = 0; i < VKG_SLOTS && !s; i++) {
    VK_CHECK(vkResetCommandBuffer(g->cb[i], 0));
    s = record(g, i);
  }
  return s;
}

// ---- the context's list of live graphs (hot reload re-records them) ----

void vkg__graph_register(vkg_graph *g) {
  vkg_ctx *ctx = g->ctx;
  if (ctx->ngraphs == ctx->cap_graphs) {
    int cap = ctx->cap_graphs ? 2 * ctx->cap_graphs : 16;
    vkg_graph **gs = realloc(ctx->graphs, sizeof *gs * (size_t)cap);
    if (!gs) return; /* only hot reload misses it */
    ctx->graphs = gs;
    ctx->cap_graphs = cap;
  }
  ctx->graphs[ctx->ngraphs++] = g;
}

void vkg__graph_unregister(vkg_graph *g) {
  vkg_ctx *ctx = g->ctx;
  for (int i = 0; i < ctx->ngraphs; i++)
    if (ctx->graphs[i] == g) {
      ctx->graphs[i] = ctx->graphs[--ctx->ngraphs];
      return;
    }
}

static vkg_status wait_slot(vkg_graph *g, int slot) {
  if (!g->inflight[slot]) return VKG_OK;
  g->inflight[slot] = 0;
  vkg_status s = vkg__fence_wait(g->ctx, g->fence[slot]);
  if (!s && g->profiled) vkg__profile_collect(g, slot);
  return s;
}

vkg_status vkg_graph_wait(vkg_graph *g) {
  for (int i = 0; i < VKG_SLOTS; i++) {
    vkg_status s = wait_slot(g, i);
    if (s) return s;
  }
  return VKG_OK;
}

void vkg__graph_release(vkg_graph *g) {
  vkg_ctx *ctx = g->ctx;
  vkg_graph_wait(g);
  vkg__graph_unregister(g);
  if (g->cb[0]) vkFreeCommandBuffers(ctx->device, ctx->pool, VKG_SLOTS, g->cb);
  for (int i = 0; i < VKG_SLOTS; i++) {
    g->cb[i] = VK_NULL_HANDLE;
    if (g->fence[i]) vkDestroyFence(ctx->device, g->fence[i], NULL);
    g->fence[i] = VK_NULL_HANDLE;
  }
  if (g->qpool) vkDestroyQueryPool(ctx->device, g->qpool, NULL);
  g->qpool = VK_NULL_HANDLE;
  if (g->dpool) vkDestroyDescriptorPool(ctx->device, g->dpool, NULL);
  g->dpool = VK_NULL_HANDLE;
  vkg__free(ctx, &g->arena);
  for (vkg_t t = 0; t < g->nt; t++) {
    vkg__free(ctx, &VKG_T(g, t)->alloc);
    for (int k = 0; k < VKG_SLOTS; k++)
      vkg__free(ctx, &VKG_T(g, t)->stage[k]);
  }
  g->compiled = 0;
}

// ---- running ----

vkg_status vkg_graph_run_async(vkg_graph *g) {
  vkg__clear_error();
  vkg_ctx *ctx = g->ctx;
  if (!g->compiled) {
    if (g->err) return vkg__fail(g->err, "%s", g->errmsg);
    return vkg__fail(VKG_ERR_ARG, "the graph must be compiled before it runs");
  }
  if (ctx->watch) { /* hot reload: apply shader edits before this run (a failed edit is only printed) */
    vkg_ctx_poll_shaders(ctx);
    vkg__clear_error();
  }
  int slot = g->next_slot;
  vkg_status s = wait_slot(g, slot);
  if (s) return s;
  if (g->scalars != VKG_NONE) memcpy(VKG_T(g, g->scalars)->stage[slot].mapped, g->scalar_vals, sizeof g->scalar_vals);
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &g->cb[slot]};
  VK_CHECK(vkResetFences(ctx->device, 1, &g->fence[slot]));
  s = vkg__queue_submit(ctx, &si, g->fence[slot]);
  if (s) return s;
  g->inflight[slot] = 1;
  g->last_slot = slot;
  g->next_slot = (slot + 1) % VKG_SLOTS;
  return VKG_OK;
}

vkg_status vkg_graph_run(vkg_graph *g) {
  vkg_status s = vkg_graph_run_async(g);
  return s ? s : vkg_graph_wait(g);
}

#include <time.h>
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

vkg_status vkg_graph_run_timed(vkg_graph *g, double *ms) {
  vkg_status s = vkg_graph_wait(g);
  if (s) return s;
  double t0 = now_ms();
  s = vkg_graph_run(g);
  *ms = now_ms() - t0;
  if (s || !g->qpool) return s;
  uint64_t ts[2];
  uint32_t q0 = g->qper * (uint32_t)g->last_slot;
  VkResult r = vkGetQueryPoolResults(g->ctx->device, g->qpool, q0, 1, sizeof ts[0], &ts[0], sizeof ts[0],
                                     VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (r == VK_SUCCESS)
    r = vkGetQueryPoolResults(g->ctx->device, g->qpool, q0 + g->qper - 1, 1, sizeof ts[1], &ts[1], sizeof ts[1],
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (r == VK_SUCCESS && ts[1] > ts[0]) *ms = (double)(ts[1] - ts[0]) * g->ctx->timestamp_period / 1e6;
  return VKG_OK;
}

// ---- host data in and out ----

static vkg_status host_io(vkg_graph *g, vkg_t t, size_t count, int writing, const struct vkg_alloc **a,
                          VkDeviceSize *off) {
  if (t < 0 || t >= g->nt) return vkg__fail(VKG_ERR_ARG, "tensor id %d is not in this graph", t);
  if (!g->compiled) return vkg__fail(VKG_ERR_ARG, "compile the graph before writing or reading its tensors");
  vkg_t r = vkg__root(g, t);
  const struct vkg_gtensor *rt = VKG_T(g, r);
  const char *what = writing ? "written" : "read";
  if (rt->kind == VKG_KIND_INTERMEDIATE || (writing && rt->kind == VKG_KIND_OUTPUT)) {
    vkg__fail(VKG_ERR_ARG, "tensor %d cannot be %s by the host: it is %s", t, what,
              writing ? "computed by the graph" : "an intermediate whose memory is reused");
    vkg__hint(writing ? "make it with vkg_input() or vkg_bind()" : "mark it with vkg_output() before compiling");
    return VKG_ERR_ARG;
  }
  size_t n = vkg__numel(VKG_T(g, t)->shape, VKG_T(g, t)->ndim);
  if (count != n) {
    char sh[96];
    return vkg__fail(VKG_ERR_SHAPE, "tensor %d%s%s%s %s holds %zu values, %zu given", t, rt->name[0] ? " '" : "",
                     rt->name, rt->name[0] ? "'" : "",
                     vkg__shape_str(VKG_T(g, t)->shape, VKG_T(g, t)->ndim, sh, sizeof sh), n, count);
  }
  *off = 0;
  if (writing && staged(rt)) { /* into the staging buffer of the next run, once that slot is free */
    vkg_status s = wait_slot(g, g->next_slot);
    *a = &rt->stage[g->next_slot];
    return s;
  }
  *a = rt->kind == VKG_KIND_BOUND ? &rt->bound->alloc : &rt->alloc;
  return vkg_graph_wait(g); /* the GPU may still use the tensor */
}

vkg_status vkg_graph_write(vkg_graph *g, vkg_t t, const float *data, size_t count) {
  const struct vkg_alloc *a;
  VkDeviceSize off;
  vkg_status s = host_io(g, t, count, 1, &a, &off);
  if (s) return s;
  vkg_dtype dt = VKG_T(g, t)->dtype;
  void *buf = vkg__from_f32(dt, data, count);
  if (!buf) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  s = vkg__upload(g->ctx, a, off, buf, count * vkg_dtype_size(dt));
  if (buf != data) free(buf);
  return s;
}

vkg_status vkg_graph_read(vkg_graph *g, vkg_t t, float *data, size_t count) {
  const struct vkg_alloc *a;
  VkDeviceSize off;
  vkg_status s = host_io(g, t, count, 0, &a, &off);
  if (s) return s;
  vkg_dtype dt = VKG_T(g, t)->dtype;
  if (dt == VKG_F32) return vkg__download(g->ctx, a, off, data, count * 4);
  void *buf = malloc(count * vkg_dtype_size(dt) + 1);
  if (!buf) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  s = vkg__download(g->ctx, a, off, buf, count * vkg_dtype_size(dt));
  if (!s) vkg__to_f32(dt, buf, data, count);
  free(buf);
  return s;
}

vkg_status vkg_graph_write_i32(vkg_graph *g, vkg_t t, const int32_t *data, size_t count) {
  const struct vkg_alloc *a;
  VkDeviceSize off;
  vkg_status s = host_io(g, t, count, 1, &a, &off);
  if (s) return s;
  if (VKG_T(g, t)->dtype != VKG_I32)
    return vkg__fail(VKG_ERR_ARG, "tensor %d is %s, not i32", t, vkg_dtype_str(VKG_T(g, t)->dtype));
  return vkg__upload(g->ctx, a, off, data, count * 4);
}

vkg_status vkg_graph_read_i32(vkg_graph *g, vkg_t t, int32_t *data, size_t count) {
  const struct vkg_alloc *a;
  VkDeviceSize off;
  vkg_status s = host_io(g, t, count, 0, &a, &off);
  if (s) return s;
  if (VKG_T(g, t)->dtype != VKG_I32)
    return vkg__fail(VKG_ERR_ARG, "tensor %d is %s, not i32", t, vkg_dtype_str(VKG_T(g, t)->dtype));
  return vkg__download(g->ctx, a, off, data, count * 4);
}

// ---- poison and stats ----

struct poison_job {
  const vkg_graph *g;
};

static void record_poison(VkCommandBuffer cb, void *user) {
  const vkg_graph *g = ((struct poison_job *)user)->g;
  VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                        .dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0,
                       NULL);
  /* 0x7fc07fc0 is a NaN as f32 and as each f16 half. */
  if (g->arena.block) vkCmdFillBuffer(cb, g->arena.buffer, g->arena.offset, g->arena.size, 0x7fc07fc0u);
  for (vkg_t t = 0; t < g->nt; t++)
    if (VKG_T(g, t)->kind == VKG_KIND_OUTPUT)
      vkCmdFillBuffer(cb, VKG_T(g, t)->alloc.buffer, VKG_T(g, t)->alloc.offset, VKG_T(g, t)->alloc.size, 0x7fc07fc0u);
  VkMemoryBarrier after = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &after, 0, NULL,
                       0, NULL);
}

vkg_status vkg_graph_poison(vkg_graph *g) {
  if (!g->compiled) return vkg__fail(VKG_ERR_ARG, "compile the graph before poisoning it");
  vkg_status s = vkg_graph_wait(g);
  if (s) return s;
  struct poison_job j = {g};
  return vkg__one_shot(g->ctx, record_poison, &j);
}

void vkg_graph_stats(const vkg_graph *g, struct vkg_graph_stats *s) {
  s->tensors = g->nt;
  s->dispatches = g->nd;
  s->barriers = g->barriers;
  s->arena_bytes = g->arena_bytes;
  s->unshared_bytes = g->unshared_bytes;
}
