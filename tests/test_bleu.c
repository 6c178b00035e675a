/* BLEU: vkg_bleu, vkg_self_bleu and their text forms against nltk's corpus_bleu (values made by
 * tools/bleu_reference.py, all hypotheses of >= 4 tokens where nltk and sacreBLEU agree), cases worked
 * out by hand (the short-hypothesis corner, empty hypotheses, identical samples), larger random
 * corpora against a brute-force plain-C reference of the definition, and bad arguments. Tolerance
 * 1e-9 absolute. No GPU work. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

struct bleu_case {
  const char *name;
  int n;
  double expected;
  const size_t *hyp_len; /* self-BLEU: the samples */
  const int32_t *hyp;    /* all hypotheses one after another */
  const size_t *ref_len; /* NULL for self-BLEU */
  const int32_t *ref;
};
struct text_case {
  const char *name;
  int n;
  double expected;
  const char *const *hyp, *const *ref;
};

// clang-format off
/* From tools/bleu_reference.py: nltk 3.8 corpus_bleu. */
static const struct bleu_case pair_cases[] = {
    {"5 hypotheses, vocabulary 5", 5, 0.57505232624749936,
     (const size_t[]){23, 11, 27, 29, 14},
     (const int32_t[]){
         2, 2, 1, 2, 2, 2, 0, 1, 2, 4, 0, 0, 3, 2, 2, 4, 0, 1, 0, 0, 1, 2, 0, 2, 2, 3, 3, 1, 3, 4, 2, 3, 1, 0, 4, 2, 2,
         2, 3, 1, 1, 4, 1, 3, 0, 3, 0, 2, 4, 3, 2, 0, 3, 3, 2, 0, 0, 4, 4, 1, 0, 2, 2, 1, 4, 0, 2, 4, 0, 1, 1, 2, 2, 4,
         3, 0, 4, 1, 0, 2, 2, 0, 4, 3, 2, 4, 4, 1, 0, 1, 2, 3, 3, 3, 0, 0, 2, 1, 1, 3, 4, 3, 1, 1,
     },
     (const size_t[]){21, 12, 27, 31, 16},
     (const int32_t[]){
         0, 2, 1, 2, 2, 2, 0, 1, 2, 4, 2, 0, 2, 1, 2, 3, 0, 1, 0, 0, 1, 2, 2, 3, 1, 1, 3, 4, 2, 3, 1, 3, 2, 4, 2, 2, 2,
         3, 0, 2, 4, 4, 3, 0, 3, 0, 2, 4, 3, 2, 0, 3, 3, 2, 4, 3, 4, 0, 1, 0, 2, 2, 1, 4, 0, 2, 0, 0, 1, 1, 2, 2, 1, 3,
         0, 4, 2, 0, 2, 2, 0, 1, 3, 2, 4, 2, 3, 0, 1, 2, 2, 2, 3, 3, 4, 0, 0, 2, 1, 1, 3, 4, 3, 1, 1, 2, 2,
     }},
    {"20 hypotheses, vocabulary 20", 20, 0.6196488309080781,
     (const size_t[]){9, 51, 22, 32, 39, 32, 23, 52, 33, 12, 29, 31, 9, 9, 15, 58, 40, 49, 18, 50},
     (const int32_t[]){
         5, 0, 3, 14, 1, 2, 11, 4, 7, 19, 15, 10, 19, 4, 2, 15, 9, 3, 12, 14, 16, 17, 10, 16, 15, 2, 15, 15, 11, 15,
         17, 3, 18, 18, 14, 18, 0, 11, 6, 14, 9, 10, 11, 16, 17, 10, 4, 5, 14, 14, 17, 6, 14, 11, 12, 5, 7, 15, 4, 5,
         0, 6, 4, 16, 1, 18, 19, 14, 1, 15, 0, 3, 7, 8, 6, 0, 12, 15, 2, 9, 10, 17, 3, 6, 5, 6, 3, 16, 13, 8, 11, 18,
         16, 6, 13, 10, 19, 2, 5, 17, 10, 4, 17, 3, 10, 8, 4, 6, 14, 11, 3, 16, 1, 14, 7, 14, 10, 4, 6, 8, 12, 6, 4, 1,
         4, 12, 16, 14, 9, 19, 13, 10, 2, 0, 1, 14, 18, 0, 12, 17, 17, 0, 16, 13, 1, 10, 0, 13, 12, 0, 0, 15, 0, 7, 1,
         10, 7, 18, 1, 4, 10, 1, 6, 14, 8, 1, 12, 1, 18, 10, 10, 13, 19, 2, 3, 6, 13, 3, 1, 17, 13, 14, 15, 0, 11, 13,
         2, 9, 9, 3, 19, 16, 1, 3, 4, 11, 6, 16, 5, 10, 11, 3, 10, 13, 15, 3, 2, 11, 1, 12, 12, 8, 15, 10, 6, 5, 0, 17,
         16, 11, 13, 15, 6, 5, 9, 3, 13, 16, 17, 1, 11, 6, 1, 11, 4, 11, 1, 7, 1, 11, 2, 15, 17, 16, 18, 3, 10, 19, 9,
         15, 8, 8, 18, 9, 14, 14, 10, 15, 7, 7, 14, 17, 0, 9, 10, 4, 4, 9, 6, 14, 0, 14, 13, 7, 10, 15, 12, 14, 10, 10,
         8, 6, 19, 13, 12, 3, 17, 15, 3, 4, 6, 4, 8, 16, 9, 10, 8, 4, 5, 13, 1, 16, 18, 15, 7, 3, 19, 10, 0, 5, 7, 16,
         9, 15, 0, 9, 2, 2, 2, 16, 10, 2, 16, 11, 14, 13, 2, 7, 10, 16, 5, 8, 17, 4, 2, 1, 11, 5, 4, 15, 10, 8, 9, 7,
         3, 3, 8, 17, 1, 15, 18, 18, 4, 1, 2, 10, 0, 10, 4, 15, 9, 15, 10, 16, 4, 18, 3, 3, 17, 5, 0, 11, 18, 16, 16,
         3, 3, 9, 3, 1, 19, 13, 10, 3, 15, 5, 0, 10, 0, 19, 11, 19, 14, 5, 2, 13, 18, 0, 5, 7, 14, 0, 11, 13, 19, 0, 4,
         18, 10, 11, 3, 0, 0, 17, 5, 18, 4, 4, 0, 18, 17, 6, 9, 8, 12, 8, 3, 9, 17, 19, 18, 17, 9, 8, 14, 1, 7, 0, 17,
         18, 5, 11, 11, 7, 16, 17, 10, 7, 10, 16, 15, 19, 3, 13, 2, 14, 2, 16, 4, 2, 5, 11, 10, 9, 6, 8, 2, 1, 7, 17,
         0, 9, 19, 0, 5, 15, 4, 14, 12, 5, 10, 3, 9, 19, 18, 9, 15, 12, 18, 18, 4, 7, 19, 15, 5, 18, 14, 13, 11, 10,
         13, 16, 10, 5, 1, 4, 14, 2, 8, 7, 11, 17, 16, 10, 0, 5, 4, 7, 6, 9, 11, 10, 4, 1, 12, 16, 11, 11, 4, 4, 15,
         18, 0, 7, 5, 3, 9, 0, 17, 3, 8, 18, 7, 0, 18, 17, 1, 2, 13, 16, 17, 5, 15, 6, 19, 3, 17, 10, 13, 15, 16, 10,
         3, 9, 5, 13, 6, 12, 15, 17, 18, 15, 3, 1, 10, 14, 14, 10, 0, 16, 3, 17, 11, 13, 11, 10, 2, 6, 1, 10, 13, 5, 9,
         0, 10, 12, 11, 12, 5, 15, 16, 11, 11, 5, 14, 12, 11, 9, 8, 3, 16, 11, 4,
     },
     (const size_t[]){9, 53, 24, 34, 38, 32, 23, 50, 32, 12, 27, 31, 7, 10, 13, 60, 42, 50, 19, 51},
     (const int32_t[]){
         5, 14, 3, 16, 1, 2, 11, 4, 7, 19, 15, 10, 19, 4, 2, 15, 9, 3, 12, 14, 16, 17, 10, 16, 15, 2, 15, 15, 13, 15,
         17, 3, 18, 18, 14, 18, 0, 11, 6, 14, 9, 10, 11, 16, 17, 10, 4, 5, 14, 14, 17, 16, 14, 11, 12, 5, 15, 15, 4, 5,
         10, 19, 0, 6, 4, 16, 8, 18, 19, 12, 12, 15, 14, 3, 7, 8, 6, 0, 12, 14, 2, 9, 10, 17, 17, 15, 3, 6, 5, 12, 3,
         16, 13, 8, 11, 18, 16, 6, 13, 10, 4, 2, 17, 17, 10, 4, 17, 5, 10, 8, 4, 13, 14, 11, 3, 16, 1, 14, 13, 16, 7,
         14, 15, 4, 6, 8, 1, 6, 4, 1, 4, 12, 16, 12, 8, 19, 13, 10, 2, 9, 1, 14, 18, 0, 12, 1, 17, 0, 16, 13, 1, 8, 0,
         13, 12, 0, 4, 15, 7, 1, 6, 7, 7, 1, 4, 10, 1, 6, 5, 8, 1, 12, 1, 18, 10, 10, 1, 19, 2, 7, 11, 13, 3, 1, 17,
         13, 15, 15, 0, 18, 13, 2, 9, 9, 3, 19, 11, 1, 2, 7, 4, 6, 6, 14, 10, 2, 3, 10, 13, 15, 3, 2, 11, 1, 12, 12, 5,
         15, 10, 7, 5, 0, 14, 16, 11, 13, 15, 6, 5, 9, 3, 13, 16, 17, 1, 11, 6, 1, 11, 4, 11, 1, 7, 11, 11, 2, 15, 17,
         16, 18, 19, 13, 19, 9, 15, 8, 11, 18, 9, 14, 14, 10, 3, 14, 13, 0, 3, 10, 4, 4, 9, 6, 14, 0, 14, 13, 7, 10,
         15, 12, 14, 10, 10, 8, 6, 19, 13, 12, 3, 17, 15, 14, 17, 6, 13, 16, 9, 10, 8, 4, 5, 13, 1, 0, 18, 15, 7, 3,
         19, 10, 0, 4, 7, 16, 9, 15, 0, 9, 12, 2, 2, 16, 0, 2, 16, 11, 14, 13, 2, 7, 10, 16, 5, 8, 2, 6, 11, 5, 4, 15,
         10, 8, 9, 18, 3, 3, 8, 17, 1, 15, 18, 18, 4, 1, 2, 10, 0, 8, 4, 15, 9, 15, 10, 16, 4, 18, 3, 3, 17, 5, 12, 11,
         17, 3, 3, 9, 3, 1, 19, 13, 10, 2, 18, 9, 5, 0, 10, 2, 19, 11, 19, 2, 5, 2, 13, 5, 7, 14, 0, 11, 13, 19, 17, 4,
         18, 10, 19, 3, 0, 0, 17, 5, 18, 4, 4, 0, 18, 17, 6, 9, 5, 12, 8, 3, 9, 17, 19, 18, 17, 9, 8, 14, 1, 7, 0, 16,
         18, 5, 11, 12, 7, 16, 17, 10, 7, 10, 16, 15, 19, 3, 13, 2, 14, 19, 11, 2, 16, 4, 14, 5, 11, 10, 9, 13, 13, 17,
         1, 7, 17, 1, 9, 19, 0, 5, 17, 5, 14, 12, 5, 10, 16, 9, 19, 18, 9, 15, 12, 18, 18, 4, 7, 19, 15, 5, 18, 11, 7,
         17, 3, 11, 10, 13, 16, 10, 5, 1, 4, 9, 2, 8, 7, 14, 17, 16, 4, 5, 5, 4, 7, 6, 2, 11, 10, 4, 17, 12, 16, 11,
         11, 4, 4, 15, 18, 0, 7, 5, 16, 4, 0, 17, 18, 8, 18, 7, 0, 18, 10, 17, 1, 2, 13, 16, 17, 5, 15, 11, 19, 2, 7,
         3, 13, 15, 16, 10, 3, 13, 9, 5, 13, 8, 12, 15, 17, 18, 15, 3, 1, 10, 14, 14, 10, 0, 16, 3, 17, 7, 13, 11, 10,
         2, 6, 1, 10, 5, 5, 9, 0, 19, 12, 4, 12, 5, 10, 16, 11, 11, 5, 11, 4, 7, 6, 8, 18, 5, 19, 9, 14,
     }},
    {"brevity penalty (references longer)", 8, 0.49726602377233298,
     (const size_t[]){5, 8, 12, 7, 12, 7, 10, 12},
     (const int32_t[]){
         3, 7, 0, 0, 7, 2, 3, 3, 6, 3, 6, 2, 5, 5, 7, 6, 6, 5, 3, 2, 7, 1, 7, 0, 2, 4, 7, 0, 3, 4, 5, 1, 4, 1, 0, 0, 7,
         7, 6, 5, 4, 0, 0, 3, 4, 1, 1, 1, 3, 3, 3, 0, 1, 3, 5, 5, 6, 6, 5, 7, 7, 1, 2, 4, 5, 3, 3, 1, 3, 6, 4, 1, 4,
     },
     (const size_t[]){10, 17, 19, 14, 16, 14, 17, 17},
     (const int32_t[]){
         3, 7, 0, 0, 7, 6, 6, 6, 2, 5, 2, 3, 3, 6, 3, 6, 2, 5, 5, 7, 4, 1, 2, 1, 3, 7, 1, 5, 7, 6, 6, 5, 3, 2, 7, 1, 7,
         0, 2, 7, 1, 3, 7, 7, 1, 4, 4, 7, 0, 3, 4, 5, 1, 6, 0, 0, 1, 3, 5, 7, 4, 1, 0, 0, 7, 7, 6, 5, 4, 0, 0, 3, 2, 5,
         6, 4, 4, 1, 1, 1, 3, 3, 3, 3, 2, 0, 1, 0, 5, 2, 0, 1, 3, 5, 5, 6, 6, 5, 7, 7, 1, 2, 0, 7, 0, 3, 3, 1, 2, 4, 5,
         3, 3, 1, 3, 6, 4, 1, 4, 3, 2, 6, 3, 4,
     }},
    {"identical", 4, 1,
     (const size_t[]){9, 10, 7, 5},
     (const int32_t[]){
         23, 45, 41, 26, 3, 28, 29, 5, 38, 48, 14, 11, 3, 43, 16, 28, 8, 34, 22, 41, 13, 28, 2, 41, 29, 41, 13, 10, 20,
         15, 17,
     },
     (const size_t[]){9, 10, 7, 5},
     (const int32_t[]){
         23, 45, 41, 26, 3, 28, 29, 5, 38, 48, 14, 11, 3, 43, 16, 28, 8, 34, 22, 41, 13, 28, 2, 41, 29, 41, 13, 10, 20,
         15, 17,
     }},
    {"no 4-gram in common", 2, 7.8250122914444812e-78,
     (const size_t[]){6, 4},
     (const int32_t[]){
         1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
     },
     (const size_t[]){7, 5},
     (const int32_t[]){
         1, 2, 3, 9, 4, 5, 6, 7, 8, 9, 11, 10,
     }},
    {"hypotheses longer than references", 6, 0.64590309839518179,
     (const size_t[]){5, 5, 13, 4, 14, 4},
     (const int32_t[]){
         2, 3, 2, 3, 0, 1, 2, 3, 2, 2, 1, 0, 0, 0, 2, 1, 1, 0, 1, 3, 2, 3, 3, 2, 0, 0, 2, 2, 0, 2, 3, 2, 2, 1, 0, 0, 1,
         1, 2, 1, 3, 3, 2, 1, 0,
     },
     (const size_t[]){1, 4, 10, 1, 13, 1},
     (const int32_t[]){
         2, 1, 2, 3, 2, 1, 0, 0, 0, 2, 1, 1, 0, 1, 3, 2, 2, 0, 2, 3, 2, 2, 1, 0, 0, 1, 1, 2, 1, 3,
     }},
};
static const struct bleu_case self_cases[] = {
    {"6 samples, vocabulary 6", 6, 0.35951888859204523,
     (const size_t[]){23, 17, 10, 18, 16, 18},
     (const int32_t[]){
         2, 1, 5, 2, 5, 3, 1, 3, 2, 1, 5, 3, 5, 3, 3, 0, 1, 4, 2, 1, 4, 2, 2, 1, 0, 0, 5, 4, 3, 0, 3, 2, 1, 3, 1, 0, 0,
         3, 0, 4, 0, 1, 0, 1, 2, 3, 5, 2, 3, 3, 3, 1, 3, 4, 1, 1, 5, 0, 3, 0, 1, 4, 0, 2, 0, 3, 0, 0, 3, 1, 5, 1, 3, 4,
         0, 3, 3, 5, 0, 4, 4, 2, 5, 2, 0, 5, 5, 1, 3, 2, 1, 2, 1, 4, 3, 4, 0, 3, 2, 3, 5, 3,
     },
     NULL, NULL},
    {"12 samples, vocabulary 15", 12, 0.13701404834542574,
     (const size_t[]){37, 32, 7, 30, 20, 21, 29, 37, 20, 14, 20, 33},
     (const int32_t[]){
         13, 10, 9, 12, 9, 2, 12, 5, 11, 5, 14, 1, 5, 10, 13, 11, 2, 3, 7, 4, 6, 12, 12, 6, 10, 12, 5, 4, 12, 10, 0, 2,
         6, 8, 0, 0, 0, 5, 5, 2, 2, 1, 11, 12, 6, 10, 14, 7, 12, 1, 10, 14, 10, 14, 13, 10, 6, 2, 10, 5, 14, 1, 7, 6,
         6, 8, 13, 1, 5, 7, 9, 6, 10, 14, 11, 4, 7, 11, 0, 6, 14, 13, 6, 7, 8, 2, 12, 14, 7, 7, 14, 1, 1, 7, 5, 14, 3,
         14, 6, 7, 6, 11, 3, 14, 14, 3, 9, 0, 13, 6, 2, 1, 7, 0, 5, 12, 1, 7, 14, 9, 13, 9, 5, 4, 0, 3, 10, 3, 7, 7,
         10, 9, 7, 9, 14, 12, 5, 14, 11, 13, 1, 13, 8, 0, 1, 13, 0, 2, 12, 13, 11, 0, 9, 3, 5, 8, 13, 5, 14, 9, 6, 4,
         2, 1, 7, 2, 7, 5, 1, 1, 4, 6, 13, 2, 7, 12, 14, 3, 1, 13, 5, 13, 0, 8, 1, 14, 10, 14, 10, 4, 0, 6, 4, 12, 14,
         6, 13, 0, 3, 13, 2, 7, 12, 9, 1, 3, 1, 5, 6, 12, 12, 8, 5, 3, 14, 10, 14, 9, 13, 8, 5, 10, 11, 1, 6, 5, 14, 4,
         13, 8, 0, 3, 5, 6, 2, 8, 9, 8, 8, 6, 8, 12, 8, 8, 1, 0, 10, 0, 8, 8, 8, 13, 11, 4, 6, 6, 7, 9, 9, 1, 1, 4, 3,
         11, 3, 10, 8, 11, 11, 3, 4, 10, 7, 1, 14, 2, 10, 1, 0, 14, 0, 4, 12, 7, 3, 8, 4, 9, 6, 12, 8, 0, 12, 12, 11,
         7, 1, 13, 1, 10,
     },
     NULL, NULL},
    {"duplicates and equal lengths", 8, 0.84921715634094175,
     (const size_t[]){9, 7, 7, 6, 5, 9, 7, 6},
     (const int32_t[]){
         2, 0, 3, 1, 1, 0, 0, 4, 1, 0, 0, 1, 3, 4, 1, 3, 0, 4, 0, 1, 4, 4, 2, 3, 1, 0, 2, 3, 2, 1, 2, 1, 4, 0, 2, 0, 3,
         1, 1, 0, 0, 4, 1, 0, 4, 0, 1, 4, 4, 2, 0, 0, 1, 3, 4, 1,
     },
     NULL, NULL},
    {"two samples", 2, 0.50813274815461473,
     (const size_t[]){5, 7},
     (const int32_t[]){
         1, 2, 3, 4, 5, 1, 2, 3, 4, 6, 1, 2,
     },
     NULL, NULL},
};
static const struct text_case text_cases[] = {
    {"nltk's examples", 2, 0.53140826794685914,
     (const char *const[]){
         "It is a guide to action which ensures that the military always obeys the commands of the party",
         "he read the book because he was interested in world history",
     },
     (const char *const[]){
         "It is a guide to action that ensures that the military will forever heed Party commands",
         "he was interested in world history because he read the book",
     }},
    {"whitespace of every kind", 2, 0.90483487150454189,
     (const char *const[]){
         "the  cat\tsat on\nthe mat .",
         "  a dog ran in the park today  ",
     },
     (const char *const[]){
         "the cat sat on the mat .",
         "a dog ran  in\tthe park\n",
     }},
};
static const char *const text_self[] = {
    "the cat sat on the mat",
    "the cat sat on the log today",
    "a dog sat on the mat",
    "the cat sat on a mat",
    "yesterday the cat sat on the mat",
};
static const double text_self_bleu = 0.71404155211364906;
/* nltk gives 0.72895451836259673 for the short-hypothesis case (sacreBLEU: exp(-1/7)). */
// clang-format on

