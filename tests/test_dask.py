"""img2brain.distributed on a real local Dask cluster (2 worker processes): identical to the serial run, even when a
worker process is killed in the middle of the run. Skipped when dask.distributed is not installed."""
import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial

import numpy as np
import pytest

distributed = pytest.importorskip('distributed')  # noqa: E402 (the imports below need dask)
import cloudpickle  # noqa: E402

from img2brain.data import load_dataset, split  # noqa: E402
from img2brain.distributed import cnn_loads, compare_models_dask, extract_features_dask, fit_dask, get_client  # noqa: E402
from img2brain.features import extract_features  # noqa: E402
from img2brain.models import make_model  # noqa: E402
from img2brain.synth import make_dataset  # noqa: E402

# the workers cannot import this test module: ship its functions and classes by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

KW = dict(model='alexnet', layers=['features.5', 'features.12'], weights='random', batch_size=8, progress=False)


@pytest.fixture(scope='module')
def client():
    with get_client('local:2') as c:
        yield c


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return load_dataset(make_dataset(tmp_path_factory.mktemp('tiny'), scale='tiny', seed=0, progress=False))


@pytest.fixture(scope='module')
def serial_features(data):
    return extract_features(data.train_images[:64], num_workers=0, **KW)


@pytest.fixture(scope='module')
def split_data(data, serial_features):
    X = np.asarray(serial_features['features.12'])[:, :50]
    Y = data.responses[:64]
    train, val = split(64, val_frac=0.25, seed=0)
    return X[train], Y[train], X[val], Y[val]


def pids(client): return client.run(os.getpid)


def test_import_does_not_import_dask():
    code = "import sys, img2brain, img2brain.distributed; print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]', out.stdout


def test_extraction_equals_serial(client, data, serial_features, tmp_path):
    feats = extract_features_dask(client, data.train_images[:64], chunk_size=16, **KW)
    for layer in KW['layers']: np.testing.assert_array_equal(feats[layer], serial_features[layer])
    cached = extract_features_dask(client, data.train_images[:64], chunk_size=24, cache_dir=tmp_path, **KW)
    again = extract_features(data.train_images[:64], cache_dir=tmp_path, num_workers=0, **KW)   # finds the entry
    for layer in KW['layers']:
        assert isinstance(again[layer], np.memmap)
        np.testing.assert_array_equal(cached[layer], serial_features[layer])
        np.testing.assert_array_equal(again[layer], serial_features[layer])
    # each worker built the network once for all its chunks
    loads = cnn_loads(client)
    assert max(loads.values()) == 1 and sum(loads.values()) >= 1, loads


def test_fit_equals_serial(client, split_data):
    X_tr, Y_tr, X_va, Y_va = split_data
    for name in ('ridgecv', 'lasso'):
        factory = partial(make_model, name)
        pred, model = fit_dask(client, factory, X_tr, Y_tr, [X_va, X_tr], voxel_chunk=37)
        ref, _ = fit_dask(None, factory, X_tr, Y_tr, [X_va, X_tr], voxel_chunk=37)
        for a, b in zip(pred, ref): np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(model.predict(X_va), pred[0], rtol=1e-5, atol=1e-5)
    table, fitted = compare_models_dask(client, X_tr, Y_tr, X_va, Y_va, models=['ridge', 'tree'], voxel_chunk=50, progress=False)
    ref_table, ref = compare_models_dask(None, X_tr, Y_tr, X_va, Y_va, models=['ridge', 'tree'], voxel_chunk=50, progress=False)
    assert list(table['params']) == list(ref_table['params'])
    for name in fitted: np.testing.assert_array_equal(fitted[name]['r'], ref[name]['r'])


class KillWorkerOnce:
    "An estimator factory whose first call, on whichever worker, kills that worker's process (os._exit)."
    def __init__(self, marker, name): self.marker, self.name = str(marker), name
    def __call__(self):
        try: fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError: return make_model(self.name)
        os.write(fd, str(os.getpid()).encode()); os.close(fd)
        os._exit(1)


def test_fit_survives_a_killed_worker(client, split_data, tmp_path):
    X_tr, Y_tr, X_va, _ = split_data
    before = pids(client)
    marker = tmp_path/'killed'
    pred, _ = fit_dask(client, KillWorkerOnce(marker, 'ridge'), X_tr, Y_tr, X_va, voxel_chunk=40)
    ref, _ = fit_dask(None, partial(make_model, 'ridge'), X_tr, Y_tr, X_va, voxel_chunk=40)
    np.testing.assert_array_equal(pred, ref)
    killed = int(marker.read_text())
    assert killed in before.values(), (killed, before)
    client.wait_for_workers(2, timeout=300)   # a restarted worker imports torch again: slow on a busy machine
    assert killed not in pids(client).values()      # the nanny restarted it: a new process


def test_extraction_survives_a_killed_worker(client, data, serial_features):
    client.wait_for_workers(2, timeout=300)   # a restarted worker imports torch again: slow on a busy machine
    before = pids(client)
    result, errors = {}, []
    def run():
        try: result.update(extract_features_dask(client, data.train_images[:64], chunk_size=8, max_in_flight=4, **KW))
        except Exception as e: errors.append(e)
    t = threading.Thread(target=run); t.start()
    victim = None
    for _ in range(2000):                              # kill the first worker seen computing a chunk
        busy = [w for w, keys in client.processing().items() if any('extract_chunk' in str(k) for k in keys)]
        if busy: victim = busy[0]; break
        time.sleep(0.01)
    assert victim is not None and t.is_alive(), 'the extraction finished before a worker could be killed'
    os.kill(before[victim], signal.SIGKILL)
    t.join(120)
    assert not errors, errors
    for layer in KW['layers']: np.testing.assert_array_equal(result[layer], serial_features[layer])
    client.wait_for_workers(2, timeout=300)   # a restarted worker imports torch again: slow on a busy machine
    assert before[victim] not in pids(client).values()


def test_release_subjects_in_parallel(client, tmp_path):
    "The subjects of a release run as one task each on the cluster, with the serial run's numbers and files."
    # a worker's BLAS runs on 1 thread, this process's on 2: float32 sums in another order, so equal to rounding (~1 ulp)
    import pandas as pd
    from img2brain.pipeline import RunConfig, run_release
    from img2brain.synth import make_release
    root = make_release(tmp_path/'release', subjects=(1, 2), scale='tiny', seed=0, progress=False)
    kw = dict(weights='random', models=['ridge', 'ridgecv'], permutations=0, pca=20)
    serial = run_release(root, tmp_path/'serial', RunConfig(cache_dir=str(tmp_path/'c1'), **kw), progress=False)
    with distributed.get_task_stream(client) as stream:
        parallel = run_release(root, tmp_path/'dask', RunConfig(cache_dir=str(tmp_path/'c2'), **kw), progress=False,
                               client=client)
    tasks = [t['key'] for t in stream.data]
    assert len(tasks) == 2 and all('_subject_task' in str(k) for k in tasks), tasks   # one task per subject
    assert sorted(parallel['subjects']) == sorted(serial['subjects']) == ['subj01', 'subj02'], parallel
    a, b = pd.read_csv(tmp_path/'serial'/'summary.csv'), pd.read_csv(tmp_path/'dask'/'summary.csv')
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6, atol=1e-6)
    for subj in ('subj01', 'subj02'):
        for hemi in ('lh', 'rh'):
            name = f'{subj}/predictions/{hemi}_pred_test.npy'
            np.testing.assert_allclose(np.load(tmp_path/'dask'/name), np.load(tmp_path/'serial'/name), rtol=1e-5, atol=1e-6)
