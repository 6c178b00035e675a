/* Shared by the vkgen subcommands. */
#ifndef VKGEN_CLI_H
#define VKGEN_CLI_H
#include <stdio.h>

#include "nn/config.h"
#include "nn/fid.h"
#include "vkgen.h"

/* Options every subcommand takes. */
struct cli_common {
  const char *device; /* --device INDEX|NAME */
  const char *watch;  /* --watch [DIR]: hot-reload shaders from DIR (default: the source tree's shaders/) */
  int json;           /* --json */
};
/* If argv[i] is --device D or --watch [DIR], parses it and returns the argv entries used; else 0;
 * -1 after printing an error. */
int cli_common_opt(struct cli_common *c, int argc, char **argv, int i);

/* Prints "error: <msg>" and, if there is one, "hint: <hint>" to stderr. Returns 1 (the exit code). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the library's last error and hint; returns 1. */
int cli_vkg_error(const char *doing);
/* Writes s with control characters escaped (\n, \xNN): every message that quotes a name goes
 * through this (cli_error and cli_vkg_error do). */
void cli_put_escaped(FILE *f, const char *s);
/* Where to report what a command wrote to out: standard error when out is "-" (standard output then
 * carries the data itself), else standard output. */
FILE *cli_msgs(const char *out);
/* Opens a context on the chosen device; prints the error and returns NULL on failure. */
vkg_ctx *cli_ctx(const struct cli_common *c);
/* Destroys ctx and returns rc, or 1 if the validation layer reported anything (with a message). */
int cli_ctx_done(vkg_ctx *ctx, int rc);
/* Parses a whole decimal integer in [lo, hi]; prints an error naming opt and returns 0 if bad. */
int cli_int(const char *opt, const char *s, long lo, long hi, long *out);
/* If argv[i] is an architecture option of table c, parses it into cfg: the argv entries used, 0 if it
 * is not one, -1 after printing the error. */
int cli_arch_opt(const struct nn_cfg *c, void *cfg, int argc, char **argv, int i);
/* Whether argv[1..argc) holds an architecture option of table c (even one set to its default). */
int cli_arch_given(const struct nn_cfg *c, int argc, char **argv);

/* ---- option tables: one parser and one help text for every command ---- */
enum cli_opt_kind { CLI_INT, CLI_NUM, CLI_STR, CLI_FLAG };
struct cli_opt {
  const char *name;       /* "-n", "--seed" */
  enum cli_opt_kind kind; /* dst is a long *, double *, const char ** or int * (set to 1) */
  void *dst;
  double lo, hi;          /* the range of CLI_INT and CLI_NUM */
  const char *help;       /* one line; " (default X)" is added from *dst unless it says "default" */
  const char *value_name; /* " FILE" etc. in the help (default " N" or " X") */
};
/* Parses argv[1..argc) against the common options (--device, --watch, --json), opts (ends with a
 * NULL name) and the architecture table arch (may be NULL). --help prints usage, every option with its
 * default and the architecture options. Returns 0 to go on, 1 after --help (exit 0), -1 after printing
 * an error (exit 1). cmd ("sample gan") names the command in errors. */
int cli_parse(int argc, char **argv, const char *cmd, const char *usage, const struct cli_opt *opts,
              struct cli_common *c, const struct nn_cfg *arch, void *arch_cfg);

/* ---- model families: vkgen train|sample|eval|bench <family> ---- */
struct nn_model;
struct cli_family {
  const char *name, *summary;
  const char *modality;     /* "image", "text" or "audio" */
  const char *writes;       /* what 'vkgen sample' writes */
  const struct nn_cfg *cfg; /* the architecture table: options, help, weights config */
  /* Training defaults: epochs, batch, learning rate, Adam's beta1, gradient clipping (0: off). */
  int epochs, batch;
  double lr, beta1, clip;
  /* Commands of their own (argv[0] is the family name); NULL ones are the generic commands of cli/generic.c
   * built on ops. */
  int (*train)(int argc, char **argv);
  int (*sample)(int argc, char **argv);
  int (*eval)(int argc, char **argv);
  int (*bench)(int argc, char **argv);
  const struct nn_family_ops *ops;
  /* Pictures of the trained model written into out_dir after the generic training's samples.png (may
   * be NULL); returns 0, or 1 after printing an error. */
  int (*pictures)(struct nn_model *m, const char *out_dir, int quiet);
};
const struct cli_family *cli_family_at(int i);              /* the i-th family, NULL past the last */
const struct cli_family *cli_family_find(const char *name); /* NULL if there is none */
/* Adds a family at run time (a program embedding vkgen, or a test): after the built-in table. Returns 0,
 * or -1 if its name is taken or the table is full. f must outlive its use. */
