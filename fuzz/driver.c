/* Replays fuzz inputs without libFuzzer: runs a target's LLVMFuzzerTestOneInput on every file named
 * on the command line, and on every file in every directory named (not recursively), in sorted
 * order. This is how ctest runs the corpora and the crash regressions in any build (gcc included);
 * a crash, a sanitizer report or a failed property ends the program non-zero. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "fuzz driver: cannot open '%s'\n", path);
    return 1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += r;
    if (n == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  fclose(f);
  if (!buf) {
    fprintf(stderr, "fuzz driver: out of memory reading '%s'\n", path);
    return 1;
  }
  /* An exact-size copy, so that ASan catches a read one past the input. */
  uint8_t *exact = malloc(n ? n : 1);
  if (n) memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  /* Absolute paths first: a target's initializer may change the working directory. */
  for (int a = 1; a < argc; a++) {
    char *abs = realpath(argv[a], NULL);
    if (abs) argv[a] = abs; /* kept to the end of the program */
  }
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  int inputs = 0, errors = 0;
  for (int a = 1; a < argc; a++) {
    struct stat sb;
    if (stat(argv[a], &sb) != 0) {
      fprintf(stderr, "fuzz driver: '%s' does not exist\n", argv[a]);
      errors++;
      continue;
    }
    if (!S_ISDIR(sb.st_mode)) {
      errors += run_file(argv[a]);
      inputs++;
      continue;
    }
    DIR *d = opendir(argv[a]);
    if (!d) {
      fprintf(stderr, "fuzz driver: cannot list '%s'\n", argv[a]);
      errors++;
      continue;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
      if (e->d_name[0] == '.') continue;
      if (n == cap) names = realloc(names, sizeof *names * (cap = cap ? 2 * cap : 64));
      names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp);
    for (size_t i = 0; i < n; i++) {
      size_t l = strlen(argv[a]) + strlen(names[i]) + 2;
      char *path = malloc(l);
      snprintf(path, l, "%s/%s", argv[a], names[i]);
      if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        errors += run_file(path);
        inputs++;
      }
      free(path);
      free(names[i]);
    }
    free(names);
  }
  printf("%d inputs replayed, %d errors\n", inputs, errors);
  return errors ? 1 : 0;
}
