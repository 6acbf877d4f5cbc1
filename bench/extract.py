"""Benchmark of `img2brain.features.extract_features` (not a timed test).

Measures, in one process and on the same images:
  * the whole extraction path: decode (DataLoader workers) + preprocess + forward + cache write;
  * the forward pass alone (same network, same layer, same batch size) on pre-made input tensors,
    measured before and after the whole path (the machine is shared, so load drifts);
  * ratio = whole-path images/s ÷ forward-only images/s (goal ≥ 0.9);
  * peak RSS of this process and of its DataLoader workers (resource.getrusage);
  * the time of a second, cached call (verification of the cache entry included).
Writes bench/results/extract.json (the ratio under the key "ratio").

    python bench/extract.py                      # `full` simulated training images (generated into bench/data/)
    python bench/extract.py --n-images 2000      # the first 2,000 of them
    python bench/extract.py --scale small        # the 160-px `small` images instead
"""
import argparse
import json
import os
import platform
import resource
import shutil
import time
from pathlib import Path

from PIL import Image

import torch
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor

from img2brain.data import natural_sorted
from img2brain.features import ImageFiles, extract_features, input_size, load_cnn, normalize_batch

HERE = Path(__file__).resolve().parent


def cpu_seconds():
    "CPU time (user + system) of this process and of its finished children (the DataLoader workers)."
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def forward_only(model, layer, batches, n_images, seed=0):
    "(images/s, CPU s per image) of network + flatten + copy to numpy, on pre-made normalised batches (cycled)."
    net = load_cnn(model, 'random', seed)
    extractor = create_feature_extractor(net, return_nodes=[layer]).eval()
    done, t0 = 0, None
    with torch.inference_mode():
        extractor(batches[0])  # warm-up (allocations, oneDNN primitive cache); not timed
        t0, c0 = time.perf_counter(), cpu_seconds()
        while done < n_images:
            x = batches[(done // len(batches[0])) % len(batches)]
            x = x[:n_images - done]
            extractor(x)[layer].flatten(1).float().cpu().numpy()
            done += len(x)
    return done / (time.perf_counter() - t0), (cpu_seconds() - c0) / done


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--scale', default='full', choices=['tiny', 'small', 'full'])
    ap.add_argument('--data', type=Path, default=HERE/'data', help='where the simulated datasets live / are made')
    ap.add_argument('--n-images', type=int, default=None, help='use the first N training images (default: all)')
    ap.add_argument('--model', default='alexnet')
    ap.add_argument('--layer', default='features.12')
    ap.add_argument('--batch-size', type=int, default=32)
    ap.add_argument('--num-workers', type=int, default=None)
    ap.add_argument('--forward-images', type=int, default=512, help='images per forward-only measurement')
    ap.add_argument('--out', type=Path, default=HERE/'results'/'extract.json')
    args = ap.parse_args()

    load_start = os.getloadavg()
    root = args.data/args.scale
    if not (root/'trainingIMG').is_dir():
        print(f'generating the {args.scale!r} simulated dataset into {root} ...')
        from img2brain.synth import make_dataset
        make_dataset(root, scale=args.scale, seed=0)
    images = natural_sorted((root/'trainingIMG').glob('*.jpg'))  # (no need to load the responses)
    images = images[:args.n_images] if args.n_images else images
    n = len(images)
    print(f'{n} images of {root}, {args.model} {args.layer}, batch {args.batch_size}, '
          f'{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, load {load_start}')

    # pre-made tensors: a few real batches, decoded and normalised once, then cycled
    files = ImageFiles(images[:4 * args.batch_size], input_size(args.model))
    batches = [normalize_batch(torch.stack([files[i] for i in range(s, min(s + args.batch_size, len(files)))]))
               for s in range(0, len(files), args.batch_size)]
    # CPU cost of decoding + resizing alone (one process, sequential): bounds the achievable ratio on few cores
    t0 = time.process_time()
    n_dec = min(128, n)
    for i in range(n_dec): ImageFiles(images[i:i+1], input_size(args.model))[0]
    decode_ms = 1000 * (time.process_time() - t0) / n_dec
    n_fwd = min(args.forward_images, n)
    fwd_before, fwd_cpu_before = forward_only(args.model, args.layer, batches, n_fwd)
    print(f'forward only (before): {fwd_before:.1f} images/s')
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    cache = HERE/'cache'/'extract'
    shutil.rmtree(cache, ignore_errors=True)
    kw = dict(model=args.model, layers=[args.layer], weights='random', batch_size=args.batch_size,
              num_workers=args.num_workers, cache_dir=cache, progress=True)
    t0, c0 = time.perf_counter(), cpu_seconds()
    feats = extract_features(images, **kw)[args.layer]
    t_full = time.perf_counter() - t0
    full, full_cpu = n / t_full, (cpu_seconds() - c0) / n
    print(f'whole path: {t_full:.1f} s, {full:.1f} images/s, features {feats.shape}')

    fwd_after, fwd_cpu_after = forward_only(args.model, args.layer, batches, n_fwd)
    print(f'forward only (after): {fwd_after:.1f} images/s')
    fwd = (fwd_before + fwd_after) / 2
    fwd_cpu = (fwd_cpu_before + fwd_cpu_after) / 2

    t0 = time.perf_counter()
    again = extract_features(images, **dict(kw, progress=False))[args.layer]
    t_cached = time.perf_counter() - t0
    assert again.shape == feats.shape
    t0 = time.perf_counter()
    extract_features(images, **dict(kw, progress=False, verify=False))
    t_cached_noverify = time.perf_counter() - t0

    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024       # KiB → MiB on Linux
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result = dict(
        ratio=round(full / fwd, 3),
        whole_path_images_per_s=round(full, 2),
        forward_only_images_per_s=round(fwd, 2),
        forward_only_before_images_per_s=round(fwd_before, 2),
        forward_only_after_images_per_s=round(fwd_after, 2),
        ratio_cpu=round(fwd_cpu / full_cpu, 3),
        whole_path_cpu_ms_per_image=round(1000 * full_cpu, 2),
        forward_only_cpu_ms_per_image=round(1000 * fwd_cpu, 2),
        whole_path_seconds=round(t_full, 2),
        decode_resize_cpu_ms_per_image=round(decode_ms, 2),
        forward_wall_ms_per_image=round(1000 / fwd, 2),
        cached_run_seconds=round(t_cached, 3),
        cached_run_seconds_without_verify=round(t_cached_noverify, 3),
        peak_rss_mib=round(rss_self, 1),
        peak_rss_before_whole_path_mib=round(rss_before, 1),
        peak_rss_worker_mib=round(rss_children, 1),
        cache_bytes=sum(p.stat().st_size for p in cache.rglob('*') if p.is_file()),
        n_images=n, scale=args.scale, image_size=list(Image.open(images[0]).size),
        model=args.model, layer=args.layer, n_features=int(feats.shape[1]), weights='random',
        batch_size=args.batch_size, num_workers=args.num_workers, device='cpu' if not torch.cuda.is_available() else 'cuda',
        cpus=os.cpu_count(), torch_threads=torch.get_num_threads(),
        load_average_start=[round(x, 2) for x in load_start], load_average_end=[round(x, 2) for x in os.getloadavg()],
        torch=torch.__version__, torchvision=torchvision.__version__, python=platform.python_version(),
        date=time.strftime('%Y-%m-%dT%H:%M:%S'),
        note='forward_only = network + flatten + copy on pre-made normalised tensors (mean of before/after runs); '
             'whole path = extract_features with a fresh cache (decode in DataLoader workers, preprocess, forward, '
             'chunked cache write, model construction included). ratio = whole-path images/s / forward-only images/s '
             '(wall clock; on a shared machine it moves with the load: see load_average_*). ratio_cpu = forward-only '
             'CPU s per image / whole-path CPU s per image (main process + workers): what the wall ratio tends to '
             'when the cores are saturated by this job alone. peak_rss_before_whole_path_mib = peak after imports, '
             'model and forward-only run, so the whole path added peak_rss_mib minus that.',
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(result, indent=2) + '\n')
    os.replace(tmp, args.out)
    print(json.dumps(result, indent=2))
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == '__main__':
    main()
