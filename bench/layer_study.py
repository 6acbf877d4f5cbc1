"""The original study's layer study (23 layers of 4 CNNs) with bounded memory and cache, against the forward-pass floor.

For the layers listed in shared/REFERENCE.md — AlexNet (8), VGG16 (4), ResNet50 (5), Inception v3 (6), random
weights as in the original study — runs `img2brain.features.layer_study` (one forward pass per network, feature
cache with a per-layer budget so that wide layers are projected while extracted, PCA(30) on the training split,
linear regression, median validation r) and measures, in the same process:

  * total_seconds: the whole study (extraction + cache + PCA + regression);
  * forward_only_seconds: the forward passes alone of the same networks up to the same layers, on pre-made
    normalised batches (images/s measured on `--forward-images` images per network, scaled to the study's count);
  * ratio = total_seconds / forward_only_seconds (the floor is 1);
  * peak RSS (this process and its DataLoader workers) and the bytes in the feature cache;
  * projection_cost: for AlexNet features.2 (fits raw), median r exact vs after the sparse random projection.

Writes bench/results/layer_study.json.

    python bench/layer_study.py --scale full                       # the full simulated dataset (all 8,857 images)
    python bench/layer_study.py --scale small --n-images 64 --forward-images 16   # a modest run (a loaded 2-core machine)
"""
import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

import torch
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor

from img2brain.data import atomic_write, load_dataset, split
from img2brain.features import (ImageFiles, cache_ls, extract_features, input_size, layer_study, load_cnn,
                                normalize_batch, parse_layer, resolve_layer, score_layers, sparse_projection)

HERE = Path(__file__).resolve().parent
STUDY = {  # shared/REFERENCE.md: the layers the original study tried
    'alexnet': ['features.2', 'features.5', 'features.7', 'features.9', 'features.12',
                'classifier.2', 'classifier.5', 'classifier.6'],
    'vgg16': ['features.20', 'features.30', 'classifier.5', 'classifier.6'],
    'resnet50': ['layer1.1.conv1', 'layer2.3.conv2', 'layer3.5.conv3', 'layer4.2.conv3', 'avgpool'],
    'inception_v3': ['Mixed_5c.branch1x1.conv', 'Conv2d_4a_3x3.conv', 'Mixed_6b.branch1x1.conv',
                     'Mixed_6c.branch7x7_2.conv', 'Mixed_7c.branch_pool.conv', 'avgpool'],
}