int cli_family_register(const struct cli_family *f);
/* The generic commands (cli/generic.c): f's ops, its config table and the shared helpers. */
int family_train(const struct cli_family *f, int argc, char **argv);
int family_sample(const struct cli_family *f, int argc, char **argv);
int family_eval(const struct cli_family *f, int argc, char **argv);
int family_bench(const struct cli_family *f, int argc, char **argv);
/* The options of 'vkgen bench FAMILY': --weights FILE (time the architecture of that file, read from its
 * config; not with architecture options), --batch, --steps, the family's own options `extra` (may be
 * NULL) and its architecture options, into cfg (set to the defaults here) and checked. Returns 0 to go
 * on, 1 after --help, -1 after an error. Timed models get fresh weights: speed does not depend on them. */
int cli_bench_parse(const struct cli_family *f, int argc, char **argv, const char *usage, const struct cli_opt *extra,
                    struct cli_common *c, void *cfg, long *batch, long *steps);
/* Training steps/s of a new model of f with architecture cfg on random data of its shape (cli_bench_train). */
vkg_status family_bench_train(const struct cli_family *f, vkg_ctx *ctx, const void *cfg, int batch, int steps,
                              double *steps_per_s);
int cmd_family(const char *verb, int argc, char **argv); /* dispatches verb to the family in argv[1] */

/* ---- training options shared by every family (cli/train.c) ---- */
#include "nn/train.h"
struct cli_train {
  const struct cli_family *fam;
  struct cli_common c;
  struct nn_train_opts o;
  vkg_optim_kind optim;
  int cosine, batch; /* batch: this rank's share of the global --batch (all of it with one rank) */
  int global_batch;  /* --batch */
  double clip, beta1;
  size_t limit;
  const char *data_dir;
  const char *init; /* --init WEIGHTS */
};
/* The family's training defaults (cli/family.c) and its output directory runs/<family>. */
void cli_train_defaults(struct cli_train *t, const char *family);
/* If argv[i] is a common training option, parses it and returns how many argv entries it used (1 or
 * 2); 0 if it is not one; -1 after printing an error. */
int cli_train_opt(struct cli_train *t, int argc, char **argv, int i);
/* The common options with the family's defaults, for its --help. */
void cli_train_help(FILE *f, const struct cli_train *defaults);
/* With --init, reads the architecture of the --init weights into cfg (the family's config struct):
 * returns 1, or 0 after printing an error. Without --init it does nothing and returns 1. */
int cli_train_init_config(struct cli_train *t, void *cfg);
/* The options a family's create hook gets from the training command (--batch, --limit, --data, --seed). */
struct nn_create_opts cli_train_create_opts(const struct cli_train *t);
/* Completes the optimizer and schedule for m and runs nn_train; returns the exit code. */
int cli_train_run(struct cli_train *t, struct nn_model *m);
/* 1 where training writes its outputs: always, except on the ranks other than 0 of an MPI job, which
 * write nothing (no samples or pictures after training either). */
int cli_train_writes(void);
/* Training steps per second of m's step (nn_step_bench) with its family's default optimizer, learning
 * rate, beta1 and clipping, as 'vkgen train' runs it: for every 'vkgen bench FAMILY'. */
vkg_status cli_bench_train(struct nn_model *m, int steps, double *steps_per_s);

/* ---- shared helpers ---- */
/* Finds a default asset: $VKGEN_ASSETS/file, the installed share/vkgen/assets/file relative to the
 * executable or to the library, the source tree's assets/file, or assets/file next to (or one level
 * above) the executable. Returns 1 and the path in out if found. (vkg_asset_path in vkgen.h.) */
