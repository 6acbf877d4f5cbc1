"""Memory and time of fitting the linear model family as `compare_models` does, at growing voxel counts.

For each voxel count (default 2,500 / 10,000 / 40,000), a fresh subprocess
  * makes 8,857 images × 100 features (standard normal, like PCA scores of random data) and responses
    Y = X·W + noise (float32, made block by block), kept in memory as `Dataset.responses` is;
  * splits the images 80/20 with `img2brain.data.split` (seed 0) and copies the training / validation rows,
    as `img2brain.pipeline.run_pipeline` does;
  * runs `img2brain.evaluate.compare_models(..., models=linear,ridge,lasso,enet,ridgecv)` with the default grids;
  * reports its peak RSS (getrusage ru_maxrss of itself and of its finished children), the size of the
    full response matrix, the seconds spent in `compare_models`, the memory estimate `compare_models` printed for each
    model (`img2brain.memory.estimate_fit_memory`) and the ratio of the peak to the target
    2 × response matrix + 1.5 GB (issue 12: the data, its train/validation copies, and at most 1.5 GB of working memory).
Then, once, all seven models at `--all-models-at` voxels (default 10,000; target: peak ≤ 3 GB).
A size is skipped (and says so) when the machine has too little free memory for it.
Writes bench/results/scale.json: {"sizes": {"2500": {"peak_rss_mib", "response_mib", "seconds",
"peak_over_target", ...}, ...}, "all_models": {"10000": {...}}}.

    python bench/scale.py                         # 2,500 / 10,000 / 40,000 voxels, then all seven models at 10,000
    python bench/scale.py --voxels 2500 10000 --all-models-at 0   # only these sizes, no all-models run
    python bench/scale.py --memory-gb 1           # a larger working-memory budget per fit
    python bench/scale.py --voxels --all-models-at 10000 --merge   # rerun only the all-models run, keep the rest
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def peak_rss_mib():
    "Peak resident set size of this process and (max) of its finished children, in MiB (Linux reports KiB)."
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(a.ru_maxrss, b.ru_maxrss) / 1024


def current_rss_mib():
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


GB_MIB = 1e9 / 2**20    # one GB (10⁹ bytes) in MiB


def child(n_voxels, n_images, n_features, models, seed, memory_gb=None):
    import numpy as np
    from img2brain.data import split
    from img2brain.evaluate import compare_models
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_images, n_features), dtype=np.float32)
    Y = np.empty((n_images, n_voxels), np.float32)
    for s in range(0, n_voxels, 2500):            # block by block: no float64 copy of the whole matrix
        e = min(s + 2500, n_voxels)
        W = rng.standard_normal((n_features, e - s), dtype=np.float32) * np.float32(0.05)
        Y[:, s:e] = X @ W + rng.standard_normal((n_images, e - s), dtype=np.float32)
    train, val = split(n_images, val_frac=0.2, seed=seed)
    X_train, X_val, Y_train, Y_val = X[train], X[val], Y[train], Y[val]
    rss_before = current_rss_mib()
    t0 = time.perf_counter()
    table, results = compare_models(X_train, Y_train, X_val, Y_val, models=models, progress=False, memory_gb=memory_gb)
    seconds = time.perf_counter() - t0
    peak, response = peak_rss_mib(), Y.nbytes / 2**20
    return dict(peak_rss_mib=round(peak, 1), response_mib=round(response, 1),
                seconds=round(seconds, 2), rss_before_fit_mib=round(rss_before, 1),
                target_mib=round(2 * response + 1.5 * GB_MIB, 1),
                peak_over_target=round(peak / (2 * response + 1.5 * GB_MIB), 3),
                fit_peak_over_before_mib=round(peak - rss_before, 1),
                memory_estimate_gb={m: round(results[m]['memory'].gb, 3) for m in results},
                memory_plan={m: str(results[m]['memory']) for m in results},
                n_train=len(train), n_val=len(val),
                median_r={m: round(float(r), 4) for m, r in zip(table['model'], table['median_r'])},
                fit_seconds={m: round(float(s), 2) for m, s in zip(table['model'], table['fit_seconds'])})


def command_line(argv):
    "The command as given, with --out written relative to the repository (no local paths in the results)."
    shown, it = ['python', 'bench/scale.py'], iter(argv)
    for a in it:
        if a == '--out':
            rel = os.path.relpath(Path(next(it, '')).resolve(), HERE.parent)
            if rel != os.path.join('bench', 'results', 'scale.json'): shown += ['--out', rel]
        else: shown.append(a)
    return ' '.join(shown)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--voxels', type=int, nargs='*', default=[2500, 10000, 40000])
    ap.add_argument('--n-images', type=int, default=8857, help='training images before the 80/20 split (the seed: 8,857)')
    ap.add_argument('--features', type=int, default=100)
    ap.add_argument('--models', default='linear,ridge,lasso,enet,ridgecv')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--memory-gb', type=float, default=None, help='working-memory budget per fit (default: from the machine)')
    ap.add_argument('--all-models-at', type=int, default=10000, help='voxels of the one run with all seven models (0: none)')
    ap.add_argument('--all-models', default='linear,ridge,lasso,enet,knn,tree,ridgecv')
    ap.add_argument('--merge', action='store_true', help='keep the other entries of an existing --out file (rerun a part)')
    ap.add_argument('--out', type=Path, default=HERE/'results'/'scale.json')
    ap.add_argument('--child', type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    models = [m for m in args.models.split(',') if m]
    if args.child is not None:
        print(json.dumps(child(args.child, args.n_images, args.features, models, args.seed, args.memory_gb)))
        return

    import psutil
    load_start = os.getloadavg()

    def run(v, models):
        response_mib = args.n_images * v * 4 / 2**20
        need = 4 * response_mib + 2048          # the data, its copies and the working memory, with room to spare
        avail = psutil.virtual_memory().available / 2**20
        if avail < need:
            out = dict(skipped=f'needs about {need:.0f} MiB, {avail:.0f} MiB available', response_mib=round(response_mib, 1))
            print(f'{v} voxels: skipped ({out["skipped"]})', flush=True)
            return out
        print(f'{v} voxels, {",".join(models)} ...', flush=True)
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, '--child', str(v), '--n-images', str(args.n_images),
               '--features', str(args.features), '--models', ','.join(models), '--seed', str(args.seed)]
        if args.memory_gb: cmd += ['--memory-gb', str(args.memory_gb)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            out = dict(error=res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f'exit {res.returncode}')
        else:
            out = json.loads(res.stdout.strip().splitlines()[-1])
            out['wall_seconds'] = round(time.perf_counter() - t0, 2)
        print(f'  {out}', flush=True)
        return out

    sizes = {str(v): run(v, models) for v in args.voxels}
    all_models = {}
    if args.all_models_at:
        v = args.all_models_at
        all_models[str(v)] = out = run(v, [m for m in args.all_models.split(',') if m])
        if 'peak_rss_mib' in out:
            out['target_mib'] = round(3 * GB_MIB, 1)
            out['peak_over_target'] = round(out['peak_rss_mib'] / (3 * GB_MIB), 3)
    previous = None
    if args.merge and args.out.exists():
        previous = json.loads(args.out.read_text())
        sizes = {**previous.get('sizes', {}), **sizes}
        all_models = {**previous.get('all_models', {}), **all_models}
    done = {int(k): s for k, s in sizes.items() if 'peak_rss_mib' in s}
    growth = None
    if len(done) >= 2:
        import numpy as np
        v = np.array(sorted(done)); p = np.array([done[k]['peak_rss_mib'] for k in v])

        slope, icpt = np.polyfit(v, p, 1)
        growth = dict(mib_per_1000_voxels=round(1000 * slope, 1), intercept_mib=round(icpt, 1),
                      peak_over_response={str(k): round(done[k]['peak_rss_mib'] / done[k]['response_mib'], 2) for k in v},
                      linear_fit_max_residual_mib=round(float(np.abs(p - (slope * v + icpt)).max()), 1))
    result = dict(benchmark='peak RSS and time of compare_models (linear family) by voxel count; all seven models once',
                  command=command_line(sys.argv[1:]),
                  machine=dict(date=time.strftime('%Y-%m-%dT%H:%M:%S'), python=platform.python_version(),
                               platform=platform.platform(), cpu_count=os.cpu_count(),
                               memory_gib=round(psutil.virtual_memory().total / 2**30, 1),
                               load_average_start=load_start, load_average_end=os.getloadavg(),
                               note='shared machine: seconds are inflated by other jobs; peak RSS is not'),
                  config=dict(n_images=args.n_images, val_frac=0.2, features=args.features, models=models,
                              memory_gb=args.memory_gb or 'default (img2brain.memory.default_memory_gb)',
                              targets='linear family: peak ≤ 2 × response + 1.5 GB; all seven models: peak ≤ 3 GB',
                              grids='img2brain.models.param_grid defaults (compare_models may widen them)',
                              responses='float32, kept in memory, train/val rows copied as run_pipeline does'),
                  sizes=sizes, all_models=all_models, growth=growth)
    if previous is not None:
        result['merged_with'] = dict(command=command_line(str(previous.get('command', '')).split()[2:]), date=previous.get('machine', {}).get('date'),
                                     kept=[k for k in previous.get('sizes', {}) if str(k) not in map(str, args.voxels)])
    from img2brain.data import atomic_write
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda f: f.write(json.dumps(result, indent=1).encode()))
    print(json.dumps(growth, indent=1))


if __name__ == '__main__':
    main()
