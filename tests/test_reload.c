/* Shader hot reload through the public API: a context watches a temporary copy of shaders/; the test
 * edits files there and calls vkg_ctx_poll_shaders (deterministic: inotify queues the event when the
 * file is closed), then checks that graphs compiled once now compute what the edit implies, that
 * broken or interface-changing edits are refused with file:line and keep the old code, that fixing
 * the file recovers, and that 100 reloads leak no Vulkan object. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h" /* ctx->live_pipelines and ctx->npipes: counting our own objects */

#define SHADER_DIR FIXTURE_DIR "/../../shaders"

static char dir[256];

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (!s || fread(s, 1, (size_t)n, f) != (size_t)n) exit(1);
  s[n] = 0;
  fclose(f);
  return s;
}

static void write_file(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

/* text with the first `from` replaced by `to` (aborts if absent: the test would be meaningless). */
static char *replace(const char *text, const char *from, const char *to) {
  const char *at = strstr(text, from);
  if (!at) {
    fprintf(stderr, "test setup: '%s' not found in the shader\n", from);
    exit(1);
  }
  size_t n = strlen(text) - strlen(from) + strlen(to);
  char *s = malloc(n + 1);
  size_t pre = (size_t)(at - text);
  memcpy(s, text, pre);
  strcpy(s + pre, to);
  strcat(s, at + strlen(from));
  return s;
}

/* 1-based number of the line holding `what`. */
static int line_of(const char *text, const char *what) {
  const char *at = strstr(text, what);
  int line = 1;
  for (const char *p = text; p < at; p++)
    line += *p == '\n';
  return line;
}

static void copy_shaders(void) {
  snprintf(dir, sizeof dir, "/tmp/vkgen-reload-XXXXXX");
  if (!mkdtemp(dir)) exit(1);
  DIR *d = opendir(SHADER_DIR);
  if (!d) {
    fprintf(stderr, "cannot open %s\n", SHADER_DIR);
    exit(1);
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t n = strlen(de->d_name);
    if (n < 6 || (strcmp(de->d_name + n - 5, ".comp") && strcmp(de->d_name + n - 5, ".glsl"))) continue;
    char src[512];
    snprintf(src, sizeof src, "%s/%s", SHADER_DIR, de->d_name);
    char *t = slurp(src);
    write_file(de->d_name, t);
    free(t);
  }
  closedir(d);
}

static void remove_dir(void) {
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

/* A compiled graph y = unary op (relu) of a random input. */
struct ugraph {
  vkg_graph *g;
  vkg_t x, y;
  int n;
  float *xs, *ys;
};

static void ugraph_make(vkg_ctx *ctx, struct ugraph *u, int n) {
  u->n = n;
  th_ok(vkg_graph_create(ctx, &u->g), "graph");
  u->x = vkg_input(u->g, "x", VKG_F32, 1, &n);
  u->y = vkg_unary(u->g, VKG_RELU, u->x, 0, 0);
  vkg_output(u->g, u->y);
  th_ok(vkg_graph_compile(u->g), "compile");
  u->xs = th_alloc((size_t)n);
  u->ys = th_alloc((size_t)n);
  th_fill(u->xs, (size_t)n, -2, 2);
  th_ok(vkg_graph_write(u->g, u->x, u->xs, (size_t)n), "write");
}

/* Runs u and checks y = pos * x where x > 0 and y = neg * x elsewhere (relu: 1, 0). */
static int ugraph_check(struct ugraph *u, const char *what, float pos, float neg) {
  if (vkg_graph_poison(u->g) || vkg_graph_run(u->g) || vkg_graph_read(u->g, u->y, u->ys, (size_t)u->n))
    return th_ok(VKG_ERR_VULKAN, what);
  float *ref = th_alloc((size_t)u->n);
  for (int i = 0; i < u->n; i++)
    ref[i] = u->xs[i] > 0 ? pos * u->xs[i] : neg * u->xs[i];
  int ok = th_close(what, u->ys, ref, (size_t)u->n, 0, 1e-6f);
  free(ref);
  return ok;
}

static void ugraph_free(struct ugraph *u) {
  vkg_graph_destroy(u->g);
  free(u->xs);
  free(u->ys);
}

int main(void) {
  copy_shaders();
  char path[512];
  snprintf(path, sizeof path, "%s/unary.comp", dir);
  char *unary = slurp(path);
  snprintf(path, sizeof path, "%s/activations.glsl", dir);
  char *activations = slurp(path);
  snprintf(path, sizeof path, "%s/binary.comp", dir);
  char *binary = slurp(path);
  const char *relu = "r = max(v, 0.0);";
  char *doubled = replace(unary, relu, "r = 2.0 * v;    ");

  /* An edit made before the program starts counts: shaders compile from the directory on first use. */
  char *add100 = replace(binary, "case 0: r = x + y;", "case 0: r = x + y + 100.0;");
  write_file("binary.comp", add100);

  struct vkg_ctx_desc desc = vkg_ctx_desc_default();
  desc.validate = 1;
  desc.watch_shaders = dir;
  vkg_ctx *ctx;
  vkg_status s = vkg_ctx_create(&desc, &ctx);
  if (s == VKG_ERR_UNSUPPORTED && strstr(vkg_last_error(), "without shader hot reload")) {
    printf("skipped: %s\n0 passed, 0 failed\n", vkg_last_error()); /* a build without glslang */
    remove_dir();
    return 0;
  }
  if (s) {
    fprintf(stderr, "error: %s\n", vkg_last_error());
    return 1;
  }
  th_check(vkg_ctx_poll_shaders(ctx) == 0, "an edit made before the context existed is no event");
  {
    vkg_graph *g;
    int n = 333;
    th_ok(vkg_graph_create(ctx, &g), "graph");
    vkg_t a = vkg_input(g, "a", VKG_F32, 1, &n), b = vkg_input(g, "b", VKG_F32, 1, &n);
    vkg_t y = vkg_binary(g, VKG_ADD, a, b);
    vkg_output(g, y);
    th_ok(vkg_graph_compile(g), "compile");
    float *as = th_alloc(333), *bs = th_alloc(333), *ys = th_alloc(333), *ref = th_alloc(333);
    th_fill(as, 333, -1, 1);
    th_fill(bs, 333, -1, 1);
    for (int i = 0; i < n; i++)
      ref[i] = as[i] + bs[i] + 100.0f;
    vkg_graph_write(g, a, as, 333);
    vkg_graph_write(g, b, bs, 333);
    th_ok(vkg_graph_run(g), "run");
    vkg_graph_read(g, y, ys, 333);
    th_close("binary add compiled from the edited source (a + b + 100)", ys, ref, 333, 0, 1e-6f);
    vkg_graph_destroy(g);
    free(as), free(bs), free(ys), free(ref);
  }
  write_file("binary.comp", binary);
  th_check(vkg_ctx_poll_shaders(ctx) == 1, "restoring binary.comp reloads it");

  // ---- an edit changes what compiled graphs compute ----
  struct ugraph u1, u2;
  ugraph_make(ctx, &u1, 1000);
  ugraph_make(ctx, &u2, 70000); /* more than 65535 groups' worth is not needed; just a second graph */
  ugraph_check(&u1, "relu before any edit", 1, 0);
  th_check(vkg_ctx_poll_shaders(ctx) == 0, "no edit: nothing reloaded");

  write_file("unary.comp", doubled);
  int r = vkg_ctx_poll_shaders(ctx);
  th_check(r == 1, "editing unary.comp reloads one shader (got %d: %s)", r, r < 0 ? vkg_last_error() : "");
  ugraph_check(&u1, "graph 1 after relu -> 2x (no recompile)", 2, 2);
  ugraph_check(&u2, "graph 2 after relu -> 2x (no recompile)", 2, 2);
  struct ugraph u3;
  ugraph_make(ctx, &u3, 77);
  ugraph_check(&u3, "a graph made after the edit uses the new code", 2, 2);

  // ---- a syntax error keeps the old code and says file:line ----
  const char *anchor = "void main() {\n";
  char *broken = replace(doubled, anchor, "void main() {\n  this is not glsl;\n");
  int bad_line = line_of(broken, "this is not glsl");
  write_file("unary.comp", broken);
  r = vkg_ctx_poll_shaders(ctx);
  char want[64];
  snprintf(want, sizeof want, "unary.comp:%d: error", bad_line);
  th_check(r == -(int)VKG_ERR_FORMAT && strstr(vkg_last_error(), want),
           "a syntax error is refused with '%s' (got %d: %s)", want, r, vkg_last_error());
  ugraph_check(&u1, "after the syntax error the previous code (2x) runs", 2, 2);

  /* An error in an included file is reported at that file's line. */
  char *bad_act =
      replace(activations, "float sigmoid(float x)", "float sigmoid(float x) { oops }\nfloat sigmoid2(float x)");
  int act_line = line_of(bad_act, "oops");
  write_file("unary.comp", doubled);
  write_file("activations.glsl", bad_act);
  r = vkg_ctx_poll_shaders(ctx);
  snprintf(want, sizeof want, "activations.glsl:%d: error", act_line);
  th_check(r < 0 && strstr(vkg_last_error(), want), "an error in an included file names '%s' (got %d: %s)", want, r,
           vkg_last_error());
  write_file("activations.glsl", activations);
  r = vkg_ctx_poll_shaders(ctx);
  th_check(r == 1, "fixing the included file reloads the shader that includes it (got %d: %s)", r,
           r < 0 ? vkg_last_error() : "");
  ugraph_check(&u1, "after fixing the include: 2x", 2, 2);

  // ---- interface changes are refused ----
  char *extra =
      replace(doubled, "void main() {", "layout(std430, binding = 2) buffer Extra { float extra[]; };\nvoid main() {");
  char *extra_used = replace(extra, "r = 2.0 * v;", "r = 2.0 * v + extra[0];");
  write_file("unary.comp", extra_used);
  r = vkg_ctx_poll_shaders(ctx);
  th_check(r == -(int)VKG_ERR_UNSUPPORTED && strstr(vkg_last_error(), "binding 2 is new"),
           "an extra binding is refused (got %d: %s)", r, vkg_last_error());
  ugraph_check(&u1, "after the refused binding: still 2x", 2, 2);
  char *pc_more = replace(doubled, "float alpha, beta;", "float alpha, beta, gamma;");
  char *pc_used = replace(pc_more, "r = 2.0 * v;", "r = pc.gamma * v;");
  write_file("unary.comp", pc_used);
  r = vkg_ctx_poll_shaders(ctx);
  th_check(r == -(int)VKG_ERR_UNSUPPORTED && strstr(vkg_last_error(), "push-constant block is 20 bytes"),
           "a bigger push-constant block is refused (got %d: %s)", r, vkg_last_error());
  char *spec = replace(doubled, "void main() {", "layout(constant_id = 7) const float K = 2.0;\nvoid main() {");
  char *spec_used = replace(spec, "r = 2.0 * v;", "r = K * v;");
  write_file("unary.comp", spec_used);
  r = vkg_ctx_poll_shaders(ctx);
  th_check(r == -(int)VKG_ERR_UNSUPPORTED && strstr(vkg_last_error(), "specialization constant id 7"),
           "a new specialization constant is refused (got %d: %s)", r, vkg_last_error());
  ugraph_check(&u1, "after the refused interface changes: still 2x", 2, 2);

  /* Fixing the file recovers, and a run applies the edit by itself (it polls). */
  write_file("unary.comp", unary);
  ugraph_check(&u1, "restored relu, applied by the run itself", 1, 0);
  ugraph_check(&u2, "restored relu in the second graph", 1, 0);
  th_check(vkg_ctx_poll_shaders(ctx) == 0, "nothing left to reload");

  /* A new file that is not built in is ignored. */
  write_file("not_builtin.comp", "#version 450\nvoid main() {}\n");
  th_check(vkg_ctx_poll_shaders(ctx) == 0, "a .comp that vkgen does not build is ignored");

  // ---- 100 reloads leave no leaked objects ----
  int npipes = ctx->npipes, live = ctx->live_pipelines, reloads = 0;
  for (int i = 0; i < 100; i++) {
    write_file("unary.comp", i % 2 ? unary : doubled);
    reloads += vkg_ctx_poll_shaders(ctx) == 1;
    if (i % 25 == 24 || i == 99)
      ugraph_check(&u1, i % 2 ? "reload loop: relu" : "reload loop: 2x", i % 2 ? 1 : 2, i % 2 ? 0 : 2);
  }
  th_check(reloads == 100, "100 edits gave 100 reloads (got %d)", reloads);
  th_check(ctx->npipes == npipes && ctx->live_pipelines == live && live == npipes,
           "no pipeline leaked: %d cached, %d alive (before: %d, %d)", ctx->npipes, ctx->live_pipelines, npipes, live);

  // ---- every spec-constant variant of a shader is rebuilt: softmax and log_softmax share softmax_fwd ----
  {
    enum { R = 5, C = 37 };
    int sh[2] = {R, C};
    vkg_graph *g;
    th_ok(vkg_graph_create(ctx, &g), "graph");
    vkg_t x = vkg_input(g, "x", VKG_F32, 2, sh), sm = vkg_softmax(g, x), lsm = vkg_log_softmax(g, x);
    vkg_output(g, sm);
    vkg_output(g, lsm);
    th_ok(vkg_graph_compile(g), "compile softmax graph");
    float xs[R * C], got[R * C], ref[R * C], lref[R * C];
    th_fill(xs, R * C, -4, 4);
    for (int r = 0; r < R; r++) {
      double mx = xs[r * C], sum = 0;
      for (int i = 0; i < C; i++)
        mx = fmax(mx, xs[r * C + i]);
      for (int i = 0; i < C; i++)
        sum += exp(xs[r * C + i] - mx);
      for (int i = 0; i < C; i++) {
        ref[r * C + i] = (float)(exp(xs[r * C + i] - mx) / sum);
        lref[r * C + i] = (float)(xs[r * C + i] - mx - log(sum));
      }
    }
    vkg_graph_write(g, x, xs, R * C);
    VkPipeline before[2] = {0};
    int nvar = 0;
    for (int i = 0; i < ctx->npipes; i++)
      if (!strcmp(ctx->pipes[i]->shader, "softmax_fwd") && nvar < 2) before[nvar++] = ctx->pipes[i]->pipeline;
    th_check(nvar == 2, "softmax and log_softmax are two variants of softmax_fwd (found %d)", nvar);

    snprintf(path, sizeof path, "%s/softmax_fwd.comp", dir);
    char *orig = slurp(path);
    char *a = replace(orig, "y[base + i] = x[base + i] - shift;", "y[base + i] = 2.0 * (x[base + i] - shift);");
    char *b =
        replace(a, "y[base + i] = exp(x[base + i] - m) * inv;", "y[base + i] = 2.0 * exp(x[base + i] - m) * inv;");
    write_file("softmax_fwd.comp", b);
    r = vkg_ctx_poll_shaders(ctx);
    th_check(r == 1, "editing softmax_fwd.comp reloads it (got %d)", r);
    int changed = 0;
    for (int i = 0, k = 0; i < ctx->npipes; i++)
      if (!strcmp(ctx->pipes[i]->shader, "softmax_fwd") && k < 2) changed += ctx->pipes[i]->pipeline != before[k++];
    th_check(changed == 2, "both variants got a new VkPipeline (%d did)", changed);
    float ref2[R * C], lref2[R * C];
    for (int i = 0; i < R * C; i++)
      ref2[i] = 2 * ref[i], lref2[i] = 2 * lref[i];
    th_ok(vkg_graph_run(g), "run");
    vkg_graph_read(g, sm, got, R * C);
    th_close("softmax variant after the edit (2x)", got, ref2, R * C, 1e-6f, 1e-5f);
    vkg_graph_read(g, lsm, got, R * C);
    th_close("log_softmax variant after the edit (2x)", got, lref2, R * C, 1e-5f, 1e-5f);
    write_file("softmax_fwd.comp", orig);
    th_ok(vkg_graph_run(g), "run");
    vkg_graph_read(g, sm, got, R * C);
    th_close("softmax restored", got, ref, R * C, 1e-6f, 1e-5f);
    vkg_graph_read(g, lsm, got, R * C);
    th_close("log_softmax restored", got, lref, R * C, 1e-5f, 1e-5f);
    vkg_graph_destroy(g);
    free(orig), free(a), free(b);
    th_check(ctx->live_pipelines == ctx->npipes, "still no leaked pipeline (%d alive, %d cached)", ctx->live_pipelines,
             ctx->npipes);
  }

  // ---- every shader in the tree compiles in-process with an interface matching the built-in one ----
  int ncomp = 0;
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    size_t n = strlen(de->d_name);
    if (n < 6 || strcmp(de->d_name + n - 5, ".comp")) continue;
    char name[128];
    size_t words;
    snprintf(name, sizeof name, "%.*s", (int)(n - 5), de->d_name);
    if (!vkg__shader_spirv(name, &words)) continue; /* not built in (e.g. newer than this build) */
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    char *t = slurp(path);
    write_file(de->d_name, t);
    free(t);
    ncomp++;
  }
  if (d) closedir(d);
  r = vkg_ctx_poll_shaders(ctx);
  th_check(r == ncomp, "touching all %d shaders reloads each cleanly (got %d: %s)", ncomp, r,
           r < 0 ? vkg_last_error() : "");
  ugraph_check(&u1, "relu after reloading everything", 1, 0);

  ugraph_free(&u1);
  ugraph_free(&u2);
  ugraph_free(&u3);
  free(unary), free(activations), free(binary), free(doubled), free(add100), free(broken), free(bad_act);
  free(extra), free(extra_used), free(pc_more), free(pc_used), free(spec), free(spec_used);
  remove_dir();
  return th_finish(ctx);
}
