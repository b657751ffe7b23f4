"""Model files: skops with trusted types, SHA-256 against the card, refusal of tampering."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from metpot.errors import MetpotError
from metpot.model_io import card_path, load_model, read_card, save_model


@pytest.fixture
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = np.where(X[:, 0] > 0, "a", "b")
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X


def test_round_trip_gives_identical_predictions(tmp_path, fitted):
    model, X = fitted
    card = save_model(model, tmp_path / "m.skops", {"target": "t", "classes": ["a", "b"]})
    loaded, card2 = load_model(tmp_path / "m.skops")
    assert card2 == card == read_card(card_path(tmp_path / "m.skops"))
    assert card["target"] == "t" and len(card["sha256"]) == 64
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_tampered_file_is_refused(tmp_path, fitted):
    model, _ = fitted
    save_model(model, tmp_path / "m.skops", {})
    other = make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(*_xy())
    save_model(other, tmp_path / "other.skops", {})
    (tmp_path / "m.skops").write_bytes((tmp_path / "other.skops").read_bytes())
    with pytest.raises(MetpotError, match=r"m\.skops: SHA-256 .* differs from its card"):
        load_model(tmp_path / "m.skops")


def test_untrusted_type_is_refused_even_when_the_card_agrees(tmp_path):
    import json

    import skops.io as sio

    # a function outside the trusted list (skops records it as a type to trust)
    model = make_pipeline(_Unsafe()).fit(*_xy())
    path = tmp_path / "m.skops"
    path.write_bytes(sio.dumps(model))
    from metpot.io import sha256

    card = {"format": 1, "sha256": sha256(path)}
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(MetpotError, match=r"holds types metpot does not trust .*_Unsafe"):
        load_model(path)


def test_missing_card_is_an_error(tmp_path, fitted):
    import skops.io as sio

    (tmp_path / "m.skops").write_bytes(sio.dumps(fitted[0]))
    with pytest.raises(MetpotError, match="model card not found"):
        load_model(tmp_path / "m.skops")


def _xy():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    return X, np.where(X[:, 1] > 0, "a", "b")


from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402


class _Unsafe(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def _every_model():
    """Every model metpot can build, fitted on a small frame (classify's factories)."""
    import pandas as pd

    from metpot import classify as C

    rng = np.random.default_rng(3)
    cols = [f"mrna:g{i}" for i in range(8)] + [f"mirna:m{i}" for i in range(6)]
    X = pd.DataFrame(rng.gamma(2.0, 2.0, (45, len(cols))), columns=cols)
    X.iloc[3, 2] = np.nan
    y = np.array(["canonical", "immune", "stromal"] * 15)
    ys = C._surv_array(rng.exponential(10, 45), rng.random(45) < 0.7)
    for name in C.CLASSIFIERS + C.SURVIVAL_MODELS:
        if name == "crs":
            crs = pd.DataFrame({"clinical:crs": rng.integers(0, 6, 45).astype(float)})
            yield name, C.CoxPH().fit(crs, ys), crs
            continue
        survival = name in C.SURVIVAL_MODELS
        for signature in (None, {"size": 5, "quotas": {"mrna": 3, "mirna": 2}}):
            pipe = C.build_pipeline(name, transform="log2", top_variance=6, signature=signature)
            if "n_estimators" in pipe[-1].get_params():
                pipe.set_params(model__n_estimators=10)  # same types, smaller files
            yield name, pipe.fit(X, ys if survival else y), X


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_metpot_model_round_trips_with_the_trusted_types(tmp_path):
    """TRUSTED_TYPES covers every model metpot builds: save, load, identical predictions."""
    from threadpoolctl import threadpool_limits

    from metpot import classify as C

    seen = set()
    with threadpool_limits(1):  # gradient boosting's OpenMP crawls on busy shared cores
        models = list(_every_model())
    for k, (name, model, X) in enumerate(models):
        seen.add(name)
        path = tmp_path / f"m{k}.skops"
        save_model(model, path, {"model": name})
        loaded, card = load_model(path)
        assert card["model"] == name
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        if hasattr(model, "predict_proba"):
            np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert seen == set(C.CLASSIFIERS + C.SURVIVAL_MODELS)


def test_column_names_are_stored_as_one_array_and_load_as_objects(tmp_path):
    """A step's feature_names_in_ is one .npy in the file (not a JSON node per name, which
    made a 2,400-column model 2.6 MB and 0.7 s to write) and loads as scikit-learn's object
    array, equal to the fitted one."""
    import json
    import zipfile

    import pandas as pd

    from metpot import classify as C

    rng = np.random.default_rng(1)
    cols = [f"mrna:g{i}" for i in range(300)]
    X = pd.DataFrame(rng.gamma(2.0, 2.0, (30, len(cols))), columns=cols)
    model = C.build_pipeline("logistic", transform="log2", top_variance=50)
    model.fit(X, np.array(["a", "b", "c"] * 10))
    path = tmp_path / "m.skops"
    save_model(model, path, {})
    with zipfile.ZipFile(path) as z:
        schema = json.loads(z.read("schema.json"))
    names = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("__class__") == "str":
                names.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert len(names) < len(cols)
    loaded, _ = load_model(path)
    steps = [(a, b) for (_, a), (_, b) in zip(model.steps, loaded.steps, strict=True)]
    with_names = [(a, b) for a, b in steps if hasattr(a, "feature_names_in_")]
    assert len(with_names) >= 3
    for fitted_step, loaded_step in with_names:
        assert loaded_step.feature_names_in_.dtype == object
        np.testing.assert_array_equal(loaded_step.feature_names_in_, fitted_step.feature_names_in_)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_the_same_model_gives_the_same_bytes_in_another_process(tmp_path):
    """skops names objects by id() and dates entries; model_io makes the file canonical."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "from metpot.model_io import save_model\n"
        "X = np.random.default_rng(0).normal(size=(40, 3)); y = X[:, 0] > 0\n"
        "m = RandomForestClassifier(5, random_state=0).fit(X, y)\n"
        "print(save_model(m, sys.argv[1], {})['sha256'])\n"
    )
    shas = [
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / f"{i}.skops")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for i in range(2)
    ]
    assert shas[0] == shas[1] and len(shas[0]) == 64
    assert (tmp_path / "0.skops").read_bytes() == (tmp_path / "1.skops").read_bytes()
    model, _ = load_model(tmp_path / "0.skops")
    assert len(model.estimators_) == 5
