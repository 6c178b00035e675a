/* Device memory: a few large blocks, each one VkDeviceMemory bound to one VkBuffer, with buffers
 * suballocated first-fit from a sorted free list. Also the staging path for host copies, and
 * tensors that live outside graphs. */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define BLOCK_SIZE ((VkDeviceSize)64 << 20)

// ---- fault injection (tests) ----

/* VKGEN_FAULT makes a working device fail the way a full or crashed GPU does, so that tests can
 * check those failures end in a clear error rather than a crash. A comma-separated list of:
 *   oom@N          the Nth new device-memory block (from 1) fails with VK_ERROR_OUT_OF_DEVICE_MEMORY
 *   device_lost@N  the Nth submission through vkg__queue_submit and every later one fail with
 *                  VK_ERROR_DEVICE_LOST (a lost device stays lost); for now those are the host
 *                  copies, which carry every upload and download (graph runs submit on their own)
 *   heap_mib@M     every memory heap counts as M MiB (a small GPU)
 * Read by each vkg_ctx_create; the counts are per process since then. */
static struct {
  long oom_at, lost_at;
  VkDeviceSize heap_limit;
  long allocs, submits;
} fault;

vkg_status vkg__fault_init(void); /* called by vkg_ctx_create (vk/ctx.c) */
vkg_status vkg__fault_init(void) {
  memset(&fault, 0, sizeof fault);
  const char *env = getenv("VKGEN_FAULT");
  if (!env || !*env) return VKG_OK;
  for (const char *p = env; *p;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char item[64];
    snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
    char *at = strchr(item, '@'), *end = NULL;
    long n = 0;
    if (at) {
      *at = 0;
      errno = 0;
      n = strtol(at + 1, &end, 10);
    }
    if (!at || !*(at + 1) || *end || errno || n < 1) n = 0;
    if (n && !strcmp(item, "oom"))
      fault.oom_at = n;
    else if (n && !strcmp(item, "device_lost"))
      fault.lost_at = n;
    else if (n && !strcmp(item, "heap_mib"))
      fault.heap_limit = (VkDeviceSize)n << 20;
    else {
      vkg__fail(VKG_ERR_ARG, "VKGEN_FAULT='%s': cannot read '%.*s'", env, (int)len, p);
      vkg__hint("VKGEN_FAULT is a test aid: oom@N, device_lost@N or heap_mib@M, separated by commas");
      return VKG_ERR_ARG;
    }
    p += len + (comma ? 1 : 0);
  }
  return VKG_OK;
}

// ---- blocks ----

struct range {
  VkDeviceSize offset, size;
};

struct vkg_block {
  VkDeviceMemory memory;
  VkBuffer buffer;
  VkDeviceSize size;
  unsigned flags;
  uint32_t heap; /* the memory heap it was allocated from */
  void *mapped;
  struct range *free; /* sorted by offset, coalesced */
  int nfree, cap_free;
};

static VkDeviceSize align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

static int find_type(vkg_ctx *ctx, uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags nice) {
  int best = -1;
  for (uint32_t i = 0; i < ctx->memprops.memoryTypeCount; i++) {
    VkMemoryPropertyFlags f = ctx->memprops.memoryTypes[i].propertyFlags;
    if (!(bits & (1u << i)) || (f & want) != want) continue;
    if ((f & nice) == nice) return (int)i;
    if (best < 0) best = (int)i;
  }
  return best;
}

/* A byte count for people: "3.2 GiB", "96.0 MiB", "12.0 KiB". */
static const char *human(char *buf, size_t n, VkDeviceSize b) {
  if (b >= (VkDeviceSize)1 << 30)
    snprintf(buf, n, "%.1f GiB", (double)b / (1 << 30));
  else if (b >= (VkDeviceSize)1 << 20)
    snprintf(buf, n, "%.1f MiB", (double)b / (1 << 20));
  else
    snprintf(buf, n, "%.1f KiB", (double)b / (1 << 10));
  return buf;
}

