/* Shader hot reload: a context created with vkg_ctx_desc.watch_shaders watches that directory with
 * inotify. Shaders are compiled from the directory's sources on first use (so an edit made before
 * the program started counts too); after an edit, vkg_ctx_poll_shaders (called before every run)
 * recompiles the edited .comp, or every .comp that includes an edited .glsl, with the glslang
 * library, checks that its interface still fits the op's C launcher, builds new VkPipelines for every
 * spec-constant variant, swaps them into the existing struct vkg_pipeline (whose address the graphs
 * hold), re-records the live graphs that use them, and frees the old pipelines once the device is
 * idle. A failed edit is printed with file:line and changes nothing, so fixing the file recovers.
 *
 * #include is resolved here, not by glslang: the expander reads each file itself (which is how a
 * shader's include dependencies are known) and marks every file with a "#line N S" directive whose
 * source-string number S names it, so glslang's "S:N:" messages map back to file:line. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#if VKGEN_HOT_RELOAD
#include <sys/inotify.h>

#include <glslang/Include/glslang_c_interface.h>
#if VKGEN_GLSLANG_RESOURCE_LIMITS
#include <glslang/Public/resource_limits_c.h>
#endif

#define MAX_INCLUDE_DEPTH 32
#define MAX_FILES 64 /* distinct files in one shader's expansion */

/* One shader the context has compiled (or tried to) from the watched directory. */
struct entry {
  char name[64];
  uint32_t *spirv; /* the code in use; NULL: the built-in code */
  size_t words;
  char **deps; /* files (names in the directory) the last expansion read, the .comp included */
  int ndeps;
};

struct vkg_watch {
  char *dir;     /* as given */
  char *display; /* the directory as messages show it: relative to the working directory if inside it */
  int fd;
  struct entry *e;
  int ne, cap;
#if !VKGEN_GLSLANG_RESOURCE_LIMITS
  glslang_resource_t res;
#endif
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static struct entry *find_entry(struct vkg_watch *w, const char *name) {
  for (int i = 0; i < w->ne; i++)
    if (strcmp(w->e[i].name, name) == 0) return &w->e[i];
  return NULL;
}

static struct entry *get_entry(struct vkg_watch *w, const char *name) {
  struct entry *e = find_entry(w, name);
  if (e) return e;
  if (w->ne == w->cap) {
    int cap = w->cap ? 2 * w->cap : 32;
    struct entry *ne = realloc(w->e, sizeof *ne * (size_t)cap);
    if (!ne) return NULL;
    w->e = ne;
    w->cap = cap;
  }
  e = &w->e[w->ne++];
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  return e;
}

static void free_deps(char **deps, int n) {
  for (int i = 0; i < n; i++)
    free(deps[i]);
  free(deps);
}

static int has_dep(const struct entry *e, const char *file) {
  for (int i = 0; i < e->ndeps; i++)
    if (strcmp(e->deps[i], file) == 0) return 1;
  return 0;
}

// ---- growing text buffers ----

struct buf {
  char *s;
  size_t n, cap;
  int oom;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (b->n + n + 1 > cap)
      cap *= 2;
    char *ns = realloc(b->s, cap);
    if (!ns) {
      b->oom = 1;
      return;
    }
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  struct buf b = {0};
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    put(&b, chunk, n);
  fclose(f);
  if (b.oom) {
    free(b.s);
    return NULL;
  }
  if (!b.s) b.s = calloc(1, 1);
  return b.s;
}

// ---- #include expansion ----

struct expand {
  struct vkg_watch *w;
  struct buf out;
  char *files[MAX_FILES]; /* source-string number -> file name in the directory */
  int nfiles;
  struct buf err; /* file:line messages */
};

static int file_number(struct expand *x, const char *name) {
  for (int i = 0; i < x->nfiles; i++)
    if (strcmp(x->files[i], name) == 0) return i;
  if (x->nfiles == MAX_FILES) return -1;
  x->files[x->nfiles] = strdup(name);
  return x->files[x->nfiles] ? x->nfiles++ : -1;
}

/* The name inside `#include "name"` (or <name>) if line is an include directive. */
static int include_name(const char *line, size_t len, char *name, size_t n) {
  const char *p = line, *end = line + len;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  if (p == end || *p != '#') return 0;
  p++;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  if ((size_t)(end - p) < 7 || strncmp(p, "include", 7) != 0) return 0;
  p += 7;
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  if (p == end || (*p != '"' && *p != '<')) return 0;
  char close = *p == '"' ? '"' : '>';
  const char *q = memchr(p + 1, close, (size_t)(end - p - 1));
  if (!q || (size_t)(q - p - 1) >= n) return 0;
  memcpy(name, p + 1, (size_t)(q - p - 1));
  name[q - p - 1] = 0;
  return 1;
}

/* Appends file `name` to x->out with its includes expanded. Returns 0, or -1 after adding a message. */
static int expand_file(struct expand *x, const char *name, int depth, const char *from, int from_line) {
  int num = file_number(x, name);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", x->w->dir, name);
  char *text = num >= 0 ? read_text(path) : NULL;
  if (!text) {
    if (from)
      putf(&x->err, "%s/%s:%d: error: cannot read included file \"%s\": %s\n", x->w->display, from, from_line, name,
           num < 0 ? "too many included files" : strerror(errno));
    else
      putf(&x->err, "%s/%s: error: cannot read: %s\n", x->w->display, name, strerror(errno));
    return -1;
  }
  if (depth > 0) putf(&x->out, "#line 1 %d\n", num);
  int line = 1, rc = 0;
  for (const char *p = text; *p && !rc; line++) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char inc[256];
    if (include_name(p, len, inc, sizeof inc)) {
      if (depth + 1 > MAX_INCLUDE_DEPTH) {
        putf(&x->err, "%s/%s:%d: error: includes nest deeper than %d (an include cycle?)\n", x->w->display, name, line,
             MAX_INCLUDE_DEPTH);
        rc = -1;
      } else {
        rc = expand_file(x, inc, depth + 1, name, line);
        putf(&x->out, "#line %d %d\n", line + 1, num); /* back in this file, on the next line */
      }
    } else {
      put(&x->out, p, len);
      put(&x->out, "\n", 1);
    }
    p = nl ? nl + 1 : p + len;
  }
  free(text);
  return rc;
}

