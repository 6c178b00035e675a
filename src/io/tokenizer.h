/* Private parts of the tokenizers, visible to the tests. */
#ifndef VKGEN_IO_TOKENIZER_H
#define VKGEN_IO_TOKENIZER_H
#include <stddef.h>

/* GPT-2's pre-tokenizer: the end of the pre-token that starts at byte i of s[0..n) (i < n). Splitting
 * a text by repeated calls from i = 0 gives the matches of GPT-2's regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * with Unicode classes from src/io/unicode_classes.h; a byte that is not part of valid UTF-8 is one
 * character of its own that is neither letter, number nor space. */
size_t vkg__pretoken_end(const char *s, size_t n, size_t i);

#endif