def forward_only(model, layers, images, n_forward, batch_size, seed=0, device='cpu'):
    "Seconds per image of the network up to `layers` (+ flatten + copy to host), on pre-made normalised batches."
    net = load_cnn(model, 'random', seed)
    nodes = sorted({resolve_layer(model, parse_layer(l)[0]) for l in layers})
    ex = create_feature_extractor(net, return_nodes=nodes).eval().to(device)
    files = ImageFiles(images[:batch_size], input_size(model))
    x = normalize_batch(torch.stack([files[i] for i in range(len(files))])).to(device)
    sync = torch.cuda.synchronize if str(device).startswith('cuda') else (lambda: None)
    with torch.inference_mode():
        ex(x[:2]); sync()  # warm-up, not timed
        t0, done = time.perf_counter(), 0
        while done < n_forward:
            b = x[:n_forward - done]
            for v in ex(b).values(): v.flatten(1).float().cpu().numpy()
            done += len(b)
        sync()
    return (time.perf_counter() - t0) / done


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--scale', default='full', choices=['tiny', 'small', 'full'])
    ap.add_argument('--data', type=Path, default=HERE/'data', help='where the simulated datasets live / are made')
    ap.add_argument('--root', type=Path, default=None, help='an existing dataset folder (instead of --data/--scale)')
    ap.add_argument('--n-images', type=int, default=None, help='the first N training images (default: all)')
    ap.add_argument('--models', default=','.join(STUDY), help='comma-separated subset of ' + ','.join(STUDY))
    ap.add_argument('--max-cache-gb', type=float, default=10 / 23, help='per-layer budget (default: 10 GB over 23 layers)')
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--device', default=None, help='cpu or cuda (default: cuda when present); the floor uses the same')
    ap.add_argument('--num-workers', type=int, default=None, help='decoding processes (default: the package default)')
    ap.add_argument('--forward-images', type=int, default=64, help='images per forward-only measurement')
    ap.add_argument('--no-projection-check', action='store_true',
                    help='skip the exact-vs-projected check on AlexNet features.2 (it extracts that layer again, raw)')
    ap.add_argument('--cache-dir', type=Path, default=None,
                    help='feature cache of this run (emptied before and after; default bench/cache/layer_study)')
    ap.add_argument('--out', type=Path, default=HERE/'results'/'layer_study.json')
    args = ap.parse_args()
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')

    root = args.root or args.data/args.scale
    if not (root/'trainingIMG').is_dir():
        print(f'generating the {args.scale!r} simulated dataset into {root} ...')
        from img2brain.synth import make_dataset
        make_dataset(root, scale=args.scale, seed=0)
    data = load_dataset(root)
    n = min(args.n_images or data.n_train, data.n_train)
    models = {m: STUDY[m] for m in args.models.split(',')}
    cache = args.cache_dir or HERE/'cache'/'layer_study'
    shutil.rmtree(cache, ignore_errors=True)
    load_start = os.getloadavg()
    print(f'{n} images of {root}, {sum(map(len, models.values()))} layers of {len(models)} CNNs, '
          f'{os.cpu_count()} CPUs, load {load_start}')

    t0 = time.perf_counter()
    table = layer_study(data, models, weights='random', n_components=30, seed=0, cache_dir=cache,
                        batch_size=args.batch_size, n_images=n, max_cache_gb=args.max_cache_gb, progress=True,
                        device=device, num_workers=args.num_workers)
    total = time.perf_counter() - t0
    rss_study = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # before the projection check below
    listing = cache_ls(cache)
    cache_bytes = int(listing['bytes'].sum())
    print(table[['model', 'layer', 'n_features', 'median_r', 'pca_seconds']].to_string())

    images = list(data.train_images)[:n]
    per_image = {m: forward_only(m, ls, images, min(args.forward_images, n), args.batch_size, device=device)
                 for m, ls in models.items()}
    floor = sum(per_image.values()) * n

    # the cost of the projection, on a layer that fits both ways
    projection_cost = None
    if not args.no_projection_check:
        train, val = split(n, val_frac=0.2, seed=0)
        exact = extract_features(images, 'alexnet', ['features.2'], weights='random', progress=False, max_cache_gb=None,
                                 batch_size=args.batch_size, device=device, num_workers=args.num_workers)['features.2']
        cost = {}
        for k in (1024, 4096, 8192):
            if k >= exact.shape[1]: continue
            cost[f'projected_{k}'] = exact @ sparse_projection(exact.shape[1], k, seed=0)
        scored = score_layers({'exact': exact, **cost}, data.responses[:n], train, val, n_components=30)
        projection_cost = {row.layer: round(row.median_r, 4) for row in scored.itertuples()}

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    reduced = listing[listing['reduction'].notna()]
    result = dict(
        command=' '.join(['python', 'bench/layer_study.py', *sys.argv[1:]]), models=list(models),
        total_seconds=round(total, 1), forward_only_seconds=round(floor, 1), ratio=round(total / floor, 3),
        forward_only_seconds_per_image={m: round(s, 4) for m, s in per_image.items()},
        peak_rss_mib=round(rss, 1), peak_rss_study_mib=round(rss_study, 1), peak_rss_worker_mib=round(rss_children, 1),
        cache_bytes=cache_bytes, max_cache_gb_per_layer=round(args.max_cache_gb, 3),
        projected_layers=[f'{r.model} {r.layer} → {r.n_features}' for r in reduced.itertuples()],
        projection_cost_median_r_alexnet_features_2=projection_cost,
        layers=table[['model', 'layer', 'n_features', 'explained_variance', 'median_r', 'mean_r', 'pca_seconds',
                      'extract_seconds']].round(4).to_dict('records'),
        n_images=n, n_train=int(table['n_train'].iloc[0]), n_val=int(table['n_val'].iloc[0]), scale=args.scale,
        n_voxels=int(data.n_voxels), batch_size=args.batch_size, cpus=os.cpu_count(),
        torch_threads=torch.get_num_threads(), device=device,
        gpu=torch.cuda.get_device_name(0) if device.startswith('cuda') else None,
        load_average_start=[round(x, 2) for x in load_start], load_average_end=[round(x, 2) for x in os.getloadavg()],
        torch=torch.__version__, torchvision=torchvision.__version__, python=platform.python_version(),
        date=time.strftime('%Y-%m-%dT%H:%M:%S'),
        note='total = layer_study (extraction with cache and per-layer budget, PCA(30) on the training split, linear '
             'regression); forward_only = the same networks up to the same layers on pre-made batches, per-image time '
             'x n_images; ratio = total / forward_only (floor 1). extract_seconds is per network (repeated on its '
             'layers).',
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda f: f.write((json.dumps(result, indent=2) + '\n').encode()))
    print(json.dumps({k: v for k, v in result.items() if k != 'layers'}, indent=2))
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == '__main__':
    main()
