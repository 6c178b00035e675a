/* The vkgen program: the command-line tool lives in the library (src/cli, vkg_cli_main), so that
 * programs and the Python module can run the same commands in process. */
#include "vkgen.h"

int main(int argc, char **argv) { return vkg_cli_main(argc, argv); }
