#!/usr/bin/python3
"""nltk's values for the BLEU cases that tests/test_bleu.c checks; prints C initializers to paste there.

    apt-get install python3-nltk && /usr/bin/python3 tools/bleu_reference.py

Every value is nltk.translate.bleu_score.corpus_bleu with its default weights (0.25 x 4) and no
smoothing: vkg_bleu cases with one reference per hypothesis, self-BLEU cases with each sample as the
hypothesis and all the other samples as its references, text cases split with str.split(). Every
hypothesis has at least 4 tokens, where nltk's definition and sacreBLEU's (which vkgen follows)
agree; the test works out the corner where they differ by hand. nltk returns a tiny positive number
(not 0) when some precision is 0; the test's tolerance covers that.
"""
import random
import warnings

from nltk.translate.bleu_score import corpus_bleu

warnings.simplefilter("ignore")  # nltk warns about zero n-gram overlaps, which some cases have on purpose


def seqs(rng, count, lo, hi, vocab):
    return [[rng.randrange(vocab) for _ in range(rng.randint(lo, hi))] for _ in range(count)]


def mutate(rng, s, vocab, p):
    """s with each token replaced by a random one with probability p, and maybe cut short or extended."""
    out = [rng.randrange(vocab) if rng.random() < p else t for t in s]
    k = rng.randint(-2, 2)
    return out[:len(out) + k] if k < 0 else out + [rng.randrange(vocab) for _ in range(k)]


def c_ints(xs):
    lines, line = [], ""
    for x in xs:
        item = "%d," % x
        if line and len(line) + 1 + len(item) > 110:
            lines.append(line)
            line = ""
        line += (" " if line else "") + item
    return "\n".join("         " + l for l in lines + [line] if l) or "         0,"


def flat(ss):
    return [t for s in ss for t in s]


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


rng = random.Random(20240611)
pair_cases = []
# Small vocabularies give many partial matches at every order.
h = seqs(rng, 5, 4, 30, 5)
pair_cases.append(("5 hypotheses, vocabulary 5", h, [mutate(rng, s, 5, 0.3) for s in h]))
h = seqs(rng, 20, 4, 60, 20)
pair_cases.append(("20 hypotheses, vocabulary 20", h, [mutate(rng, s, 20, 0.2) for s in h]))
h = seqs(rng, 8, 4, 12, 8)
pair_cases.append(("brevity penalty (references longer)", h, [s + [rng.randrange(8) for _ in range(rng.randint(3, 9))]
                                                                 for s in h]))
h = seqs(rng, 4, 4, 10, 50)
pair_cases.append(("identical", h, [list(s) for s in h]))
h = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10]]
pair_cases.append(("no 4-gram in common", h, [[1, 2, 3, 9, 4, 5, 6], [7, 8, 9, 11, 10]]))
h = seqs(rng, 6, 4, 15, 4)
pair_cases.append(("hypotheses longer than references", h, [s[:max(1, len(s) - rng.randint(1, 4))] for s in h]))

self_cases = []
self_cases.append(("6 samples, vocabulary 6", seqs(rng, 6, 4, 25, 6)))
self_cases.append(("12 samples, vocabulary 15", seqs(rng, 12, 5, 40, 15)))
s = seqs(rng, 5, 4, 10, 5)
self_cases.append(("duplicates and equal lengths", s + [list(s[0]), list(s[2]), s[1][:len(s[3])]]))
self_cases.append(("two samples", [[1, 2, 3, 4, 5], [1, 2, 3, 4, 6, 1, 2]]))

text_pairs = [
    ("nltk's examples",
     ["It is a guide to action which ensures that the military always obeys the commands of the party",
      "he read the book because he was interested in world history"],
     ["It is a guide to action that ensures that the military will forever heed Party commands",
      "he was interested in world history because he read the book"]),
    ("whitespace of every kind",
     ["the  cat\tsat on\nthe mat .", "  a dog ran in the park today  "],
     ["the cat sat on the mat .", "a dog ran  in\tthe park\n"]),
]
text_self = ["the cat sat on the mat", "the cat sat on the log today", "a dog sat on the mat",
             "the cat sat on a mat", "yesterday the cat sat on the mat"]

print("/* From tools/bleu_reference.py: nltk %s corpus_bleu. */" % __import__("nltk").__version__)
print("static const struct bleu_case pair_cases[] = {")
for name, hyp, ref in pair_cases:
    assert all(len(x) >= 4 for x in hyp)
    v = corpus_bleu([[r] for r in ref], hyp)
    print("    {%s, %d, %.17g," % (c_str(name), len(hyp), v))
    print("     (const size_t[]){%s}," % ", ".join(str(len(x)) for x in hyp))
    print("     (const int32_t[]){\n%s\n     }," % c_ints(flat(hyp)))
    print("     (const size_t[]){%s}," % ", ".join(str(len(x)) for x in ref))
    print("     (const int32_t[]){\n%s\n     }}," % c_ints(flat(ref)))
print("};")
print("static const struct bleu_case self_cases[] = {")
for name, ss in self_cases:
    assert all(len(x) >= 4 for x in ss)
    v = corpus_bleu([[o for j, o in enumerate(ss) if j != i] for i in range(len(ss))], ss)
    print("    {%s, %d, %.17g," % (c_str(name), len(ss), v))
    print("     (const size_t[]){%s}," % ", ".join(str(len(x)) for x in ss))
    print("     (const int32_t[]){\n%s\n     }," % c_ints(flat(ss)))
    print("     NULL, NULL},")
print("};")
print("static const struct text_case text_cases[] = {")
for name, hyp, ref in text_pairs:
    v = corpus_bleu([[r.split()] for r in ref], [x.split() for x in hyp])
    print("    {%s, %d, %.17g," % (c_str(name), len(hyp), v))
    print("     (const char *const[]){\n%s\n     }," % "\n".join("         %s," % c_str(x) for x in hyp))
    print("     (const char *const[]){\n%s\n     }}," % "\n".join("         %s," % c_str(x) for x in ref))
print("};")
ss = [x.split() for x in text_self]
v = corpus_bleu([[o for j, o in enumerate(ss) if j != i] for i in range(len(ss))], ss)
print("static const char *const text_self[] = {\n%s\n};" % "\n".join("    %s," % c_str(x) for x in text_self))
print("static const double text_self_bleu = %.17g;" % v)
# The corner where nltk and sacreBLEU differ, for the test's comment: hypotheses [1 2 3 4 5] and [7 8]
# with references [1 2 3 4 5] and [7 8 9].
print("/* nltk gives %.17g for the short-hypothesis case (sacreBLEU: exp(-1/7)). */" %
      corpus_bleu([[[1, 2, 3, 4, 5]], [[7, 8, 9]]], [[1, 2, 3, 4, 5], [7, 8]]))
