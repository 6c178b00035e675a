/* Spectrograms of audio, for reports: the short-time Fourier transform's magnitude in decibels, and a
 * PNG picture of it. Plain C on the CPU (clips of seconds; the DFT is direct, O(frames * win^2)). */
#ifndef VKGEN_SPECTROGRAM_H
#define VKGEN_SPECTROGRAM_H
#include <stddef.h>

#include "vkgen.h"

/* The magnitude of the STFT of x (n samples) in dB, 20 log10(|X| + 1e-9): frames of `win` samples
 * starting every `hop` samples (frame t covers x[t*hop .. t*hop + win)), each multiplied by the
 * periodic Hann window w[i] = 0.5 - 0.5 cos(2 pi i / win), then the real DFT's bins 0..win/2 (bin k is
 * k * rate / win Hz). *db gets a malloc'd (frames, bins) array, frames = 1 + (n - win) / hop,
 * bins = win / 2 + 1. n >= win >= 2, hop >= 1 (VKG_ERR_ARG otherwise); a NaN or infinite sample is
 * VKG_ERR_NUMERIC. A sine of amplitude A at bin k's frequency gives A * win / 4 in bin k. */
vkg_status nn_stft_db(const float *x, size_t n, int win, int hop, float **db, int *frames, int *bins);

/* Writes a spectrogram (frames, bins) as a frames x bins PNG (time left to right, frequency bottom to
 * top), atomically: the levels from the loudest value down `range_db` decibels are mapped from black
 * through purple, red and yellow to white; quieter ones are black. */
vkg_status nn_spectrogram_png(const char *path, const float *db, int frames, int bins, double range_db);

/* Both: the spectrogram of x with win 256 and hop 64 (32 ms frames at 8 kHz), 80 dB shown. */
vkg_status nn_spectrogram_write(const char *path, const float *x, size_t n);
#endif