/* Rewrites glslang's "ERROR: S:N: message" lines as "dir/file:N: error: message". */
static void translate_log(struct expand *x, const char *log, const char *shader_file, struct buf *out) {
  for (const char *p = log; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
    p = nl ? nl + 1 : p + len;
    for (size_t k = strlen(line); k > 0 && (line[k - 1] == ' ' || line[k - 1] == '\r'); k--)
      line[k - 1] = 0;
    /* glslang's closing lines add nothing to the messages before them. */
    if (strstr(line, "compilation terminated") || strstr(line, "compilation errors.")) continue;
    const char *kind = NULL, *rest = line;
    if (!strncmp(line, "ERROR: ", 7))
      kind = "error", rest = line + 7;
    else if (!strncmp(line, "WARNING: ", 9))
      kind = "warning", rest = line + 9;
    while (*rest == ' ')
      rest++;
    if (!*rest) continue;
    int src, ln, used = 0;
    if (kind && sscanf(rest, "%d:%d:%n", &src, &ln, &used) == 2 && used > 0) {
      const char *file = src >= 0 && src < x->nfiles ? x->files[src] : shader_file;
      const char *msg = rest + used;
      while (*msg == ' ')
        msg++;
      putf(out, "%s/%s:%d: %s: %s\n", x->w->display, file, ln, kind, msg);
    } else {
      putf(out, "%s/%s: %s%s%s\n", x->w->display, shader_file, kind ? kind : "", kind ? ": " : "", rest);
    }
  }
}

#if !VKGEN_GLSLANG_RESOURCE_LIMITS
/* glslang's defaults for the limits a compute shader can meet (the library without its
 * resource-limits helper). */
