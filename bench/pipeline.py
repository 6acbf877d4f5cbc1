"""Full-scale benchmark of `img2brain.pipeline.run_pipeline` (not a timed test).

On the `full` simulated dataset (8,857 + 984 images of 425 px, 10,000 voxels; generated into bench/data/full if
missing), AlexNet `features.12` with random weights, PCA 100, all seven models:
  * wall time per stage (the pipeline's own stage timer) and in all; goal < 10 minutes on 2 cores;
  * peak RSS of this process and of its child processes (DataLoader workers); goal < 6 GB;
  * a second run with the same configuration, which reads the features from the cache; goal < 1 minute.
Writes bench/results/pipeline.json.

    python bench/pipeline.py                 # full scale
    python bench/pipeline.py --scale small   # a quick check of the script itself
"""
import argparse, json, os, platform, resource, shutil, time
from pathlib import Path

import torch

from img2brain.synth import make_dataset
from img2brain.pipeline import RunConfig, run_pipeline

HERE = Path(__file__).resolve().parent


def peak_rss_mib():
    "Peak resident memory (MiB) of this process and of its largest finished child."
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_maxrss / 1024, kids.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="full", choices=("tiny", "small", "full"))
    ap.add_argument("--models", default="linear,ridge,lasso,enet,knn,tree,ridgecv")
    ap.add_argument("--out", default=str(HERE / "results" / "pipeline.json"))
    a = ap.parse_args()
    data = HERE / "data" / a.scale
    if not (data / "trainingfMRI" / "training.npy").exists():
        t0 = time.perf_counter(); make_dataset(data, scale=a.scale, seed=0, overwrite=True)
        print(f"generated {data} in {time.perf_counter() - t0:.0f} s")
    cache, out = HERE / "cache" / f"pipeline-{a.scale}", HERE / "out" / f"pipeline-{a.scale}"
    shutil.rmtree(cache, ignore_errors=True)  # the first run must extract the features
    config = RunConfig(weights="random", layers=["features.12"], pca=100, models=a.models.split(","), cache_dir=str(cache))
    load0 = os.getloadavg()
    t0 = time.perf_counter(); first = run_pipeline(data, out, config, progress=True); t_first = time.perf_counter() - t0
    rss_first = peak_rss_mib()
    t0 = time.perf_counter(); second = run_pipeline(data, out, config, progress=True); t_second = time.perf_counter() - t0
    res = dict(
        benchmark="run_pipeline end to end", scale=a.scale, n_train=first["n_train"], n_val=first["n_val"],
        n_test=first["n_test"], n_voxels=first["n_voxels"], cnn="alexnet", layer="features.12", weights="random",
        pca=100, models=config.models,
        first_run_seconds=round(t_first, 1), first_run_stage_seconds=first["stage_seconds"],
        cached_run_seconds=round(t_second, 1), cached_run_stage_seconds=second["stage_seconds"],
        peak_rss_mib=round(rss_first[0], 1), peak_rss_children_mib=round(rss_first[1], 1),
        best_model=first["best_model"], best_median_r=first["best_median_r"], results=first["results"],
        goals=dict(first_run_seconds=600, peak_rss_mib=6144, cached_run_seconds=60),
        machine=dict(cpus=os.cpu_count(), torch_threads=torch.get_num_threads(), cuda=torch.cuda.is_available(),
                     python=platform.python_version(), load_average_start=load0, load_average_end=os.getloadavg(),
                     date=time.strftime("%Y-%m-%dT%H:%M:%S")))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(a.out).with_suffix(".tmp"); tmp.write_text(json.dumps(res, indent=1)); os.replace(tmp, a.out)
    print(json.dumps({k: res[k] for k in ("first_run_seconds", "cached_run_seconds", "peak_rss_mib", "best_model", "best_median_r")}, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
