/* Image datasets for every image family, behind one call: Fashion-MNIST (its IDX files: the default,
 * or a directory holding them), a folder of PNG/JPEG images (every 10th one held out as the test set),
 * or random images for benchmarks. */
#ifndef VKGEN_NN_DATA_H
#define VKGEN_NN_DATA_H
#include "vkgen.h"

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
#endif
