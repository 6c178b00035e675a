/* Out of device memory and lost devices: each must end in a clear error (status, a message naming
 * what was needed and what was free, a hint), never a crash, and leave the context usable (after an
 * OOM) or at least destroyable (after a loss), with the validation layer silent throughout.
 *
 * The failures are real where the device allows (a tensor larger than its memory heap) and otherwise
 * forced with VKGEN_FAULT (vk/mem.c): heap_mib@M shrinks the heaps, oom@N fails the Nth block
 * allocation as the driver would, device_lost@N loses the device at the Nth host-copy submission. */
#define _GNU_SOURCE /* setenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int has(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

/* A validated context made while VKGEN_FAULT is `fault` (NULL: unset). */
static vkg_ctx *fault_ctx(const char *fault) {
  if (fault)
    setenv("VKGEN_FAULT", fault, 1);
  else
    unsetenv("VKGEN_FAULT");
  struct vkg_ctx_desc d = vkg_ctx_desc_default();
  d.validate = 1;
  vkg_ctx *ctx = NULL;
  vkg_status s = vkg_ctx_create(&d, &ctx);
  unsetenv("VKGEN_FAULT");
  if (s) th_check(0, "context with VKGEN_FAULT=%s: %s", fault ? fault : "", vkg_last_error());
  return ctx;
}

/* Destroys a fault context, failing the test if it drew validation messages. */
static void fault_done(vkg_ctx *ctx, const char *what) {
  if (!ctx) return;
  th_check(vkg_ctx_validation_messages(ctx) == 0, "%s: no validation messages (%u)", what,
           vkg_ctx_validation_messages(ctx));
  vkg_ctx_destroy(ctx);
}

/* y = 2 * x + 1 on n values: checks that the context still computes after a failure. */
static void still_works(vkg_ctx *ctx, const char *what) {
  vkg_graph *g;
  if (!th_ok(vkg_graph_create(ctx, &g), "graph")) return;
  int shape[1] = {1000};
  float *host;
  vkg_t x = th_input(g, 1, shape, -1, 1, &host);
  vkg_t y = vkg_unary(g, VKG_AFFINE, x, 2.0f, 1.0f);
  vkg_output(g, y);
  float got[1000], ref[1000];
  for (int i = 0; i < 1000; i++)
    ref[i] = 2.0f * host[i] + 1.0f;
  if (th_ok(vkg_graph_compile(g), what) && th_ok(th_write_inputs(g), what) && th_ok(th_run(g), what) &&
      th_ok(vkg_graph_read(g, y, got, 1000), what))
    th_close(what, got, ref, 1000, 1e-6f, 1e-6f);
  vkg_graph_destroy(g);
}

// ---- out of device memory ----

/* A tensor larger than the device's biggest heap: refused before the driver is asked. */
static void tensor_larger_than_heap(vkg_ctx *ctx) {
  uint64_t mem = vkg_ctx_device(ctx)->device_memory;
  uint64_t numel = mem / 4 / 2 * 3; /* half as much again as the heap holds */
  int shape[2] = {(int)((numel + 65535) / 65536), 65536};
  vkg_tensor *t = (vkg_tensor *)1;
  vkg_status s = vkg_tensor_create(ctx, VKG_F32, 2, shape, &t);
  const char *msg = vkg_last_error();
  th_check(s == VKG_ERR_OOM && t == NULL && has(msg, "out of device memory") && has(msg, "GiB") &&
               has(vkg_last_hint(), "--batch"),
           "a tensor of %.1f GiB on a %.1f GiB heap: %s: %s [hint: %s]", (double)numel * 4 / (1 << 30),
           (double)mem / (1 << 30), vkg_status_str(s), msg, vkg_last_hint());
  still_works(ctx, "computing after a too-large tensor");
}

/* A graph whose memory does not fit a (pretend) 100 MiB heap fails to compile with the numbers. */
static void graph_larger_than_heap(void) {
  vkg_ctx *ctx = fault_ctx("heap_mib@100");
  if (!ctx) return;
  vkg_graph *g;
  th_ok(vkg_graph_create(ctx, &g), "graph");
  int shape[3] = {1024, 1024, 16}; /* 64 MiB each: the input fits, the output does not */
  vkg_t x = vkg_input(g, "x", VKG_F32, 3, shape);
  vkg_t y = vkg_unary(g, VKG_RELU, x, 0, 0);
  vkg_output(g, y);
  vkg_status s = vkg_graph_compile(g);
  const char *msg = vkg_last_error();
  th_check(s == VKG_ERR_OOM && has(msg, "out of device memory") && has(msg, "64.0 MiB more is needed") &&
               has(msg, "36.0 MiB free in heap 0") && has(msg, "100.0 MiB in all") && has(vkg_last_hint(), "--batch"),
           "a 128 MiB graph on a 100 MiB heap: %s: %s [hint: %s]", vkg_status_str(s), msg, vkg_last_hint());
  /* The failed compile freed what it had taken: the same heap still runs a small graph. */
  vkg_graph_destroy(g);
  still_works(ctx, "computing after a graph that did not fit");
  fault_done(ctx, "heap_mib@100");
}

