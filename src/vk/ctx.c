/* Instance, device choice, validation layer, and the error-message machinery. */
#include <ctype.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

// ---- errors ----

static _Thread_local char last_error[1024];
static _Thread_local char last_hint[512];
static _Thread_local vkg_status last_status;

vkg_status vkg__fail(vkg_status s, const char *fmt, ...) {
  last_status = s;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  last_hint[0] = 0;
  return s;
}

void vkg__hint(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_hint, sizeof last_hint, fmt, ap);
  va_end(ap);
}

void vkg__clear_error(void) {
  last_error[0] = last_hint[0] = 0;
  last_status = VKG_OK;
}
vkg_status vkg__last_status(void) { return last_status; }
const char *vkg_version(void) { return VKG_VERSION_STRING; }
const char *vkg_last_error(void) { return last_error; }
const char *vkg_last_hint(void) { return last_hint; }

const char *vkg_status_str(vkg_status s) {
  switch (s) {
  case VKG_OK: return "ok";
  case VKG_ERR_VULKAN: return "Vulkan error";
  case VKG_ERR_NO_DEVICE: return "no Vulkan device";
  case VKG_ERR_IO: return "I/O error";
  case VKG_ERR_SHAPE: return "shape mismatch";
  case VKG_ERR_OOM: return "out of memory";
  case VKG_ERR_ARG: return "bad argument";
  case VKG_ERR_UNSUPPORTED: return "unsupported";
  case VKG_ERR_FORMAT: return "bad file format";
  case VKG_ERR_DEVICE_LOST: return "device lost";
  case VKG_ERR_NUMERIC: return "numeric failure";
  }
  return "unknown status";
}

const char *vkg__vkresult_str(VkResult r) {
  switch (r) {
#define C(x)                                                                                                           \
  case x: return #x
    C(VK_SUCCESS);
    C(VK_NOT_READY);
    C(VK_TIMEOUT);
    C(VK_INCOMPLETE);
    C(VK_ERROR_OUT_OF_HOST_MEMORY);
    C(VK_ERROR_OUT_OF_DEVICE_MEMORY);
    C(VK_ERROR_INITIALIZATION_FAILED);
    C(VK_ERROR_DEVICE_LOST);
    C(VK_ERROR_MEMORY_MAP_FAILED);
    C(VK_ERROR_LAYER_NOT_PRESENT);
    C(VK_ERROR_EXTENSION_NOT_PRESENT);
    C(VK_ERROR_FEATURE_NOT_PRESENT);
    C(VK_ERROR_INCOMPATIBLE_DRIVER);
    C(VK_ERROR_TOO_MANY_OBJECTS);
    C(VK_ERROR_FORMAT_NOT_SUPPORTED);
    C(VK_ERROR_FRAGMENTED_POOL);
    C(VK_ERROR_OUT_OF_POOL_MEMORY);
    C(VK_ERROR_INVALID_SHADER_NV);
    C(VK_ERROR_UNKNOWN);
#undef C
  default: return "VkResult(other)";
  }
}

const char *vkg_dtype_str(vkg_dtype t) {
  switch (t) {
  case VKG_F32: return "f32";
  case VKG_F16: return "f16";
  case VKG_I32: return "i32";
  }
  return "?";
}

size_t vkg_dtype_size(vkg_dtype t) { return t == VKG_F16 ? 2 : 4; }

// ---- validation messages ----

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
  vkg_ctx *ctx = user;
  if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return VK_FALSE;
  ctx->validation_messages++;
  fprintf(stderr, "vkgen: validation %s: %s\n",
          severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
          data->pMessage ? data->pMessage : "(no message)");
  return VK_FALSE;
}

// ---- instance and devices ----

static int env_flag(const char *name) {
  const char *v = getenv(name);
  return v && *v && strcmp(v, "0") != 0;
}

static int has_layer(const char *name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, NULL);
  VkLayerProperties *p = calloc(n ? n : 1, sizeof *p);
  vkEnumerateInstanceLayerProperties(&n, p);
  int found = 0;
  for (uint32_t i = 0; i < n; i++)
    found |= strcmp(p[i].layerName, name) == 0;
  free(p);
  return found;
}

