import math

import numpy as np
import pytest
import torch

from glitchbook import ConfigError, NonFiniteLossError
from glitchbook.models import VAE
from glitchbook.training import fit, resolve_device, tensor_dataset


class Exploding(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def training_loss(self, batch, *, epoch, epochs):
        return self.w.sum() * (math.nan if epoch == 2 else 1.0)


def _data(n=64):
    rng = np.random.default_rng(0)
    return tensor_dataset(rng.random((n, 1, 8, 8), dtype=np.float32), np.ones(n, np.float32),
                          np.zeros(n, bool))


def test_nan_loss_names_the_model_epoch_and_batch():
    with pytest.raises(NonFiniteLossError, match=r"boom: loss became nan at epoch 2, batch 0"):
        fit(Exploding(), _data(), epochs=3, name="boom", device="cpu", progress=False)


def test_a_seed_fixes_a_run_on_cpu():
    def run(seed):
        torch.manual_seed(seed)
        model = VAE((1, 8, 8))
        fit(model, _data(), epochs=2, batch_size=16, device="cpu", seed=seed, progress=False)
        return model.repair(torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(9)))

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_checkpoints_carry_epoch_and_learning_rate(tmp_path):
    history = fit(VAE((1, 8, 8)), _data(), epochs=2, lr=0.005, device="cpu",
                  checkpoint_dir=tmp_path, progress=False)
    assert [p.name for p in history.checkpoints] == ["checkpoint-1.pt", "checkpoint-2.pt"]
    saved = torch.load(history.checkpoints[-1], map_location="cpu", weights_only=True)
    assert saved["lr"] == 0.005 and saved["epoch"] == 2 and "model" in saved
    assert history.samples_per_second > 0 and len(history.losses) == 2


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_bad_training_arguments_are_refused():
    with pytest.raises(ConfigError):
        fit(VAE((1, 8, 8)), _data(), epochs=0, device="cpu")
    with pytest.raises(ConfigError, match="optimizer"):
        fit(VAE((1, 8, 8)), _data(), epochs=1, device="cpu", optimizer="lbfgs")


class _Normed(torch.nn.Module):
    """BatchNorm on the input, then a linear classifier: the layer's statistics are those of
    the data, whatever the weights."""

    def __init__(self):
        super().__init__()
        self.norm, self.fc = torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.norm(x))

    def training_loss(self, batch, **_):
        return torch.nn.functional.cross_entropy(self(batch[0]), batch[1])


def test_precise_batchnorm_sets_the_running_statistics_to_the_datas():
    x = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [4.0, 4.0, 4.0], [6.0, 2.0, 2.0]],
                 np.float32)
    data = tensor_dataset(x, np.array([0, 1, 0, 1]))
    plain = _Normed()
    fit(plain, data, epochs=2, batch_size=2, lr=0.1, optimizer="sgd", device="cpu",
        progress=False)
    model = _Normed()
    fit(model, data, epochs=2, batch_size=2, lr=0.1, optimizer="sgd", device="cpu",
        precise_bn=True, progress=False)
    # by hand, batches (rows 0-1, rows 2-3) in order: the mean of the batch means, and of the
    # batches' unbiased variances (column 1: 0 and 2)
    np.testing.assert_allclose(model.norm.running_mean.numpy(), [3.0, 2.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(model.norm.running_var.numpy(), [2.0, 1.0, 2.0], atol=1e-5)
    assert model.norm.momentum == 0.1 and not model.training
    # the default keeps training's running averages (4 updates with momentum 0.1, from 0)
    assert (plain.norm.running_mean.numpy() < 1.5).all()


@pytest.mark.parametrize("checkpoints", [False, True])
def test_precise_batchnorm_runs_before_each_checkpoint_or_once_at_the_end(
        tmp_path, monkeypatch, checkpoints):
    from glitchbook import training

    calls = []  # per recompute: the weights it saw, and the checkpoints already saved

    def recompute(model, *args, **kwargs):
        calls.append((model.fc.weight.detach().clone(), len(list(tmp_path.glob("*.pt")))))

    monkeypatch.setattr(training, "recompute_batchnorm", recompute)
    model = _Normed()
    data = tensor_dataset(np.eye(3, dtype=np.float32).repeat(2, 0), np.array([0, 1] * 3))
    fit(model, data, epochs=3, batch_size=2, device="cpu", precise_bn=True, progress=False,
        checkpoint_dir=tmp_path if checkpoints else None)
    assert [saved for _, saved in calls] == ([0, 1, 2] if checkpoints else [0])
    assert torch.equal(calls[-1][0], model.fc.weight)  # the last one sees the trained weights


def test_convolution_weights_train_channels_last_and_compute_as_before():
    from glitchbook.models.classifiers import BinaryCNN

    torch.manual_seed(0)
    model = BinaryCNN(2)
    reference = BinaryCNN(2)
    reference.load_state_dict(model.state_dict())
    x = torch.rand(8, 1, 28, 28)
    fit(model, tensor_dataset(x.numpy(), np.zeros(8, np.int64)), epochs=1, lr=1e-12,
        device="cpu", progress=False)
    conv = model.body[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference.eval()(x), atol=1e-6, rtol=1e-5)