static void default_resources(glslang_resource_t *r) {
  memset(r, 0, sizeof *r);
  r->max_compute_work_group_count_x = r->max_compute_work_group_count_y = r->max_compute_work_group_count_z = 65535;
  r->max_compute_work_group_size_x = r->max_compute_work_group_size_y = 1024;
  r->max_compute_work_group_size_z = 64;
  r->max_compute_uniform_components = 1024;
  r->max_compute_texture_image_units = 16;
  r->max_compute_image_uniforms = 8;
  r->max_compute_atomic_counters = 8;
  r->max_compute_atomic_counter_buffers = 1;
  r->max_image_units = 8;
  r->max_combined_image_units_and_fragment_outputs = 8;
  r->max_combined_shader_output_resources = 8;
  r->max_texture_image_units = r->max_combined_texture_image_units = 32;
  r->max_draw_buffers = 32;
  r->max_atomic_counter_bindings = 1;
  r->max_combined_atomic_counters = 8;
  r->max_combined_atomic_counter_buffers = 1;
  r->max_atomic_counter_buffer_size = 16384;
  r->max_clip_distances = r->max_cull_distances = r->max_combined_clip_and_cull_distances = 8;
  r->max_samples = 4;
  r->limits.non_inductive_for_loops = r->limits.while_loops = r->limits.do_while_loops = 1;
  r->limits.general_uniform_indexing = r->limits.general_attribute_matrix_vector_indexing = 1;
  r->limits.general_varying_indexing = r->limits.general_sampler_indexing = 1;
  r->limits.general_variable_indexing = r->limits.general_constant_matrix_vector_indexing = 1;
}
#endif

/* The result of compiling one shader from the directory. */
struct compiled {
  uint32_t *spirv;
  size_t words;
  char **deps;
  int ndeps;
  vkg_status err; /* VKG_OK, VKG_ERR_FORMAT (does not compile), VKG_ERR_UNSUPPORTED (interface), ... */
  struct buf msg; /* what went wrong, file:line first */
};

static void compiled_free(struct compiled *c) {
  free(c->spirv);
  free_deps(c->deps, c->ndeps);
  free(c->msg.s);
  memset(c, 0, sizeof *c);
}