#define TOL 1e-9

static int close_to(double got, double want) { return fabs(got - want) <= TOL; }

/* Pointers to each sequence of a flat list. */
static void split(const int32_t *flat, const size_t *len, int n, const int32_t **out) {
  for (int i = 0; i < n; i++)
    out[i] = flat, flat += len[i];
}

// ---- brute-force reference ----

static size_t count_in(const int32_t *s, size_t len, const int32_t *g, int order) {
  size_t c = 0;
  for (size_t i = 0; i + (size_t)order <= len; i++)
    c += memcmp(s + i, g, (size_t)order * sizeof *g) == 0;
  return c;
}

/* Corpus BLEU of hyps against refs[i][0..nref[i]) by the definition, counting every n-gram by scanning. */
static double ref_bleu(int n, const int32_t *const *hyp, const size_t *hlen, const int32_t *const *const *refs,
                       const size_t *const *rlen, const int *nref) {
  double m[4] = {0}, t[4] = {0}, c = 0, r = 0;
  for (int i = 0; i < n; i++) {
    c += (double)hlen[i];
    size_t best = rlen[i][0];
    for (int j = 1; j < nref[i]; j++) {
      size_t d = rlen[i][j] > hlen[i] ? rlen[i][j] - hlen[i] : hlen[i] - rlen[i][j];
      size_t bd = best > hlen[i] ? best - hlen[i] : hlen[i] - best;
      if (d < bd || (d == bd && rlen[i][j] < best)) best = rlen[i][j];
    }
    r += (double)best;
    for (int order = 1; order <= 4; order++)
      for (size_t p = 0; p + (size_t)order <= hlen[i]; p++) {
        const int32_t *g = hyp[i] + p;
        /* Count each distinct n-gram once, at its first position. */
        if (count_in(hyp[i], p + (size_t)order - 1, g, order)) continue;
        size_t ch = count_in(hyp[i], hlen[i], g, order), cr = 0;
        for (int j = 0; j < nref[i]; j++) {
          size_t x = count_in(refs[i][j], rlen[i][j], g, order);
          if (x > cr) cr = x;
        }
        m[order - 1] += (double)(ch < cr ? ch : cr);
        t[order - 1] += (double)ch;
      }
  }
  double logp = 0;
  for (int k = 0; k < 4; k++) {
    if (m[k] == 0) return 0;
    logp += 0.25 * log(m[k] / t[k]);
  }
  return (c < r ? exp(1 - r / c) : 1) * exp(logp);
}

