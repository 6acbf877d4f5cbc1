"""img2brain.distributed on a local Dask cluster: 1 vs 2 worker processes (and the serial run), same process.

On simulated images (generated into bench/data/), in one process:
  * extraction: `extract_features_dask` (AlexNet, random weights, one layer) with client=None (serial, here),
    then on `local:1` and `local:2` clusters — the time includes each worker building its network once;
  * fitting: `compare_models_dask` (ridge and VoxelRidgeCV on 100 PCA components, voxels in chunks) the same way;
  * the features and the per-voxel r of the three runs must be identical (checked, reported as "identical").
Writes bench/results/dask.json; the ratios serial/local:N (speed-up) are the meaningful figures on a shared machine.

    python bench/dask.py                    # 512 images of 160 px, 4,000 voxels
    python bench/dask.py --n-images 256 --n-voxels 2000
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# this file is called dask.py: keep its folder off the import path, or `import dask` would find this script
sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != HERE]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n-images', type=int, default=512)
    ap.add_argument('--n-voxels', type=int, default=4000)
    ap.add_argument('--image-size', type=int, default=160)
    ap.add_argument('--model', default='alexnet')
    ap.add_argument('--layer', default='features.12')
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--chunk-size', type=int, default=64, help='images per extraction task')
    ap.add_argument('--voxel-chunk', type=int, default=500, help='voxels per fitting task')
    ap.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--data', type=Path, default=HERE/'data')
    ap.add_argument('--out', type=Path, default=HERE/'results'/'dask.json')
    args = ap.parse_args()

    from img2brain.data import atomic_write, load_dataset, split
    from img2brain.distributed import compare_models_dask, extract_features_dask, get_client
    from img2brain.features import fit_pca
    from img2brain.synth import make_dataset

    root = args.data/f'dask_{args.n_images}_{args.image_size}_{args.n_voxels}'
    if not (root/'trainingIMG').is_dir():
        print(f'generating {root} ...', flush=True)
        make_dataset(root, scale=dict(n_train=args.n_images, n_test=8, image_size=args.image_size, n_voxels=args.n_voxels),
                     seed=0, progress=False)
    data = load_dataset(root)
    train, val = split(data, val_frac=0.2, seed=0)
    load_start = os.getloadavg()

    def run(client):
        t0 = time.perf_counter()
        feats = extract_features_dask(client, data.train_images, args.model, [args.layer], weights='random',
                                      batch_size=args.batch_size, chunk_size=args.chunk_size, progress=False)[args.layer]
        t_extract = time.perf_counter() - t0
        pca = fit_pca(feats, n_components=100, seed=0, rows=train)
        X_tr, X_va = pca.transform(feats, rows=train), pca.transform(feats, rows=val)
        t0 = time.perf_counter()
        _, fitted = compare_models_dask(client, X_tr, data.responses[train], X_va, data.responses[val],
                                        models=['ridge', 'ridgecv'], voxel_chunk=args.voxel_chunk, progress=False)
        t_fit = time.perf_counter() - t0
        return feats, {k: v['r'] for k, v in fitted.items()}, dict(extract_seconds=round(t_extract, 2),
                                                                   fit_seconds=round(t_fit, 2))

    runs = {}
    print('serial ...', flush=True)
    ref_feats, ref_r, runs['serial'] = run(None)
    identical = True
    for n in args.workers:
        print(f'local:{n} ...', flush=True)
        t0 = time.perf_counter()
        with get_client(f'local:{n}') as client:
            start = time.perf_counter() - t0
            feats, r, runs[f'local:{n}'] = run(client)
        runs[f'local:{n}']['cluster_start_seconds'] = round(start, 2)
        same = bool(np.array_equal(feats, ref_feats) and all(np.array_equal(r[k], ref_r[k]) for k in ref_r))
        runs[f'local:{n}']['identical_to_serial'] = same
        identical &= same
        print(f'  {runs[f"local:{n}"]}', flush=True)
    ratios = {}
    if 'local:1' in runs and 'local:2' in runs:
        for k in ('extract_seconds', 'fit_seconds'):
            ratios[f'{k.split("_")[0]}_local1_over_local2'] = round(runs['local:1'][k] / runs['local:2'][k], 2)
    result = dict(benchmark='img2brain.distributed: serial vs local Dask clusters of 1 and 2 worker processes',
                  command='python bench/dask.py ' + ' '.join(sys.argv[1:]),
                  machine=dict(date=time.strftime('%Y-%m-%dT%H:%M:%S'), python=platform.python_version(),
                               platform=platform.platform(), cpu_count=os.cpu_count(), load_average_start=load_start,
                               load_average_end=os.getloadavg(),
                               note='shared machine: absolute seconds are inflated by other jobs; compare within this run'),
                  config=dict(n_images=args.n_images, image_size=args.image_size, n_voxels=args.n_voxels, model=args.model,
                              layer=args.layer, batch_size=args.batch_size, chunk_size=args.chunk_size,
                              voxel_chunk=args.voxel_chunk, models=['ridge', 'ridgecv'], pca=100),
                  runs=runs, ratios=ratios, identical=identical)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda f: f.write(json.dumps(result, indent=1).encode()))
    print(json.dumps(dict(ratios=ratios, identical=identical), indent=1))


if __name__ == '__main__':
    main()