/* The driver itself refusing an allocation (forced): the same kind of message, with the VkResult. */
static void driver_out_of_memory(void) {
  vkg_ctx *ctx = fault_ctx("oom@1");
  if (!ctx) return;
  int shape[1] = {1000};
  vkg_tensor *t = (vkg_tensor *)1;
  vkg_status s = vkg_tensor_create(ctx, VKG_F32, 1, shape, &t);
  const char *msg = vkg_last_error();
  th_check(s == VKG_ERR_OOM && t == NULL && has(msg, "out of device memory") &&
               has(msg, "VK_ERROR_OUT_OF_DEVICE_MEMORY") && has(msg, "free in heap") && *vkg_last_hint(),
           "the driver refusing memory: %s: %s", vkg_status_str(s), msg);
  /* The next allocation is not refused: the context carries on. */
  still_works(ctx, "computing after the driver refused memory once");
  fault_done(ctx, "oom@1");
}

// ---- lost devices ----

static void device_lost_on_upload(void) {
  vkg_ctx *ctx = fault_ctx("device_lost@1");
  if (!ctx) return;
  int shape[1] = {1000};
  vkg_tensor *t = NULL;
  float host[1000] = {0};
  if (th_ok(vkg_tensor_create(ctx, VKG_F32, 1, shape, &t), "tensor")) {
    vkg_status s = vkg_tensor_upload_f32(t, host, 1000);
    const char *msg = vkg_last_error();
    th_check(s == VKG_ERR_DEVICE_LOST && has(msg, "was lost") && has(msg, "VK_ERROR_DEVICE_LOST") &&
                 has(vkg_last_hint(), "dmesg"),
             "device lost during an upload: %s: %s [hint: %s]", vkg_status_str(s), msg, vkg_last_hint());
    /* A lost device stays lost. */
    s = vkg_tensor_download_f32(t, host, 1000);
    th_check(s == VKG_ERR_DEVICE_LOST, "and during the next download: %s: %s", vkg_status_str(s), vkg_last_error());
  }
  vkg_tensor_destroy(t);
  fault_done(ctx, "device_lost@1");
}

/* Lost between a graph's input upload (submission 1) and its output read (submission 2). */
/* The device lost at a graph's own submission: the run reports it, and so does every later run. */
static void device_lost_on_run(void) {
  vkg_ctx *ctx = fault_ctx("device_lost@1");
  if (!ctx) return;
  vkg_graph *g;
  th_ok(vkg_graph_create(ctx, &g), "graph");
  int shape[1] = {100};
  vkg_t x = vkg_full(g, 1, shape, 0.5f);
  vkg_output(g, vkg_unary(g, VKG_TANH, x, 0, 0));
  th_ok(vkg_graph_compile(g), "compile");
  vkg_status s = vkg_graph_run(g);
  th_check(s == VKG_ERR_DEVICE_LOST && has(vkg_last_error(), "was lost") && has(vkg_last_hint(), "dmesg"),
           "device lost at a graph run: %s: %s [hint: %s]", vkg_status_str(s), vkg_last_error(), vkg_last_hint());
  s = vkg_graph_run(g);
  th_check(s == VKG_ERR_DEVICE_LOST, "and at the next run: %s", vkg_status_str(s));
  vkg_graph_destroy(g);
  fault_done(ctx, "device_lost@1");
}

static void device_lost_on_read(void) {
  vkg_ctx *ctx = fault_ctx("device_lost@3");
  if (!ctx) return;
  vkg_graph *g;
  th_ok(vkg_graph_create(ctx, &g), "graph");
  int shape[1] = {1000};
  vkg_t x = vkg_input(g, "x", VKG_F32, 1, shape);
  vkg_t y = vkg_unary(g, VKG_TANH, x, 0, 0);
  vkg_output(g, y);
  float host[1000] = {0};
  th_ok(vkg_graph_compile(g), "compile");
  th_ok(vkg_graph_write(g, x, host, 1000), "write before the loss");
  th_ok(vkg_graph_run(g), "run");
  vkg_status s = vkg_graph_read(g, y, host, 1000);
  th_check(s == VKG_ERR_DEVICE_LOST && has(vkg_last_error(), "was lost"), "device lost reading a result: %s: %s",
           vkg_status_str(s), vkg_last_error());
  vkg_graph_destroy(g);
  fault_done(ctx, "device_lost@3");
}

static void bad_fault_spec(void) {
  setenv("VKGEN_FAULT", "oom@x", 1);
  vkg_ctx *ctx = (vkg_ctx *)1;
  vkg_status s = vkg_ctx_create(NULL, &ctx);
  unsetenv("VKGEN_FAULT");
  th_check(s == VKG_ERR_ARG && ctx == NULL && has(vkg_last_error(), "VKGEN_FAULT"), "a bad VKGEN_FAULT: %s: %s",
           vkg_status_str(s), vkg_last_error());
}

int main(void) {
  unsetenv("VKGEN_FAULT");
  vkg_ctx *ctx = th_ctx();
  th_seed(7);
  tensor_larger_than_heap(ctx);
  graph_larger_than_heap();
  driver_out_of_memory();
  device_lost_on_upload();
  device_lost_on_run();
  device_lost_on_read();
  bad_fault_spec();
  return th_finish(ctx);
}
