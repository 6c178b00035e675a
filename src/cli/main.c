/* vkgen: the command-line tool. Dispatches to a subcommand; each prints one clear error line (and
 * a hint) and exits non-zero on bad input. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan_core.h>

#include "cli.h"
#include "nn/dist.h"

static void usage(FILE *f) {
  fputs("usage: vkgen <command> [options]\n"
        "\n"
        "commands:\n"
        "  devices             list Vulkan devices and their capabilities\n"
        "  selfcheck           run every op's test cases against its plain-C reference on the chosen device\n"
        "  train FAMILY        train a model with checkpoints, metrics and a loss plot\n"
        "  sample FAMILY       sample from a trained model (the shipped one by default)\n"
        "  eval FAMILY         measure a trained model (FID, ELBO, held-out loss, BLEU)\n"
        "  bench ops|FAMILY    time each op (with its fraction of peak), or a family's throughput\n"
        "  bench peak          the device's fp32 FMA throughput and copy bandwidth\n"
        "  compare             every family side by side: train (same budget), evaluate, sample, time; an HTML report\n"
        "  profile FAMILY      GPU time of every dispatch of a training step or of sampling, by op and shader\n"
        "  dev OP              re-check an op against a plain-C reference on every shader save (hot reload)\n"
        "\n"
        "families:\n",
        f);
  const struct cli_family *m;
  for (int i = 0; (m = cli_family_at(i)); i++)
    fprintf(f, "  %-10s %-6s %s%s%s\n", m->name, m->modality, m->summary, m->writes ? "; sample writes " : "",
            m->writes ? m->writes : "");
  fputs("\n"
        "options for every command (--opt=value works as well as --opt value):\n"
        "  --device INDEX|NAME   use this device (index, part of its name, or cpu/gpu for the first of that\n"
        "                        type; also $VKGEN_DEVICE)\n"
        "  --watch [DIR]         (train, sample, bench, dev) hot-reload shaders edited in DIR (default:\n"
        "                        the source tree's shaders/)\n"
        "\n"
        "environment:\n"
        "  VKGEN_DEVICE          default device (as --device)\n"
        "  VKGEN_VALIDATE=1      enable the Khronos validation layer with synchronization validation\n"
        "  VKGEN_PIPELINE_CACHE  pipeline cache file (default ~/.cache/vkgen/); empty disables it\n"
        "\n"
        "Run 'vkgen COMMAND --help' or 'vkgen COMMAND FAMILY --help' for the options of a command;\n"
        "'vkgen --version' for the version.\n",
        f);
}

/* --opt=value becomes --opt value, for every command. The new argv (when one is made) is freed by
 * vkg_cli_main after the command; its strings are argv's. */
static char **split_equals(int *argc, char **argv) {
  int n = *argc, extra = 0;
  for (int i = 1; i < n; i++)
    extra += !strncmp(argv[i], "--", 2) && strchr(argv[i], '=') != NULL;
  if (!extra) return argv;
  char **out = calloc((size_t)(n + extra + 1), sizeof *out);
  if (!out) return argv;
  int k = 0;
  for (int i = 0; i < n; i++) {
    char *eq = i && !strncmp(argv[i], "--", 2) ? strchr(argv[i], '=') : NULL;
    if (!eq) {
      out[k++] = argv[i];
      continue;
    }
    *eq = 0; /* argv's strings may be modified */
    out[k++] = argv[i];
    out[k++] = eq + 1;
  }
  *argc = k;
  return out;
}

/* vkgen --version: the library's version and the Vulkan headers it was built with. */
static int version(void) {
  printf("vkgen %s\n", vkg_version());
  printf("Vulkan headers %u.%u.%u\n", VK_API_VERSION_MAJOR(VK_HEADER_VERSION_COMPLETE),
         VK_API_VERSION_MINOR(VK_HEADER_VERSION_COMPLETE), VK_API_VERSION_PATCH(VK_HEADER_VERSION_COMPLETE));
  printf("MPI data-parallel training: %s\n", nn_dist_built() ? "yes (mpirun -np N vkgen train ...)" : "no");
  return 0;
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) return version();
  if (!strcmp(cmd, "devices")) return cmd_devices(argc - 1, argv + 1);
  if (!strcmp(cmd, "selfcheck")) return cmd_selfcheck(argc - 1, argv + 1);
  if (!strcmp(cmd, "dev")) return cmd_dev(argc - 1, argv + 1);
  if (!strcmp(cmd, "profile")) return cmd_profile(argc - 1, argv + 1);
  if (!strcmp(cmd, "compare")) return cmd_compare(argc - 1, argv + 1);
  if (!strcmp(cmd, "bench") && argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")))
    return cmd_family("bench", argc - 1, argv + 1);
  if (!strcmp(cmd, "bench") && argc > 2 && strcmp(argv[2], "ops") != 0 && strcmp(argv[2], "peak") != 0 &&
      argv[2][0] != '-')
    return cmd_family("bench", argc - 1, argv + 1);
  if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
  if (!strcmp(cmd, "train") || !strcmp(cmd, "sample") || !strcmp(cmd, "eval"))
    return cmd_family(cmd, argc - 1, argv + 1);
  cli_error("unknown command '%s'", cmd);
  fputs("hint: run 'vkgen --help' for the list of commands\n", stderr);
  return 2;
}

int vkg_cli_main(int argc, char **argv) {
  char **split = split_equals(&argc, argv);
  int rc = dispatch(argc, split);
  if (split != argv) free(split);
  return rc;
}
