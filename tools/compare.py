#!/usr/bin/python3
"""vkgen vs PyTorch: trains the GAN, the VAE or a text family (gpt, lstm, gru) both ways for the same steps on the same data in the same
order, then measures both with the same code ('vkgen eval'), side by side, for one or more seeds.

For each seed:
  1. 'vkgen train FAMILY --steps N --seed S' into a temporary directory;
  2. tools/torch_models.py (GAN, VAE) or tools/torch_text.py (gpt, lstm, gru) trains the PyTorch
     twin (same architecture, losses, Adam settings; by default also the same initial weights, batch
     order and noise, see those files) and writes its weights as a vkgen weights file;
  3. 'vkgen eval FAMILY --weights ... --json' on both files: FID for the GAN; negative ELBO,
     reconstruction BCE and MSE, and FID for the VAE; held-out nats per byte and per-token
     perplexity on the held-out fortunes for the text families.
Printed: both sets of metrics per seed, their means and spread over the seeds (the run-to-run noise),
the training wall times, and how closely the two runs' training losses track each other (with the same
init and noise they agree to float rounding at first, then drift apart as rounding differences grow).

    nice -n 10 tools/compare.py --family gan --steps 300 --seeds 1,2,3
    nice -n 10 tools/compare.py --family vae --steps 300 --seeds 1,2,3 --samples 2000
    nice -n 10 tools/compare.py --family lstm --steps 200 --seeds 3 --layers 2 --dim 64 --context 64

Needs vkgen built (--vkgen, default build/vkgen) and Debian's python3-torch.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, what):
    """Runs cmd; returns (stdout, wall seconds). Exits with the command's stderr on failure."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        sys.exit("error: %s failed (exit %d): %s" % (what, p.returncode, " ".join(cmd)))
    return p.stdout, wall


def train_run(cmd, out, fam, reuse, what):
    """Runs a training command into out and returns its wall time, kept in out/wall.txt so that --reuse
    can take a finished run (same command) instead of training again."""
    done = os.path.join(out, "wall.txt")
    if reuse and os.path.exists(done) and os.path.exists(os.path.join(out, fam + ".safetensors")):
        with open(done) as f:
            saved = json.load(f)
        def options(c):  # the options, less the binary and the output directory (the runs may have moved)
            return [a for i, a in enumerate(c[2:]) if a != "--out" and (i == 0 or c[2:][i - 1] != "--out")]

        if options(saved["cmd"]) == options(cmd):
            print(what + ": reusing the finished run in " + out, file=sys.stderr, flush=True)
            return saved["wall_s"]
    shutil.rmtree(out, ignore_errors=True)
    print(what + " ...", file=sys.stderr, flush=True)
    _, wall = run(cmd, what)
    with open(done, "w") as f:
        json.dump({"cmd": cmd, "wall_s": wall}, f)
    return wall


def read_metrics(path):
    with open(path) as f:
        return [json.loads(line) for line in f if '"step"' in line and '"loss' in line]


def tracking(a, b, keys):
    """How closely two runs' per-step losses agree: the largest relative difference over the first 10
    steps, and the first step where they differ by more than 1%."""
    worst10, first = 0.0, None
    for ra, rb in zip(a, b):
        for k in keys:
            rel = abs(ra[k] - rb[k]) / max(abs(rb[k]), 1e-12)
            if ra["step"] <= 10:
                worst10 = max(worst10, rel)
            if first is None and rel > 0.01:
                first = ra["step"]
    return worst10, first


def tail_mean(rows, key, n=50):
    vals = [r[key] for r in rows[-n:]]
    return sum(vals) / len(vals)


