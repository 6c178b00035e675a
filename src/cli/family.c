/* The model families behind 'vkgen train|sample|eval|bench <family>', and finding default assets. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "models/gan.h"
#include "models/lm.h"
#include "models/models.h"
#include "models/pixelcnn.h"
#include "models/flow.h"
#include "models/vae.h"
#include "models/wavenet.h"

/* Every family: registering one is one line here. */
static const struct cli_family builtin[] = {
    {"classifier", "Fashion-MNIST classifier (the features of FID)", "image", NULL, &classifier_cfg, 3, 64, 1e-3, 0.9,
     0, NULL, NULL, NULL, NULL, &classifier_ops},
    {"gan", "DCGAN on Fashion-MNIST or your images", "image", "a PNG grid", &gan_cfg, 1, 64, 2e-4, 0.5, 0, NULL,
     sample_gan, eval_gan, bench_gan, &gan_ops},
    {"vae", "convolutional VAE on Fashion-MNIST or your images", "image", "a PNG grid", &vae_cfg, 1, 32, 1e-3, 0.9, 0,
     NULL, sample_vae, eval_vae, bench_vae, &vae_ops, vae_pictures},
    {"pixelcnn", "gated PixelCNN (exact likelihood) on Fashion-MNIST or your images", "image", "a PNG grid",
     &pixelcnn_cfg, 1, 32, 1e-3, 0.9, 1, NULL, sample_pixelcnn, eval_pixelcnn, bench_pixelcnn, &pixelcnn_ops},
    {"flow", "normalizing flow (Glow / RealNVP) on Fashion-MNIST or your images", "image", "a PNG grid", &flow_cfg, 1,
     32, 1e-3, 0.9, 0, NULL, sample_flow, eval_flow, bench_flow, &flow_ops},
    {"gpt", "GPT decoder language model on the fortunes (or a Hugging Face GPT-2)", "text", "text on stdout",
     &lm_cfg_gpt, 1, 16, 1e-3, 0.9, 1, NULL, sample_text_family, eval_text_family, bench_text_family, &lm_ops_gpt},
    {"lstm", "LSTM language model on the fortunes", "text", "text on stdout", &lm_cfg_lstm, 1, 16, 1e-3, 0.9, 1, NULL,
     sample_text_family, eval_text_family, bench_text_family, &lm_ops_lstm},
    {"gru", "GRU language model on the fortunes", "text", "text on stdout", &lm_cfg_gru, 1, 16, 1e-3, 0.9, 1, NULL,
     sample_text_family, eval_text_family, bench_text_family, &lm_ops_gru},
    {"wavenet", "WaveNet on speech (mu-law classes, dilated causal convolutions)", "audio", "a WAV file", &wavenet_cfg,
     1, 8, 1e-3, 0.9, 1, NULL, sample_wavenet, eval_wavenet, bench_wavenet, &wavenet_ops},
    {0},
};

static const struct cli_family *added[8];

const struct cli_family *cli_family_at(int i) {
  int nb = (int)(sizeof builtin / sizeof builtin[0]) - 1;
  if (i < 0) return NULL;
  if (i < nb) return &builtin[i];
  return i - nb < 8 ? added[i - nb] : NULL;
}

const struct cli_family *cli_family_find(const char *name) {
  const struct cli_family *f;
  for (int i = 0; (f = cli_family_at(i)); i++)
    if (!strcmp(f->name, name)) return f;
  return NULL;
}

int cli_family_register(const struct cli_family *f) {
  if (!f || !f->name || cli_family_find(f->name)) return -1;
  for (int i = 0; i < 8; i++)
    if (!added[i]) {
      added[i] = f;
      return 0;
    }
  return -1;
}

