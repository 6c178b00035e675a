#!/bin/bash
# vkgen compare with a tiny training budget on two small families (an image and a text one): the
# progress lines, report.json's fields (metrics in range, the commands it ran with their logs), every
# file it names existing (PNGs valid), the loss curves' wall times, and the Markdown report's sections.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_cli.sh"

r=$tmp/report
run "$vkgen" compare --steps 2 --limit 64 --quick --families vae,lstm -o "$r"
[ "$(rc)" = 0 ] && ok "compare --steps 2 on vae and lstm exits 0" || { bad "compare exit $(rc)"; cat "$tmp/err" >&2; }
# One line per phase, numbered: 4 phases (train, eval, sample, bench) for each of the 2 families.
[ "$(grep -cE '^\[[1-8]/8\] (training|evaluating|sampling|timing) (vae|lstm).*\.\.\. done' "$tmp/err")" = 8 ] \
  && grep -q '^\[1/8\] training vae (2 steps)\.\.\. done' "$tmp/err" && ok "8 numbered progress lines" \
  || { bad "progress lines"; cat "$tmp/err" >&2; }
for f in index.html report.md report.json; do
  [ -s "$r/$f" ] && ok "wrote $f" || bad "no $f"
done

# report.json: the fields, the numbers in their ranges, and every file it names.
$py - "$r" <<'PY' >"$tmp/py" 2>&1
import json, os, struct, sys
r = sys.argv[1]
rep = json.load(open(os.path.join(r, "report.json")))
fails = []
def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond: fails.append(what)
def finite(x): return isinstance(x, (int, float)) and x == x and abs(x) != float("inf")
check(rep["steps"] == 2 and rep["quick"] is True and rep["mode"] == "trained (steps)", "run settings recorded")
check(rep["device"]["name"] and rep["vkgen"] and rep["commit"], "device, version and commit recorded")
check(rep["command"].startswith("vkgen compare --steps 2"), "the command line recorded")
fam = {f["name"]: f for f in rep["families"]}
check(sorted(fam) == ["lstm", "vae"], "both families reported")
for name, f in fam.items():
    check(f["status"] == "ok", name + " ok")
    check([c["phase"] for c in f["commands"]] == ["train", "eval", "sample", "bench"], name + ": the 4 commands")
    for c in f["commands"]:
        check(c["rc"] == 0 and c["command"].startswith("vkgen " + c["phase"] + " " + name) and
              os.path.isfile(os.path.join(r, c["log"])), "%s %s: exit 0, command and log" % (name, c["phase"]))
    check(finite(f["params"]) and f["params"] > 1000, name + ": parameter count %s" % f["params"])
    for what, path in f["files"].items():
        full = os.path.join(r, path)
        ok = os.path.isfile(full) and not os.path.isabs(path)
        if ok and path.endswith(".png"):
            d = open(full, "rb").read()
            w, h = struct.unpack(">II", d[16:24])
            ok = d[:8] == b"\x89PNG\r\n\x1a\n" and d[12:16] == b"IHDR" and w > 0 and h > 0 and d[-8:-4] == b"IEND"
        check(ok, "%s: %s (%s) exists, relative%s" % (name, what, path, ", a valid PNG" if path.endswith(".png") else ""))
v, t = fam["vae"]["summary"], fam["lstm"]["summary"]
check(all(finite(v[k]) and v[k] > 0 for k in ["fid", "fid_floor", "bits_per_dim", "sampling_images_per_s",
                                               "training_images_per_s"]), "vae: FID, floor, bits/dim, speeds")
check(all(0 <= v[k] <= 1 for k in ["precision", "recall", "precision_floor", "recall_floor"]),
      "vae: precision and recall in [0, 1]: %s" % {k: v[k] for k in ["precision", "recall"]})
check(v["bits_per_dim_kind"].startswith("bound"), "vae: bits/dim marked as a bound")
ev = fam["vae"]["eval"]
check(ev["precision"] == v["precision"] and ev["fid_n"] == 20, "vae: summary from eval's JSON (precision, 20 images)")
check(all(k in fam["vae"]["files"] for k in ["samples", "nearest", "loss_steps", "loss_time"]), "vae: its pictures")
check(finite(fam["vae"]["nearest_train_distance"]) and finite(fam["vae"]["nearest_train_distance_test"]),
      "vae: nearest training image distances")
check(all(finite(t[k]) and t[k] > 0 for k in ["val_loss", "perplexity", "decode_tokens_per_s_b1",
                                              "training_tokens_per_s"]), "lstm: loss, perplexity, speeds")
check(0 <= t["bleu"] <= 1 and 0 <= t["self_bleu"] <= 1, "lstm: BLEU and self-BLEU in [0, 1]")
check("samples_text" in fam["lstm"]["files"], "lstm: samples")
# The training logs carry wall times, increasing with the steps.
for name in fam:
    rows = [json.loads(l) for l in open(os.path.join(r, name, "train", "metrics.jsonl"))]
    times = [x["time"] for x in rows if "loss" in x]
    check(len(times) == 2 and 0 <= times[0] <= times[1], name + ": metrics.jsonl times %s" % times)
sys.exit(1 if fails else 0)
PY
prc=$?
cat "$tmp/py"
pass=$((pass + $(grep -c '^ok ' "$tmp/py")))
[ $prc = 0 ] || bad "report.json checks (above)"

grep -q '^## Images (Fashion-MNIST)' "$r/report.md" && grep -q '^## Text (fortunes)' "$r/report.md" \
  && grep -q '^## Audio (speech)' "$r/report.md" && grep -q '^## Training curves' "$r/report.md" \
  && grep -q '^## Reproduce' "$r/report.md" && grep -q '^| vae | ' "$r/report.md" && grep -q '^| lstm | ' "$r/report.md" \
  && ok "report.md: every section and both table rows" || bad "report.md sections"
grep -q '"precision": ' "$r/vae/eval.json" && ok "eval vae --json gives precision" || bad "eval.json lacks precision"

# A second run into the same directory is refused, the first report untouched.
before=$(md5sum "$r/report.json")
run "$vkgen" compare --steps 1 --families vae -o "$r"
[ "$(rc)" = 1 ] && one_error "not an empty directory" && [ "$(md5sum "$r/report.json")" = "$before" ] \
  && ok "an existing report directory is refused" || bad "existing directory: exit $(rc)"
finish