/* Compiles dir/name.comp and checks its interface against the built-in shader. */
static void compile_shader(struct vkg_watch *w, const char *name, struct compiled *c) {
  memset(c, 0, sizeof *c);
  char file[96];
  snprintf(file, sizeof file, "%s.comp", name);
  struct expand x = {.w = w};
  int rc = expand_file(&x, file, 0, NULL, 0);
  /* Every file the expansion read (or tried to) is a dependency, so fixing any of them retries. */
  c->deps = calloc((size_t)x.nfiles + 1, sizeof *c->deps);
  for (int i = 0; c->deps && i < x.nfiles; i++)
    if ((c->deps[c->ndeps] = strdup(x.files[i]))) c->ndeps++;
  if (rc || x.out.oom) {
    c->err = x.out.oom ? VKG_ERR_OOM : VKG_ERR_FORMAT;
    put(&c->msg, x.err.s ? x.err.s : "out of host memory\n", strlen(x.err.s ? x.err.s : "out of host memory\n"));
    goto done;
  }

#if VKGEN_GLSLANG_RESOURCE_LIMITS
  const glslang_resource_t *res = glslang_default_resource();
#else
  const glslang_resource_t *res = &w->res;
#endif
  const glslang_messages_t msgs = GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT;
  glslang_input_t in = {.language = GLSLANG_SOURCE_GLSL,
                        .stage = GLSLANG_STAGE_COMPUTE,
                        .client = GLSLANG_CLIENT_VULKAN,
                        .client_version = GLSLANG_TARGET_VULKAN_1_1,
                        .target_language = GLSLANG_TARGET_SPV,
                        .target_language_version = GLSLANG_TARGET_SPV_1_3,
                        .code = x.out.s,
                        .default_version = 450,
                        .default_profile = GLSLANG_NO_PROFILE,
                        .messages = msgs,
                        .resource = res};
  glslang_shader_t *sh = glslang_shader_create(&in);
  glslang_program_t *prog = NULL;
  if (!sh) {
    c->err = VKG_ERR_OOM;
    putf(&c->msg, "%s/%s: error: glslang could not create a shader\n", w->display, file);
    goto done;
  }
  if (!glslang_shader_preprocess(sh, &in) || !glslang_shader_parse(sh, &in)) {
    c->err = VKG_ERR_FORMAT;
    translate_log(&x, glslang_shader_get_info_log(sh), file, &c->msg);
    goto done_glslang;
  }
  prog = glslang_program_create();
  glslang_program_add_shader(prog, sh);
  if (!glslang_program_link(prog, msgs)) {
    c->err = VKG_ERR_FORMAT;
    translate_log(&x, glslang_program_get_info_log(prog), file, &c->msg);
    goto done_glslang;
  }
  /* Optimized, as the build compiles the built-in shaders (glslc -O), and validated. */
  glslang_spv_options_t opt = {.disable_optimizer = false, .validate = true};
  glslang_program_SPIRV_generate_with_options(prog, GLSLANG_STAGE_COMPUTE, &opt);
  const char *spv_msgs = glslang_program_SPIRV_get_messages(prog);
  size_t words = glslang_program_SPIRV_get_size(prog);
  if (spv_msgs && strstr(spv_msgs, "error")) {
    c->err = VKG_ERR_FORMAT;
    putf(&c->msg, "%s/%s: error: SPIR-V generation: %s\n", w->display, file, spv_msgs);
    goto done_glslang;
  }
  c->spirv = malloc(words * 4 + 4);
  if (!c->spirv || words < 5) {
    c->err = c->spirv ? VKG_ERR_FORMAT : VKG_ERR_OOM;
    putf(&c->msg, "%s/%s: error: glslang produced no SPIR-V\n", w->display, file);
    goto done_glslang;
  }
  glslang_program_SPIRV_get(prog, c->spirv);
  c->words = words;

  /* The op's launcher was written for the built-in shader's interface. */
  size_t bw;
  const uint32_t *builtin = vkg__shader_spirv(name, &bw);
  struct vkg_shader_iface old, neu;
  char why[512];
  if (builtin && (vkg__spirv_iface(builtin, bw, &old, why, sizeof why) ||
                  vkg__spirv_iface(c->spirv, c->words, &neu, why, sizeof why) ||
                  vkg__iface_compatible(&old, &neu, why, sizeof why))) {
    c->err = VKG_ERR_UNSUPPORTED;
    putf(&c->msg, "%s/%s: the interface differs from the built-in shader: %s\n", w->display, file, why);
  }
done_glslang:
  if (prog) glslang_program_delete(prog);
  glslang_shader_delete(sh);
done:
  if (c->err && !c->msg.s) putf(&c->msg, "%s/%s: error: %s\n", w->display, file, vkg_status_str(c->err));
  if (c->err) {
    free(c->spirv);
    c->spirv = NULL;
    c->words = 0;
  }
  for (int i = 0; i < x.nfiles; i++)
    free(x.files[i]);
  free(x.out.s);
  free(x.err.s);
}

/* Keeps the union of the old and new dependencies when an edit failed, so fixing any file retries. */
static void merge_deps(struct entry *e, struct compiled *c) {
  for (int i = 0; i < c->ndeps; i++) {
    if (has_dep(e, c->deps[i])) continue;
    char **nd = realloc(e->deps, sizeof *nd * (size_t)(e->ndeps + 1));
    if (!nd) return;
    e->deps = nd;
    e->deps[e->ndeps++] = c->deps[i];
    c->deps[i] = NULL;
  }
}

static void take_deps(struct entry *e, struct compiled *c) {
  free_deps(e->deps, e->ndeps);
  e->deps = c->deps;
  e->ndeps = c->ndeps;
  c->deps = NULL;
  c->ndeps = 0;
}

/* Prints each line of msg with the "vkgen: " prefix, then tail. */
static void report(const char *msg, const char *tail) {
  for (const char *p = msg; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    fprintf(stderr, "vkgen: %.*s\n", (int)len, p);
    p = nl ? nl + 1 : p + len;
  }
  if (tail) fprintf(stderr, "vkgen: %s\n", tail);
}

