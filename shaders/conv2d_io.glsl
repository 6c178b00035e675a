// Bindings and push constants shared by conv2d.comp and conv2d_direct.comp (one launcher fills both;
// struct conv2d_pc in src/ops/conv.c mirrors the block).
layout(std430, binding = 0) readonly buffer X { float x[]; };      // (B, C, H, W)
layout(std430, binding = 1) readonly buffer Wt { float w[]; };     // (O, Cg, KH, KW)
layout(std430, binding = 2) readonly buffer Bias { float bias[]; }; // (O)
layout(std430, binding = 3) writeonly buffer Out { float o[]; };   // (B, O, OH, OW)
layout(push_constant, std430) uniform PC {
  uint C, H, W;             // input channels (all groups), height, width
  uint O, OH, OW;           // output channels (all groups), height, width
  uint KH, KW;
  uint stride_h, stride_w, dil_h, dil_w;
  int pad_t, pad_l;         // zero rows above and columns left of the input
  uint Cg, Og;              // input and output channels per group
  uint N;                   // B*OH*OW output pixels
  uint K;                   // Cg*KH*KW, the GEMM's inner dim
  uint mtiles;              // BM tiles per group along output channels
  uint has_bias;
} pc;
