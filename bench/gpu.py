"""The CUDA paths of img2brain, measured against the CPU ones (run it on a machine with an NVIDIA GPU).

Needs only torch, torchvision, scikit-learn, pandas, scipy and img2brain itself (no himalaya, no dask).
  1. extraction: `extract_features` images/s with device='cuda' vs device='cpu' (AlexNet, random weights, the
     simulated images), and how far the CUDA features are from the CPU ones;
  2. `VoxelRidgeCV(backend='torch')` on CUDA vs `backend='numpy'`: seconds, and predictions equal to 1e-5
     (relative to the predictions' scale) in float64, and how close the default float32 is;
  3. `BandedRidgeCV(backend='torch')` on CUDA vs numpy, the same way (when `img2brain.banded` exists);
  4. peak GPU memory of each step (torch.cuda.max_memory_allocated).
Writes bench/results/gpu.json. Without CUDA it prints a message and exits 0 (status "unverified").

    python bench/gpu.py                 # defaults: 2,048 images, 7,086 × 100 features → 10,000 voxels
    python bench/gpu.py --quick         # small sizes (a minute)
    python bench/gpu.py --dry-run       # no GPU needed: every step on the CPU, small sizes (checks the script)
"""
import argparse
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torchvision

HERE = Path(__file__).resolve().parent


def sync(device):
    if str(device).startswith('cuda'): torch.cuda.synchronize()


def timed(fn, device):
    "(result, seconds, peak GPU MiB or None)"
    cuda = str(device).startswith('cuda')
    if cuda: sync(device); torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    dt = time.perf_counter() - t0
    return out, dt, (round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None)


def rel_diff(a, b):
    "max |a − b| over the scale (std) of b."
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / (b.std() or 1.0))


def images_for(n, root):
    from img2brain.data import natural_sorted
    folder = root/f'gpu_{n}'
    if not (folder/'trainingIMG').is_dir():
        from img2brain.synth import make_dataset
        make_dataset(folder, scale=dict(n_train=n, n_test=8, image_size=224, n_voxels=100), seed=0, progress=False)
    return natural_sorted((folder/'trainingIMG').glob('*.jpg'))


def bench_extraction(args, device):
    from img2brain.features import extract_features
    images = images_for(args.n_images, args.data)
    kw = dict(model=args.model, layers=[args.layer], weights='random', batch_size=args.batch_size, progress=False)
    nw = args.num_workers if args.num_workers is not None else min(8, os.cpu_count() or 1)
    extract_features(images[:args.batch_size], device=device, num_workers=0, **kw)   # warm-up: CUDA context, cuDNN
    gpu, t_gpu, mem = timed(lambda: extract_features(images, device=device, num_workers=nw, **kw), device)
    n_cpu = min(len(images), args.cpu_images)
    cpu, t_cpu, _ = timed(lambda: extract_features(images[:n_cpu], device='cpu', num_workers=nw, **kw), 'cpu')
    a, b = gpu[args.layer][:n_cpu], cpu[args.layer]
    return dict(model=args.model, layer=args.layer, batch_size=args.batch_size, num_workers=nw,
                n_images_device=len(images), n_images_cpu=n_cpu,
                device_images_per_s=round(len(images) / t_gpu, 1), cpu_images_per_s=round(n_cpu / t_cpu, 1),
                speedup=round((len(images) / t_gpu) / (n_cpu / t_cpu), 2), peak_gpu_mib=mem,
                features_max_rel_diff=rel_diff(a, b), features_shape=list(a.shape),
                note='relative difference = max |cuda − cpu| / std(cpu features); cuDNN/TF32 kernels differ from oneDNN')


def regression_data(args):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n_train, args.n_features)).astype(np.float32)
    W = (rng.standard_normal((args.n_features, args.n_voxels)) * 0.05).astype(np.float32)
    Y = X @ W + rng.standard_normal((args.n_train, args.n_voxels)).astype(np.float32)
    return X, Y


def compare_estimators(make, X, Y, device, X_test):
    "numpy vs torch (default dtype, then float64): seconds, peak GPU memory, agreement."
    ref, t_np, _ = timed(lambda: make(backend='numpy').fit(X, Y), 'cpu')
    make(backend='torch').fit(X[:64], Y[:64, :16])                              # warm-up
    t32, t_t32, mem32 = timed(lambda: make(backend='torch').fit(X, Y), device)
    t64, t_t64, mem64 = timed(lambda: make(backend='torch', dtype='float64').fit(X, Y), device)
    p_ref = ref.predict(X_test)
    d64, d32 = rel_diff(t64.predict(X_test), p_ref), rel_diff(t32.predict(X_test), p_ref)
    return dict(numpy_seconds=round(t_np, 3), torch_seconds=round(t_t32, 3), torch_float64_seconds=round(t_t64, 3),
                speedup=round(t_np / t_t32, 2), speedup_float64=round(t_np / t_t64, 2),
                peak_gpu_mib=mem32, peak_gpu_mib_float64=mem64,
                pred_max_rel_diff_float64=d64, pred_max_rel_diff_default_dtype=d32,
                equal_1e_5_float64=bool(d64 <= 1e-5),
                same_alpha_fraction_float64=float(np.mean(t64.best_alphas_ == ref.best_alphas_)),
                same_alpha_fraction_default_dtype=float(np.mean(t32.best_alphas_ == ref.best_alphas_)))