static int memory_type(vkg_ctx *ctx, uint32_t bits, unsigned flags) {
  return (flags & VKG_HOST_VISIBLE)
             ? find_type(ctx, bits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                         VK_MEMORY_PROPERTY_HOST_CACHED_BIT)
             : find_type(ctx, bits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
}

/* The size of a heap (or VKGEN_FAULT's smaller one) and what vkgen's blocks already hold of it. */
static VkDeviceSize heap_size(const vkg_ctx *ctx, uint32_t heap) {
  VkDeviceSize size = ctx->memprops.memoryHeaps[heap].size;
  return fault.heap_limit && fault.heap_limit < size ? fault.heap_limit : size;
}
static VkDeviceSize heap_used(const vkg_ctx *ctx, uint32_t heap) {
  VkDeviceSize used = 0;
  for (int i = 0; i < ctx->nblocks; i++)
    if (ctx->blocks[i]->heap == heap) used += ctx->blocks[i]->size;
  return used;
}

/* The out-of-device-memory error: what was asked for, and what the heap had left. Other processes'
 * use of the heap is not visible here, so "free" is the heap less what this process holds. */
static vkg_status oom_error(vkg_ctx *ctx, VkDeviceSize size, uint32_t heap, const char *why) {
  VkDeviceSize total = heap_size(ctx, heap), used = heap_used(ctx, heap);
  char want[32], free_[32], all[32], held[32];
  vkg__fail(VKG_ERR_OOM,
            "out of device memory: %s more is needed, and device '%s' has %s free in heap %u (%s in all, %s of it held "
            "by vkgen)%s",
            human(want, sizeof want, size), ctx->info.name, human(free_, sizeof free_, used < total ? total - used : 0),
            heap, human(all, sizeof all, total), human(held, sizeof held, used), why);
  vkg__hint("use a smaller batch (--batch) or model, or a device with more memory (--device)");
  return VKG_ERR_OOM;
}

static void destroy_block(vkg_ctx *ctx, struct vkg_block *b) {
  if (b->mapped) vkUnmapMemory(ctx->device, b->memory);
  vkDestroyBuffer(ctx->device, b->buffer, NULL);
  vkFreeMemory(ctx->device, b->memory, NULL);
  free(b->free);
  free(b);
}

static vkg_status new_block(vkg_ctx *ctx, VkDeviceSize size, unsigned flags, struct vkg_block **out) {
  /* Refuse what cannot fit before asking the driver: an allocation larger than the heap is invalid
   * Vulkan, and a CPU driver may grant one it cannot back and crash later. */
  int guess = memory_type(ctx, ~0u, flags);
  if (guess >= 0) {
    uint32_t heap = ctx->memprops.memoryTypes[guess].heapIndex;
    VkDeviceSize total = heap_size(ctx, heap), used = heap_used(ctx, heap);
    if (used >= total || size > total - used) return oom_error(ctx, size, heap, "");
    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
    if (m3.maxMemoryAllocationSize && size > m3.maxMemoryAllocationSize) {
      char want[32], max[32];
      vkg__fail(VKG_ERR_OOM,
                "out of device memory: %s is needed in one piece, more than device '%s' allocates at once (%s)",
                human(want, sizeof want, size), ctx->info.name, human(max, sizeof max, m3.maxMemoryAllocationSize));
      vkg__hint("use a smaller batch (--batch) or model, or a device with more memory (--device)");
      return VKG_ERR_OOM;
    }
  }
  struct vkg_block *b = calloc(1, sizeof *b);
  if (!b) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  b->size = size;
  b->flags = flags;
  VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                           .size = size,
                           .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                    VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                           .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkResult r = vkCreateBuffer(ctx->device, &bi, NULL, &b->buffer);
  if (r != VK_SUCCESS) {
    free(b);
    return vkg__fail(VKG_ERR_OOM, "vkCreateBuffer of %llu bytes failed: %s", (unsigned long long)size,
                     vkg__vkresult_str(r));
  }
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
  int type = memory_type(ctx, req.memoryTypeBits, flags);
  if (type < 0) {
    vkDestroyBuffer(ctx->device, b->buffer, NULL);
    free(b);
    return vkg__fail(VKG_ERR_UNSUPPORTED, "device '%s' has no suitable memory type", ctx->info.name);
  }
  VkMemoryAllocateInfo ai = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = (uint32_t)type};
  b->heap = ctx->memprops.memoryTypes[type].heapIndex;
  r = ++fault.allocs == fault.oom_at ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                     : vkAllocateMemory(ctx->device, &ai, NULL, &b->memory);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(ctx->device, b->buffer, NULL);
    free(b);
    char why[96];
    snprintf(why, sizeof why, " (vkAllocateMemory: %s)", vkg__vkresult_str(r));
    return oom_error(ctx, req.size, ctx->memprops.memoryTypes[type].heapIndex, why);
  }
  r = vkBindBufferMemory(ctx->device, b->buffer, b->memory, 0);
  if (r == VK_SUCCESS && (flags & VKG_HOST_VISIBLE))
    r = vkMapMemory(ctx->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
  if (r != VK_SUCCESS) {
    b->mapped = NULL;
    destroy_block(ctx, b);
    return vkg__fail(r == VK_ERROR_DEVICE_LOST ? VKG_ERR_DEVICE_LOST : VKG_ERR_OOM,
                     "binding or mapping %llu bytes of device memory failed: %s", (unsigned long long)size,
                     vkg__vkresult_str(r));
  }
  b->cap_free = 8;
  b->free = malloc(sizeof *b->free * (size_t)b->cap_free);
  if (!b->free) {
    destroy_block(ctx, b);
    return vkg__fail(VKG_ERR_OOM, "out of host memory");
  }
  b->free[0] = (struct range){0, size};
  b->nfree = 1;
  *out = b;
  return VKG_OK;
}

