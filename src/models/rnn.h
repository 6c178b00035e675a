/* The LSTM and GRU language models: a token embedding, L recurrent layers (vkg_lstm / vkg_gru, each
 * fed by one input-projection matmul over the whole window) and a linear output head.
 *
 * Parameters carry PyTorch's nn.LSTM / nn.GRU names and layouts, so a state dict of an
 * nn.Embedding + nn.LSTM + nn.Linear model maps one to one: embedding.weight (V, C),
 * rnn.weight_ih_l<i> (G*C, C), rnn.weight_hh_l<i> (G*C, C), rnn.bias_ih_l<i> (G*C),
 * rnn.bias_hh_l<i> (G*C) with G = 4 (gates i, f, g, o) or 3 (r, z, n), head.weight (V, C) unless
 * tied to the embedding, and head.bias (V). The embedding size equals the hidden size C (cfg.dim).
 *
 * Training uses truncated backpropagation through time: each window of cfg.context tokens starts
 * from a zero state and gradients stop at its edges. Windows are independent examples (shuffled by
 * the training loop), so no state is carried from one batch to the next; the model learns to start
 * from nothing, which is also how sampling starts (the decoder resets h and c to zeros per prompt). */
#ifndef VKGEN_RNN_H
#define VKGEN_RNN_H
#include "models/lm.h"

extern const struct lm_family lm_family_lstm;
extern const struct lm_family lm_family_gru;
#endif