int cmd_family(const char *verb, int argc, char **argv) {
  char names[256] = "";
  const struct cli_family *f;
  for (int i = 0; (f = cli_family_at(i)); i++) {
    int train = !strcmp(verb, "train"), sample = !strcmp(verb, "sample"), eval = !strcmp(verb, "eval");
    int (*fn)(int, char **) = train ? f->train : sample ? f->sample : eval ? f->eval : f->bench;
    int (*gen)(const struct cli_family *, int, char **) = train    ? family_train
                                                          : sample ? family_sample
                                                          : eval   ? family_eval
                                                                   : family_bench;
    /* The generic commands: training and evaluation need create, sampling an image family. */
    int generic = !fn && f->ops && f->ops->create && (!sample || f->ops->sample_images);
    if (fn || generic)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", f->name);
    if (argc >= 2 && !strcmp(argv[1], f->name)) {
      if (fn) return fn(argc - 1, argv + 1);
      if (generic) return gen(f, argc - 1, argv + 1);
      cli_error("%s: the %s model cannot be %s", verb, f->name,
                !strcmp(verb, "sample") ? "sampled"
                : !strcmp(verb, "eval") ? "evaluated"
                                        : "benchmarked");
      return 1;
    }
  }
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    FILE *out = argc < 2 ? stderr : stdout;
    int bench = !strcmp(verb, "bench");
    fprintf(out, "usage: vkgen %s %sFAMILY [options]   (FAMILY: %s)\n", verb, bench ? "ops|peak|" : "", names);
    if (bench)
      fputs("'vkgen bench ops' times each op, 'vkgen bench peak' the device's FMA and copy peaks, 'vkgen bench\n"
            "FAMILY' a family's sampling and training.\n",
            out);
    fprintf(out, "Run 'vkgen %s %sFAMILY --help' for the options.\n", verb, bench ? "ops|peak|" : "");
    return argc < 2 ? 2 : 0;
  }
  cli_error("%s: unknown model '%s'", verb, argv[1]);
  fprintf(stderr, "hint: models: %s\n", names);
  return 1;
}

static int readable(const char *path) { return access(path, R_OK) == 0; }

/* dir/rel/file, if readable (without "..", so that messages name it plainly). */
static int asset_in(const char *dir, const char *rel, const char *file, char *out, size_t n) {
  snprintf(out, n, "%s/%s/%s", dir, rel, file);
  if (!readable(out)) return 0;
  char real[PATH_MAX];
  if (realpath(out, real) && strlen(real) < n) strcpy(out, real);
  return 1;
}

int cli_asset(const char *file, char *out, size_t n) {
  const char *env = getenv("VKGEN_ASSETS");
  if (env && *env) {
    snprintf(out, n, "%s/%s", env, file);
    if (readable(out)) return 1;
  }
  /* An installed copy comes before the source tree's: share/vkgen/assets relative to the program,
   * then to the library (a program or Python linking libvkgen.so from another directory). */
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  char *slash = NULL;
  if (len > 0) {
    exe[len] = 0;
    slash = strrchr(exe, '/');
    if (slash) *slash = 0;
  }
#ifdef VKGEN_BIN_TO_ASSETS
  if (slash && asset_in(exe, VKGEN_BIN_TO_ASSETS, file, out, n)) return 1;
#endif
#ifdef VKGEN_LIB_TO_ASSETS
  Dl_info info;
  if (dladdr((void *)cli_asset, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
    char lib[PATH_MAX];
    snprintf(lib, sizeof lib, "%s", info.dli_fname);
    *strrchr(lib, '/') = 0;
    if (asset_in(lib, VKGEN_LIB_TO_ASSETS, file, out, n)) return 1;
  }
#endif
#ifdef VKGEN_SOURCE_ASSETS
  snprintf(out, n, "%s/%s", VKGEN_SOURCE_ASSETS, file);
  if (readable(out)) return 1;
#endif
  if (slash) {
    static const char *rel[] = {"assets", "../assets", "../share/vkgen/assets"};
    for (int i = 0; i < 3; i++)
      if (asset_in(exe, rel[i], file, out, n)) return 1;
  }
  return 0;
}
