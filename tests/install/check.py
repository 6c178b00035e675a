"""The Python module against an installed vkgen (run by tests/install.sh with /usr/bin/python3 and
PYTHONPATH into the prefix): version, devices, a small graph against numpy, 4 samples of the shipped
GAN (reproducible per seed), training a tiny GAN and sampling it, VAE samples, GPT text and its
metrics, and errors raised with vkgen's
message and hint. Exits non-zero on any failure.

usage: check.py PREFIX OUTDIR"""
import os
import sys

import numpy as np

import vkgen

prefix, outdir = sys.argv[1], sys.argv[2]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        print("FAIL " + what, file=sys.stderr)
        failures += 1


check(os.path.realpath(vkgen.__file__).startswith(os.path.realpath(prefix)), "module from " + vkgen.__file__)
check(vkgen.version() == vkgen._build.VERSION, "version %s vs %s" % (vkgen.version(), vkgen._build.VERSION))
devs = vkgen.devices()
check(len(devs) >= 1 and all(d["name"] for d in devs), "devices: %r" % devs)
fams = vkgen.families()
check({"gan", "vae", "gpt"} <= set(fams), "families: %r" % fams)

# ---- a small graph: relu(x @ w + b) on awkward shapes, against numpy ----
rng = np.random.default_rng(7)
x, w, b = rng.standard_normal((7, 13)), rng.standard_normal((13, 5)), rng.standard_normal(5)
with vkgen.Context() as ctx:
    check(ctx.validation_enabled or os.environ.get("VKGEN_VALIDATE") != "1", "VKGEN_VALIDATE=1 but no validation")
    g = ctx.graph()
    tx, tw, tb = g.input("x", x.shape), g.input("w", w.shape), g.input("b", b.shape)
    ty = g.output(g.relu(g.matmul(tx, tw, bias=tb)))
    tz = g.output(g.softmax(tx * tx - tx))
    g.compile()
    for t, a in ((tx, x), (tw, w), (tb, b)):
        g.write(t, a)
    g.run()
    y, z = g.read(ty), g.read(tz)
    ref = np.maximum(x @ w + b, 0)
    check(y.shape == (7, 5) and np.allclose(y, ref, rtol=1e-4, atol=1e-4),
          "relu(x @ w + b): max error %g" % np.abs(y - ref).max())
    e = np.exp(x * x - x - (x * x - x).max(axis=1, keepdims=True))
    check(np.allclose(z, e / e.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6), "softmax")
    # A shape error surfaces at compile as vkgen.Error with vkgen's message.
    bad = ctx.graph()
    bad.output(bad.matmul(bad.input("a", (2, 3)), bad.input("b", (4, 5))))
    try:
        bad.compile()
        check(False, "a (2,3) @ (4,5) matmul compiled")
    except vkgen.Error as err:
        check(err.status == "VKG_ERR_SHAPE" and "3" in err.message and "4" in err.message, "shape error: %s" % err)
    check(ctx.validation_messages() == 0, "validation messages: %d" % ctx.validation_messages())

# ---- families: the shipped GAN, then a tiny one trained here ----
gan = vkgen.load("gan")
check(gan.weights.startswith(prefix), "default GAN weights from " + gan.weights)
a = gan.sample(n=4, seed=1)
check(a.shape == (4, 1, 28, 28) and a.dtype == np.float32, "sample shape %s %s" % (a.shape, a.dtype))
check(a.min() >= 0 and a.max() <= 1 and a.std() > 0.1, "sample values %g..%g" % (a.min(), a.max()))
check(all(np.abs(a[i] - a[j]).max() > 0.1 for i in range(4) for j in range(i)), "4 different images")
check(np.array_equal(a, gan.sample(n=4, seed=1)), "the same seed gives the same images")
check(not np.array_equal(a, gan.sample(n=4, seed=2)), "another seed gives other images")
tiny = vkgen.train("gan", out=os.path.join(outdir, "tiny"), width=4, z=16, batch=8, limit=64, steps=2, quiet=True)
check(tiny.config.get("width") == 4, "trained config %r" % tiny.config)
check(tiny.sample(n=2, seed=3).shape == (2, 1, 28, 28), "sampling the trained GAN")

vae = vkgen.load("vae").sample(n=2, seed=1)
check(vae.shape == (2, 1, 28, 28) and vae.std() > 0.05, "vae samples %s" % (vae.shape,))
gpt = vkgen.load("gpt")
one = gpt.sample(n=12, seed=1)
check(isinstance(one, str) and len(one) > 0 and one == gpt.sample(n=12, seed=1), "gpt text %r" % one)
two = gpt.sample(n=12, seed=1, batch=2)
check(isinstance(two, list) and len(two) == 2 and all(isinstance(t, str) and t for t in two), "gpt batch %r" % two)
metrics = gpt.eval(val_tokens=256, n=2, batch=1)
check(metrics.get("model") == "gpt" and 0 < metrics.get("val_loss", -1) < 10, "gpt eval %r" % metrics)

# ---- errors carry vkgen's message and hint ----
try:
    gan.sample(n=4, out="/nonexistent-vkgen-dir/x.png")
    check(False, "sampling into a missing directory worked")
except vkgen.Error as err:
    check("/nonexistent-vkgen-dir" in err.message and "mkdir" in err.hint, "bad -o: %r / %r" % (err.message, err.hint))
try:
    vkgen.load("gan", os.path.join(outdir, "missing.safetensors"))
    check(False, "missing weights loaded")
except vkgen.Error as err:
    check(err.status == "VKG_ERR_IO" and "missing.safetensors" in err.message, "missing weights: %s" % err)
try:
    vkgen.run("sample", "gan", no_such_option=True)
    check(False, "an unknown option was accepted")
except vkgen.Error as err:
    check("--no-such-option" in err.message, "unknown option: %s" % err)

if failures:
    sys.exit("%d failure(s)" % failures)
print("ok: vkgen %s from Python: devices, graph, gan/vae/gpt load, sample, train, eval, errors" % vkgen.version())
