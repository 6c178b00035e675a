#!/usr/bin/python3
"""Before vs after, side by side in one run: builds an earlier commit of vkgen next to the working tree
and times both builds alternately with 'vkgen bench ops --json' (and, with --family, 'vkgen bench gan',
'vkgen bench vae' or 'vkgen bench gpt --quick'), keeping the best of --reps runs of each, then prints the ratio per case.

    tools/bench_compare.py                         # base: git merge-base HEAD main
    tools/bench_compare.py --base HEAD~3 --op matmul --op conv2d --reps 5
    tools/bench_compare.py --family gan --family vae --no-ops
    tools/bench_compare.py --family gpt --op attention --op attention_grad --reps 3

The base commit is exported with 'git archive' into --work (default /tmp/vkgen-compare/<commit>) and
built there in its own build directory (only the vkgen binary); the working tree's binary is rebuilt in
--build (default build/). The two binaries run in turns (base, new, new, base, ...) so that the load of a
shared machine falls on both alike; each gets its own pipeline cache file. Only the best time of each
case counts: noise on a shared machine only ever makes a run slower.

Every speed claim about vkgen's kernels comes from this script's output.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def git(*args):
    return subprocess.run(["git", "-C", ROOT] + list(args), check=True, stdout=subprocess.PIPE,
                          text=True).stdout.strip()


def build(src, bdir, jobs, what):
    """Configures (once) and builds the vkgen target of the tree in src into bdir."""
    if not os.path.exists(os.path.join(bdir, "CMakeCache.txt")):
        print("%s: configuring %s" % (what, bdir), file=sys.stderr, flush=True)
        subprocess.run(["cmake", "-S", src, "-B", bdir, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True,
                       stdout=subprocess.DEVNULL)
    print("%s: building %s" % (what, bdir), file=sys.stderr, flush=True)
    p = subprocess.run(["cmake", "--build", bdir, "--target", "vkgen", "-j%d" % jobs], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:])
        sys.exit("error: building %s failed" % bdir)
    return os.path.join(bdir, "vkgen")


def export(commit, dest):
    """Writes the tree of commit into dest (once; the directory is named after the full hash)."""
    if os.path.exists(os.path.join(dest, "CMakeLists.txt")):
        return
    os.makedirs(dest, exist_ok=True)
    arch = subprocess.Popen(["git", "-C", ROOT, "archive", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", dest], stdin=arch.stdout, check=True)
    if arch.wait() != 0:
        sys.exit("error: git archive %s failed" % commit)


def run_json(binary, args, cache, what):
    env = dict(os.environ, VKGEN_PIPELINE_CACHE=cache)
    env.pop("VKGEN_VALIDATE", None)
    p = subprocess.run([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        j = json.loads(p.stdout)
    except ValueError:
        sys.stderr.write(p.stderr + p.stdout[-2000:])
        sys.exit("error: %s failed (exit %d) and printed no JSON: %s %s" % (what, p.returncode, binary, " ".join(args)))
    if p.returncode != 0:  # some cases failed (each says why); the others still count
        sys.stderr.write("warning: %s exited %d; the cases it printed still count:\n%s" % (what, p.returncode, p.stderr))
    return j


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", help="earlier commit to compare with (default: git merge-base HEAD main)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="the working tree's build directory")
    ap.add_argument("--work", default="/tmp/vkgen-compare", help="where the base commit is exported and built")
    ap.add_argument("--no-build", action="store_true", help="use the working tree's vkgen as built")
    ap.add_argument("--op", action="append", default=[], help="only this op (repeatable)")
    ap.add_argument("--quick", action="store_true", help="only each op's smallest size (bench ops --quick)")
    ap.add_argument("--no-ops", action="store_true", help="skip bench ops")
    ap.add_argument("--family", action="append", default=[], choices=["gan", "vae", "gpt"],
                    help="also compare 'vkgen bench FAMILY' training steps/s (repeatable); gpt: training "
                    "tokens/s of 'vkgen bench gpt --quick' (one step after a warm-up per run)")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per family bench run")
    ap.add_argument("--reps", type=int, default=3, help="runs of each build; the best counts")
    ap.add_argument("--device", help="device index or name for both builds")
    ap.add_argument("--jobs", type=int, default=2, help="build jobs")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    a = ap.parse_args()

    base = a.base or git("merge-base", "HEAD", "main")
    full = git("rev-parse", "--verify", base + "^{commit}")
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no") != ""
    bsrc = os.path.join(a.work, full, "src")
    export(full, bsrc)
    bins = {"base": build(bsrc, os.path.join(a.work, full, "build"), a.jobs, "base " + full[:10])}
    bins["new"] = os.path.join(a.build, "vkgen") if a.no_build else build(ROOT, a.build, a.jobs, "working tree")
    caches = {k: os.path.join(a.work, full, "pipeline-cache-%s.bin" % k) for k in bins}
    dev = ["--device", a.device] if a.device else []

    # ---- runs, alternating the order each repetition ----
    ops = {"base": {}, "new": {}}   # (op, shape) -> best result
    peak = {"base": {}, "new": {}}  # the best FMA and copy peaks any run measured (bench ops prints them)
    fam = {"base": {}, "new": {}}   # family -> best training steps/s
    order = []                      # case keys in the order bench ops prints them
    device = ""
    op_sets = [["--op", o] for o in a.op] if a.op else [[]]
    for r in range(a.reps):
        for who in (("base", "new") if r % 2 == 0 else ("new", "base")):
            print("run %d/%d: %s" % (r + 1, a.reps, who), file=sys.stderr, flush=True)
            for extra in ([] if a.no_ops else op_sets):
                j = run_json(bins[who], ["bench", "ops", "--json"] + (["--quick"] if a.quick else []) + extra + dev,
                             caches[who], "%s bench ops" % who)
                device = j.get("device", device)
                for k in ("fma_gflops", "copy_gbs"):
                    if j.get(k):
                        peak[who][k] = max(peak[who].get(k, 0.0), j[k])
                for res in j["results"]:
                    key = (res["op"], res["shape"])
                    if key not in order:
                        order.append(key)
                    best = ops[who].get(key)
                    if best is None or res["ms"] < best["ms"]:
                        ops[who][key] = res
            for f in a.family:
                args = ["bench", f, "--json"] + (["--quick"] if f == "gpt" else ["--steps", str(a.steps)])
                j = run_json(bins[who], args + dev, caches[who], "%s bench %s" % (who, f))
                sps = j["train_tokens_per_s"] if f == "gpt" else j["training"]["steps_per_s"]
                fam[who][f] = max(fam[who].get(f, 0.0), sps)

    # ---- report ----
    rows = []
    for key in order:
        b, n = ops["base"].get(key), ops["new"].get(key)
        row = {"op": key[0], "shape": key[1], "base_ms": b and b["ms"], "new_ms": n and n["ms"]}
        if b and n:
            row["speedup"] = b["ms"] / n["ms"]
        for who, r in (("base", b), ("new", n)):  # memory for the graph's intermediates
            if r and "arena_mib" in r:
                row[who + "_arena_mib"] = r["arena_mib"]
        if n:
            # Fractions of the best peaks measured in any run (a single run's peak is as noisy as
            # the case it is compared with).
            row["new_gflops"], row["new_gbs"] = n.get("gflops", 0), n.get("gbs", 0)
            if peak["new"].get("fma_gflops") and row["new_gflops"]:
                row["fma_peak_frac"] = row["new_gflops"] / peak["new"]["fma_gflops"]
            if peak["new"].get("copy_gbs"):
                row["copy_peak_frac"] = row["new_gbs"] / peak["new"]["copy_gbs"]
        if b:
            row["base_gflops"], row["base_gbs"] = b.get("gflops", 0), b.get("gbs", 0)
        rows.append(row)
    frows = [{"family": f, "base_steps_per_s": fam["base"].get(f), "new_steps_per_s": fam["new"].get(f),
              "speedup": fam["new"][f] / fam["base"][f] if fam["base"].get(f) else None} for f in a.family]
    if a.json:
        print(json.dumps({"device": device, "base": full, "new": head + ("+dirty" if dirty else ""),
                          "reps": a.reps, "peaks": peak["new"], "ops": rows, "families": frows}, indent=1))
        return
    print("device: %s; base %s vs new %s%s; best of %d runs each" % (device, full[:10], head,
                                                                     " + uncommitted changes" if dirty else "", a.reps))
    if peak["new"]:
        print("new build's best peaks: %.2f GFLOP/s FMA, %.2f GB/s copy" % (peak["new"].get("fma_gflops", 0),
                                                                         peak["new"].get("copy_gbs", 0)))
    if rows:
        print("%-17s %-34s %10s %10s %8s %20s %8s %19s" % ("op", "shape", "base ms", "new ms", "speedup",
                                                          "new throughput", "of peak", "arena MiB base/new"))
        for r in rows:
            tp, frac = "", ""
            if r.get("new_ms"):
                if r.get("new_gflops"):
                    tp = "%.2f GFLOP/s" % r["new_gflops"]
                    frac = r.get("fma_peak_frac")
                else:
                    tp = "%.2f GB/s" % r["new_gbs"]
                    frac = r.get("copy_peak_frac")
                frac = "%.0f%%" % (100 * frac) if frac else ""
            fmt = lambda v: "%.3f" % v if v else "-"
            sp = "%.2fx" % r["speedup"] if "speedup" in r else "-"
            mem = "%s/%s" % tuple("%.1f" % r[k] if k in r else "-" for k in ("base_arena_mib", "new_arena_mib"))
            print("%-17s %-34s %10s %10s %8s %20s %8s %19s" % (r["op"], r["shape"], fmt(r["base_ms"]), fmt(r["new_ms"]),
                                                              sp, tp, frac, mem))
    for r in frows:
        unit = "tokens/s" if r["family"] == "gpt" else "steps/s"
        print("bench %s training: base %.3f %s, new %.3f %s, %.2fx" %
              (r["family"], r["base_steps_per_s"], unit, r["new_steps_per_s"], unit, r["speedup"]))


if __name__ == "__main__":
    main()
