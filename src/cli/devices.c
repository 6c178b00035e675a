/* vkgen devices: what each Vulkan device offers. */
#include <stdio.h>
#include <string.h>

#include <vulkan/vulkan.h>

#include "cli.h"

int cmd_devices(int argc, char **argv) {
  int json = 0;
  const char *device = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!strcmp(argv[i], "--device") && i + 1 < argc)
      device = argv[++i];
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      puts("usage: vkgen devices [--json] [--device D]\n\nLists every Vulkan device: name, type, Vulkan version,\n"
           "subgroup size, shared memory per workgroup, device memory, and fp16 / int8 / cooperative-matrix\n"
           "support. --device D shows only the device that D chooses (an index, part of a name, cpu or gpu),\n"
           "as every other command would.");
      return 0;
    } else if (!strcmp(argv[i], "--device"))
      return cli_error("--device needs an index or a name (see 'vkgen devices')");
    else
      return cli_error("devices: unknown option '%s'", argv[i]);
  }
  int only = -1;
  if (device) { /* the device a command would open */
    struct cli_common c = {.device = device};
    vkg_ctx *ctx = cli_ctx(&c);
    if (!ctx) return 1;
    only = vkg_ctx_device(ctx)->index;
    if (cli_ctx_done(ctx, 0)) return 1;
  }
  struct vkg_device_info info[16];
  int n;
  if (vkg_enumerate_devices(info, 16, &n)) return cli_vkg_error(NULL);
  if (n > 16) n = 16;
  if (json) printf("[");
  for (int i = 0, first = 1; i < n; i++) {
    const struct vkg_device_info *d = &info[i];
    if (only >= 0 && d->index != only) continue;
    unsigned maj = VK_VERSION_MAJOR(d->api_version), min = VK_VERSION_MINOR(d->api_version),
             pat = VK_VERSION_PATCH(d->api_version);
    if (json) {
      printf(
          "%s\n {\"index\": %d, \"name\": \"%s\", \"type\": \"%s\", \"vulkan\": \"%u.%u.%u\", \"subgroup_size\": %u, "
          "\"shared_memory\": %u, \"device_memory\": %llu, \"fp16\": %s, \"int8\": %s, \"cooperative_matrix\": %s}",
          first ? "" : ",", d->index, d->name, d->type, maj, min, pat, d->subgroup_size, d->shared_memory,
          (unsigned long long)d->device_memory, d->fp16 ? "true" : "false", d->int8 ? "true" : "false",
          d->coopmat ? "true" : "false");
      first = 0;
    } else {
      printf("%d: %s\n", d->index, d->name);
      printf("   type %s, Vulkan %u.%u.%u, subgroup %u, shared memory %u KiB, memory %.1f GiB\n", d->type, maj, min,
             pat, d->subgroup_size, d->shared_memory / 1024, (double)d->device_memory / (1 << 30));
      printf("   fp16 %s, int8 %s, cooperative matrix %s\n", d->fp16 ? "yes" : "no", d->int8 ? "yes" : "no",
             d->coopmat ? "yes" : "no");
    }
  }
  if (json) printf("\n]\n");
  return 0;
}