int cli_asset(const char *file, char *out, size_t n);
/* The weights a command uses: `given` (a file, or the bare name of a shipped model: emoji-gan ->
 * assets/emoji-gan.safetensors), else the family's default asset <family>.safetensors; NULL after an
 * error saying how to get weights. The path is in buf or is `given`. */
const char *cli_weights(const char *family, const char *given, char *buf, size_t n);
/* 1 if the directory part of an output path exists; else one error line with a hint, and 0. */
int cli_out_dir_ok(const char *path);
/* Parses a number strictly within [lo, hi]; prints an error naming opt and returns 0 if bad. */
int cli_float(const char *opt, const char *s, double lo, double hi, double *out);

/* ---- the test data and FID of an image family's eval and sample (cli/generic.c) ---- */
/* 1 if a model of size x size images with `channels` channels can use the data dir (Fashion-MNIST, the
 * default, is 28x28 grey); else one error line with a hint, and 0. */
int cli_data_fits(const char *dir, int size, int channels, const char *cmd);
/* FID of generated images against test images, with the floor (training images against the same test
 * images), through the one fid_eval. */
struct cli_fid {
  const char *classifier; /* the classifier's weights; NULL: FID is skipped */
  char path[4096];
  int n; /* images in each set; 0: skipped */
  double fid, floor;
  struct fid_pr pr;    /* precision and recall (k-NN manifolds in the FID features) */
  const char *skipped; /* why it was skipped, for the report */
};
/* Finds the classifier: clf (--classifier), else the assets'. Without one, FID is skipped (with the
 * reason in the report), or, if required, it is an error (0 returned after its message). */
int cli_fid_setup(struct cli_fid *f, const char *clf, int no_fid, int required, const char *cmd);
/* The images per set: want, at most the test and training images (FID is skipped below 2, saying so). */
void cli_fid_count(struct cli_fid *f, long want, int n_test, int n_train);
/* The FID of gen (f->n images of the test images' geometry) and its floor; nothing if skipped. */
vkg_status cli_fid_run(vkg_ctx *ctx, struct cli_fid *f, const float *gen, const struct vkg_images *test,
                       const struct vkg_images *train);
/* Eval's report lines (labels padded to `width`), or with json its fields: , "fid": .., "fid_floor": ..,
 * "fid_n": N, "precision": .., "recall": .., "precision_floor": .., "recall_floor": .. (null values if
 * skipped). */
void cli_fid_report(const struct cli_fid *f, int json, int width);

int cmd_devices(int argc, char **argv);
int cmd_selfcheck(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_dev(int argc, char **argv);     /* vkgen dev OP: shader authors' edit-and-check loop */
int cmd_profile(int argc, char **argv); /* vkgen profile FAMILY [train|sample] (cli/profile.c) */
int cmd_compare(int argc, char **argv); /* vkgen compare: every family side by side (cli/compare.c) */
int sample_gan(int argc, char **argv);
int eval_gan(int argc, char **argv);
int bench_gan(int argc, char **argv);
int sample_vae(int argc, char **argv);
int vae_pictures(struct nn_model *m, const char *out_dir, int quiet); /* reconstructions.png */
int eval_vae(int argc, char **argv);
int bench_vae(int argc, char **argv);
int sample_pixelcnn(int argc, char **argv);
int eval_pixelcnn(int argc, char **argv);
int bench_pixelcnn(int argc, char **argv);
int sample_flow(int argc, char **argv);
int eval_flow(int argc, char **argv);
int bench_flow(int argc, char **argv);
/* The text families gpt, lstm and gru (cli/text.c); argv[0] names the family. */
int sample_text_family(int argc, char **argv);
int eval_text_family(int argc, char **argv);
int bench_text_family(int argc, char **argv);
/* WaveNet on audio (cli/wavenet.c). */
int sample_wavenet(int argc, char **argv);
int eval_wavenet(int argc, char **argv);
int bench_wavenet(int argc, char **argv);
#endif
