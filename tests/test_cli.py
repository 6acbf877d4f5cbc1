"""End-to-end tests of the `img2brain` command, run as a user would: in a subprocess, on data it generates itself."""
import json, os, shutil, subprocess, zipfile

import numpy as np
import pytest

from _cli import EXE, cli  # tests/ is on sys.path when pytest runs


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
    cli("synth", tmp_path / "again", "--scale", "tiny", "--seed", "0", "--layout", "seed", "-q")   # old name of 'zenodo'
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
    r = cli("layers", "alexnett", check=False)
    assert r.returncode == 2 and "unknown CNN 'alexnett'" in r.stderr and "Did you mean 'alexnet'" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_layers_into_a_closed_pipe_is_quiet():
    r = subprocess.run(f"'{EXE}' layers resnet50 | head -n 3", shell=True, capture_output=True, text=True, timeout=600)
    assert len(r.stdout.splitlines()) == 3
    assert "BrokenPipeError" not in r.stderr and "Traceback" not in r.stderr and "Exception ignored" not in r.stderr


def test_run_predict_score_seed_layout(work, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    r = cli("run", work / "seed", "--out", out, "--weights", "random", "--pca", "20",
            "--models", "linear,ridge,lasso,enet,knn,tree,ridgecv", "--cache-dir", cache, "-q")
    assert "best:" in r.stdout and "ridgecv" in r.stdout and "n_significant" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    # statistics are on by default: a CI per model, p and q per voxel
    import pandas as pd
    table, voxels = pd.read_csv(out / "results.csv"), pd.read_csv(out / "voxels.csv")
    assert ((table.median_r_ci_low <= table.median_r) & (table.median_r <= table.median_r_ci_high)).all()
    assert len(voxels) == 200 and {"p_ridge", "q_ridge", "r_ridge"} <= set(voxels.columns)
    pred = np.load(out / "predictions" / "test_pred.npy")
    assert pred.shape == (24, 200) and pred.dtype == np.float32
    assert len(summary["results"]) == 7
    for f in summary["figures"]:
        assert (out / f).stat().st_size > 1000
    # the config it wrote repeats the run exactly
    cli("run", work / "seed", "--out", tmp_path / "out2", "--config", out / "config.toml", "-q")
    s2 = json.loads((tmp_path / "out2" / "summary.json").read_text())
    assert s2["best_model"] == summary["best_model"] and s2["best_median_r"] == summary["best_median_r"]
    # predict: the saved model applied to the test images reproduces the run's test predictions
    cli("predict", out / "model", work / "seed" / "testIMG", "--out", tmp_path / "p.npy", "--cache-dir", cache, "-q")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), pred, rtol=1e-4, atol=1e-4)
    # score against the held-out truth
    s = cli("score", out / "predictions" / "test_pred.npy", work / "seed" / "heldout" / "test_responses.npy").stdout
    assert "median r" in s


