/* Corpus BLEU-4 and self-BLEU over token sequences, in double on the CPU.
 *
 * The definition (Papineni et al. 2002, as sacreBLEU computes it on pre-tokenized text, without
 * smoothing): for n = 1..4, m_n is the number of hypothesis n-grams that a reference also has, each
 * n-gram counted at most as often as in the reference that has it most ("clipped"), and t_n the
 * number of hypothesis n-grams, both summed over the corpus. BLEU = BP * (p_1 p_2 p_3 p_4)^(1/4) with
 * p_n = m_n / t_n, 0 if any m_n is 0. BP = exp(1 - r/c) if c < r, else 1, with c the hypothesis
 * tokens and r the sum of each hypothesis's closest reference length (ties to the shorter).
 *
 * nltk's corpus_bleu differs in one corner: it counts a hypothesis shorter than n as having one
 * n-gram (its denominator is max(1, count)), so the two agree whenever every hypothesis has at
 * least 4 tokens.
 *
 * Counting: each n-gram becomes a record (group, tokens, owner); sorting the records brings equal
 * n-grams together, ordered by owner, so each count is the length of a run. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ORDER 4

struct gram {
  uint32_t group;     /* vkg_bleu: the sentence; self-BLEU: 0 */
  int32_t tok[ORDER]; /* the n-gram, padded with 0 past n */
  uint32_t owner;     /* vkg_bleu: 0 hypothesis, 1 reference; self-BLEU: the sample */
};

static int cmp_gram(const void *pa, const void *pb) {
  const struct gram *a = pa, *b = pb;
  if (a->group != b->group) return a->group < b->group ? -1 : 1;
  for (int k = 0; k < ORDER; k++)
    if (a->tok[k] != b->tok[k]) return a->tok[k] < b->tok[k] ? -1 : 1;
  if (a->owner != b->owner) return a->owner < b->owner ? -1 : 1;
  return 0;
}

static int same_gram(const struct gram *a, const struct gram *b) {
  return a->group == b->group && memcmp(a->tok, b->tok, sizeof a->tok) == 0;
}

/* Appends the n-grams of s (length len) to g. */
static size_t add_grams(struct gram *g, size_t k, const int32_t *s, size_t len, int n, uint32_t group, uint32_t owner) {
  for (size_t i = 0; i + (size_t)n <= len; i++) {
    struct gram *e = &g[k++];
    e->group = group, e->owner = owner;
    for (int j = 0; j < ORDER; j++)
      e->tok[j] = j < n ? s[i + (size_t)j] : 0;
  }
  return k;
}

/* BP * geometric mean of m[n] / t[n], 0 if any m[n] is 0. */
static double bleu_score(const double *m, const double *t, double c, double r) {
  double logp = 0;
  for (int n = 0; n < ORDER; n++) {
    if (m[n] == 0) return 0;
    logp += log(m[n] / t[n]) / ORDER;
  }
  double bp = c < r ? exp(1 - r / c) : 1;
  return bp * exp(logp);
}

static vkg_status check_seqs(const char *fn, const int32_t *const *s, const size_t *len, int n, const char *what) {
  if (n > 0 && (!s || !len)) return vkg__fail(VKG_ERR_ARG, "%s: %s or its lengths are NULL", fn, what);
  for (int i = 0; i < n; i++)
    if (!s[i] && len[i]) return vkg__fail(VKG_ERR_ARG, "%s: %s %d is NULL with length %zu", fn, what, i, len[i]);
  return VKG_OK;
}

vkg_status vkg_bleu(const int32_t *const *hyp, const size_t *hyp_len, const int32_t *const *ref, const size_t *ref_len,
                    int n, double *bleu) {
  if (!bleu) return vkg__fail(VKG_ERR_ARG, "vkg_bleu: bleu is NULL");
  *bleu = 0;
  if (n < 1) return vkg__fail(VKG_ERR_ARG, "vkg_bleu: %d hypotheses; need at least 1", n);
  vkg_status s = check_seqs("vkg_bleu", hyp, hyp_len, n, "hypothesis");
  if (!s) s = check_seqs("vkg_bleu", ref, ref_len, n, "reference");
  if (s) return s;
  size_t total = 0;
  double c = 0, r = 0;
  for (int i = 0; i < n; i++)
    total += hyp_len[i] + ref_len[i], c += (double)hyp_len[i], r += (double)ref_len[i];
  struct gram *g = malloc((total + 1) * sizeof *g);
  if (!g) return vkg__fail(VKG_ERR_OOM, "vkg_bleu: out of host memory for %zu tokens", total);
  double m[ORDER], t[ORDER];
  for (int order = 1; order <= ORDER; order++) {
    size_t k = 0;
    for (int i = 0; i < n; i++) {
      k = add_grams(g, k, hyp[i], hyp_len[i], order, (uint32_t)i, 0);
      k = add_grams(g, k, ref[i], ref_len[i], order, (uint32_t)i, 1);
    }
    qsort(g, k, sizeof *g, cmp_gram);
    double match = 0, count = 0;
    for (size_t a = 0, b; a < k; a = b) {
      size_t in_hyp = 0, in_ref = 0;
      for (b = a; b < k && same_gram(&g[a], &g[b]); b++)
        g[b].owner ? in_ref++ : in_hyp++;
      match += (double)(in_hyp < in_ref ? in_hyp : in_ref);
      count += (double)in_hyp;
    }
    m[order - 1] = match, t[order - 1] = count;
  }
  free(g);
  *bleu = bleu_score(m, t, c, r);
  return VKG_OK;
}

