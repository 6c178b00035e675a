/* Fuzz target: command-line parsing. The input is argv (arguments separated by NUL bytes) for the
 * real dispatcher, the library's vkg_cli_main (src/cli/main.c). Parsing must end in a usage
 * text or one error, never a crash, whatever the arguments.
 *
 * Every command parses its options before it opens a Vulkan context, and opening one is where this
 * target stops: the build links the CLI with -Wl,--wrap=vkg_ctx_create (and vkg_enumerate_devices,
 * which 'vkgen devices' calls at once), so the calls land in the stand-ins below, which fail as a
 * machine without a GPU would. The product code has no test switch for this, and no model ever runs.
 * Commands read files only after the context exists (weights, data), so a fuzzed path never loads
 * anything; the few checks before it (an output directory exists, a default asset is readable) only
 * stat. The target runs in a private working directory all the same. */
#include "fuzz.h" /* first: it sets _GNU_SOURCE */

#include <sys/stat.h>
#include "vkgen.h"

vkg_status __wrap_vkg_ctx_create(const struct vkg_ctx_desc *desc, vkg_ctx **out);
vkg_status __wrap_vkg_enumerate_devices(struct vkg_device_info *out, int max, int *count);

static int ctx_calls;

vkg_status __wrap_vkg_ctx_create(const struct vkg_ctx_desc *desc, vkg_ctx **out) {
  (void)desc;
  ctx_calls++;
  *out = NULL;
  return VKG_ERR_NO_DEVICE;
}

/* One made-up device, so that 'vkgen devices' prints something. */
vkg_status __wrap_vkg_enumerate_devices(struct vkg_device_info *out, int max, int *count) {
  *count = 1;
  if (max < 1) return VKG_OK;
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "fuzz device");
  out->type = "cpu";
  out->api_version = (1u << 22) | (2u << 12);
  out->subgroup_size = 8;
  out->shared_memory = 32768;
  out->device_memory = (uint64_t)2 << 30;
  return VKG_OK;
}

#define MAX_ARGS 48

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  if (chdir(fuzz_tmpdir()) != 0) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* argv strings are NUL-terminated copies of the parts. */
  char *copy = malloc(size + 1);
  FUZZ_ASSERT(copy);
  memcpy(copy, data, size);
  copy[size] = 0;
  char *argv[MAX_ARGS + 2];
  int argc = 0;
  argv[argc++] = "vkgen";
  for (size_t i = 0; i < size + 1 && argc < MAX_ARGS + 1;) {
    argv[argc++] = copy + i;
    i += strlen(copy + i) + 1;
  }
  if (size == 0) argc = 1;
  argv[argc] = NULL;
  /* The commands print usage texts and errors: into /dev/null, so the fuzzer's own log stays readable. */
  FILE *null = fopen("/dev/null", "w"), *out = stdout, *err = stderr;
  FUZZ_ASSERT(null);
  fflush(stdout), fflush(stderr);
  stdout = null, stderr = null;
  int before = ctx_calls;
  int rc = vkg_cli_main(argc, argv);
  stdout = out, stderr = err;
  fclose(null);
  /* 0 (help or success), 1 (an error) or 2 (usage); a command that opened a context failed there. */
  FUZZ_ASSERT(rc >= 0 && rc <= 2);
  FUZZ_ASSERT(ctx_calls == before || rc != 0);
  free(copy);
  return 0;
}