static vkg_status make_instance(int validate, VkInstance *out) {
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = "vkgen",
                           .pEngineName = "vkgen",
                           .apiVersion = VK_API_VERSION_1_2};
  const char *layers[] = {"VK_LAYER_KHRONOS_validation"};
  const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
  VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                      .enabledValidationFeatureCount = 1,
                                      .pEnabledValidationFeatures = enables};
  VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
  if (validate) {
    if (!has_layer(layers[0])) {
      vkg__fail(VKG_ERR_UNSUPPORTED, "validation requested but VK_LAYER_KHRONOS_validation is not installed");
      vkg__hint("apt-get install vulkan-validationlayers, or unset VKGEN_VALIDATE");
      return VKG_ERR_UNSUPPORTED;
    }
    ci.enabledLayerCount = 1;
    ci.ppEnabledLayerNames = layers;
    ci.enabledExtensionCount = 1;
    ci.ppEnabledExtensionNames = exts;
    ci.pNext = &features;
  }
  VkResult r = vkCreateInstance(&ci, NULL, out);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED) {
    vkg__fail(VKG_ERR_NO_DEVICE, "no Vulkan driver found (vkCreateInstance: %s)", vkg__vkresult_str(r));
    vkg__hint("install a driver: apt-get install mesa-vulkan-drivers (lavapipe runs on any CPU)");
    return VKG_ERR_NO_DEVICE;
  }
  VK_CHECK(r);
  return VKG_OK;
}

static int has_ext(const VkExtensionProperties *e, uint32_t n, const char *name) {
  for (uint32_t i = 0; i < n; i++)
    if (strcmp(e[i].extensionName, name) == 0) return 1;
  return 0;
}

static void describe(VkPhysicalDevice pd, int index, struct vkg_device_info *o) {
  memset(o, 0, sizeof *o);
  o->index = index;
  VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  const VkPhysicalDeviceProperties *p = &p2.properties;
  snprintf(o->name, sizeof o->name, "%s", p->deviceName);
  static const char *types[] = {"other", "integrated", "discrete", "virtual", "cpu"};
  o->type = p->deviceType <= 4 ? types[p->deviceType] : "other";
  o->api_version = p->apiVersion;
  o->driver_version = p->driverVersion;
  o->vendor_id = p->vendorID;
  o->device_id = p->deviceID;
  o->subgroup_size = sub.subgroupSize;
  o->shared_memory = p->limits.maxComputeSharedMemorySize;

  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(pd, &mp);
  for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
    if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mp.memoryHeaps[i].size > o->device_memory)
      o->device_memory = mp.memoryHeaps[i].size;

  VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
  if (p->apiVersion >= VK_API_VERSION_1_2) {
    f11.pNext = &f12;
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    o->fp16 = f12.shaderFloat16 && f11.storageBuffer16BitAccess;
    o->int8 = f12.shaderInt8 && f12.storageBuffer8BitAccess;
  }

  uint32_t ne = 0;
  vkEnumerateDeviceExtensionProperties(pd, NULL, &ne, NULL);
  VkExtensionProperties *e = calloc(ne ? ne : 1, sizeof *e);
  vkEnumerateDeviceExtensionProperties(pd, NULL, &ne, e);
  o->coopmat = has_ext(e, ne, "VK_KHR_cooperative_matrix") || has_ext(e, ne, "VK_NV_cooperative_matrix");
  free(e);

  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
  VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
  for (uint32_t i = 0; i < nq; i++)
    if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      o->timestamps = q[i].timestampValidBits > 0 && p->limits.timestampPeriod > 0;
      break;
    }
  free(q);
}

static vkg_status list_physical(VkInstance inst, VkPhysicalDevice **pds, uint32_t *n) {
  *n = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(inst, n, NULL));
  if (*n == 0) {
    vkg__fail(VKG_ERR_NO_DEVICE, "the Vulkan loader found no device");
    vkg__hint("install a driver: apt-get install mesa-vulkan-drivers (lavapipe runs on any CPU)");
    return VKG_ERR_NO_DEVICE;
  }
  *pds = calloc(*n, sizeof **pds);
  VK_CHECK(vkEnumeratePhysicalDevices(inst, n, *pds));
  return VKG_OK;
}

