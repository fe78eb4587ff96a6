import numpy as np
import pytest
import torch

from glitchbook import ConfigError, metrics, signals, tracin
from glitchbook.corruption import ANOMALY, MISLABELLED, class_label_noise, inject_glitches
from glitchbook.models.classifiers import ResNet20
from glitchbook.training import fit, tensor_dataset


def test_injection_rates_and_truth_are_exact_and_seeded(digits):
    labels = digits.labels
    g = inject_glitches(digits.images, labels, 10, kind="uniform", rate=0.1, seed=0)
    assert (g.kind == MISLABELLED).sum() == int(0.1 * len(labels))
    np.testing.assert_array_equal(g.labels != labels, g.kind == MISLABELLED)
    again = inject_glitches(digits.images, labels, 10, kind="uniform", rate=0.1, seed=0)
    np.testing.assert_array_equal(g.labels, again.labels)
    ood = np.ones((5, *digits.shape), np.float32)
    mixed = inject_glitches(digits.images, labels, 10, kind="mixed", rate=0.1, ood_images=ood)
    assert (mixed.kind == ANOMALY).sum() == (mixed.kind == MISLABELLED).sum() == 179
    assert (mixed.images[mixed.kind == ANOMALY] == 1).all()
    assert len(np.unique(mixed.labels[mixed.kind == ANOMALY])) == 1  # one label for all


def test_class_noise_relabels_one_class_by_default_and_each_class_when_asked(digits):
    new, flipped = class_label_noise(digits.labels, 10, rate=0.1, seed=3)
    (c,) = np.unique(digits.labels[flipped])  # the authors': one class, to one other class
    members = digits.labels == c
    assert flipped.sum() == int(0.1 * members.sum())
    assert len(np.unique(new[flipped])) == 1 and new[flipped][0] != c
    new, flipped = class_label_noise(digits.labels, 10, rate=0.1, seed=3, classes=10)
    for c in range(10):
        members = digits.labels == c
        assert flipped[members].sum() == int(0.1 * members.sum())
        targets = np.unique(new[members & flipped])
        assert len(targets) == 1 and targets[0] != c


def test_anomalies_are_appended_with_one_label(digits):
    ood = np.ones((500, *digits.shape), np.float32)
    g = inject_glitches(digits.images, digits.labels, 10, kind="anomaly", rate=0.1,
                        ood_images=ood)
    n, k = len(digits), int(0.1 * len(digits))
    assert len(g.images) == n + k and (g.kind[n:] == ANOMALY).all() and not g.kind[:n].any()
    np.testing.assert_array_equal(g.images[:n], digits.images)
    assert len(np.unique(g.labels[n:])) == 1 and (g.true_labels[n:] == -1).all()


@pytest.mark.parametrize("kwargs,match", [(dict(kind="uniform", rate=1.5), "between 0 and 1"),
                                          (dict(kind="typo"), "unknown glitch type"),
                                          (dict(kind="anomaly"), "out-of-distribution")])
