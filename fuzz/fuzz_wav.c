/* Fuzz target: WAV files (src/io/wav.c) through vkg_wav_load. The first input byte picks the target
 * rate (0: the file's own; otherwise one of a few rates, so the resampler runs up and down); the rest
 * is the file. */
#include "fuzz.h" /* first: it sets _GNU_SOURCE */

#include <math.h>
#include "vkgen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const int rates[4] = {0, 8000, 1000, 22050};
  int rate = rates[data[0] & 3];
  char path[64];
  int fd = fuzz_memfd(data + 1, size - 1, path, sizeof path);
  if (fd < 0) return 0;
  struct vkg_audio a;
  vkg_status s = vkg_wav_load(path, rate, &a);
  if (s) {
    FUZZ_ASSERT(!a.samples && a.n == 0 && strstr(vkg_last_error(), path));
  } else {
    FUZZ_ASSERT(a.rate >= VKG_WAV_MIN_RATE && a.rate <= VKG_WAV_MAX_RATE && (!rate || a.rate == rate));
    FUZZ_ASSERT(a.samples && a.n <= (size + 1) * 23); /* at most 22050 / 1000 times the frames */
    /* Samples are finite and bounded: integers within [-1, 1], floats within the reader's limit
     * (resampling may overshoot a little: its taps have negative lobes). */
    for (size_t i = 0; i < a.n; i++)
      FUZZ_ASSERT(isfinite(a.samples[i]) && fabsf(a.samples[i]) <= 100 * VKG_WAV_MAX_FLOAT);
    vkg_audio_free(&a);
  }
  close(fd);
  return 0;
}