vkg_status vkg_enumerate_devices(struct vkg_device_info *out, int max, int *count) {
  vkg__clear_error();
  *count = 0;
  VkInstance inst;
  vkg_status s = make_instance(0, &inst);
  if (s) return s;
  VkPhysicalDevice *pds = NULL;
  uint32_t n = 0;
  s = list_physical(inst, &pds, &n);
  if (!s) {
    for (uint32_t i = 0; i < n && (int)i < max; i++)
      describe(pds[i], (int)i, &out[i]);
    *count = (int)n;
  }
  free(pds);
  vkDestroyInstance(inst, NULL);
  return s;
}

/* Picks the device named by `want` (index or name substring), or the best one if want is NULL. */
static vkg_status choose(VkPhysicalDevice *pds, uint32_t n, const char *want, int *chosen) {
  struct vkg_device_info info;
  if (want && *want) {
    char *end;
    long idx = strtol(want, &end, 10);
    if (*end == 0) {
      if (idx >= 0 && idx < (long)n) {
        *chosen = (int)idx;
        return VKG_OK;
      }
      vkg__fail(VKG_ERR_NO_DEVICE, "device index %ld is out of range: %u device(s) found", idx, n);
      vkg__hint("run 'vkgen devices' to list them");
      return VKG_ERR_NO_DEVICE;
    }
    /* "cpu" and "gpu" name a device type: the first CPU device (lavapipe), or the first GPU. */
    int want_cpu = !strcasecmp(want, "cpu"), want_gpu = !strcasecmp(want, "gpu");
    for (uint32_t i = 0; i < n && (want_cpu || want_gpu); i++) {
      VkPhysicalDeviceProperties pr;
      vkGetPhysicalDeviceProperties(pds[i], &pr);
      int cpu = pr.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
      int gpu = pr.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
                pr.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ||
                pr.deviceType == VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU;
      if ((want_cpu && cpu) || (want_gpu && gpu)) {
        *chosen = (int)i;
        return VKG_OK;
      }
    }
    for (uint32_t i = 0; i < n; i++) {
      describe(pds[i], (int)i, &info);
      for (const char *p = info.name; *p; p++)
        if (strncasecmp(p, want, strlen(want)) == 0) {
          *chosen = (int)i;
          return VKG_OK;
        }
    }
    char names[600] = "";
    for (uint32_t i = 0; i < n; i++) {
      describe(pds[i], (int)i, &info);
      size_t l = strlen(names);
      snprintf(names + l, sizeof names - l, "%s%u: %s", i ? ", " : "", i, info.name);
    }
    vkg__fail(VKG_ERR_NO_DEVICE, "no Vulkan device matches '%s' (found %s)", want, names);
    vkg__hint("pass --device with an index or part of a name from 'vkgen devices'");
    return VKG_ERR_NO_DEVICE;
  }
  static const int rank[] = {[VK_PHYSICAL_DEVICE_TYPE_OTHER] = 0,
                             [VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU] = 3,
                             [VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU] = 4,
                             [VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU] = 2,
                             [VK_PHYSICAL_DEVICE_TYPE_CPU] = 1};
  int best = 0, best_rank = -1;
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pds[i], &p);
    int r = p.deviceType <= 4 ? rank[p.deviceType] : 0;
    if (r > best_rank) best_rank = r, best = (int)i;
  }
  *chosen = best;
  return VKG_OK;
}

struct vkg_ctx_desc vkg_ctx_desc_default(void) {
  return (struct vkg_ctx_desc){.device = NULL, .validate = -1, .pipeline_cache = NULL};
}

vkg_status vkg__pipeline_cache_open(vkg_ctx *ctx, const char *path);
vkg_status vkg__fault_init(void); /* VKGEN_FAULT, the test aid (vk/mem.c) */
void vkg__pipeline_cache_save(vkg_ctx *ctx);

