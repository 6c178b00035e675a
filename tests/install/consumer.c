/* A program that uses an installed vkgen as any user would: built against the installed tree only
 * (through pkg-config or find_package(vkgen), see tests/install.sh). It checks the header's version
 * against the library's, runs a small graph against a plain-C reference, samples 4 images from the
 * shipped GAN into a PNG grid and reads it back (and again with --seed=1, which must give the same
 * file), and checks that a bad output path fails with vkgen's error and hint. Exits non-zero on any
 * failure.
 *
 * usage: consumer PREFIX OUTDIR   (PREFIX: where vkgen is installed; the shipped weights must be
 *                                  found there, not in a source tree) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vkgen.h>

static int failures;
#define CHECK(c, ...)                                                                                                  \
  do {                                                                                                                 \
    if (!(c)) {                                                                                                        \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                             \
      fprintf(stderr, __VA_ARGS__);                                                                                    \
      fprintf(stderr, " (vkgen: %s; hint: %s)\n", vkg_last_error(), vkg_last_hint());                                  \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

/* relu(x @ w + b) on awkward shapes, against the same computation in plain C. */
static void small_graph(vkg_ctx *ctx) {
  enum { M = 7, K = 13, N = 5 };
  float x[M * K], w[K * N], b[N], y[M * N];
  for (int i = 0; i < M * K; i++)
    x[i] = sinf(0.37f * (float)i);
  for (int i = 0; i < K * N; i++)
    w[i] = cosf(0.11f * (float)i) - 0.3f;
  for (int i = 0; i < N; i++)
    b[i] = 0.05f * (float)i - 0.1f;
  vkg_graph *g;
  CHECK(vkg_graph_create(ctx, &g) == VKG_OK, "vkg_graph_create");
  if (failures) return;
  vkg_t tx = vkg_input(g, "x", VKG_F32, 2, (int[]){M, K});
  vkg_t tw = vkg_input(g, "w", VKG_F32, 2, (int[]){K, N});
  vkg_t tb = vkg_input(g, "b", VKG_F32, 1, (int[]){N});
  vkg_t ty = vkg_unary(g, VKG_RELU, vkg_matmul(g, tx, tw, tb, 0), 0, 0);
  vkg_output(g, ty);
  CHECK(vkg_graph_compile(g) == VKG_OK, "compile");
  CHECK(vkg_graph_write(g, tx, x, M * K) == VKG_OK && vkg_graph_write(g, tw, w, K * N) == VKG_OK &&
            vkg_graph_write(g, tb, b, N) == VKG_OK,
        "write");
  CHECK(vkg_graph_run(g) == VKG_OK, "run");
  CHECK(vkg_graph_read(g, ty, y, M * N) == VKG_OK, "read");
  double worst = 0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double ref = b[j];
      for (int k = 0; k < K; k++)
        ref += (double)x[i * K + k] * w[k * N + j];
      ref = ref > 0 ? ref : 0;
      double err = fabs(y[i * N + j] - ref) / (1e-4 + 1e-4 * fabs(ref));
      if (err > worst) worst = err;
    }
  CHECK(worst <= 1, "relu(x @ w + b) differs from the C reference (%.2f x tolerance)", worst);
  vkg_graph_destroy(g);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: consumer PREFIX OUTDIR\n");
    return 2;
  }
  const char *prefix = argv[1], *outdir = argv[2];
  CHECK(!strcmp(vkg_version(), VKG_VERSION_STRING), "library %s, header %s", vkg_version(), VKG_VERSION_STRING);
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", VKG_VERSION_MAJOR, VKG_VERSION_MINOR, VKG_VERSION_PATCH);
  CHECK(!strcmp(want, VKG_VERSION_STRING), "version macros %s vs %s", want, VKG_VERSION_STRING);

  struct vkg_ctx_desc d = vkg_ctx_desc_default(); /* validation from $VKGEN_VALIDATE */
  vkg_ctx *ctx = NULL;
  CHECK(vkg_ctx_create(&d, &ctx) == VKG_OK, "vkg_ctx_create");
  const char *validate = getenv("VKGEN_VALIDATE");
  if (ctx && validate && !strcmp(validate, "1"))
    CHECK(vkg_ctx_validation_enabled(ctx), "VKGEN_VALIDATE=1 but the validation layer is off");
  if (ctx) small_graph(ctx);

  /* The shipped weights come from the installed tree. */
  char path[4096];
  CHECK(vkg_asset_path("gan.safetensors", path, sizeof path) && !strncmp(path, prefix, strlen(prefix)),
        "gan.safetensors found at '%s', not under '%s'", path, prefix);

  /* 4 images from the shipped GAN, as 'vkgen sample gan' makes them: a 2x2 grid of 28x28 tiles. */
  char png[4096];
  snprintf(png, sizeof png, "%s/consumer-samples.png", outdir);
  const char *args[] = {"-n", "4", "--seed", "1", "-o", png};
  CHECK(vkg_family_run("sample", "gan", 6, args, NULL) == VKG_OK, "sample gan");
  struct vkg_images im;
  if (vkg_image_load(png, &im) == VKG_OK) {
    CHECK(im.n == 1 && im.c == 3 && im.h == 2 * 28 + 3 * 2 && im.w == 2 * 28 + 3 * 2, "grid %dx%dx%d", im.c, im.h,
          im.w);
    double lo = 1, hi = 0;
    for (size_t i = 0; i < (size_t)im.c * im.h * im.w; i++) {
      lo = im.pixels[i] < lo ? im.pixels[i] : lo;
      hi = im.pixels[i] > hi ? im.pixels[i] : hi;
    }
    CHECK(hi - lo > 0.5, "the samples are nearly flat (%.3f..%.3f)", lo, hi);
    vkg_images_free(&im);
  } else {
    CHECK(0, "reading back '%s'", png);
  }

  /* --opt=value is split as the program does: the same images. */
  char png2[4096];
  snprintf(png2, sizeof png2, "%s/consumer-samples-eq.png", outdir);
  const char *eq_args[] = {"-n", "4", "--seed=1", "-o", png2};
  CHECK(vkg_family_run("sample", "gan", 5, eq_args, NULL) == VKG_OK, "sample gan --seed=1");
  FILE *fa = fopen(png, "rb"), *fb = fopen(png2, "rb");
  int same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    same = ca == cb;
    if (ca == EOF) break;
  }
  CHECK(same, "--seed=1 and --seed 1 give different PNGs");
  if (fa) fclose(fa);
  if (fb) fclose(fb);

  /* A command's failure comes back as a status with its error line and hint. */
  const char *bad[] = {"-n", "4", "-o", "/nonexistent-vkgen-dir/x.png"};
  char *out = NULL;
  vkg_status s = vkg_family_run("sample", "gan", 4, bad, &out);
  CHECK(s != VKG_OK && strstr(vkg_last_error(), "/nonexistent-vkgen-dir") && strstr(vkg_last_hint(), "mkdir"),
        "a bad -o gave status %d", (int)s);
  CHECK(out && !*out, "stdout of the failed command: '%s'", out ? out : "(null)");
  free(out);
  CHECK(vkg_family_run("sample", "no-such-family", 0, NULL, NULL) != VKG_OK &&
            strstr(vkg_last_error(), "no-such-family"),
        "an unknown family");

  if (ctx) {
    CHECK(vkg_ctx_validation_messages(ctx) == 0, "%u validation messages", vkg_ctx_validation_messages(ctx));
    vkg_ctx_destroy(ctx);
  }
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  else
    printf("ok: vkgen %s installed at %s: graph, sample gan, errors\n", vkg_version(), prefix);
  return failures ? 1 : 0;
}
