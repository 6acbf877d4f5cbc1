"""Benchmark: per-voxel ridge with K-fold CV over alphas — img2brain VoxelRidgeCV vs himalaya RidgeCV vs sklearn RidgeCV.

Seed scale by default: 7,086 training images, 10,000 voxels, p = 100 and 1,000 features, 17 alphas (1e-2 … 1e6),
5-fold KFold without shuffling, R² scoring. The fast methods (floor, ours) run in interleaved rounds and keep their
best time, so bursts of load from other jobs on a shared machine hit them alike. Synthetic data: X with PCA-like decaying variance, Y = X W + noise
(seeded), both float32 as real responses are. Every K-fold method gets the same alphas and the same list of folds.

Methods (all fit an intercept):
  floor          SVD of the centred X + UᵀY in float64 (ours computes in float64) — the least work any SVD-based
                 ridge has to do; `floor_float32` is reported too.
  ours_numpy     img2brain.models.VoxelRidgeCV(backend="numpy")
  ours_torch     img2brain.models.VoxelRidgeCV(backend="torch") (CPU here unless CUDA is present)
  himalaya_numpy himalaya.ridge.RidgeCV with set_backend("numpy"), score_func=r2_score (its default is l2_neg_loss),
                 n_targets_batch=1000 to bound memory; float32 as given (its fastest mode)
  himalaya_torch the same with set_backend("torch") (CPU)
  sklearn_loo    sklearn.linear_model.RidgeCV(alpha_per_target=True): scikit-learn only supports alpha_per_target
                 with cv=None, i.e. efficient leave-one-out (GCV) scored by squared error — a different CV scheme,
                 so it is timed but its alphas are not expected to match.

  previous_numpy VoxelRidgeCV of another img2brain version, imported from the file given with --previous (e.g. the
                 last release's models.py: `git show REV:img2brain/models.py > bench/data/previous_models.py`), timed
                 in the same rounds as ours, so that a change of speed is measured within one run

Usage:  python bench/ridge.py                       # full size (several minutes; heavy on a shared machine)
        python bench/ridge.py --small               # 1,500 images × 1,000 voxels, p = 50 and 200
        python bench/ridge.py --n-train 2000 --n-voxels 2000 --features 100 --skip sklearn_loo
        python bench/ridge.py --ref-voxels 2000   # himalaya/sklearn on 2,000 of the 10,000 voxels (busy machine)
        python bench/ridge.py --previous bench/data/previous_models.py   # also time an older VoxelRidgeCV
"""
import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from img2brain.models import GridEdgeWarning, VoxelRidgeCV

ALPHAS = np.logspace(-2, 6, 17)
METHODS = ("floor", "floor_float32", "ours_numpy", "ours_torch", "himalaya_numpy", "himalaya_torch", "sklearn_loo")
REFERENCES = ("himalaya_numpy", "himalaya_torch", "sklearn_loo")


def make_data(n_train, n_features, n_voxels, seed=0):
    "PCA-like features (variance falling with the index) and voxels = random linear model of them + noise."
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n_train, n_features)) * np.linspace(3, 0.3, n_features)).astype(np.float32)
    W = rng.standard_normal((n_features, n_voxels)).astype(np.float32)
    signal = X @ W
    signal /= signal.std(0)
    Y = signal * rng.uniform(0, 1, n_voxels).astype(np.float32)
    Y += rng.standard_normal((n_train, n_voxels), dtype=np.float32)
    return X, Y


def run_floor(X, Y, dtype):
    Xc = X.astype(dtype) - X.astype(dtype).mean(0)
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    UY = U.T @ Y.astype(dtype, copy=False)
    return UY


PREVIOUS = {}   # the older VoxelRidgeCV class, when --previous is given