static vkg_status create_device(vkg_ctx *ctx) {
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, NULL);
  VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
  vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, q);
  int fam = -1;
  /* Prefer a compute queue that is not also graphics (often a dedicated async-compute engine). */
  for (uint32_t i = 0; i < nq && fam < 0; i++)
    if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) fam = (int)i;
  for (uint32_t i = 0; i < nq && fam < 0; i++)
    if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) fam = (int)i;
  int ts_bits = fam >= 0 ? (int)q[fam].timestampValidBits : 0;
  free(q);
  if (fam < 0) return vkg__fail(VKG_ERR_NO_DEVICE, "device '%s' has no compute queue", ctx->info.name);
  ctx->queue_family = (uint32_t)fam;
  ctx->info.timestamps = ts_bits > 0 && ctx->props.limits.timestampPeriod > 0;

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                .queueFamilyIndex = (uint32_t)fam,
                                .queueCount = 1,
                                .pQueuePriorities = &prio};
  VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  if (ctx->info.fp16) {
    f11.storageBuffer16BitAccess = VK_TRUE;
    f12.shaderFloat16 = VK_TRUE;
    f2.pNext = &f11;
    f11.pNext = &f12;
  }
  if (ctx->info.int8) {
    f12.shaderInt8 = VK_TRUE;
    f12.storageBuffer8BitAccess = VK_TRUE;
    f2.pNext = &f11;
    f11.pNext = &f12;
  }
  VkDeviceCreateInfo ci = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2, .queueCreateInfoCount = 1, .pQueueCreateInfos = &qi};
  VK_CHECK(vkCreateDevice(ctx->phys, &ci, NULL, &ctx->device));
  ctx->fp16_enabled = ctx->info.fp16;
  vkGetDeviceQueue(ctx->device, (uint32_t)fam, 0, &ctx->queue);

  VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                 .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                 .queueFamilyIndex = (uint32_t)fam};
  VK_CHECK(vkCreateCommandPool(ctx->device, &pci, NULL, &ctx->pool));
  VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VK_CHECK(vkCreateFence(ctx->device, &fci, NULL, &ctx->fence));
  VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                    .commandPool = ctx->pool,
                                    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                    .commandBufferCount = 1};
  VK_CHECK(vkAllocateCommandBuffers(ctx->device, &ai, &ctx->one_shot_cb));
  return VKG_OK;
}

vkg_status vkg_ctx_create(const struct vkg_ctx_desc *desc_in, vkg_ctx **out) {
  vkg__clear_error();
  *out = NULL;
  struct vkg_ctx_desc desc = desc_in ? *desc_in : vkg_ctx_desc_default();
  vkg_status s = vkg__fault_init();
  if (s) return s;
  vkg_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return vkg__fail(VKG_ERR_OOM, "out of host memory creating a context");
  ctx->validate = desc.validate >= 0 ? desc.validate : env_flag("VKGEN_VALIDATE");
  s = make_instance(ctx->validate, &ctx->instance);
  if (s) {
    free(ctx);
    return s;
  }
  if (ctx->validate) {
    PFN_vkCreateDebugUtilsMessengerEXT create =
        (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(ctx->instance, "vkCreateDebugUtilsMessengerEXT");
    VkDebugUtilsMessengerCreateInfoEXT mi = {.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
                                             .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                                                                VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
                                             .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                                                            VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                                                            VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
                                             .pfnUserCallback = on_message,
                                             .pUserData = ctx};
    if (create) create(ctx->instance, &mi, NULL, &ctx->messenger);
  }
  VkPhysicalDevice *pds = NULL;
  uint32_t n = 0;
  s = list_physical(ctx->instance, &pds, &n);
  int chosen = 0;
  if (!s) s = choose(pds, n, desc.device ? desc.device : getenv("VKGEN_DEVICE"), &chosen);
  if (s) {
    free(pds);
    vkg_ctx_destroy(ctx);
    return s;
  }
  ctx->phys = pds[chosen];
  free(pds);
  describe(ctx->phys, chosen, &ctx->info);
  vkGetPhysicalDeviceProperties(ctx->phys, &ctx->props);
  vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->memprops);
  if (ctx->props.apiVersion < VK_API_VERSION_1_1) {
    vkg_ctx_destroy(ctx);
    return vkg__fail(VKG_ERR_UNSUPPORTED, "device '%s' supports only Vulkan %u.%u; vkgen needs 1.1", ctx->info.name,
                     VK_API_VERSION_MAJOR(ctx->props.apiVersion), VK_API_VERSION_MINOR(ctx->props.apiVersion));
  }
  ctx->timestamp_period = ctx->props.limits.timestampPeriod;
  ctx->align = ctx->props.limits.minStorageBufferOffsetAlignment;
  if (ctx->align < 16) ctx->align = 16;
  s = create_device(ctx);
  if (!s) {
    const char *path = desc.pipeline_cache;
    s = vkg__pipeline_cache_open(ctx, path);
  }
  if (!s && desc.watch_shaders) s = vkg__watch_start(ctx, desc.watch_shaders);
  if (s) {
    vkg_status keep = s;
    char msg[1024], hint[512];
    snprintf(msg, sizeof msg, "%s", vkg_last_error());
    snprintf(hint, sizeof hint, "%s", vkg_last_hint());
    vkg_ctx_destroy(ctx);
    vkg__fail(keep, "%s", msg);
    if (hint[0]) vkg__hint("%s", hint);
    return keep;
  }
  *out = ctx;
  return VKG_OK;
}

