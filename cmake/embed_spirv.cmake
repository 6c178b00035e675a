# Turns one SPIR-V file into a C source holding it as a uint32_t array.
# Called at build time: cmake -DIN=x.spv -DOUT=x.c -DNAME=matmul_fwd -P embed_spirv.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR words "${n} / 8")
# SPIR-V is little-endian 32-bit words: reorder each group of four bytes.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," body "${hex}")
string(REGEX REPLACE "(0x........u,0x........u,0x........u,0x........u,0x........u,0x........u,0x........u,0x........u,)" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* generated from ${NAME}.comp; do not edit */\n#include <stdint.h>\n#include <stddef.h>\nconst uint32_t vkg_spv_${NAME}[${words}] = {\n${body}\n};\nconst size_t vkg_spv_${NAME}_words = ${words};\n")
