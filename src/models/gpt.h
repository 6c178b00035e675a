/* The GPT decoder family (GPT-2's architecture): token + position embeddings, L pre-LayerNorm blocks
 * (causal multi-head self-attention, then a tanh-GELU MLP, each added to the residual stream), a
 * final LayerNorm and an output head that is the token embedding transposed (tied) or its own matrix.
 *
 * Parameters carry Hugging Face GPT-2's names and layouts, so one loader reads vkgen's weights and HF
 * checkpoints alike: wte.weight (V, C), wpe.weight (context, C), h.<i>.ln_1.{weight,bias},
 * h.<i>.attn.c_attn.{weight (C, 3C), bias}, h.<i>.attn.c_proj.{weight (C, C), bias}, h.<i>.ln_2.*,
 * h.<i>.mlp.c_fc.{weight (C, mlp), bias}, h.<i>.mlp.c_proj.{weight (mlp, C), bias}, ln_f.*, and
 * lm_head.weight (V, C) when untied. Linear weights are (in, out) as in HF's Conv1D. */
#ifndef VKGEN_GPT_H
#define VKGEN_GPT_H
#include "models/lm.h"

extern const struct lm_family lm_family_gpt;

/* A Hugging Face GPT-2 checkpoint directory: config.json (n_embd, n_layer, n_head, n_positions,
 * vocab_size, layer_norm_epsilon, activation_function gelu_new), model.safetensors (names with or
 * without "transformer."), vocab.json and merges.txt. Errors name the file and what disagrees. */
vkg_status gpt_load_hf(vkg_ctx *ctx, const char *dir, struct lm **out);
#endif
