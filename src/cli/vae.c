/* vkgen train|sample|eval|bench vae (not built yet). */
#include "cli.h"

int train_vae(int argc, char **argv) { return cli_error("train vae: not built yet"); }
int sample_vae(int argc, char **argv) { return cli_error("sample vae: not built yet"); }
int eval_vae(int argc, char **argv) { return cli_error("eval vae: not built yet"); }
int bench_vae(int argc, char **argv) { return cli_error("bench vae: not built yet"); }