static int take(struct vkg_block *b, VkDeviceSize size, VkDeviceSize align, VkDeviceSize *off) {
  for (int i = 0; i < b->nfree; i++) {
    VkDeviceSize start = align_up(b->free[i].offset, align);
    VkDeviceSize end = b->free[i].offset + b->free[i].size;
    if (start + size > end) continue;
    /* Split the free range into [offset, start) and [start + size, end). */
    struct range before = {b->free[i].offset, start - b->free[i].offset};
    struct range after = {start + size, end - start - size};
    if (before.size && after.size) {
      if (b->nfree == b->cap_free) {
        b->cap_free *= 2;
        b->free = realloc(b->free, sizeof *b->free * (size_t)b->cap_free);
      }
      memmove(&b->free[i + 1], &b->free[i], sizeof *b->free * (size_t)(b->nfree - i));
      b->nfree++;
      b->free[i] = before;
      b->free[i + 1] = after;
    } else if (before.size) {
      b->free[i] = before;
    } else if (after.size) {
      b->free[i] = after;
    } else {
      memmove(&b->free[i], &b->free[i + 1], sizeof *b->free * (size_t)(b->nfree - i - 1));
      b->nfree--;
    }
    *off = start;
    return 1;
  }
  return 0;
}

static void give_back(struct vkg_block *b, VkDeviceSize off, VkDeviceSize size) {
  int i = 0;
  while (i < b->nfree && b->free[i].offset < off)
    i++;
  if (b->nfree == b->cap_free) {
    b->cap_free *= 2;
    b->free = realloc(b->free, sizeof *b->free * (size_t)b->cap_free);
  }
  memmove(&b->free[i + 1], &b->free[i], sizeof *b->free * (size_t)(b->nfree - i));
  b->free[i] = (struct range){off, size};
  b->nfree++;
  /* Coalesce with the neighbours. */
  if (i + 1 < b->nfree && b->free[i].offset + b->free[i].size == b->free[i + 1].offset) {
    b->free[i].size += b->free[i + 1].size;
    memmove(&b->free[i + 1], &b->free[i + 2], sizeof *b->free * (size_t)(b->nfree - i - 2));
    b->nfree--;
  }
  if (i > 0 && b->free[i - 1].offset + b->free[i - 1].size == b->free[i].offset) {
    b->free[i - 1].size += b->free[i].size;
    memmove(&b->free[i], &b->free[i + 1], sizeof *b->free * (size_t)(b->nfree - i - 1));
    b->nfree--;
  }
}

