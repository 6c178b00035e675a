/* The table of SPIR-V shaders embedded at build time (generated into build/spv/shader_table.c). */
#ifndef VKGEN_SHADER_TABLE_H
#define VKGEN_SHADER_TABLE_H
#include <stddef.h>
#include <stdint.h>
struct vkg_shader_blob {
  const char *name;
  const uint32_t *spirv;
  const size_t *words;
};
extern const struct vkg_shader_blob vkg_shader_blobs[];
#endif