static int cmp_size(const void *pa, const void *pb) {
  size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
  return a < b ? -1 : a > b;
}

vkg_status vkg_self_bleu(const int32_t *const *seq, const size_t *len, int n, double *bleu) {
  if (!bleu) return vkg__fail(VKG_ERR_ARG, "vkg_self_bleu: bleu is NULL");
  *bleu = 0;
  if (n < 2) return vkg__fail(VKG_ERR_ARG, "vkg_self_bleu: %d sequences; need at least 2", n);
  vkg_status s = check_seqs("vkg_self_bleu", seq, len, n, "sequence");
  if (s) return s;
  size_t total = 0;
  double c = 0, r = 0;
  for (int i = 0; i < n; i++)
    total += len[i], c += (double)len[i];
  struct gram *g = malloc((total + 1) * sizeof *g);
  size_t *sorted = malloc((size_t)n * sizeof *sorted);
  if (!g || !sorted) {
    free(g), free(sorted);
    return vkg__fail(VKG_ERR_OOM, "vkg_self_bleu: out of host memory for %zu tokens", total);
  }
  /* r: for each sequence, the closest length among the others. Its own length is one entry of the
   * sorted list; if another sequence has the same length that is the closest, else the nearest
   * lengths below and above its entry compete, the shorter winning a tie. */
  memcpy(sorted, len, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_size);
  for (int i = 0; i < n; i++) {
    size_t lo = 0, hi = (size_t)n, h = len[i];
    while (lo < hi) { /* the first entry >= h */
      size_t mid = (lo + hi) / 2;
      if (sorted[mid] < h)
        lo = mid + 1;
      else
        hi = mid;
    }
    size_t best;
    if (lo + 1 < (size_t)n && sorted[lo + 1] == h)
      best = h;
    else if (lo == 0)
      best = sorted[1];
    else if (lo + 1 == (size_t)n)
      best = sorted[lo - 1];
    else
      best = h - sorted[lo - 1] <= sorted[lo + 1] - h ? sorted[lo - 1] : sorted[lo + 1];
    r += (double)best;
  }
  free(sorted);
  /* An n-gram's clip for sequence i is its largest count in the others: the largest count overall
   * unless i holds it, then the second largest (counting a tie for the largest as the second). */
  double m[ORDER], t[ORDER];
  for (int order = 1; order <= ORDER; order++) {
    size_t k = 0;
    for (int i = 0; i < n; i++)
      k = add_grams(g, k, seq[i], len[i], order, 0, (uint32_t)i);
    qsort(g, k, sizeof *g, cmp_gram);
    double match = 0, count = 0;
    for (size_t a = 0, b; a < k; a = b) {
      for (b = a; b < k && same_gram(&g[a], &g[b]); b++) {
      }
      size_t max1 = 0, max2 = 0;
      uint32_t owner1 = UINT32_MAX;
      for (size_t x = a, y; x < b; x = y) { /* runs of one owner */
        for (y = x; y < b && g[y].owner == g[x].owner; y++) {
        }
        size_t cnt = y - x;
        if (cnt > max1)
          max2 = max1, max1 = cnt, owner1 = g[x].owner;
        else if (cnt > max2)
          max2 = cnt;
      }
      for (size_t x = a, y; x < b; x = y) {
        for (y = x; y < b && g[y].owner == g[x].owner; y++) {
        }
        size_t cnt = y - x, clip = g[x].owner == owner1 ? max2 : max1;
        match += (double)(cnt < clip ? cnt : clip);
        count += (double)cnt;
      }
    }
    m[order - 1] = match, t[order - 1] = count;
  }
  free(g);
  *bleu = bleu_score(m, t, c, r);
  return VKG_OK;
}