// ---- cases ----

static void test_nltk_cases(void) {
  for (size_t k = 0; k < sizeof pair_cases / sizeof pair_cases[0]; k++) {
    const struct bleu_case *c = &pair_cases[k];
    const int32_t *hyp[64], *ref[64];
    split(c->hyp, c->hyp_len, c->n, hyp);
    split(c->ref, c->ref_len, c->n, ref);
    double b = -1;
    if (th_ok(vkg_bleu(hyp, c->hyp_len, ref, c->ref_len, c->n, &b), "vkg_bleu"))
      th_check(close_to(b, c->expected), "bleu '%s': %.12f, nltk %.12f", c->name, b, c->expected);
  }
  for (size_t k = 0; k < sizeof self_cases / sizeof self_cases[0]; k++) {
    const struct bleu_case *c = &self_cases[k];
    const int32_t *seq[64];
    split(c->hyp, c->hyp_len, c->n, seq);
    double b = -1;
    if (th_ok(vkg_self_bleu(seq, c->hyp_len, c->n, &b), "vkg_self_bleu"))
      th_check(close_to(b, c->expected), "self-BLEU '%s': %.12f, nltk %.12f", c->name, b, c->expected);
  }
  for (size_t k = 0; k < sizeof text_cases / sizeof text_cases[0]; k++) {
    const struct text_case *c = &text_cases[k];
    double b = -1;
    if (th_ok(vkg_bleu_text(c->hyp, c->ref, c->n, &b), "vkg_bleu_text"))
      th_check(close_to(b, c->expected), "text BLEU '%s': %.12f, nltk %.12f", c->name, b, c->expected);
  }
  double b = -1;
  if (th_ok(vkg_self_bleu_text(text_self, 5, &b), "vkg_self_bleu_text"))
    th_check(close_to(b, text_self_bleu), "text self-BLEU of 5 sentences: %.12f, nltk %.12f", b, text_self_bleu);
}

