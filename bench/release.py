"""A whole simulated Algonauts release, end to end: time and peak memory per subject (not a timed test).

Makes a simulated release in the exact Algonauts 2023 layout (`img2brain.synth.make_release`, subjects of different
sizes; `--scale full` = 8,857 + 984 images of 425 px and 10,000 vertices for subj01, the others scaled by
`SUBJECT_SIZES`), then runs `img2brain.pipeline.run_release` on it:
  * each subject in its own child process (`run_release` with `subjects=[k]`), so that its wall time and its peak
    resident memory (`os.wait4`: the child and the DataLoader workers it waited for) are its own;
  * a last `run_release` over all subjects, which keeps the finished subjects, pools them and writes the zip;
  * the zip checked against the challenge's rules (`check_submission`) and scored with the devkit formula on the
    held-out responses (`score_submission`).
Writes bench/results/release.json (or --out).

    python bench/release.py --scale full                 # the full simulated scale, subjects 1 and 2
    python bench/release.py --scale tiny --models ridgecv # a quick check of the script
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = """
import json, sys
from img2brain.pipeline import RunConfig, run_release
cfg = RunConfig(**json.loads(sys.argv[1]))
run_release(sys.argv[2], sys.argv[3], cfg, progress=True)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--scale', default='full', choices=['tiny', 'small', 'full'])
    ap.add_argument('--image-size', type=int, default=None,
                    help='image side in pixels instead of the scale\'s (e.g. 160 at full scale: the same image and '
                         'vertex counts, drawn 7x faster; the pipeline resizes every image to the CNN input anyway)')
    ap.add_argument('--subjects', default='1,2', help='subject numbers, comma-separated')
    ap.add_argument('--models', default='linear,ridge,lasso,enet,knn,tree,ridgecv')
    ap.add_argument('--weights', default='random', help='"random" (offline) or "imagenet"')
    ap.add_argument('--permutations', type=int, default=200)
    ap.add_argument('--device', default='', help='cpu or cuda (empty: cuda when present)')
    ap.add_argument('--data', type=Path, default=HERE/'data', help='where the release is made')
    ap.add_argument('--work', type=Path, default=None, help='run folder (default: DATA/release_SCALE_out)')
    ap.add_argument('--out', type=Path, default=HERE/'results'/'release.json')
    args = ap.parse_args()

    from img2brain.synth import make_release
    from img2brain.pipeline import RunConfig, run_release
    from img2brain.algonauts import check_submission, score_submission
    from img2brain.data import atomic_write

    from img2brain.synth import SCALES
    subjects = [int(s) for s in args.subjects.split(',')]
    scale = dict(SCALES[args.scale], **({'image_size': args.image_size} if args.image_size else {}))
    root = args.data/(f'release_{args.scale}' + (f'_{args.image_size}px' if args.image_size else ''))
    work = args.work or args.data/f'release_{args.scale}_out'
    t0 = time.perf_counter()
    if not (root/'heldout').is_dir():
        print(f'making the {args.scale!r} simulated release (subjects {subjects}) in {root} ...', flush=True)
        make_release(root, subjects=tuple(subjects), scale=scale, seed=0)
    make_seconds = time.perf_counter() - t0
    config = dict(weights=args.weights, models=args.models.split(','), permutations=args.permutations,
                  device=args.device, cache_dir=str(args.data/'release_cache'))
    per_subject = {}
    for k in subjects:
        t1 = time.perf_counter()
        p = subprocess.Popen([sys.executable, '-c', CHILD, json.dumps(dict(config, subjects=[k])), str(root), str(work)])
        _, status, usage = os.wait4(p.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0: raise SystemExit(f'subject {k} failed (exit {status})')
        per_subject[f'subj{k:02d}'] = dict(seconds=round(time.perf_counter() - t1, 1),
                                            peak_rss_mib=round(usage.ru_maxrss / 1024, 1))
        print(f'subj{k:02d}: {per_subject[f"subj{k:02d}"]}', flush=True)
    t2 = time.perf_counter()
    run_release(root, work, RunConfig(**config), progress=True)
    pool_seconds = time.perf_counter() - t2
    zip_path = work/'algonauts_submission.zip'
    checked = check_submission(zip_path, root)
    scores = score_submission(zip_path, root/'heldout')
    for s in per_subject:
        n = sum(int(r.shape.split('×')[-1]) if isinstance(r.shape, str) else int(r.shape[-1])
                for r in checked.itertuples() if r.subject == s)
        per_subject[s]['n_vertices'] = n
    result = dict(
        benchmark='run_release end to end (simulated Algonauts release)', scale=args.scale, sizes=scale, subjects=per_subject,
        make_release_seconds=round(make_seconds, 1), pool_and_zip_seconds=round(pool_seconds, 1),
        zip_bytes=zip_path.stat().st_size, zip_check_rows=len(checked),
        score=scores.round(4).to_dict('records'), config=config,
        machine=dict(cpus=os.cpu_count(), python=platform.python_version(), platform=platform.platform()),
        command='python ' + ' '.join(sys.argv), date=time.strftime('%Y-%m-%dT%H:%M:%S'),
        note='seconds and peak RSS per subject are those of a child process running that subject alone '
             '(features, PCA, model comparison with permutations, refit, predictions, figures).',
    )
    try:
        import torch
        result['machine'].update(torch=torch.__version__, cuda=torch.cuda.is_available(),
                                 gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    except Exception: pass
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda f: f.write((json.dumps(result, indent=1, default=str) + '\n').encode()))
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