// ---- texts ----

struct word {
  const char *p;
  size_t len, index; /* index: position in the flat list of all words */
};

static int cmp_word(const void *pa, const void *pb) {
  const struct word *a = pa, *b = pb;
  size_t l = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->p, b->p, l);
  if (c) return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

static int is_space(char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); }

/* Splits texts[0..n) at ASCII whitespace and numbers the distinct words: *ids gets every word's id
 * in order, seq[i] / len[i] point at text i's part. */
static vkg_status words_to_ids(const char *fn, const char *const *texts, int n, int32_t **ids, const int32_t **seq,
                               size_t *len) {
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    if (!texts[i]) return vkg__fail(VKG_ERR_ARG, "%s: text %d is NULL", fn, i);
    for (const char *p = texts[i]; *p;) {
      while (*p && is_space(*p))
        p++;
      if (*p) total++;
      while (*p && !is_space(*p))
        p++;
    }
  }
  struct word *w = malloc((total + 1) * sizeof *w);
  *ids = malloc((total + 1) * sizeof **ids);
  if (!w || !*ids) {
    free(w), free(*ids), *ids = NULL;
    return vkg__fail(VKG_ERR_OOM, "%s: out of host memory for %zu words", fn, total);
  }
  size_t k = 0;
  for (int i = 0; i < n; i++) {
    len[i] = 0;
    for (const char *p = texts[i]; *p;) {
      while (*p && is_space(*p))
        p++;
      const char *start = p;
      while (*p && !is_space(*p))
        p++;
      if (p > start) w[k] = (struct word){start, (size_t)(p - start), k}, k++, len[i]++;
    }
  }
  qsort(w, total, sizeof *w, cmp_word);
  int32_t next = 0;
  for (size_t a = 0; a < total; a++) {
    if (a > 0 && cmp_word(&w[a - 1], &w[a]) != 0) next++;
    (*ids)[w[a].index] = next;
  }
  free(w);
  size_t off = 0;
  for (int i = 0; i < n; i++)
    seq[i] = *ids + off, off += len[i];
  return VKG_OK;
}

vkg_status vkg_bleu_text(const char *const *hyp, const char *const *ref, int n, double *bleu) {
  if (!bleu) return vkg__fail(VKG_ERR_ARG, "vkg_bleu_text: bleu is NULL");
  *bleu = 0;
  if (n < 1 || !hyp || !ref) return vkg__fail(VKG_ERR_ARG, "vkg_bleu_text: need n >= 1 hypotheses and references");
  /* Hypotheses and references numbered together, so the same word gets the same id in both. */
  const char **all = malloc(2 * (size_t)n * sizeof *all);
  const int32_t **seq = malloc(2 * (size_t)n * sizeof *seq);
  size_t *len = malloc(2 * (size_t)n * sizeof *len);
  int32_t *ids = NULL;
  vkg_status s = VKG_OK;
  if (!all || !seq || !len) s = vkg__fail(VKG_ERR_OOM, "vkg_bleu_text: out of host memory");
  if (!s) {
    memcpy(all, hyp, (size_t)n * sizeof *all);
    memcpy(all + n, ref, (size_t)n * sizeof *all);
    s = words_to_ids("vkg_bleu_text", all, 2 * n, &ids, seq, len);
  }
  if (!s) s = vkg_bleu(seq, len, seq + n, len + n, n, bleu);
  free(all), free(seq), free(len), free(ids);
  return s;
}

vkg_status vkg_self_bleu_text(const char *const *texts, int n, double *bleu) {
  if (!bleu) return vkg__fail(VKG_ERR_ARG, "vkg_self_bleu_text: bleu is NULL");
  *bleu = 0;
  if (n < 2 || !texts) return vkg__fail(VKG_ERR_ARG, "vkg_self_bleu_text: %d texts; need at least 2", n);
  const int32_t **seq = malloc((size_t)n * sizeof *seq);
  size_t *len = malloc((size_t)n * sizeof *len);
  int32_t *ids = NULL;
  vkg_status s = VKG_OK;
  if (!seq || !len) s = vkg__fail(VKG_ERR_OOM, "vkg_self_bleu_text: out of host memory");
  if (!s) s = words_to_ids("vkg_self_bleu_text", texts, n, &ids, seq, len);
  if (!s) s = vkg_self_bleu(seq, len, n, bleu);
  free(seq), free(len), free(ids);
  return s;
}