static void test_by_hand(void) {
  double b = -1;
  /* Hypotheses shorter than 4 tokens add no n-grams of the orders they lack (sacreBLEU; nltk would
   * count one, see tools/bleu_reference.py): all precisions are 1 (7/7, 5/5, 3/3, 2/2), c = 7, r = 8. */
  const int32_t h1[] = {1, 2, 3, 4, 5}, h2[] = {7, 8}, r2[] = {7, 8, 9};
  const int32_t *hyp[] = {h1, h2}, *ref[] = {h1, r2};
  vkg_bleu(hyp, (const size_t[]){5, 2}, ref, (const size_t[]){5, 3}, 2, &b);
  th_check(close_to(b, exp(-1.0 / 7)), "bleu with a 2-token hypothesis: %.12f == exp(-1/7)", b);
  /* Only short hypotheses: no 4-grams at all, so BLEU is 0. */
  vkg_bleu(hyp + 1, (const size_t[]){2}, ref + 1, (const size_t[]){3}, 1, &b);
  th_check(b == 0, "bleu without any 4-gram: %g == 0", b);
  /* An empty hypothesis adds nothing but its reference length: c = 4, r = 2 + 4, BP = exp(-1/2). */
  const int32_t e5[] = {5, 6}, f4[] = {1, 2, 3, 4};
  const int32_t *hyp2[] = {NULL, f4}, *ref2[] = {e5, f4};
  vkg_bleu(hyp2, (const size_t[]){0, 4}, ref2, (const size_t[]){2, 4}, 2, &b);
  th_check(close_to(b, exp(-0.5)), "bleu with an empty hypothesis: %.12f == exp(-1/2)", b);
  /* Empty everything: 0. */
  vkg_bleu(hyp2, (const size_t[]){0}, ref2, (const size_t[]){2}, 1, &b);
  th_check(b == 0, "bleu of one empty hypothesis: %g == 0", b);
  /* Identical samples are each other's perfect reference. */
  const int32_t *same[] = {f4, f4, f4};
  vkg_self_bleu(same, (const size_t[]){4, 4, 4}, 3, &b);
  th_check(close_to(b, 1), "self-BLEU of identical samples: %.12f == 1", b);
  /* Words are compared exactly (case and punctuation included). */
  vkg_bleu_text((const char *const[]){"The cat sat down ."}, (const char *const[]){"the cat sat down."}, 1, &b);
  th_check(b == 0, "text BLEU is case- and punctuation-sensitive: %g == 0", b);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (uint32_t)(rng % n);
}

