"""Benchmark: the per-voxel permutation test of img2brain.stats against scipy.stats.permutation_test.

Seed scale by default: 1,771 validation images × 10,000 voxels, 1,000 permutations (the issue's speed goal: < 15 s on
2 cores). Synthetic float32 data: predictions = signal + noise, responses = signal + noise, a third of the voxels pure
noise (seeded).

scipy.stats.permutation_test is looped over voxels on a subset (`--scipy-voxels`, default 20), with
`permutation_type="pairings"`, `alternative="greater"`, the same number of resamples, and a *vectorised* Pearson
statistic (scipy's fastest use: all resamples of one voxel in one call); its time per voxel is extrapolated to all
voxels for `speedup_vs_scipy`. Both timings come from the same process, so the ratio is meaningful on a shared machine
even when absolute times are inflated by load; `cpu_seconds_permutation_test` / cores (`idle_estimate_seconds`) is
what the test costs on an idle machine. The compiled engine is used when numba is installed (`engine` says which);
the numpy engine (used without numba) is timed on a tenth of the voxels and extrapolated. The bootstrap interval (1,000 resamples) and the paired model
comparison are timed at the same size for reference.

Usage:  python bench/stats.py              # full size, writes bench/results/stats.json
        python bench/stats.py --small      # 500 images × 2,000 voxels (a quick check; writes stats_small.json)
"""
import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.stats

from img2brain.data import atomic_write
from img2brain.stats import permutation_test, bootstrap_ci, compare_predictions, numba


def simulate(n_images, n_voxels, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(n_images, n_voxels)) * (np.arange(n_voxels) % 3 != 0)   # every third voxel: no signal
    y = (signal + rng.normal(size=signal.shape)).astype(np.float32)
    pred = (signal + rng.normal(scale=1.5, size=signal.shape)).astype(np.float32)
    return y, pred


def scipy_seconds_per_voxel(y, pred, n_permutations, n_voxels):
    "Time scipy.stats.permutation_test looped over the first `n_voxels` voxels; return (seconds per voxel, p-values)."
    ps = []
    t0 = time.perf_counter()
    for v in range(n_voxels):
        yc = y[:, v] - y[:, v].mean()
        def r(x, axis=-1):   # Pearson r of each resample with the measured responses, vectorised over resamples
            xc = x - x.mean(axis=axis, keepdims=True)
            return (xc @ yc) / (np.linalg.norm(xc, axis=axis) * np.linalg.norm(yc))
        res = scipy.stats.permutation_test((pred[:, v],), r, permutation_type="pairings", vectorized=True,
                                           n_resamples=n_permutations, alternative="greater", rng=v)
        ps.append(res.pvalue)
    return (time.perf_counter() - t0) / n_voxels, np.array(ps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-images", type=int, default=1771)
    ap.add_argument("--n-voxels", type=int, default=10_000)
    ap.add_argument("--n-permutations", type=int, default=1000)
    ap.add_argument("--scipy-voxels", type=int, default=20)
    ap.add_argument("--small", action="store_true", help="500 images × 2,000 voxels")
    ap.add_argument("--out", default=None, help="JSON file (default bench/results/stats.json, or stats_small.json)")
    a = ap.parse_args()
    if a.small: a.n_images, a.n_voxels = 500, 2000
    y, pred = simulate(a.n_images, a.n_voxels)
    pred_b = (pred + np.random.default_rng(1).normal(scale=1.0, size=pred.shape)).astype(np.float32)

    permutation_test(y[:, :64], pred[:, :64], 10)        # warm-up (thread pool, page faults)
    t0, c0 = time.perf_counter(), time.process_time()
    res = permutation_test(y, pred, a.n_permutations, seed=0)
    ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    sub = max(1, a.n_voxels // 10)     # the numpy engine (no numba) on a tenth of the voxels, extrapolated
    t0, c0 = time.perf_counter(), time.process_time()
    res_np = permutation_test(y[:, :sub], pred[:, :sub], a.n_permutations, seed=0, engine="numpy")
    numpy_wall, numpy_cpu = (time.perf_counter() - t0) * a.n_voxels / sub, (time.process_time() - c0) * a.n_voxels / sub
    per_voxel, p_scipy = scipy_seconds_per_voxel(y, pred, a.n_permutations, a.scipy_voxels)
    scipy_total = per_voxel * a.n_voxels
    t0 = time.perf_counter(); bootstrap_ci(y, pred, n_boot=1000, seed=0); boot = time.perf_counter() - t0
    t0 = time.perf_counter(); compare_predictions(y, pred, pred_b, n_boot=1000, n_permutations=1000); comp = time.perf_counter() - t0

    key = f"seconds_{a.n_permutations}_perm_{a.n_voxels // 1000}k_voxels" if not a.small else "seconds_permutation_test"
    out = {
        key: round(ours, 2),
        "cpu_seconds_permutation_test": round(ours_cpu, 2),
        "idle_estimate_seconds": round(ours_cpu / (os.cpu_count() or 1), 2),
        "engine": "numba" if numba is not None else "numpy",
        "speedup_vs_scipy": round(scipy_total / ours, 1),
        "numpy_engine_seconds_extrapolated": round(numpy_wall, 1),
        "numpy_engine_cpu_seconds_extrapolated": round(numpy_cpu, 1),
        "numpy_engine_same_p_as_numba": bool(np.allclose(res_np.p, res.p[:sub])),
        "scipy_seconds_per_voxel": round(per_voxel, 4),
        "scipy_seconds_extrapolated": round(scipy_total, 1),
        "scipy_voxels_timed": a.scipy_voxels,
        "max_abs_p_difference_vs_scipy": round(float(np.abs(res.p[:a.scipy_voxels] - p_scipy).max()), 4),
        "seconds_bootstrap_ci_1000": round(boot, 2),
        "seconds_compare_predictions_1000_boot_1000_swaps": round(comp, 2),
        "n_images": a.n_images, "n_voxels": a.n_voxels, "n_permutations": a.n_permutations,
        "goal_seconds": 15, "cpu_count": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2),
        "numpy": np.__version__, "scipy": scipy.__version__, "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "note": "ratios are measured in one process; absolute seconds are inflated on a shared, loaded machine",
    }
    path = Path(a.out or Path(__file__).parent / "results" / ("stats_small.json" if a.small else "stats.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write((json.dumps(out, indent=2) + "\n").encode()))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
