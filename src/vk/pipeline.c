/* Compute pipelines: SPIR-V embedded at build time (or compiled from a watched directory, see
 * reload.c), specialization constants, one descriptor-set layout and pipeline layout per binding
 * count, and a pipeline cache kept on disk between runs. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "shader_table.h"

const uint32_t *vkg__shader_spirv(const char *name, size_t *words) {
  for (const struct vkg_shader_blob *b = vkg_shader_blobs; b->name; b++)
    if (strcmp(b->name, name) == 0) {
      *words = *b->words;
      return b->spirv;
    }
  return NULL;
}

// ---- the on-disk pipeline cache ----

static char *default_cache_path(const vkg_ctx *ctx) {
  const char *env = getenv("VKGEN_PIPELINE_CACHE");
  if (env) return strdup(env);
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char dir[1024];
  if (xdg && *xdg)
    snprintf(dir, sizeof dir, "%s/vkgen", xdg);
  else if (home && *home)
    snprintf(dir, sizeof dir, "%s/.cache/vkgen", home);
  else
    return strdup("");
  char *path = malloc(1200);
  snprintf(path, 1200, "%s/pipelines-%04x-%04x.bin", dir, ctx->info.vendor_id, ctx->info.device_id);
  return path;
}

static void mkdirs(const char *path) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(tmp, 0755);
      *p = '/';
    }
}

vkg_status vkg__pipeline_cache_open(vkg_ctx *ctx, const char *path) {
  ctx->pipeline_cache_path = path ? strdup(path) : default_cache_path(ctx);
  /* Only a regular file (or a link to one) is read and replaced: a directory, FIFO or device given
   * as the cache is left alone, with one warning. */
  struct stat sb;
  if (*ctx->pipeline_cache_path && stat(ctx->pipeline_cache_path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    fprintf(stderr, "warning: the pipeline cache '%s' is not a regular file: not using it\n", ctx->pipeline_cache_path);
    ctx->pipeline_cache_path[0] = 0;
  }
  void *data = NULL;
  size_t size = 0;
  FILE *f = *ctx->pipeline_cache_path ? fopen(ctx->pipeline_cache_path, "rb") : NULL;
  if (f) {
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n > 32 && (data = malloc((size_t)n)) && fread(data, 1, (size_t)n, f) == (size_t)n) size = (size_t)n;
    fclose(f);
    /* Use the data only if its header names this exact device and driver build. */
    const uint32_t *h = data;
    if (size && (h[0] < 32 || h[2] != ctx->props.vendorID || h[3] != ctx->props.deviceID ||
                 memcmp(&h[4], ctx->props.pipelineCacheUUID, VK_UUID_SIZE) != 0))
      size = 0;
  }
  VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                  .initialDataSize = size,
                                  .pInitialData = size ? data : NULL};
  VkResult r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
  if (r != VK_SUCCESS && size) { /* a damaged file: start empty */
    ci.initialDataSize = 0;
    ci.pInitialData = NULL;
    r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
  }
  free(data);
  VK_CHECK(r);
  return VKG_OK;
}

/* Writes the cache through a temporary file and rename, so a crash never leaves a torn file. Not
 * while hot-reloading shaders: every edit would add pipelines that are never built again. */
void vkg__pipeline_cache_save(vkg_ctx *ctx) {
  if (!ctx->pipeline_cache) return;
  const char *path = ctx->pipeline_cache_path;
  size_t size = 0;
  if (path && *path && ctx->npipes > 0 && !ctx->watch &&
      vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, NULL) == VK_SUCCESS && size) {
    void *data = malloc(size);
    if (data && vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &size, data) == VK_SUCCESS) {
      mkdirs(path);
      char tmp[1100], *target = vkg__output_target(path); /* a link is kept: its target is replaced */
      struct stat sb;
      snprintf(tmp, sizeof tmp, "%s.tmp.%d", target ? target : path, (int)getpid());
      int fd = target && (stat(target, &sb) != 0 || S_ISREG(sb.st_mode))
                   ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644)
                   : -1;
      if (fd >= 0) {
        int ok = write(fd, data, size) == (ssize_t)size && fsync(fd) == 0;
        close(fd);
        if (!ok || rename(tmp, target) != 0) unlink(tmp);
      }
      free(target);
    }
    free(data);
  }
  vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
  ctx->pipeline_cache = VK_NULL_HANDLE;
}

// ---- layouts and pipelines ----

static vkg_status layouts(vkg_ctx *ctx, int nbind) {
  if (ctx->pipe_layouts[nbind]) return VKG_OK;
  VkDescriptorSetLayoutBinding b[VKG_MAX_BINDINGS];
  for (int i = 0; i < nbind; i++)
    b[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                          .descriptorCount = 1,
                                          .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  VkDescriptorSetLayoutCreateInfo li = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = (uint32_t)nbind, .pBindings = b};
  VK_CHECK(vkCreateDescriptorSetLayout(ctx->device, &li, NULL, &ctx->set_layouts[nbind]));
  VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VKG_PC_MAX};
  VkPipelineLayoutCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                   .setLayoutCount = 1,
                                   .pSetLayouts = &ctx->set_layouts[nbind],
                                   .pushConstantRangeCount = 1,
                                   .pPushConstantRanges = &pc};
  VK_CHECK(vkCreatePipelineLayout(ctx->device, &pi, NULL, &ctx->pipe_layouts[nbind]));
  return VKG_OK;
}