static void test_random(void) {
  enum { N = 40, L = 30 };
  static int32_t data[2 * N][L];
  const int32_t *seq[2 * N];
  size_t len[2 * N];
  for (int round = 0; round < 6; round++) {
    uint32_t vocab = 2 + (uint32_t)round * 3;
    for (int i = 0; i < N; i++) {
      len[i] = rnd(L + 1); /* 0..30 tokens, some shorter than 4 */
      for (size_t k = 0; k < len[i]; k++)
        data[i][k] = (int32_t)rnd(vocab);
      seq[i] = data[i];
    }
    /* References: the hypotheses with a third of the tokens replaced and the length changed by up to 3
     * tokens either way, so that all orders have matches for every vocabulary. */
    for (int i = N; i < 2 * N; i++) {
      size_t h = len[i - N], d = rnd(7), l = h + d < 3 ? 0 : h + d - 3;
      len[i] = l > L ? L : l;
      for (size_t k = 0; k < len[i]; k++)
        data[i][k] = k < h && rnd(3) ? data[i - N][k] : (int32_t)rnd(vocab);
      seq[i] = data[i];
    }
    /* Pairs: hypothesis i against reference N + i. */
    const int32_t *const *refs[N];
    const size_t *rlens[N];
    int nref[N];
    for (int i = 0; i < N; i++)
      refs[i] = &seq[N + i], rlens[i] = &len[N + i], nref[i] = 1;
    double b = -1, want = ref_bleu(N, seq, len, refs, rlens, nref);
    vkg_bleu(seq, len, seq + N, len + N, N, &b);
    th_check(close_to(b, want), "bleu of %d random pairs, vocabulary %u: %.12f, brute force %.12f", N, vocab, b, want);
    /* Self-BLEU: sample i against all the others. */
    static const int32_t *others[N][N];
    static size_t olen[N][N];
    const int32_t *const *orefs[N];
    const size_t *olens[N];
    for (int i = 0; i < N; i++) {
      for (int j = 0, k = 0; j < N; j++)
        if (j != i) others[i][k] = seq[j], olen[i][k] = len[j], k++;
      orefs[i] = others[i], olens[i] = olen[i], nref[i] = N - 1;
    }
    want = ref_bleu(N, seq, len, orefs, olens, nref);
    vkg_self_bleu(seq, len, N, &b);
    th_check(close_to(b, want), "self-BLEU of %d random samples, vocabulary %u: %.12f, brute force %.12f", N, vocab, b,
             want);
  }
}

