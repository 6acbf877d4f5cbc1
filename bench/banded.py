"""Banded ridge benchmark: img2brain's BandedRidgeCV against himalaya's BandedRidgeCV(solver="random_search").

Problem (issue-sized): 7,086 training images, 3 bands × 100 features, 10,000 voxels, 20 band-weight samples,
9 alphas, 5 folds. img2brain runs the whole problem. himalaya runs a subset (5 of the 20 weight samples × 2,000 of
the 10,000 voxels) and its time is scaled linearly to the whole problem (its cost is proportional to both: one SVD
per sample and fold, then work per voxel). Agreement (same band weights and alpha) and held-out median r are measured
on that subset, img2brain refitted there with the same 5 samples, alphas, folds and scoring.

The `dual` entry times the kernel (dual) form against the primal solver on a problem with more features than
training images (3 bands wider than the images), same samples, alphas and folds, and checks that both make the
same predictions.

    .venv/bin/python bench/banded.py            # writes bench/results/banded.json
    .venv/bin/python bench/banded.py --quick    # a 10x smaller problem, for a smoke test (writes bench/results/banded_quick.json)
    .venv/bin/python bench/banded.py --dual     # only the primal-vs-dual comparison (writes bench/results/banded_dual.json)
"""
import argparse, json, os, platform, time
from pathlib import Path

import numpy as np

def simulate(n_train, n_test, n_per_band, n_voxels, seed=0):
    "Three correlated feature spaces and voxels that each weigh the spaces differently (Dirichlet), plus noise."
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    shared = rng.standard_normal((n, 20))
    X = np.concatenate([shared @ rng.standard_normal((20, n_per_band)) * 0.5 + rng.standard_normal((n, n_per_band))
                        for _ in range(3)], 1).astype(np.float32)
    groups = np.repeat(np.arange(3), n_per_band)
    share = rng.dirichlet(np.full(3, 0.3), n_voxels).T[groups]          # features × voxels
    W = rng.standard_normal((3 * n_per_band, n_voxels)) * np.sqrt(share / n_per_band)
    signal = X @ W
    Y = (signal + rng.standard_normal(signal.shape) * signal.std(0) * rng.uniform(0.5, 3, n_voxels)).astype(np.float32)
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:], groups

def pearson(a, b):
    a = a - a.mean(0); b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))

def timed(f):
    t, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - t, time.process_time() - c

def wide(quick=False):
    "Primal against dual (kernel) form where the bands together are wider than the training images."
    from sklearn.model_selection import KFold
    from img2brain.banded import BandedRidgeCV, dirichlet_weights
    n_train, n_test, n_per_band, n_voxels = (150, 50, 200, 200) if quick else (600, 200, 800, 1000)
    X, Y, Xt, Yt, groups = simulate(n_train, n_test, n_per_band, n_voxels, seed=1)
    kw = dict(groups=groups, alphas=np.logspace(-1, 7, 9), n_iter=dirichlet_weights(5, 3, random_state=0), cv=KFold(5))
    primal, p_wall, p_cpu = timed(lambda: BandedRidgeCV(solver="primal", **kw).fit(X, Y))
    dual, d_wall, d_cpu = timed(lambda: BandedRidgeCV(solver="dual", **kw).fit(X, Y))
    return dict(n_train=n_train, n_features=3 * n_per_band, n_voxels=n_voxels, n_weight_samples=5, n_alphas=9, n_folds=5,
                primal_wall_s=round(p_wall, 2), dual_wall_s=round(d_wall, 2), primal_cpu_s=round(p_cpu, 2), dual_cpu_s=round(d_cpu, 2),
                speedup_dual_vs_primal=round(p_wall / d_wall, 1),
                same_choices=float(np.mean(np.all(primal.band_weights_ == dual.band_weights_, 1) & (primal.best_alphas_ == dual.best_alphas_))),
                max_abs_prediction_diff=float(np.abs(primal.predict(Xt) - dual.predict(Xt)).max()))