def bench_ridge(args, device):
    from img2brain.models import VoxelRidgeCV
    X, Y = regression_data(args)
    out = compare_estimators(lambda **kw: VoxelRidgeCV(**kw), X, Y, device, X[:500])
    return dict(n_train=args.n_train, n_features=args.n_features, n_voxels=args.n_voxels, **out)


def bench_banded(args, device):
    try: from img2brain.banded import BandedRidgeCV
    except ImportError: return dict(skipped='img2brain.banded does not exist in this version')
    X, Y = regression_data(args)
    v = min(args.n_voxels, args.banded_voxels)
    groups = np.repeat(['a', 'b'], [X.shape[1] // 2, X.shape[1] - X.shape[1] // 2])
    make = lambda **kw: BandedRidgeCV(groups=groups, n_iter=args.banded_iter, random_state=0, **kw)
    out = compare_estimators(make, X, Y[:, :v], device, X[:500])
    return dict(n_train=args.n_train, n_features=args.n_features, n_voxels=v, bands=2, n_iter=args.banded_iter, **out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-images', type=int, default=2048)
    ap.add_argument('--cpu-images', type=int, default=512, help='images extracted on the CPU for the comparison')
    ap.add_argument('--model', default='alexnet')
    ap.add_argument('--layer', default='features.12')
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--num-workers', type=int, default=None)
    ap.add_argument('--n-train', type=int, default=7086)
    ap.add_argument('--n-features', type=int, default=100)
    ap.add_argument('--n-voxels', type=int, default=10000)
    ap.add_argument('--banded-voxels', type=int, default=2000)
    ap.add_argument('--banded-iter', type=int, default=10)
    ap.add_argument('--quick', action='store_true', help='small sizes')
    ap.add_argument('--dry-run', action='store_true', help='no GPU: run every step on the CPU with small sizes')
    ap.add_argument('--data', type=Path, default=HERE/'data')
    ap.add_argument('--out', type=Path, default=None, help='default: bench/results/gpu.json (dry run: gpu_dry_run.json)')
    args = ap.parse_args()
    if args.quick:
        args.n_images, args.cpu_images, args.n_train, args.n_voxels, args.banded_voxels = 256, 128, 1000, 2000, 500
    if args.dry_run:
        args.n_images, args.cpu_images, args.n_train, args.n_voxels, args.banded_voxels = 64, 32, 500, 500, 200
    out = args.out or HERE/'results'/('gpu_dry_run.json' if args.dry_run else 'gpu.json')
    machine = dict(date=time.strftime('%Y-%m-%dT%H:%M:%S'), python=platform.python_version(), platform=platform.platform(),
                   cpu_count=os.cpu_count(), torch=torch.__version__, torchvision=torchvision.__version__,
                   cuda_available=torch.cuda.is_available())
    if not torch.cuda.is_available() and not args.dry_run:
        print('bench/gpu.py: no CUDA device here (torch.cuda.is_available() is False), so nothing was measured; '
              'the CUDA paths stay unverified. Run it on a machine with an NVIDIA GPU (or --dry-run to check the script).')
        prev = json.loads(out.read_text()) if out.exists() else {}
        if prev.get('status') != 'measured':
            from img2brain.data import atomic_write
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(out, lambda f: f.write(json.dumps(dict(status='unverified', reason='no CUDA device on the '
                         'machine that ran it', command='python bench/gpu.py', machine=machine), indent=1).encode()))
        return 0
    device = 'cpu' if args.dry_run else 'cuda'
    if device == 'cuda':
        machine.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                       gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
    result = dict(status='dry run (CPU only)' if args.dry_run else 'measured', command='python ' + ' '.join(sys.argv),
                  machine=machine)
    for name, fn in (('extraction', bench_extraction), ('voxel_ridge_cv', bench_ridge), ('banded_ridge_cv', bench_banded)):
        print(f'{name} ...', flush=True)
        try: result[name] = fn(args, device)
        except Exception as e:
            result[name] = dict(error=f'{type(e).__name__}: {e}', traceback=traceback.format_exc()[-3000:])
        print(json.dumps(result[name], indent=1, default=str)[:2000], flush=True)
    result['modules_loaded'] = sorted(m for m in ('himalaya', 'dask', 'distributed') if m in sys.modules)
    from img2brain.data import atomic_write
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda f: f.write(json.dumps(result, indent=1, default=str).encode()))
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