vkg_status vkg__alloc(vkg_ctx *ctx, VkDeviceSize size, unsigned flags, struct vkg_alloc *out) {
  memset(out, 0, sizeof *out);
  if (size == 0) size = 4;
  size = align_up(size, 4);
  VkDeviceSize off;
  for (int i = 0; i < ctx->nblocks; i++) {
    struct vkg_block *b = ctx->blocks[i];
    if (b->flags == flags && take(b, size, ctx->align, &off)) {
      *out = (struct vkg_alloc){b, b->buffer, off, size, b->mapped ? (char *)b->mapped + off : NULL};
      return VKG_OK;
    }
  }
  VkDeviceSize bsize = size > BLOCK_SIZE ? align_up(size, 1 << 20) : BLOCK_SIZE;
  if (flags & VKG_HOST_VISIBLE && bsize == BLOCK_SIZE) bsize = BLOCK_SIZE / 16;
  if (bsize < size) bsize = size;
  struct vkg_block *b = NULL;
  vkg_status s = new_block(ctx, bsize, flags, &b);
  if (s) return s;
  if (ctx->nblocks == ctx->cap_blocks) {
    int cap = ctx->cap_blocks ? 2 * ctx->cap_blocks : 8;
    struct vkg_block **blocks = realloc(ctx->blocks, sizeof *blocks * (size_t)cap);
    if (!blocks) {
      destroy_block(ctx, b);
      return vkg__fail(VKG_ERR_OOM, "out of host memory");
    }
    ctx->blocks = blocks;
    ctx->cap_blocks = cap;
  }
  ctx->blocks[ctx->nblocks++] = b;
  VKG_ASSERT(take(b, size, ctx->align, &off));
  *out = (struct vkg_alloc){b, b->buffer, off, size, b->mapped ? (char *)b->mapped + off : NULL};
  return VKG_OK;
}

void vkg__free(vkg_ctx *ctx, struct vkg_alloc *a) {
  if (!a->block) return;
  give_back(a->block, a->offset, a->size);
  /* Release a block once it is wholly free, so a finished graph gives its memory back. */
  struct vkg_block *b = a->block;
  if (b->nfree == 1 && b->free[0].size == b->size) {
    for (int i = 0; i < ctx->nblocks; i++)
      if (ctx->blocks[i] == b) {
        ctx->blocks[i] = ctx->blocks[--ctx->nblocks];
        break;
      }
    destroy_block(ctx, b);
  }
  memset(a, 0, sizeof *a);
}

void vkg__mem_destroy(vkg_ctx *ctx) {
  for (int i = 0; i < ctx->nblocks; i++)
    destroy_block(ctx, ctx->blocks[i]);
  free(ctx->blocks);
  ctx->blocks = NULL;
  ctx->nblocks = 0;
}

// ---- one-shot submissions and staging ----

/* The error for a lost device: the GPU was reset or crashed, and all work in flight is gone. */
static vkg_status device_lost(vkg_ctx *ctx, const char *call) {
  vkg__fail(VKG_ERR_DEVICE_LOST,
            "the device '%s' was lost (%s returned VK_ERROR_DEVICE_LOST); the work in flight is gone", ctx->info.name,
            call);
  vkg__hint("the driver reset the GPU (a shader ran too long or faulted, or the driver crashed): see the kernel log "
            "(dmesg), run again, and check the shaders with VKGEN_VALIDATE=1");
  return VKG_ERR_DEVICE_LOST;
}

/* vkQueueSubmit and vkWaitForFences with the lost-device error (and VKGEN_FAULT's device_lost):
 * every submission goes through these (one-shot copies here, graph runs in graph/compile.c). */

vkg_status vkg__queue_submit(vkg_ctx *ctx, const VkSubmitInfo *si, VkFence fence) {
  /* A lost device stays lost: VKGEN_FAULT's loss covers this submission and all later ones. */
  ++fault.submits;
  VkResult r =
      fault.lost_at && fault.submits >= fault.lost_at ? VK_ERROR_DEVICE_LOST : vkQueueSubmit(ctx->queue, 1, si, fence);
  if (r == VK_ERROR_DEVICE_LOST) return device_lost(ctx, "vkQueueSubmit");
  VK_CHECK(r);
  return VKG_OK;
}

vkg_status vkg__fence_wait(vkg_ctx *ctx, VkFence fence) {
  VkResult r = vkWaitForFences(ctx->device, 1, &fence, VK_TRUE, UINT64_MAX);
  if (r == VK_ERROR_DEVICE_LOST) return device_lost(ctx, "vkWaitForFences");
  VK_CHECK(r);
  return VKG_OK;
}