def main(quick=False):
    from sklearn.model_selection import KFold
    import himalaya.ridge, himalaya.scoring
    from img2brain.banded import BandedRidgeCV, dirichlet_weights
    n_train, n_test, n_per_band, n_voxels = (709, 200, 30, 1000) if quick else (7086, 1000, 100, 10000)
    n_samples, n_alphas, n_folds, sub_samples, sub_voxels = 20, 9, 5, 5, n_voxels // 5
    X, Y, Xt, Yt, groups = simulate(n_train, n_test, n_per_band, n_voxels)
    weights = dirichlet_weights(n_samples, 3, random_state=0)
    alphas = np.logspace(-1, 7, n_alphas)
    cv = KFold(n_folds)
    ours = lambda w, Y: BandedRidgeCV(groups=groups, alphas=alphas, n_iter=w, cv=cv, scoring="r2").fit(X, Y)
    model, wall, cpu = timed(lambda: ours(weights, Y))
    sub = np.random.default_rng(1).choice(n_voxels, sub_voxels, replace=False)
    peer, p_wall, p_cpu = timed(lambda: himalaya.ridge.BandedRidgeCV(
        groups=groups, cv=cv, fit_intercept=True,
        solver_params=dict(n_iter=weights[:sub_samples], alphas=alphas, score_func=himalaya.scoring.r2_score,
                           progress_bar=False)).fit(X.astype(np.float64), Y[:, sub].astype(np.float64)))
    scale = (n_samples / sub_samples) * (n_voxels / sub_voxels)
    small = ours(weights[:sub_samples], Y[:, sub])
    peer_w = np.exp(peer.deltas_).T * peer.best_alphas_[:, None]
    same = np.all(np.abs(peer_w - small.band_weights_) < 1e-6, 1) & np.isclose(peer.best_alphas_, small.best_alphas_)
    r_ours, r_peer = pearson(Yt[:, sub], small.predict(Xt)), pearson(Yt[:, sub], peer.predict(Xt.astype(np.float64)))
    res = dict(problem=dict(n_train=n_train, n_bands=3, n_features_per_band=n_per_band, n_voxels=n_voxels,
                            n_weight_samples=n_samples, n_alphas=n_alphas, n_folds=n_folds, scoring="r2"),
               himalaya_subset=dict(n_weight_samples=sub_samples, n_voxels=sub_voxels, scale_factor=scale,
                                    wall_s=round(p_wall, 2), cpu_s=round(p_cpu, 2)),
               img2brain_wall_s=round(wall, 2), img2brain_cpu_s=round(cpu, 2),
               himalaya_wall_s_scaled=round(p_wall * scale, 1), himalaya_cpu_s_scaled=round(p_cpu * scale, 1),
               speedup_vs_himalaya=round(p_wall * scale / wall, 1), speedup_cpu_vs_himalaya=round(p_cpu * scale / cpu, 1),
               agreement=float(same.mean()), median_r_img2brain=float(np.median(r_ours)),
               median_r_himalaya=float(np.median(r_peer)), median_r_diff=float(abs(np.median(r_ours) - np.median(r_peer))),
               dual=wide(quick),
               machine=dict(cpus=os.cpu_count(), python=platform.python_version(), load_1min=os.getloadavg()[0]),
               note="himalaya timed on the subset and scaled linearly (samples × voxels); ratios from one process")
    from img2brain.data import atomic_write
    out = Path(__file__).parent / "results" / ("banded_quick.json" if quick else "banded.json")
    atomic_write(out, lambda f: f.write(json.dumps(res, indent=1).encode()))
    print(json.dumps(res, indent=1))

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 10x smaller problem; writes bench/results/banded_quick.json")
    ap.add_argument("--dual", action="store_true", help="only the primal-vs-dual comparison; writes bench/results/banded_dual.json")
    args = ap.parse_args()
    if args.dual:
        from img2brain.data import atomic_write
        res = dict(dual=wide(args.quick), machine=dict(cpus=os.cpu_count(), python=platform.python_version(), load_1min=os.getloadavg()[0]))
        atomic_write(Path(__file__).parent / "results" / "banded_dual.json", lambda f: f.write(json.dumps(res, indent=1).encode()))
        print(json.dumps(res, indent=1))
    else: main(args.quick)