VkResult vkg__pipeline_build(vkg_ctx *ctx, const uint32_t *code, size_t words, const struct vkg_pipeline *p,
                             VkPipeline *out) {
  VkShaderModuleCreateInfo mi = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = words * 4, .pCode = code};
  VkShaderModule module;
  VkResult r = vkCreateShaderModule(ctx->device, &mi, NULL, &module);
  if (r != VK_SUCCESS) return r;
  VkSpecializationMapEntry entries[VKG_MAX_SPEC];
  for (int i = 0; i < p->nspec; i++)
    entries[i] = (VkSpecializationMapEntry){(uint32_t)i, (uint32_t)(4 * i), 4};
  VkSpecializationInfo si = {
      .mapEntryCount = (uint32_t)p->nspec, .pMapEntries = entries, .dataSize = 4 * (size_t)p->nspec, .pData = p->spec};
  VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                    .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                              .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                                              .module = module,
                                              .pName = "main",
                                              .pSpecializationInfo = p->nspec ? &si : NULL},
                                    .layout = p->layout};
  r = vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &ci, NULL, out);
  vkDestroyShaderModule(ctx->device, module, NULL);
  if (r == VK_SUCCESS) ctx->live_pipelines++;
  return r;
}

void vkg__pipeline_free(vkg_ctx *ctx, VkPipeline pipeline) {
  if (!pipeline) return;
  vkDestroyPipeline(ctx->device, pipeline, NULL);
  ctx->live_pipelines--;
}

vkg_status vkg__pipeline(vkg_ctx *ctx, const char *shader, const uint32_t *spec, int nspec, int nbind,
                         struct vkg_pipeline **out) {
  VKG_ASSERT(nspec <= VKG_MAX_SPEC && nbind <= VKG_MAX_BINDINGS && strlen(shader) < 64);
  for (int i = 0; i < ctx->npipes; i++) {
    struct vkg_pipeline *p = ctx->pipes[i];
    if (p->nspec == nspec && p->nbind == nbind && strcmp(p->shader, shader) == 0 &&
        memcmp(p->spec, spec, sizeof(uint32_t) * (size_t)nspec) == 0) {
      *out = p;
      return VKG_OK;
    }
  }
  size_t words, builtin_words;
  const uint32_t *builtin = vkg__shader_spirv(shader, &builtin_words);
  if (!builtin) return vkg__fail(VKG_ERR_ARG, "no shader named '%s' is built into vkgen", shader);
  /* While watching a shader directory, the shader's source there is the code to run. */
  const uint32_t *code = ctx->watch ? vkg__watch_spirv(ctx, shader, &words) : NULL;
  if (!code) code = builtin, words = builtin_words;
  vkg_status s = layouts(ctx, nbind);
  if (s) return s;

  struct vkg_pipeline *p = calloc(1, sizeof *p);
  if (!p) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  snprintf(p->shader, sizeof p->shader, "%s", shader);
  memcpy(p->spec, spec, sizeof(uint32_t) * (size_t)nspec);
  p->nspec = nspec;
  p->nbind = nbind;
  p->layout = ctx->pipe_layouts[nbind];
  p->set_layout = ctx->set_layouts[nbind];
  VkResult r = vkg__pipeline_build(ctx, code, words, p, &p->pipeline);
  if (r != VK_SUCCESS && code != builtin) {
    fprintf(stderr, "vkgen: building '%s' from the watched source failed (%s); using the built-in shader\n", shader,
            vkg__vkresult_str(r));
    r = vkg__pipeline_build(ctx, builtin, builtin_words, p, &p->pipeline);
  }
  if (r != VK_SUCCESS) {
    free(p);
    return vkg__fail(VKG_ERR_VULKAN, "building pipeline '%s' failed: %s", shader, vkg__vkresult_str(r));
  }
  if (ctx->npipes == ctx->cap_pipes) {
    ctx->cap_pipes = ctx->cap_pipes ? 2 * ctx->cap_pipes : 32;
    ctx->pipes = realloc(ctx->pipes, sizeof *ctx->pipes * (size_t)ctx->cap_pipes);
  }
  ctx->pipes[ctx->npipes++] = p;
  *out = p;
  return VKG_OK;
}

void vkg__pipelines_destroy(vkg_ctx *ctx) {
  for (int i = 0; i < ctx->npipes; i++) {
    vkg__pipeline_free(ctx, ctx->pipes[i]->pipeline);
    free(ctx->pipes[i]);
  }
  free(ctx->pipes);
  ctx->pipes = NULL;
  ctx->npipes = 0;
  for (int i = 0; i <= VKG_MAX_BINDINGS; i++) {
    if (ctx->pipe_layouts[i]) vkDestroyPipelineLayout(ctx->device, ctx->pipe_layouts[i], NULL);
    if (ctx->set_layouts[i]) vkDestroyDescriptorSetLayout(ctx->device, ctx->set_layouts[i], NULL);
  }
}