/* Keeps msg (without its last newline) as the last error. */
static int fail_with(vkg_status s, const char *msg) {
  size_t n = msg ? strlen(msg) : 0;
  while (n && msg[n - 1] == '\n')
    n--;
  vkg__fail(s, "%.*s", (int)n, msg ? msg : "");
  if (s == VKG_ERR_UNSUPPORTED) vkg__hint("an interface change needs the op's C launcher changed too: rebuild vkgen");
  return -(int)s;
}

// ---- the context's side ----

vkg_status vkg__watch_start(vkg_ctx *ctx, const char *dir) {
  struct stat st;
  int found = stat(dir, &st) == 0;
  if (!found || !S_ISDIR(st.st_mode)) {
    vkg__fail(VKG_ERR_IO, "cannot watch shader directory '%s': %s", dir, found ? "not a directory" : strerror(errno));
    vkg__hint("pass --watch a directory of .comp/.glsl sources (the source tree's shaders/)");
    return VKG_ERR_IO;
  }
  struct vkg_watch *w = calloc(1, sizeof *w);
  if (!w) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/')
    len--;
  w->dir = strndup(dir, len);
  char cwd[PATH_MAX];
  const char *disp = w->dir;
  if (getcwd(cwd, sizeof cwd)) {
    size_t cl = strlen(cwd);
    if (strncmp(w->dir, cwd, cl) == 0 && w->dir[cl] == '/' && cl > 1) disp = w->dir + cl + 1;
  }
  w->display = strdup(disp);
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd < 0 || !w->dir || !w->display || inotify_add_watch(w->fd, w->dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
    int e = errno;
    if (w->fd >= 0) close(w->fd);
    free(w->dir);
    free(w->display);
    free(w);
    vkg__fail(VKG_ERR_IO, "cannot watch shader directory '%s': %s", dir, strerror(e));
    return VKG_ERR_IO;
  }
#if !VKGEN_GLSLANG_RESOURCE_LIMITS
  default_resources(&w->res);
#endif
  glslang_initialize_process();
  ctx->watch = w;
  fprintf(stderr, "vkgen: watching %s/ for shader edits\n", w->display);
  return VKG_OK;
}

void vkg__watch_stop(vkg_ctx *ctx) {
  struct vkg_watch *w = ctx->watch;
  if (!w) return;
  for (int i = 0; i < w->ne; i++) {
    free(w->e[i].spirv);
    free_deps(w->e[i].deps, w->e[i].ndeps);
  }
  free(w->e);
  close(w->fd);
  free(w->dir);
  free(w->display);
  free(w);
  ctx->watch = NULL;
  glslang_finalize_process();
}

const uint32_t *vkg__watch_spirv(vkg_ctx *ctx, const char *name, size_t *words) {
  struct vkg_watch *w = ctx->watch;
  struct entry *e = find_entry(w, name);
  if (e) {
    *words = e->words;
    return e->spirv;
  }
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s.comp", w->dir, name);
  if (access(path, R_OK) != 0) return NULL; /* not in the directory: the built-in code */
  e = get_entry(w, name);
  if (!e) return NULL;
  struct compiled c;
  compile_shader(w, name, &c);
  if (c.err) {
    merge_deps(e, &c);
    /* Only printed: the pipeline is still made, from the built-in code. */
    report(c.msg.s, "using the built-in shader until the file is fixed");
  } else {
    take_deps(e, &c);
    e->spirv = c.spirv;
    e->words = c.words;
    c.spirv = NULL;
  }
  compiled_free(&c);
  *words = e->words;
  return e->spirv;
}

/* One shader being reloaded: its new code and the new pipelines of each cached variant. */
struct pending {
  int entry; /* index in w->e (which may move while entries are added) */
  struct compiled c;
  struct vkg_pipeline **pipes; /* the cached variants of this shader */
  VkPipeline *fresh;           /* their new pipelines, then the old ones to free */
  int n;                       /* how many; -1 when this shader's edit was refused */
  double ms;
};