def load_previous(path):
    import importlib.util
    spec = importlib.util.spec_from_file_location("previous_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    PREVIOUS["class"] = module.VoxelRidgeCV


def run_method(method, X, Y, splits):
    "Fit one method; return (seconds, best alphas per voxel or None)."
    start = time.perf_counter()
    if method == "previous_numpy":
        model = PREVIOUS["class"](alphas=ALPHAS, cv=splits, backend="numpy").fit(X, Y)
        return time.perf_counter() - start, model.best_alphas_
    if method == "floor": run_floor(X, Y, np.float64); return time.perf_counter() - start, None
    if method == "floor_float32": run_floor(X, Y, np.float32); return time.perf_counter() - start, None
    if method.startswith("ours_"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GridEdgeWarning)   # the noise voxels of this data sit on the top edge
            model = VoxelRidgeCV(alphas=ALPHAS, cv=splits, backend=method.split("_")[1]).fit(X, Y)
        return time.perf_counter() - start, model.best_alphas_
    if method.startswith("himalaya_"):
        from himalaya.backend import set_backend
        from himalaya.ridge import RidgeCV
        from himalaya.scoring import r2_score
        set_backend(method.split("_")[1], on_error="raise")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = RidgeCV(alphas=ALPHAS, cv=splits, fit_intercept=True,
                            solver_params=dict(score_func=r2_score, n_targets_batch=1000)).fit(X, Y)
        seconds = time.perf_counter() - start
        best = np.asarray(model.best_alphas_.cpu() if hasattr(model.best_alphas_, "cpu") else model.best_alphas_)
        set_backend("numpy")
        # himalaya returns exp(-log(1/alpha)): snap to the grid
        return seconds, ALPHAS[np.argmin(np.abs(np.log(best)[None] - np.log(ALPHAS)[:, None]), 0)]
    if method == "sklearn_loo":
        from sklearn.linear_model import RidgeCV
        model = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X, Y)
        return time.perf_counter() - start, np.asarray(model.alpha_)
    raise ValueError(method)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-train", type=int, default=7086)
    p.add_argument("--n-voxels", type=int, default=10000)
    p.add_argument("--features", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--cv", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3, help="repeats of the fast methods (floor, ours); best time kept")
    p.add_argument("--small", action="store_true", help="1,500 images × 1,000 voxels, p = 50 and 200")
    p.add_argument("--skip", nargs="*", default=[], choices=METHODS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ref-voxels", type=int, default=None,
                   help="run himalaya and sklearn on the first N voxels only (and ours again on the same N, for the "
                        "ratios): for a busy machine, where himalaya at full size takes too long")
    p.add_argument("--previous", default=None, help="models.py of another img2brain version: time its VoxelRidgeCV too")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "ridge.json"))
    args = p.parse_args(argv)
    if args.previous: load_previous(args.previous)
    if args.small: args.n_train, args.n_voxels, args.features = 1500, 1000, [50, 200]

    import torch
    machine = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), python=sys.version.split()[0],
                   platform=platform.platform(), cpu_count=os.cpu_count(), load_average_start=os.getloadavg(),
                   torch_threads=torch.get_num_threads(), cuda=torch.cuda.is_available(),
                   note="shared 2-core machine (other jobs running): absolute times are noisy, ratios within a run "
                        "are the meaningful figures")
    results, summary = [], {}
    for n_features in args.features:
        X, Y = make_data(args.n_train, n_features, args.n_voxels, args.seed)
        splits = list(KFold(args.cv).split(X))
        alphas_by = {}
        n_ref = min(args.ref_voxels or args.n_voxels, args.n_voxels)
        plan = [m for m in METHODS if m not in args.skip]
        if args.previous: plan.insert(plan.index("ours_numpy") + 1 if "ours_numpy" in plan else 0, "previous_numpy")
        if n_ref < args.n_voxels: plan += ["ours_numpy_ref", "ours_torch_ref"]
        # the fast methods run in interleaved rounds (floor, ours, floor, ours, ...) and keep their best time, so
        # that a burst of load from other jobs on the shared machine does not hit one of them only
        fast = [m for m in plan if m.startswith(("floor", "ours", "previous"))]
        rounds = [[m for m in fast]] * args.repeats + [[m for m in plan if m not in fast]]
        times = {}
        for round_ in rounds:
            for method in round_:
                Y_m = Y[:, :n_ref] if (method in REFERENCES or method.endswith("_ref")) else Y
                seconds, alphas_by[method] = run_method(method.removesuffix("_ref"), X, Y_m, splits)
                times.setdefault(method, []).append(seconds)
        for method in plan:
            n_v = n_ref if (method in REFERENCES or method.endswith("_ref")) else args.n_voxels
            results.append(dict(n_features=n_features, method=method, n_voxels=n_v, seconds=min(times[method]),
                                all_seconds=times[method]))
            print(f"p={n_features:5d} {method:15s} {n_v:6d} voxels {min(times[method]):9.2f} s", flush=True)
        t = {r["method"]: r["seconds"] for r in results if r["n_features"] == n_features}
        s = dict(seconds=t, reference_voxels=n_ref)
        for ours in ("ours_numpy", "ours_torch"):
            if ours not in t: continue
            ours_ref = ours + "_ref" if n_ref < args.n_voxels else ours
            for ref in REFERENCES:
                if ref in t and ours_ref in t: s[f"{ref}_over_{ours}"] = t[ref] / t[ours_ref]
            for ref in ("floor", "floor_float32"):
                if ref in t: s[f"{ours}_over_{ref}"] = t[ours] / t[ref]
        if "previous_numpy" in t and "ours_numpy" in t:
            s["previous_numpy_over_ours_numpy"] = t["previous_numpy"] / t["ours_numpy"]
            if "floor" in t: s["previous_numpy_over_floor"] = t["previous_numpy"] / t["floor"]
        ours_alphas = alphas_by.get("ours_numpy")
        if ours_alphas is not None:
            for ref in ("ours_torch", "previous_numpy") + REFERENCES:
                if alphas_by.get(ref) is not None:
                    s[f"alpha_agreement_{ref}"] = float(np.mean(alphas_by[ref] == ours_alphas[:len(alphas_by[ref])]))
            if alphas_by.get("himalaya_numpy") is not None:
                ours_alphas = ours_alphas[:n_ref]
                # where the alphas differ, how far apart are the two alphas' CV scores (ours)? near-ties expected,
                # himalaya scoring in float32
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", GridEdgeWarning)
                    model = VoxelRidgeCV(alphas=ALPHAS, cv=splits).fit(X, Y[:, :n_ref])
                idx = {a: i for i, a in enumerate(ALPHAS)}
                differ = np.flatnonzero(alphas_by["himalaya_numpy"] != ours_alphas)
                gaps = [model.cv_scores_[idx[ours_alphas[v]], v] - model.cv_scores_[idx[alphas_by["himalaya_numpy"][v]], v]
                        for v in differ]
                s["himalaya_disagreement_max_r2_gap"] = float(max(gaps)) if gaps else 0.0
        summary[str(n_features)] = s
        print(json.dumps(s, indent=1), flush=True)
        del X, Y
    machine["load_average_end"] = os.getloadavg()
    out = dict(benchmark="per-voxel ridge with 5-fold CV over alphas", machine=machine,
               config=dict(n_train=args.n_train, n_voxels=args.n_voxels, reference_voxels=args.ref_voxels, features=args.features, cv=f"KFold({args.cv})",
                           previous=args.previous, skipped=args.skip,
                           alphas=ALPHAS.tolist(), scoring="r2", seed=args.seed, repeats=args.repeats,
                           data="X: N(0,1)·linspace(3, 0.3) per feature; Y = X W scaled to unit signal × U(0,1) + N(0,1); float32"),
               results=results, summary=summary)
    out_path = Path(args.out); out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f: json.dump(out, f, indent=1)
    os.replace(tmp, out_path)
    print("wrote", out_path)


if __name__ == "__main__":
    main()
