#!/usr/bin/python3
"""Writes tests/fixtures/fid_ref.safetensors: Frechet distances computed with scipy.linalg.sqrtm, the
way the standard FID code (pytorch-fid) does, for tests/test_fid.c to compare against.

    /usr/bin/python3 tools/fid_reference.py [OUT]      (needs Debian's python3-scipy)

Each case i stores F64 tensors "case<i>.mu1" (D,), "case<i>.cov1" (D, D), "case<i>.mu2", "case<i>.cov2"
"case<i>.fid" (1,) = |mu1 - mu2|^2 + tr(C1 + C2 - 2 sqrtm(C1 C2)) from scipy, and "case<i>.fid_svd" (1,),
the same from the singular values described below. Covariances are A A^T / k of
Gaussian A (D, k); k < D makes one singular. "sqrtm.a" (D, D) with "sqrtm.out" = scipy's sqrtm(a)
checks the matrix square root alone. Metadata "cases" holds the number of cases.

Every expected FID is checked here against a second, independent computation, so a case where
scipy's Schur-based sqrtm loses accuracy on a singular product is caught before it becomes a fixture:
with C1 = A1 A1^T / k1 and C2 = A2 A2^T / k2, the nonzero eigenvalues of C1 C2 are the squared singular
values of M = A1^T A2 / sqrt(k1 k2), so tr sqrt(C1 C2) is the sum of the singular values of M (no
square root of rounding-level eigenvalues, hence accurate for singular covariances too).
"""
import json
import os
import struct
import sys

import numpy as np
import scipy
import scipy.linalg

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                                         "fid_ref.safetensors")

# (D, samples behind C1, samples behind C2, mean scale). A sample count below D gives a singular
# covariance of rank = that count.
CASES = [
    (1, 3, 5, 1.0),
    (2, 4, 3, 0.5),
    (7, 5, 20, 2.0),   # C1 of rank 5 (rank-deficient), C2 full rank
    (7, 30, 12, 0.0),  # equal means
    (64, 200, 150, 0.3),
    (64, 200, 63, 0.1),  # C2 one short of full rank: C1 C2 has a single zero eigenvalue
    (64, 40, 30, 0.5),   # both far from full rank, as with fewer images than features
]


def fid_scipy(mu1, c1, mu2, c2):
    covmean = scipy.linalg.sqrtm(c1 @ c2)
    if np.iscomplexobj(covmean):
        assert np.max(np.abs(covmean.imag)) < 1e-6 * max(1.0, np.max(np.abs(covmean.real))), "complex sqrtm"
        covmean = covmean.real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))


def fid_svd(mu1, a1, mu2, a2):
    c1, c2 = a1 @ a1.T / a1.shape[1], a2 @ a2.T / a2.shape[1]
    nuclear = np.sum(np.linalg.svd(a1.T @ a2 / np.sqrt(a1.shape[1] * a2.shape[1]), compute_uv=False))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * nuclear)


def factor(rng, d, k):
    """A (d, k) with rows of different scales; the covariance is A A^T / k."""
    return rng.normal(size=(d, k)) * rng.uniform(0.2, 2.0, size=(d, 1))


def main():
    rng = np.random.default_rng(20240607)
    tensors = {}
    for i, (d, k1, k2, scale) in enumerate(CASES):
        mu1 = rng.normal(size=d) * scale
        mu2 = mu1 + rng.normal(size=d) * scale
        a1, a2 = factor(rng, d, k1), factor(rng, d, k2)
        c1, c2 = a1 @ a1.T / k1, a2 @ a2.T / k2
        fid = fid_scipy(mu1, c1, mu2, c2)
        check = fid_svd(mu1, a1, mu2, a2)
        assert abs(fid - check) <= 1e-7 * max(1.0, abs(fid)), f"case {i}: sqrtm {fid} vs SVD {check}"
        print(f"case {i}: D {d}, ranks {min(d, k1)}/{min(d, k2)}: FID {fid:.12g} (SVD check {check:.12g})")
        for name, v in (("mu1", mu1), ("cov1", c1), ("mu2", mu2), ("cov2", c2), ("fid", np.array([fid])),
                        ("fid_svd", np.array([check]))):
            tensors[f"case{i}.{name}"] = v
    f = factor(rng, 7, 10)
    a = f @ f.T / 10
    s = scipy.linalg.sqrtm(a).real
    assert np.allclose(s @ s, a, rtol=1e-10, atol=1e-12)
    tensors["sqrtm.a"], tensors["sqrtm.out"] = a, s
    write_safetensors(OUT, tensors, {"cases": str(len(CASES)), "scipy": scipy.__version__,
                                      "generator": "tools/fid_reference.py"})
    print("wrote", os.path.normpath(OUT))


def write_safetensors(path, tensors, metadata):
    """The safetensors layout by hand (no extra package): header length, JSON header, raw data."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(np.shape(tensors[name])), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # pad so the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


if __name__ == "__main__":
    main()