static void test_errors(void) {
  const int32_t s[] = {1, 2, 3, 4};
  const int32_t *seq[] = {s, s}, *nul[] = {s, NULL};
  const size_t len[] = {4, 4};
  double b;
  th_check(vkg_bleu(seq, len, seq, len, 0, &b) == VKG_ERR_ARG, "bleu of 0 hypotheses: VKG_ERR_ARG (%s)",
           vkg_last_error());
  th_check(vkg_self_bleu(seq, len, 1, &b) == VKG_ERR_ARG, "self-BLEU of 1 sample: VKG_ERR_ARG (%s)", vkg_last_error());
  th_check(vkg_bleu(seq, len, nul, len, 2, &b) == VKG_ERR_ARG,
           "bleu with a NULL reference of length 4: "
           "VKG_ERR_ARG (%s)",
           vkg_last_error());
  th_check(vkg_bleu(seq, len, seq, len, 2, NULL) == VKG_ERR_ARG, "bleu without an output: VKG_ERR_ARG");
  th_check(vkg_self_bleu_text((const char *const[]){"a b", NULL}, 2, &b) == VKG_ERR_ARG,
           "self-BLEU of a NULL text: VKG_ERR_ARG (%s)", vkg_last_error());
}

int main(void) {
  test_nltk_cases();
  test_by_hand();
  test_random();
  test_errors();
  return th_finish(NULL);
}
