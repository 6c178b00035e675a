/* vkgen bench ops: throughput of each op at a few sizes. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_bench(int argc, char **argv) {
  return cli_error("bench: not built yet");
}