def mean_sd(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else float("nan")
    return m, sd


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", choices=["gan", "vae", "gpt", "lstm", "gru"], default="gan")
    ap.add_argument("--steps", type=int, default=300, help="training steps per run (default 300)")
    ap.add_argument("--seeds", default="1", help="a list (1,5,9), or a count N for seeds 1..N (default 1)")
    ap.add_argument("--vkgen", default=os.path.join(ROOT, "build", "vkgen"), help="the vkgen binary")
    ap.add_argument("--samples", type=int, default=2000,
                    help="eval size: generated images (gan) or test images (vae) (default 2000)")
    ap.add_argument("--batch", type=int, default=0, help="default: each family's (gan 64, vae 32)")
    ap.add_argument("--width", type=int, default=0, help="default: each family's (gan 8, vae 16)")
    ap.add_argument("--z", type=int, default=0, help="latent size; default: each family's (gan 64, vae 16)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N training images (text: windows)")
    ap.add_argument("--layers", type=int, default=0, help="text: layers (default 4)")
    ap.add_argument("--dim", type=int, default=0, help="text: width (default 128)")
    ap.add_argument("--heads", type=int, default=0, help="gpt: heads (default 4)")
    ap.add_argument("--context", type=int, default=0, help="text: context / training window (default 128)")
    ap.add_argument("--rng", choices=["vkgen", "torch"], default="vkgen",
                    help="PyTorch's init and noise: vkgen's numbers (default) or torch's own generator")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="PyTorch threads")
    ap.add_argument("--keep", metavar="DIR", help="keep the runs (weights, metrics) in DIR")
    ap.add_argument("--reuse", action="store_true",
                    help="with --keep: take runs finished there by an earlier call with the same options")
    ap.add_argument("--json", metavar="FILE", help="also write every number to FILE")
    args = ap.parse_args()
    try:
        seeds = ([int(s) for s in args.seeds.split(",")] if "," in args.seeds
                 else list(range(1, int(args.seeds) + 1)))
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        sys.exit("error: --seeds expects a list like 1,2,3 or a count N (seeds 1..N), got '%s'" % args.seeds)
    if not os.access(args.vkgen, os.X_OK):
        sys.exit("error: no vkgen binary at '%s'\nhint: build it (cmake -S . -B build && cmake --build build) "
                 "or pass --vkgen PATH" % args.vkgen)
    fam = args.family
    text = fam in ("gpt", "lstm", "gru")
    arch = []
    for opt in ("batch", "limit") + (("layers", "dim", "context") + (("heads",) if fam == "gpt" else ()) if text
                                     else ("width", "z")):
        if getattr(args, opt):
            arch += ["--" + opt, str(getattr(args, opt))]
    if args.reuse and not args.keep:
        sys.exit("error: --reuse needs --keep DIR (the directory of the earlier runs)")
    work = args.keep or tempfile.mkdtemp(prefix="vkgen-compare-")
    os.makedirs(work, exist_ok=True)
    loss_keys = ["loss_d", "loss_g"] if fam == "gan" else ["loss"]
    results = []
    try:
        for seed in seeds:
            out_v, out_t = os.path.join(work, "vkgen-%d" % seed), os.path.join(work, "torch-%d" % seed)
            common = ["--steps", str(args.steps), "--seed", str(seed), "--quiet"] + arch
            cmd_v = [args.vkgen, "train", fam, "--out", out_v, "--log-every", str(min(50, args.steps))] + common
            if text:
                cmd_t = [sys.executable, os.path.join(HERE, "torch_text.py"), "train", fam, "--out", out_t,
                         "--threads", str(args.threads)] + common
            else:
                cmd_t = [sys.executable, os.path.join(HERE, "torch_models.py"), "train", fam, "--out", out_t,
                         "--rng", args.rng, "--threads", str(args.threads)] + common
            wall_v = train_run(cmd_v, out_v, fam, args.reuse, "seed %d: vkgen train %s" % (seed, fam))
            wall_t = train_run(cmd_t, out_t, fam, args.reuse, "seed %d: %s train %s"
                               % (seed, os.path.basename(cmd_t[1]), fam))
            r = {"seed": seed, "wall_vkgen": wall_v, "wall_torch": wall_t, "metrics": {}}
            for who, d in (("vkgen", out_v), ("torch", out_t)):
                print("seed %d: vkgen eval %s (%s weights) ..." % (seed, fam, who), file=sys.stderr, flush=True)
                n = str(min(args.samples, 4) if text else args.samples)  # text: samples only for BLEU
                out, _ = run([args.vkgen, "eval", fam, "--weights", os.path.join(d, fam + ".safetensors"), "-n",
                              n, "--json"], "vkgen eval")
                r["metrics"][who] = json.loads(out.strip().splitlines()[-1])
                rows = read_metrics(os.path.join(d, "metrics.jsonl"))
                r["metrics"][who]["losses"] = {k: tail_mean(rows, k) for k in loss_keys}
                r[who + "_rows"] = rows
            r["track10"], r["diverge"] = tracking(r.pop("vkgen_rows"), r.pop("torch_rows"), loss_keys)
            results.append(r)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(args, fam, seeds, results, loss_keys)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"family": fam, "steps": args.steps, "samples": args.samples, "rng": args.rng,
                       "results": results}, f, indent=1)