def test_bad_arguments_give_clear_errors(digits, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        inject_glitches(digits.images, digits.labels, 10, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits):
    rng = np.random.default_rng(0)
    order = rng.permutation(len(digits))
    train, test = order[:1200], order[1200:]
    g = inject_glitches(digits.images[train], digits.labels[train], 10, kind="uniform", rate=0.1)
    torch.manual_seed(0)
    model = ResNet20(1, 10)
    history = fit(model, tensor_dataset(g.images, g.labels), epochs=6, batch_size=64, lr=0.05,
                  optimizer="sgd", device="cpu", checkpoint_dir=tmp_path_factory.mktemp("ck"),
                  progress=False)
    outputs = tracin.checkpoint_outputs(model, history.checkpoints, g.images,
                                           digits.images[test])
    return g, digits.labels[test], outputs, model, history.checkpoints


def test_tracin_of_a_sample_with_itself_is_its_self_influence(trained):
    g, _, outputs, *_ = trained
    rows = slice(0, 50)
    own = [type(o)(o.lr, o.train_probs, o.train_features, o.train_probs[rows],
                   o.train_features[rows]) for o in outputs]
    matrix = tracin.influence_matrix(own, g.labels, g.labels[rows])
    np.testing.assert_allclose(np.diag(matrix[rows]),
                               tracin.self_influence(outputs, g.labels)[rows], rtol=1e-6)


def test_signals_score_every_sample_and_mislabel_signals_beat_chance(trained):
    g, test_labels, outputs, *_ = trained
    scores = signals.all_signals(tracin.FastTracIn(outputs, test_labels), g.labels,
                                   test_labels, 10)
    for name in signals.SIGNALS:
        assert scores[name].shape == (len(g.labels),) and np.isfinite(scores[name]).all(), name
    for name in ("SI", "CNCI"):
        assert metrics.f1_at_contamination(g.is_glitch, scores[name]) > 0.1 + 0.2, name


def test_self_influence_agrees_with_captum_tracincp_fast(trained):
    from captum.influence import TracInCPFast
    from scipy.stats import spearmanr

    g, _, outputs, model, checkpoints = trained

    model.eval()
    data = torch.utils.data.TensorDataset(torch.from_numpy(g.images), torch.from_numpy(g.labels))
    theirs_tracin = TracInCPFast(model, model.fc, data, [str(p) for p in checkpoints],
                                 tracin.load_checkpoint,
                                 loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"), batch_size=256)
    theirs = theirs_tracin.self_influence(show_progress=False).numpy()
    ours = tracin.self_influence(outputs, g.labels)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-6)
    assert spearmanr(ours, theirs).statistic > 0.9999
    alone = tracin.checkpoint_outputs(model, checkpoints, g.images[:10], g.images[:0])
    assert alone[0].test_features.shape == (0, 64) and alone[0].train_probs.shape == (10, 10)


def test_full_gradient_tracin_on_the_last_layer_equals_the_fast_variant(trained, digits):
    g, test_labels, outputs, model, checkpoints = trained
    rows, cols = slice(0, 40), slice(0, 30)
    test_images = digits.images[np.random.default_rng(0).permutation(len(digits))[1200:]][cols]
    full = tracin.influence_matrix_full(model, checkpoints, g.images[rows], g.labels[rows],
                                           test_images, test_labels[cols], params=("fc.weight",))
    fast = tracin.influence_matrix(outputs, g.labels, test_labels)[rows, cols]
    np.testing.assert_allclose(full, fast, rtol=5e-4, atol=1e-6)  # float32 gradients
    deeper = tracin.influence_matrix_full(model, checkpoints, g.images[:8], g.labels[:8],
                                             test_images[:4], test_labels[:4])
    assert deeper.shape == (8, 4) and np.isfinite(deeper).all()
    with pytest.raises(ConfigError, match="unknown parameter"):
        tracin.influence_matrix_full(model, checkpoints[:1], g.images[:2], g.labels[:2],
                                        test_images[:2], test_labels[:2], params=("head.w",))


def test_signals_run_on_full_gradients_and_full_self_influence_is_the_diagonal(trained):
    g, _, _, model, checkpoints = trained
    images, labels = g.images[:24], g.labels[:24]
    full = tracin.FullTracIn(model, checkpoints[-2:], images, images, labels)
    np.testing.assert_allclose(full.self_influence(labels), np.diag(full.matrix(labels)),
                               rtol=1e-6)
    scores = signals.all_signals(full, labels, labels, 10)
    assert all(np.isfinite(scores[name]).all() and len(scores[name]) == 24
               for name in signals.SIGNALS)


@pytest.mark.parametrize("name", ["resnet20", "vit", "convnext"])
def test_classifiers_give_logits_features_and_learn(name, digits):
    from glitchbook.models.classifiers import CLASSIFIERS

    torch.manual_seed(0)
    kwargs = {"image_size": 8, "patch": 2} if name == "vit" else {}
    model = CLASSIFIERS[name](1, 10, **kwargs)
    x = torch.from_numpy(digits.images[:256])
    assert model(x).shape == (256, 10) and model.features(x).shape[0] == 256
    history = fit(model, tensor_dataset(digits.images[:256], digits.labels[:256]), epochs=5,
                  batch_size=32, lr=0.05, optimizer="sgd", device="cpu", progress=False)
    assert history.losses[-1] < history.losses[0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():  # batch norm folded into the convolutions: same features, model kept
        torch.testing.assert_close(tracin.inference_features(model)(x),
                                   model.eval().features(x), rtol=1e-4, atol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_influence_config_takes_the_authors_settings_per_model():
    from glitchbook.methods import influence as method

    resnet = method.Config.for_run("mnist-5k")
    assert (resnet.lr, resnet.epochs, resnet.momentum) == (0.01, 7, 0.9)
    vit = method.Config.for_run("mnist-5k", model="vit")
    assert (vit.lr, vit.epochs) == (0.1, 2)
    with pytest.raises(ConfigError, match="unknown model"):
        method.Config.for_run("mnist-5k", model="lenet")
    with pytest.raises(ConfigError, match="unknown glitch"):
        method.Config.for_run("mnist-5k", glitches=("typos",))
    with pytest.raises(ConfigError, match="unknown gradients"):
        method.Config.for_run("mnist-5k", gradients="half")
    with pytest.raises(ConfigError, match="use gradients='fast'"):
        method.Config.for_run("mnist-5k", model="vit", gradients="full")
    with pytest.raises(ConfigError, match="cleanlab_folds"):
        method.Config.for_run("mnist-5k", cleanlab_folds=1)
    with pytest.raises(ConfigError, match="momentum"):
        method.Config.for_run("mnist-5k", momentum=1.0)
