"""Cost of the pipeline's statistics stage (`permutations`, on by default) against the model fits it follows.

At the original study's shape (7,086 train / 1,771 validation images, 100 PCA features, 10,000 voxels) this times,
in one process, `compare_models` for the given models and `img2brain.pipeline.model_statistics` with N permutations
and N bootstrap resamples per model, and reports their ratio. Arrays are simulated (a linear signal plus noise): the
timing depends on the shapes only.

    python bench/pipeline_stats.py --permutations 200 --models ridge,ridgecv,linear
"""
import argparse, json, time
from pathlib import Path

import numpy as np
import pandas as pd

from img2brain.evaluate import compare_models
from img2brain.pipeline import model_statistics


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=7086); p.add_argument("--n-val", type=int, default=1771)
    p.add_argument("--n-features", type=int, default=100); p.add_argument("--n-voxels", type=int, default=10000)
    p.add_argument("--permutations", type=int, default=200)
    p.add_argument("--models", default="ridge,ridgecv,linear")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "pipeline_stats.json"))
    a = p.parse_args()
    rng = np.random.default_rng(0)
    n = a.n_train + a.n_val
    X = rng.standard_normal((n, a.n_features)).astype(np.float32)
    W = rng.standard_normal((a.n_features, a.n_voxels)).astype(np.float32) * 0.1
    Y = (X @ W + rng.standard_normal((n, a.n_voxels)).astype(np.float32)).astype(np.float32)
    Xtr, Xva, Ytr, Yva = X[:a.n_train], X[a.n_train:], Y[:a.n_train], Y[a.n_train:]
    models = a.models.split(",")
    t0 = time.perf_counter()
    table, fitted = compare_models(Xtr, Ytr, Xva, Yva, models=models, progress=False)
    fit_s = time.perf_counter() - t0
    voxels = pd.DataFrame(index=pd.RangeIndex(a.n_voxels))
    t0 = time.perf_counter()
    table, voxels, comparison = model_statistics(table, fitted, Xva, Yva, voxels, None, a.permutations, 0)
    stats_s = time.perf_counter() - t0
    result = dict(benchmark="pipeline statistics stage vs model fits", n_train=a.n_train, n_val=a.n_val,
                  n_features=a.n_features, n_voxels=a.n_voxels, models=models, permutations=a.permutations,
                  fit_seconds=round(fit_s, 2), statistics_seconds=round(stats_s, 2),
                  statistics_seconds_per_model=round(stats_s / len(models), 2),
                  ratio_statistics_to_fits=round(stats_s / fit_s, 3),
                  n_significant=dict(zip(table["model"], table["n_significant"].astype(int).tolist())))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