vkg_status vkg__one_shot(vkg_ctx *ctx, void (*fn)(VkCommandBuffer cb, void *user), void *user) {
  VkCommandBuffer cb = ctx->one_shot_cb;
  VK_CHECK(vkResetCommandBuffer(cb, 0));
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                 .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
  VK_CHECK(vkBeginCommandBuffer(cb, &bi));
  fn(cb, user);
  VK_CHECK(vkEndCommandBuffer(cb));
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cb};
  VK_CHECK(vkResetFences(ctx->device, 1, &ctx->fence));
  vkg_status s = vkg__queue_submit(ctx, &si, ctx->fence);
  return s ? s : vkg__fence_wait(ctx, ctx->fence);
}

struct copy_job {
  VkBuffer src, dst;
  VkBufferCopy region;
  int to_device;
};

/* A copy between staging and a storage buffer, ordered after earlier shader work on it and
 * before later host reads. */
static void record_copy(VkCommandBuffer cb, void *user) {
  struct copy_job *j = user;
  VkMemoryBarrier before = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                            .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
                            .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &before, 0, NULL,
                       0, NULL);
  vkCmdCopyBuffer(cb, j->src, j->dst, 1, &j->region);
  VkMemoryBarrier after = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                           .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = j->to_device ? VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT
                                                         : VK_ACCESS_HOST_READ_BIT};
  vkCmdPipelineBarrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
                       j->to_device ? VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT : VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &after,
                       0, NULL, 0, NULL);
}

static vkg_status staging(vkg_ctx *ctx, VkDeviceSize bytes) {
  if (ctx->staging_size >= bytes) return VKG_OK;
  vkg__free(ctx, &ctx->staging);
  ctx->staging_size = 0;
  VkDeviceSize size = bytes < ((VkDeviceSize)4 << 20) ? ((VkDeviceSize)4 << 20) : align_up(bytes, 1 << 20);
  vkg_status s = vkg__alloc(ctx, size, VKG_HOST_VISIBLE, &ctx->staging);
  if (s) return s;
  ctx->staging_size = size;
  return VKG_OK;
}

#define STAGING_CHUNK ((VkDeviceSize)64 << 20)

vkg_status vkg__upload(vkg_ctx *ctx, const struct vkg_alloc *dst, VkDeviceSize offset, const void *src,
                       VkDeviceSize bytes) {
  VKG_ASSERT(offset + bytes <= dst->size);
  if (dst->mapped) {
    memcpy((char *)dst->mapped + offset, src, bytes);
    return VKG_OK;
  }
  for (VkDeviceSize done = 0; done < bytes;) {
    VkDeviceSize n = bytes - done < STAGING_CHUNK ? bytes - done : STAGING_CHUNK;
    vkg_status s = staging(ctx, n);
    if (s) return s;
    memcpy(ctx->staging.mapped, (const char *)src + done, n);
    struct copy_job j = {ctx->staging.buffer, dst->buffer, {ctx->staging.offset, dst->offset + offset + done, n}, 1};
    s = vkg__one_shot(ctx, record_copy, &j);
    if (s) return s;
    done += n;
  }
  return VKG_OK;
}

vkg_status vkg__download(vkg_ctx *ctx, const struct vkg_alloc *src, VkDeviceSize offset, void *dst,
                         VkDeviceSize bytes) {
  VKG_ASSERT(offset + bytes <= src->size);
  if (src->mapped) {
    memcpy(dst, (const char *)src->mapped + offset, bytes);
    return VKG_OK;
  }
  for (VkDeviceSize done = 0; done < bytes;) {
    VkDeviceSize n = bytes - done < STAGING_CHUNK ? bytes - done : STAGING_CHUNK;
    vkg_status s = staging(ctx, n);
    if (s) return s;
    struct copy_job j = {src->buffer, ctx->staging.buffer, {src->offset + offset + done, ctx->staging.offset, n}, 0};
    s = vkg__one_shot(ctx, record_copy, &j);
    if (s) return s;
    memcpy((char *)dst + done, ctx->staging.mapped, n);
    done += n;
  }
  return VKG_OK;
}