void vkg_ctx_destroy(vkg_ctx *ctx) {
  if (!ctx) return;
  if (ctx->device) {
    vkDeviceWaitIdle(ctx->device);
    vkg__pipeline_cache_save(ctx);
    vkg__pipelines_destroy(ctx);
    vkg__watch_stop(ctx);
    vkg__mem_destroy(ctx);
    if (ctx->fence) vkDestroyFence(ctx->device, ctx->fence, NULL);
    if (ctx->pool) vkDestroyCommandPool(ctx->device, ctx->pool, NULL);
    vkDestroyDevice(ctx->device, NULL);
  }
  if (ctx->messenger) {
    PFN_vkDestroyDebugUtilsMessengerEXT destroy =
        (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(ctx->instance, "vkDestroyDebugUtilsMessengerEXT");
    if (destroy) destroy(ctx->instance, ctx->messenger, NULL);
  }
  if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
  free(ctx->pipeline_cache_path);
  free(ctx->graphs);
  vkg_profile_free(&ctx->prof);
  free(ctx);
}

const struct vkg_device_info *vkg_ctx_device(const vkg_ctx *ctx) { return &ctx->info; }
uint32_t vkg_ctx_validation_messages(const vkg_ctx *ctx) { return ctx->validation_messages; }
int vkg_ctx_validation_enabled(const vkg_ctx *ctx) { return ctx->validate; }
int vkg_ctx_has_fp16(const vkg_ctx *ctx) { return ctx->fp16_enabled; }

int vkg__gpu_kernels(const vkg_ctx *ctx) {
  const char *k = getenv("VKGEN_KERNELS");
  if (k && !strcmp(k, "gpu")) return 1;
  if (k && !strcmp(k, "cpu")) return 0;
  return ctx->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
}

uint32_t vkg__rowwise(const vkg_ctx *ctx, size_t rows, size_t n) {
  (void)rows;
  /* A rowwise kernel makes three passes over its row, and lavapipe ends a shader's loops after
   * 65535 iterations in all. */
  if (vkg__gpu_kernels(ctx) || n == 0) return 0;
  if (n % 4 == 0 && 3 * (n / 4) < 60000) return 2;
  return 3 * n < 60000 ? 1 : 0;
}

uint32_t vkg__wg1d(const vkg_ctx *ctx) {
  /* Several subgroups per workgroup keep occupancy up; 256 fits every device's limits. */
  uint32_t wg = 256;
  if (wg > ctx->props.limits.maxComputeWorkGroupInvocations) wg = ctx->props.limits.maxComputeWorkGroupInvocations;
  return wg;
}

uint32_t vkg__wg_rows(const vkg_ctx *ctx, size_t n) {
  uint32_t max = vkg__wg1d(ctx), wg = 32;
  while (wg < n && wg < max)
    wg *= 2;
  return wg < max ? wg : max;
}
