"""End-to-end tests of the `img2brain` command, run as a user would: in a subprocess, on data it generates itself."""
import json, os, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

EXE = Path(sys.executable).with_name("img2brain")


def cli(*args, check=True, env=None):
    "Run `img2brain ARGS`; return the CompletedProcess (text output)."
    e = dict(os.environ, MPLBACKEND="Agg", **(env or {}))
    r = subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, env=e, timeout=900)
    if check and r.returncode != 0:
        raise AssertionError(f"img2brain {' '.join(map(str, args))} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    cli("synth", d / "seed", "--scale", "tiny", "--seed", "0", "-q")
    cli("synth", d / "alg", "--scale", "tiny", "--seed", "1", "--layout", "algonauts", "-q")
    return d


def test_help_lists_every_command():
    out = cli("--help").stdout
    for cmd in ("synth", "info", "layers", "features", "run", "predict", "score"):
        assert cmd in out
        sub = cli(cmd, "--help").stdout
        assert f"usage: img2brain {cmd}" in sub


def test_synth_is_reproducible(work, tmp_path):
    cli("synth", tmp_path / "again", "--scale", "tiny", "--seed", "0", "-q")
    a = np.load(work / "seed" / "trainingfMRI" / "training.npy")
    b = np.load(tmp_path / "again" / "trainingfMRI" / "training.npy")
    assert a.tobytes() == b.tobytes()
    r = cli("synth", tmp_path / "again", "--scale", "tiny", "-q", check=False)
    assert r.returncode == 2 and "again" in r.stderr and "Traceback" not in r.stderr


def test_info_both_layouts(work):
    out = cli("info", work / "seed").stdout
    assert "128" in out and "200" in out
    out = cli("info", work / "alg").stdout
    assert "algonauts" in out.lower() and "lh" in out


def test_info_bad_input_exit_2(work, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(work / "seed", bad)
    y = np.load(bad / "trainingfMRI" / "training.npy")
    y[3, 5] = np.nan
    np.save(bad / "trainingfMRI" / "training.npy", y)
    r = cli("info", bad, check=False)
    assert r.returncode == 2
    assert "training.npy" in r.stderr and "NaN" in r.stderr and "Traceback" not in r.stderr
    r = cli("info", tmp_path / "missing", check=False)
    assert r.returncode == 2 and "missing" in r.stderr


def test_layers():
    out = cli("layers", "alexnet").stdout.split()
    assert "features.12" in out and "classifier.6" in out
    r = cli("layers", "not_a_cnn", check=False)
    assert r.returncode != 0


def test_run_predict_score_seed_layout(work, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    r = cli("run", work / "seed", "--out", out, "--weights", "random", "--pca", "20",
            "--models", "linear,ridge,lasso,enet,knn,tree,ridgecv", "--cache-dir", cache, "-q")
    assert "best:" in r.stdout and "ridgecv" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    pred = np.load(out / "predictions" / "test_pred.npy")
    assert pred.shape == (24, 200) and pred.dtype == np.float32
    assert len(summary["results"]) == 7
    for f in summary["figures"]:
        assert (out / f).stat().st_size > 1000
    # the config it wrote repeats the run exactly
    r2 = cli("run", work / "seed", "--out", tmp_path / "out2", "--config", out / "config.toml", "-q")
    s2 = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert s2["best_model"] == summary["best_model"] and s2["best_median_r"] == summary["best_median_r"]
    # predict: the saved model applied to the test images reproduces the run's test predictions
    cli("predict", out / "model", work / "seed" / "testIMG", "--out", tmp_path / "p.npy", "--cache-dir", cache, "-q")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), pred, rtol=1e-4, atol=1e-4)
    # score against the held-out truth
    s = cli("score", out / "predictions" / "test_pred.npy", work / "seed" / "heldout" / "test_responses.npy").stdout
    assert "median r" in s


def test_run_algonauts_layout(work, tmp_path):
    out = tmp_path / "out"
    cli("run", work / "alg", "--out", out, "--weights", "random", "--pca", "10", "--models", "ridge,ridgecv",
        "--cache-dir", tmp_path / "cache", "-q")
    lh = np.load(out / "predictions" / "lh_pred_test.npy")
    rh = np.load(out / "predictions" / "rh_pred_test.npy")
    assert lh.dtype == rh.dtype == np.float32 and lh.shape[1] + rh.shape[1] == 200


def test_run_bad_input_writes_nothing(work, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(work / "seed", bad)
    (bad / "trainingIMG" / sorted(os.listdir(bad / "trainingIMG"))[0]).unlink()
    r = cli("run", bad, "--out", tmp_path / "out", "--weights", "random", "-q", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "trainingIMG" in r.stderr
    assert not (tmp_path / "out").exists()


def test_run_unknown_model_is_a_clear_error(work, tmp_path):
    r = cli("run", work / "seed", "--out", tmp_path / "o", "--models", "ridge,svm", check=False)
    assert r.returncode == 2 and "svm" in r.stderr


def test_offline_imagenet_weights_exit_2(work, tmp_path):
    r = cli("features", work / "seed", "--out", tmp_path / "f", "--weights", "imagenet", "-q", check=False,
            env=dict(TORCH_HOME=str(tmp_path / "torch"), IMG2BRAIN_OFFLINE="1"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "weights='random'" in r.stderr


def test_unknown_layer_exit_2(work, tmp_path):
    r = cli("features", work / "seed", "--out", tmp_path / "f", "--weights", "random", "--layers", "features.99",
            "-q", check=False)
    assert r.returncode == 2 and "features.99" in r.stderr and "Traceback" not in r.stderr