// ---- fp16 on the host ----

uint16_t vkg__f32_to_f16(float f) {
  union {
    float f;
    uint32_t u;
  } v = {f};
  uint32_t u = v.u, sign = (u >> 16) & 0x8000u;
  uint32_t exp = (u >> 23) & 0xffu, man = u & 0x7fffffu;
  if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0)); /* inf, nan */
  int e = (int)exp - 127 + 15;
  if (e >= 31) return (uint16_t)(sign | 0x7c00u); /* overflow to inf */
  if (e <= 0) {                                   /* subnormal or zero */
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - e);
    uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* round to nearest even; may carry into exp */
  return (uint16_t)(sign | h);
}

uint16_t vkg__f32_to_bf16(float f) {
  union {
    float f;
    uint32_t u;
  } v = {f};
  uint32_t u = v.u;
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) /* NaN: keep the sign, stay a (quiet) NaN */
    return (uint16_t)((u >> 16) | 0x40u);
  /* Round to nearest even on the low 16 bits; a carry rounds up the exponent (to infinity at the top). */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float vkg__f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else { /* subnormal: normalize */
      int e = -1;
      do {
        man <<= 1;
        e++;
      } while (!(man & 0x400u));
      u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp - 15 + 127) << 23) | (man << 13);
  }
  union {
    uint32_t u;
    float f;
  } v = {u};
  return v.f;
}

// ---- tensors outside graphs ----

size_t vkg__numel(const int *shape, int ndim) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= (size_t)shape[i];
  return n;
}

const char *vkg__shape_str(const int *shape, int ndim, char *buf, size_t n) {
  size_t l = (size_t)snprintf(buf, n, "(");
  for (int i = 0; i < ndim && l < n; i++)
    l += (size_t)snprintf(buf + l, n - l, "%s%d", i ? ", " : "", shape[i]);
  if (l < n) snprintf(buf + l, n - l, "%s)", ndim == 1 ? "," : "");
  return buf;
}

vkg_status vkg_tensor_create(vkg_ctx *ctx, vkg_dtype dtype, int ndim, const int *shape, vkg_tensor **out) {
  *out = NULL;
  if (ndim < 0 || ndim > VKG_MAX_DIMS)
    return vkg__fail(VKG_ERR_ARG, "tensor with %d dims (at most %d)", ndim, VKG_MAX_DIMS);
  for (int i = 0; i < ndim; i++)
    if (shape[i] <= 0) return vkg__fail(VKG_ERR_SHAPE, "tensor dim %d is %d; dims must be positive", i, shape[i]);
  if (dtype == VKG_F16 && !ctx->fp16_enabled) {
    vkg__fail(VKG_ERR_UNSUPPORTED, "device '%s' has no fp16 storage buffers", ctx->info.name);
    vkg__hint("use f32 tensors on this device");
    return VKG_ERR_UNSUPPORTED;
  }
  vkg_tensor *t = calloc(1, sizeof *t);
  if (!t) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  t->ctx = ctx;
  t->dtype = dtype;
  t->ndim = ndim;
  memcpy(t->shape, shape, sizeof(int) * (size_t)ndim);
  vkg_status s = vkg__alloc(ctx, vkg__numel(shape, ndim) * vkg_dtype_size(dtype), 0, &t->alloc);
  if (s) {
    free(t);
    return s;
  }
  *out = t;
  return VKG_OK;
}

void vkg_tensor_destroy(vkg_tensor *t) {
  if (!t) return;
  if (!t->view) vkg__free(t->ctx, &t->alloc);
  free(t);
}

vkg_status vkg__tensor_rows(const vkg_tensor *t, int first, int rows, vkg_tensor **out) {
  VKG_ASSERT(t->ndim == 2 && first >= 0 && rows > 0 && first + rows <= t->shape[0]);
  *out = NULL;
  VkDeviceSize row = (VkDeviceSize)t->shape[1] * vkg_dtype_size(t->dtype);
  VkDeviceSize offset = t->alloc.offset + (VkDeviceSize)first * row;
  if (offset % t->ctx->align)
    return vkg__fail(VKG_ERR_UNSUPPORTED,
                     "rows from %d of a %d x %d tensor start at byte offset %llu, not a multiple of the device's "
                     "storage-buffer alignment (%llu)",
                     first, t->shape[0], t->shape[1], (unsigned long long)offset, (unsigned long long)t->ctx->align);
  vkg_tensor *v = malloc(sizeof *v);
  if (!v) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  *v = *t;
  v->view = 1;
  v->shape[0] = rows;
  v->alloc.offset = offset;
  v->alloc.size = (VkDeviceSize)rows * row;
  if (v->alloc.mapped) v->alloc.mapped = (char *)v->alloc.mapped + (size_t)first * row;
  *out = v;
  return VKG_OK;
}

