"""Data layer and simulation costs: what the checks added to loading cost, and what a simulated release costs.

Writes bench/results/data_layer.json. Ratios measured in one process are the meaningful figures on a shared machine.

    .venv/bin/python bench/data_layer.py            # the `small` dataset (generated once under bench/data)
"""
import hashlib
import json
import resource
import sys
import time
from pathlib import Path

from img2brain.data import atomic_write, load_dataset, missing_trials, sha256_file
from img2brain.synth import make_dataset, make_release

HERE = Path(__file__).parent
DATA, OUT = HERE/'data', HERE/'results'/'data_layer.json'


def best_of(f, n=3):
    "Fastest of `n` runs of `f()`, in seconds (the least disturbed by other jobs)."
    times = []
    for _ in range(n):
        t0 = time.perf_counter(); f(); times.append(time.perf_counter() - t0)
    return min(times)


def main(scale='small'):
    root = DATA/f'{scale}-seed0'
    if not (root/'heldout'/'feature_spaces').is_dir():
        make_dataset(root, scale=scale, seed=0, progress=False, overwrite=True)
    data = load_dataset(root)
    repeats_file = root/'trainingfMRI'/'repeats.npy'
    res = dict(scale=scale, n_train=data.n_train, n_voxels=data.n_voxels, repeats_mb=repeats_file.stat().st_size / 2**20)

    # loading: the NaN/Inf scan of the single trials against the whole load (which includes it)
    res['load_s'] = best_of(lambda: load_dataset(root))
    res['missing_trials_scan_s'] = best_of(lambda: missing_trials(data.repeats))
    res['scan_share_of_load'] = res['missing_trials_scan_s'] / res['load_s']

    # hashing: streaming sha256_file against reading the whole file first (same digest)
    assert sha256_file(repeats_file) == hashlib.sha256(repeats_file.read_bytes()).hexdigest()
    res['sha256_file_s'] = best_of(lambda: sha256_file(repeats_file))
    res['sha256_read_bytes_s'] = best_of(lambda: hashlib.sha256(repeats_file.read_bytes()).hexdigest())
    res['sha256_speed_ratio'] = res['sha256_read_bytes_s'] / res['sha256_file_s']

    # simulation: a two-subject release against one dataset of the same scale (tiny)
    t0 = time.perf_counter(); make_dataset(DATA/'tiny-bench', 'tiny', seed=0, progress=False, overwrite=True)
    res['make_dataset_tiny_s'] = time.perf_counter() - t0
    t0 = time.perf_counter(); make_release(DATA/'release-bench', (1, 2), 'tiny', seed=0, progress=False, overwrite=True)
    res['make_release_tiny_2_subjects_s'] = time.perf_counter() - t0
    res['release_vs_dataset_ratio'] = res['make_release_tiny_2_subjects_s'] / res['make_dataset_tiny_s']
    res['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    OUT.parent.mkdir(exist_ok=True)
    atomic_write(OUT, lambda f: f.write(json.dumps(res, indent=1).encode()))
    print(json.dumps(res, indent=1))


if __name__ == '__main__':
    main(*sys.argv[1:])
