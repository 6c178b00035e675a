/* vkgen train|sample|eval|bench gan (not built yet). */
#include "cli.h"

int train_gan(int argc, char **argv) { return cli_error("train gan: not built yet"); }
int sample_gan(int argc, char **argv) { return cli_error("sample gan: not built yet"); }
int eval_gan(int argc, char **argv) { return cli_error("eval gan: not built yet"); }
int bench_gan(int argc, char **argv) { return cli_error("bench gan: not built yet"); }