/* The file names from the inotify events waiting now (each once). */
static int read_events(struct vkg_watch *w, char ***out) {
  char **names = NULL;
  int n = 0;
  _Alignas(struct inotify_event) char ev[8192];
  for (;;) {
    ssize_t len = read(w->fd, ev, sizeof ev);
    if (len <= 0) break; /* EAGAIN: nothing more */
    for (char *p = ev; p < ev + len;) {
      struct inotify_event *ie = (struct inotify_event *)p;
      p += sizeof *ie + ie->len;
      if (!ie->len || !(ends_with(ie->name, ".comp") || ends_with(ie->name, ".glsl"))) continue;
      int dup = 0;
      for (int i = 0; i < n && !dup; i++)
        dup = strcmp(names[i], ie->name) == 0;
      char **nn = dup ? NULL : realloc(names, sizeof *nn * (size_t)(n + 1));
      if (!nn) continue;
      names = nn;
      if ((names[n] = strdup(ie->name))) n++;
    }
  }
  *out = names;
  return n;
}

static void add_pending(struct pending *pend, int *np, int entry) {
  for (int i = 0; i < *np; i++)
    if (pend[i].entry == entry) return;
  pend[(*np)++].entry = entry;
}

int vkg_ctx_poll_shaders(vkg_ctx *ctx) {
  struct vkg_watch *w = ctx ? ctx->watch : NULL;
  if (!w) return 0;
  char **changed;
  int nchanged = read_events(w, &changed);
  if (!nchanged) return 0;

  /* Which shaders the edits touch: an edited .comp itself, and every shader whose last expansion
   * read an edited file. Shaders never used yet need nothing: they compile on first use. */
  struct pending *pend = calloc((size_t)w->ne + (size_t)nchanged, sizeof *pend);
  int np = 0;
  for (int i = 0; i < nchanged && pend; i++) {
    const char *f = changed[i];
    if (ends_with(f, ".comp")) {
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(strlen(f) - 5), f);
      size_t bw;
      if (!vkg__shader_spirv(name, &bw))
        fprintf(stderr, "vkgen: %s/%s is not built into vkgen (rebuild to add a shader); ignored\n", w->display, f);
      else if (get_entry(w, name))
        add_pending(pend, &np, (int)(find_entry(w, name) - w->e));
    }
    for (int k = 0; k < w->ne; k++)
      if (has_dep(&w->e[k], f)) add_pending(pend, &np, k);
  }
  for (int i = 0; i < nchanged; i++)
    free(changed[i]);
  free(changed);
  if (!pend) return fail_with(VKG_ERR_OOM, "out of host memory");

  /* Compile each and build its new pipelines; nothing in use changes yet. */
  int ok = 0;
  vkg_status worst = VKG_OK;
  struct buf first = {0}; /* the first refused edit's message, for vkg_last_error() */
  for (int i = 0; i < np; i++) {
    struct pending *p = &pend[i];
    struct entry *e = &w->e[p->entry];
    double t0 = now_ms();
    compile_shader(w, e->name, &p->c);
    for (int k = 0; k < ctx->npipes; k++)
      p->n += strcmp(ctx->pipes[k]->shader, e->name) == 0;
    VkResult r = VK_SUCCESS;
    int made = 0;
    if (!p->c.err) {
      p->pipes = calloc((size_t)p->n + 1, sizeof *p->pipes);
      p->fresh = calloc((size_t)p->n + 1, sizeof *p->fresh);
      if (!p->pipes || !p->fresh) r = VK_ERROR_OUT_OF_HOST_MEMORY;
      for (int k = 0; k < ctx->npipes && r == VK_SUCCESS; k++)
        if (strcmp(ctx->pipes[k]->shader, e->name) == 0) {
          p->pipes[made] = ctx->pipes[k];
          r = vkg__pipeline_build(ctx, p->c.spirv, p->c.words, ctx->pipes[k], &p->fresh[made]);
          if (r == VK_SUCCESS) made++;
        }
      if (r != VK_SUCCESS) {
        for (int j = 0; j < made; j++)
          vkg__pipeline_free(ctx, p->fresh[j]);
        p->c.err = r == VK_ERROR_OUT_OF_HOST_MEMORY ? VKG_ERR_OOM : VKG_ERR_VULKAN;
        putf(&p->c.msg, "%s/%s.comp: error: building its pipeline failed: %s\n", w->display, e->name,
             vkg__vkresult_str(r));
      }
    }
    if (p->c.err) {
      merge_deps(e, &p->c);
      char tail[200];
      snprintf(tail, sizeof tail, "%s/%s.comp not reloaded; %d pipeline%s keep%s the previous code", w->display,
               e->name, p->n, p->n == 1 ? "" : "s", p->n == 1 ? "s" : "");
      report(p->c.msg.s, tail);
      if (!worst) {
        worst = p->c.err;
        put(&first, p->c.msg.s ? p->c.msg.s : "", p->c.msg.s ? strlen(p->c.msg.s) : 0);
      }
      p->n = -1;
      continue;
    }
    p->ms = now_ms() - t0;
    ok++;
  }

  /* Swap: once no run is in flight, every variant gets its new pipeline, the graphs that use one
   * are re-recorded, and the old pipelines (now in no command buffer) are freed. */
  if (ok) {
    double t0 = now_ms();
    for (int i = 0; i < ctx->ngraphs; i++)
      vkg_graph_wait(ctx->graphs[i]);
    vkDeviceWaitIdle(ctx->device);
    for (int i = 0; i < np; i++)
      for (int k = 0; k < pend[i].n; k++) {
        VkPipeline old = pend[i].pipes[k]->pipeline;
        pend[i].pipes[k]->pipeline = pend[i].fresh[k];
        pend[i].fresh[k] = old;
      }
    for (int gi = 0; gi < ctx->ngraphs; gi++) {
      vkg_graph *g = ctx->graphs[gi];
      int uses = 0;
      for (int d = 0; d < g->nd && !uses; d++)
        for (int i = 0; i < np && !uses; i++)
          uses = pend[i].n > 0 && strcmp(g->d[d].pipe->shader, w->e[pend[i].entry].name) == 0;
      if (uses && vkg__graph_rerecord(g)) {
        fprintf(stderr, "vkgen: re-recording a graph after a shader reload failed: %s\n", vkg_last_error());
        if (!worst) {
          worst = VKG_ERR_VULKAN;
          put(&first, vkg_last_error(), strlen(vkg_last_error()));
        }
      }
    }
    for (int i = 0; i < np; i++)
      for (int k = 0; k < pend[i].n; k++)
        vkg__pipeline_free(ctx, pend[i].fresh[k]);
    double swap_ms = now_ms() - t0;
    for (int i = 0; i < np; i++) {
      struct pending *p = &pend[i];
      struct entry *e = &w->e[p->entry];
      if (p->n < 0) continue;
      free(e->spirv);
      e->spirv = p->c.spirv;
      e->words = p->c.words;
      p->c.spirv = NULL;
      take_deps(e, &p->c);
      fprintf(stderr, "vkgen: reloaded %s/%s.comp (%d pipeline%s) in %.0f ms\n", w->display, e->name, p->n,
              p->n == 1 ? "" : "s", p->ms + swap_ms);
    }
  }
  for (int i = 0; i < np; i++) {
    compiled_free(&pend[i].c);
    free(pend[i].pipes);
    free(pend[i].fresh);
  }
  free(pend);
  int rc = worst ? fail_with(worst, first.s) : ok;
  free(first.s);
  return rc;
}

#else /* built without glslang */

vkg_status vkg__watch_start(vkg_ctx *ctx, const char *dir) {
  vkg__fail(VKG_ERR_UNSUPPORTED, "cannot watch '%s': this vkgen was built without shader hot reload", dir);
  vkg__hint("install glslang-dev (the glslang library) and rebuild vkgen");
  return VKG_ERR_UNSUPPORTED;
}
void vkg__watch_stop(vkg_ctx *ctx) {}
const uint32_t *vkg__watch_spirv(vkg_ctx *ctx, const char *name, size_t *words) { return NULL; }
int vkg_ctx_poll_shaders(vkg_ctx *ctx) { return 0; }

#endif
