/* The datasets of every family, in one place and with the same conventions: a NULL directory is the
 * Debian package's data (Fashion-MNIST, the fortunes, the English speech prompts), a given one is the
 * user's; the test split is every N-th item of a folder in a fixed order (nn_data_held_out), so it
 * never changes between runs; benchmarks ask for random data of the same shape instead.
 * - images: Fashion-MNIST (its IDX files: the default, or a directory holding them) or a folder of
 *   PNG/JPEG images (every 10th one held out);
 * - text: a directory of fortune files (every 20th fortune held out), as token ids;
 * - audio: a folder of WAV files (every 10th file held out), as mu-law classes. */
#ifndef VKGEN_NN_DATA_H
#define VKGEN_NN_DATA_H
#include "vkgen.h"

#define NN_DATA_TEST_EVERY 10 /* images and audio files: the 10th, 20th, ... are the test set */
#define NN_TEXT_TEST_EVERY 20 /* fortunes: the 20th, 40th, ... are the validation set */
/* Whether item i (0-based, in the folder's fixed order) is held out for testing. */
static inline int nn_data_held_out(size_t i, int every) { return i % (size_t)every == (size_t)every - 1; }

/* 1 if dir is NULL (the Debian package's Fashion-MNIST) or holds Fashion-MNIST's IDX files. */
int nn_data_is_fashion(const char *dir);

/* Loads the images of dir (see nn_data_is_fashion) into train and, if test is not NULL, test.
 * Fashion-MNIST comes as it is stored (28x28, 1 channel, labelled; its train and test splits): the
 * family checks that it fits. A folder is loaded at size x size with `channels` channels (see
 * vkg_image_folder_load); with test, image i goes to the test set when i % 10 == 9 (all images to both
 * when there are fewer than 10), without it every image is for training. synthetic > 0 makes that many
 * random images (and labels 0..9 in turn) from seed instead, for benchmarks, in train and test. train
 * may be NULL when only the test set is wanted. Free both with vkg_images_free; on failure both are
 * left empty. */
vkg_status nn_image_data_load(const char *dir, int size, int channels, int synthetic, uint64_t seed,
                              struct vkg_images *train, struct vkg_images *test);

// ---- text ----

/* Fortunes split at "%" lines; every 20th fortune is held out for validation. Each split is the
 * concatenation of its fortunes, each followed by "%\n" (so the model learns where one ends). */
struct nn_text_data {
  int32_t *train, *val; /* token ids */
  size_t ntrain, nval;
  size_t val_bytes; /* bytes of text the validation tokens decode to */
  char **val_texts; /* the held-out fortunes themselves (for BLEU), nval_texts of them */
  int nval_texts;
};
/* dir NULL: the Debian fortunes. */
vkg_status nn_text_data_load(const char *dir, const vkg_tokenizer *tok, struct nn_text_data *c);
void nn_text_data_free(struct nn_text_data *c);

// ---- audio ----

/* Audio as mu-law classes, in clips; clip i is held out for testing when nn_data_held_out(i, 10) (in
 * the sorted path order of the folder), so the test set is a fixed tenth of the files. */
struct nn_audio_data {
  int n_clips, n_classes;
  uint8_t *q;    /* every clip's classes, concatenated */
  size_t *start; /* (n_clips + 1) */
  int *label;    /* (n_clips) */
  char **class_names;
};
/* dir NULL: VKG_SPEECH_EN_DIR; resampled to rate. */
vkg_status nn_audio_data_load(const char *dir, int rate, struct nn_audio_data *d);
/* n clips of len random classes, one conditioning class (benchmarks time the step, not the data). */
vkg_status nn_audio_data_synthetic(int n, size_t len, uint64_t seed, struct nn_audio_data *d);
void nn_audio_data_free(struct nn_audio_data *d);
#endif