size_t vkg_tensor_numel(const vkg_tensor *t) { return vkg__numel(t->shape, t->ndim); }

static vkg_status check_bytes(const vkg_tensor *t, size_t bytes) {
  size_t want = vkg_tensor_numel(t) * vkg_dtype_size(t->dtype);
  if (bytes != want) {
    char sh[96];
    return vkg__fail(VKG_ERR_SHAPE, "tensor %s %s holds %zu bytes, got %zu", vkg_dtype_str(t->dtype),
                     vkg__shape_str(t->shape, t->ndim, sh, sizeof sh), want, bytes);
  }
  return VKG_OK;
}

vkg_status vkg_tensor_upload(vkg_tensor *t, const void *data, size_t bytes) {
  vkg_status s = check_bytes(t, bytes);
  return s ? s : vkg__upload(t->ctx, &t->alloc, 0, data, bytes);
}

vkg_status vkg_tensor_download(vkg_tensor *t, void *data, size_t bytes) {
  vkg_status s = check_bytes(t, bytes);
  return s ? s : vkg__download(t->ctx, &t->alloc, 0, data, bytes);
}

/* Converts count f32 values to dtype into a new buffer (or returns src itself for f32). */
void *vkg__from_f32(vkg_dtype dtype, const float *src, size_t count) {
  if (dtype == VKG_F32) return (void *)src;
  void *buf = malloc(count * vkg_dtype_size(dtype) + 1);
  if (!buf) return NULL;
  for (size_t i = 0; i < count; i++) {
    if (dtype == VKG_F16)
      ((uint16_t *)buf)[i] = vkg__f32_to_f16(src[i]);
    else
      ((int32_t *)buf)[i] = (int32_t)src[i];
  }
  return buf;
}

void vkg__to_f32(vkg_dtype dtype, const void *src, float *dst, size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (dtype == VKG_F16)
      dst[i] = vkg__f16_to_f32(((const uint16_t *)src)[i]);
    else if (dtype == VKG_I32)
      dst[i] = (float)((const int32_t *)src)[i];
    else
      dst[i] = ((const float *)src)[i];
  }
}

static vkg_status check_count(const vkg_tensor *t, size_t count) {
  if (count == vkg_tensor_numel(t)) return VKG_OK;
  char sh[96];
  return vkg__fail(VKG_ERR_SHAPE, "tensor %s %s holds %zu values, got %zu", vkg_dtype_str(t->dtype),
                   vkg__shape_str(t->shape, t->ndim, sh, sizeof sh), vkg_tensor_numel(t), count);
}

vkg_status vkg_tensor_upload_f32(vkg_tensor *t, const float *data, size_t count) {
  if (check_count(t, count)) return VKG_ERR_SHAPE;
  void *buf = vkg__from_f32(t->dtype, data, count);
  if (!buf) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = vkg_tensor_upload(t, buf, count * vkg_dtype_size(t->dtype));
  if (buf != data) free(buf);
  return s;
}

vkg_status vkg_tensor_download_f32(vkg_tensor *t, float *data, size_t count) {
  if (check_count(t, count)) return VKG_ERR_SHAPE;
  if (t->dtype == VKG_F32) return vkg_tensor_download(t, data, count * 4);
  void *buf = malloc(count * vkg_dtype_size(t->dtype) + 1);
  if (!buf) return vkg__fail(VKG_ERR_OOM, "out of host memory");
  vkg_status s = vkg_tensor_download(t, buf, count * vkg_dtype_size(t->dtype));
  if (!s) vkg__to_f32(t->dtype, buf, data, count);
  free(buf);
  return s;
}
