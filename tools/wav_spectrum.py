#!/usr/bin/python3
"""Mean power spectrum of two sets of WAV files (16-bit PCM mono, one rate), side by side in bands,
plus level and zero-crossing rate: a measured comparison of generated audio with real speech.

    tools/wav_spectrum.py --a generated.wav --b held-out/*.wav [--bands 16]

Each file is cut into 256-sample frames (Hann window, hop 128); a set's spectrum is the mean power
over all its frames, in dB relative to the set's total power, so loudness differences do not hide
the shape. Debian's python3-numpy only."""
import argparse
import wave

import numpy as np


def read(path):
    w = wave.open(path)
    if w.getnchannels() != 1 or w.getsampwidth() != 2:
        raise SystemExit(f"{path}: expected 16-bit mono")
    x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
    return x, w.getframerate()


def stats(paths, n=256):
    frames, rate, zc, sq, count = [], None, 0, 0.0, 0
    for p in paths:
        x, r = read(p)
        if rate is None:
            rate = r
        elif r != rate:
            raise SystemExit(f"{p}: rate {r}, expected {rate}")
        zc += int(np.sum(np.signbit(x[1:]) != np.signbit(x[:-1])))
        sq += float(np.sum(x * x))
        count += len(x)
        for s in range(0, len(x) - n + 1, n // 2):
            frames.append(x[s:s + n] * np.hanning(n))
    power = np.mean(np.abs(np.fft.rfft(np.array(frames), axis=1)) ** 2, axis=0)
    return rate, power / power.sum(), np.sqrt(sq / count), zc / count * rate


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", nargs="+", required=True)
    ap.add_argument("--b", nargs="+", required=True)
    ap.add_argument("--bands", type=int, default=16)
    a = ap.parse_args()
    ra, pa, la, za = stats(a.a)
    rb, pb, lb, zb = stats(a.b)
    if ra != rb:
        raise SystemExit(f"rates differ: {ra} vs {rb}")
    edges = np.linspace(0, len(pa) - 1, a.bands + 1).astype(int)  # bin k is k * rate / 256 Hz
    print(f"| band (Hz) | A dB | B dB |\n|---|---|---|")
    for i in range(a.bands):
        lo, hi = edges[i], edges[i + 1] + (i == a.bands - 1)  # the last band keeps the Nyquist bin
        fa, fb = 10 * np.log10(pa[lo:hi].sum() + 1e-12), 10 * np.log10(pb[lo:hi].sum() + 1e-12)
        print(f"| {lo * ra // 256}-{edges[i + 1] * ra // 256} | {fa:.1f} | {fb:.1f} |")
    print(f"\nRMS level: A {20 * np.log10(la + 1e-12):.1f} dBFS, B {20 * np.log10(lb + 1e-12):.1f} dBFS; "
          f"zero crossings per second: A {za:.0f}, B {zb:.0f}")


if __name__ == "__main__":
    main()