def report(args, fam, seeds, results, loss_keys):
    text = fam in ("gpt", "lstm", "gru")
    if fam == "gan":
        cols = [("FID", "fid", "%.2f")]
    elif text:
        cols = [("held-out nats/byte", "val_loss", "%.4f"), ("perplexity/token", "val_ppl", "%.3f")]
    else:
        cols = [("-ELBO", "neg_elbo_nats", "%.2f"), ("rec BCE", "rec_bce_nats", "%.2f"),
                ("MSE", "mse_per_pixel", "%.5f"), ("KL", "kl_nats", "%.2f"), ("FID", "fid", "%.2f")]
    cols += [("last-50 " + k, ("losses", k), "%.4f") for k in loss_keys]

    def get(m, key):
        return m[key[0]][key[1]] if isinstance(key, tuple) else m[key]

    if text:
        arch = " ".join("%s %s" % (k, getattr(args, k)) for k in ("layers", "dim", "heads", "context", "batch")
                        if getattr(args, k) and (k != "heads" or fam == "gpt"))
        print("\n%s, %d steps, seeds %s%s; PyTorch init and batch order: vkgen's; eval on the held-out fortunes"
              % (fam.upper(), args.steps, ",".join(map(str, seeds)), ", " + arch if arch else ""))
    else:
        floor = results[0]["metrics"]["vkgen"].get("fid_floor")
        print("\n%s, %d steps, seeds %s, PyTorch init/noise: %s; eval on %d %s (FID floor, train vs test: %.2f)"
              % (fam.upper(), args.steps, ",".join(map(str, seeds)), args.rng, args.samples,
                 "samples" if fam == "gan" else "test images", floor))
    print("%-26s %20s %20s" % ("", "vkgen", "PyTorch"))
    for name, key, fmt in cols:
        for r in results:
            print("%-26s %20s %20s" % ("%s (seed %d)" % (name, r["seed"]), fmt % get(r["metrics"]["vkgen"], key),
                                      fmt % get(r["metrics"]["torch"], key)))
        if len(results) > 1:
            mv, sv = mean_sd([get(r["metrics"]["vkgen"], key) for r in results])
            mt, st = mean_sd([get(r["metrics"]["torch"], key) for r in results])
            print("%-26s %20s %20s" % (name + " mean +- sd", (fmt + " +- " + fmt) % (mv, sv),
                                      (fmt + " +- " + fmt) % (mt, st)))
    for r in results:
        print("%-26s %19.1fs %19.1fs" % ("train wall (seed %d)" % r["seed"], r["wall_vkgen"], r["wall_torch"]))
    if args.rng == "vkgen" or text:
        for r in results:
            print("seed %d: training losses agree to %.1e (relative) over steps 1-10; first differ by >1%% at %s"
                  % (r["seed"], r["track10"], "step %d" % r["diverge"] if r["diverge"] else "no step"))


if __name__ == "__main__":
    main()
