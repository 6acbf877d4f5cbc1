"""End-to-end tests of `img2brain run` with banded ridge (saved, then applied by `img2brain predict`), the paired
best-vs-runner-up comparison between different models, and `--memory-gb`; run as a user would, in a subprocess."""
import json, os

import numpy as np
import pandas as pd
import pytest

from _cli import cli  # tests/ is on sys.path when pytest runs


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("banded")
    cli("synth", d / "seed", "--scale", "tiny", "--seed", "0", "-q")
    return d / "seed"


def test_banded_run_saved_and_predicted(data, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    category = data / "heldout" / "feature_spaces" / "category.npy"
    cli("run", data, "--out", out, "--weights", "random", "--layers", "features.5,features.12", "--pca", "20",
        "--models", "ridge,banded", "--features", f"category={category}", "--permutations", "20", "--memory-gb", "1",
        "--cache-dir", cache, "-q")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_model"] == "banded", summary["results"]
    voxels = pd.read_csv(out / "voxels.csv")
    assert {"preferred_space", "layer_depth", "banded_weight_category"} <= set(voxels.columns)
    assert (out / "preferred_space_by_roi.png").stat().st_size > 1000
    model = out / "model"
    assert {"model.json", "model.npz", "spaces.npz"} <= set(os.listdir(model))
    assert json.loads((model / "model.json").read_text())["class"] == "BandedRidgeCV"
    assert not any(p.suffix in (".pkl", ".pickle", ".skops") for p in model.iterdir())     # arrays and JSON only
    # predict: the user's own space for the new images, then the same predictions as the run
    test_rows = tmp_path / "category_test.npy"
    n_test = len(list((data / "testIMG").iterdir()))
    np.save(test_rows, np.load(category)[-n_test:])
    cli("predict", model, data / "testIMG", "--out", tmp_path / "p.npy", "--features", f"category={test_rows}",
        "--cache-dir", cache, "-q")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), np.load(out / "predictions" / "test_pred.npy"),
                               rtol=1e-4, atol=1e-4)
    # without it: one line, exit 2, naming the missing space and the option
    r = cli("predict", model, data / "testIMG", "--out", tmp_path / "q.npy", "--cache-dir", cache, check=False)
    assert r.returncode == 2 and "--features category=FILE" in r.stderr and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_runner_up_is_a_different_model(data, tmp_path):
    import img2brain.models as M
    if not hasattr(M, "original_recipe_models"): pytest.skip("no original recipe in this version")
    out = tmp_path / "o"
    cli("run", data, "--out", out, "--recipe", "original", "--weights", "random", "--models", "ridgecv,linear",
        "--permutations", "20", "--cache-dir", tmp_path / "cache", "-q")
    s = json.loads((out / "summary.json").read_text())
    c = s["best_vs_runner_up"]
    family = lambda name: name.removesuffix(" (original)")
    assert family(c["best"]) != family(c["runner_up"]), c
    table = pd.read_csv(out / "results.csv")
    names = list(table["model"])
    assert c["best"] == names[0] and c["runner_up"] == names[c["runner_up_rank"] - 1]
    # every row above the runner-up is the best model under another recipe
    assert all(family(n) == family(names[0]) for n in names[:c["runner_up_rank"] - 1]), names


def test_memory_gb_option(data, tmp_path):
    r = cli("run", data, "--out", tmp_path / "o", "--memory-gb", "-1", "--cache-dir", tmp_path / "cache", check=False)
    assert r.returncode == 2 and "memory_gb must be 0" in r.stderr
    assert "--memory-gb" in cli("run", "--help").stdout