def test_run_algonauts_layout(work, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    cli("run", work / "alg", "--out", out, "--weights", "random", "--pca", "10", "--models", "ridge,ridgecv",
        "--permutations", "0", "--cache-dir", cache, "-q")
    lh = np.load(out / "predictions" / "lh_pred_test.npy")
    rh = np.load(out / "predictions" / "rh_pred_test.npy")
    assert lh.dtype == rh.dtype == np.float32 and lh.shape[1] + rh.shape[1] == 200
    assert sorted(os.listdir(out / "predictions")) == ["lh_pred_test.npy", "rh_pred_test.npy"]   # no concatenated copy
    with zipfile.ZipFile(out / "algonauts_submission.zip") as z:
        assert sorted(z.namelist()) == ["subj01/lh_pred_test.npy", "subj01/rh_pred_test.npy"]
    # predict on an Algonauts model writes the lh/rh pair, equal to the run's
    test_images = work / "alg" / "subj01" / "test_split" / "test_images"
    cli("predict", out / "model", test_images, "--out", tmp_path / "pred", "--cache-dir", cache, "-q")
    np.testing.assert_allclose(np.load(tmp_path / "pred" / "lh_pred_test.npy"), lh, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.load(tmp_path / "pred" / "rh_pred_test.npy"), rh, rtol=1e-4, atol=1e-4)
    r = cli("predict", out / "model", test_images, "--out", tmp_path / "p.npy", check=False)
    assert r.returncode == 2 and "give a folder" in r.stderr


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


def test_user_errors_are_one_line(work, tmp_path):
    (tmp_path / "a_file").write_text("x")
    r = cli("run", work / "seed", "--out", tmp_path / "a_file", "--weights", "random", check=False)
    assert r.returncode == 2 and "is an existing file" in r.stderr and r.stderr.count("\n") == 1
    r = cli("run", work / "seed", "--out", tmp_path / "o", "--layers", "features.99", "--weights", "random", check=False)
    assert r.returncode == 2 and "features.99" in r.stderr and "{model}" not in r.stderr and "Closest: []" not in r.stderr
    r = cli("run", work / "seed", "--out", tmp_path / "o", "--cnn", "resnet", check=False)
    assert r.returncode == 2 and "unknown CNN 'resnet'" in r.stderr
    r = cli("run", work / "seed", "--out", tmp_path / "o", "--subjects", "1", check=False)
    assert r.returncode == 2 and "release folder" in r.stderr


def test_run_options_come_from_runconfig():
    from dataclasses import fields
    from img2brain.pipeline import RunConfig
    out = " ".join(cli("run", "--help").stdout.split())
    for f in fields(RunConfig):
        assert f"--{f.name.replace('_', '-')}" in out, f.name
    assert "--model" in out and "(default: alexnet)" in out and "(default: 200)" in out


def test_pca_clip_is_said_and_old_config_key_accepted(work, tmp_path):
    cfg = tmp_path / "old.toml"
    cfg.write_text('model = "alexnet"\nweights = "random"\nmodels = ["ridge"]\npermutations = 0\n')
    r = cli("run", work / "seed", "--out", tmp_path / "o", "--config", cfg, "--pca", "100000",
            "--cache-dir", tmp_path / "cache")
    assert "PCA: 102 components (asked 100000; at most min(n_train, n_features)" in r.stdout
    assert "now called `cnn`" in r.stderr
    assert 'cnn = "alexnet"' in (tmp_path / "o" / "config.toml").read_text()
    # not a terminal: stage lines, no progress bars
    assert "[1] load and validate" in r.stdout and "it/s" not in r.stderr and "\r" not in r.stderr


def test_recipe_original(work, tmp_path):
    import img2brain.models as M
    r = cli("run", work / "seed", "--out", tmp_path / "o", "--recipe", "original", "--weights", "random", "--models", "ridge",
            "--permutations", "0", "--cache-dir", tmp_path / "cache", "-q", check=False)
    if not hasattr(M, "original_recipe_models"):
        assert r.returncode == 2 and "original_recipe_models" in r.stderr
        return
    assert r.returncode == 0, r.stderr
    import pandas as pd
    table = pd.read_csv(tmp_path / "o" / "results.csv")
    assert set(table["recipe"]) == {"img2brain", "original"} and len(table) == 1 + len(M.original_recipe_models())
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert (s["n_train"], s["n_val"], s["pca"]) == (102, 26, 100)


def test_release_two_subjects_run_zip_score_resume(tmp_path):
    import pandas as pd
    from img2brain.synth import make_release
    release = tmp_path / "release"
    r = cli("synth", release, "--scale", "tiny", "--seed", "0", "--subjects", "1,2", "-q")
    assert "simulated Algonauts release of subjects [1, 2]" in r.stdout
    assert sorted(p.name for p in release.iterdir()) == ["heldout", "subj01", "subj02"]
    again = make_release(tmp_path / "again", subjects=(1, 2), scale="tiny", seed=0, progress=False)   # CLI = API
    for f in ("subj02/training_split/training_fmri/rh_training_fmri.npy", "subj01/roi_masks/lh.all-vertices_fsaverage_space.npy"):
        assert (release / f).read_bytes() == (again / f).read_bytes(), f
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ("run", release, "--out", out, "--weights", "random", "--pca", "20", "--models", "ridge,ridgecv",
            "--permutations", "0", "--cache-dir", cache)
    r = cli(*args)
    assert "=== subj01 (1 of 2)" in r.stdout and "submission (checked)" in r.stdout
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(set(summary["subject"])) == ["all", "subj01", "subj02"] and len(summary) == 6
    sizes = {s: json.loads((out / s / "summary.json").read_text()) for s in ("subj01", "subj02")}
    assert sizes["subj01"]["n_voxels"] != sizes["subj02"]["n_voxels"]          # subjects of different sizes
    n_all = sizes["subj01"]["n_voxels"] + sizes["subj02"]["n_voxels"]
    assert list(summary.loc[summary.subject == "all", "n_voxels"]) == [n_all, n_all]
    for s, info in sizes.items():
        lh, rh = (np.load(out / s / "predictions" / f"{h}_pred_test.npy") for h in ("lh", "rh"))
        assert lh.shape == (info["n_test"], info["n_vertices"]["lh"]) and rh.shape == (info["n_test"], info["n_vertices"]["rh"])
        assert lh.dtype == rh.dtype == np.float32
    with zipfile.ZipFile(out / "algonauts_submission.zip") as z:
        assert sorted(z.namelist()) == [f"subj0{i}/{h}_pred_test.npy" for i in (1, 2) for h in ("lh", "rh")]
    assert (out / "subjects.png").stat().st_size > 1000
    # the leaderboard number per subject and overall
    s = cli("score", out, release).stdout
    assert all(k in s for k in ("subj01", "subj02", "all", "median_score"))
    # an interrupted release resumes: finished subjects are kept
    (out / "subj02" / "summary.json").unlink()
    r = cli(*args)
    assert "subj01 (1 of 2): done before, kept" in r.stdout and "subj02 (2 of 2)\n" in r.stdout
    # --subjects picks some
    r = cli(*args[:3], tmp_path / "out2", *args[4:], "--subjects", "2")
    assert sorted(p.name for p in (tmp_path / "out2").iterdir() if p.is_dir()) == ["subj02"]
