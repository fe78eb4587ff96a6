import inspect

import papermill
import pytest

from glitchbook import ConfigError, methods
from glitchbook.checks import (
    check_choices,
    check_classes,
    check_device,
    check_normal_classes,
    check_range,
)
from glitchbook.config import MethodConfig, config_hash
from glitchbook.methods import clsvae


def test_profiles_give_presets_and_overrides_are_checked():
    smoke = clsvae.Config.for_run("digits", "smoke")
    default = clsvae.Config.for_run("digits", "default")
    paper = clsvae.Config.for_run("fashion-mnist", "paper")
    assert smoke.epochs < default.epochs <= paper.epochs == 100
    assert clsvae.Config.for_run("shapes", "paper").epochs == 200
    assert clsvae.Config.for_run("digits", "smoke", epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="unknown option"):
        clsvae.Config.for_run("digits", "smoke", epoch=3)
    with pytest.raises(ConfigError, match="expects int"):
        clsvae.Config.for_run("digits", "smoke", epochs="many")
    with pytest.raises(ConfigError, match="unknown profile"):
        clsvae.Config.for_run("digits", "huge")
    with pytest.raises(ConfigError, match="unknown model"):
        clsvae.Config.for_run("digits", "smoke", models=("VAE", "GAN"))
    with pytest.raises(ConfigError, match="between 0 and 1"):
        clsvae.Config.for_run("digits", "smoke", corruption=1.2)


def test_config_hash_is_stable_and_sensitive():
    a = clsvae.Config.for_run("digits", "smoke").as_dict()
    assert config_hash(a) == config_hash(dict(a))
    assert config_hash(a) != config_hash({**a, "seed": 1})


COMMON = {"dataset", "profile", "seed", "device", "run_dir", "run_key"}  # every notebook's


@pytest.mark.parametrize("name", list(methods.METHODS))
def test_each_notebook_declares_exactly_what_its_method_accepts(root, name):
    declared = papermill.inspect_notebook(str(root / methods.get(name).notebook))
    accepted = inspect.signature(methods.get(name).module.from_parameters).parameters
    assert set(declared) == COMMON - {"dataset", "profile", "seed"} | set(accepted)
    options = set(accepted) - {"dataset", "profile", "seed"}
    assert all(declared[o]["default"] == "None" for o in options), "presets live in the library"
    assert all(accepted[o].default is None for o in options)


@pytest.mark.parametrize("name", list(methods.METHODS))
def test_every_method_follows_the_chapter_protocol(name):
    module = methods.get(name).module
    assert issubclass(module.Config, MethodConfig) and module.Config.method == name
    for step in ("prepare", "run", "summarise", "from_parameters"):
        assert callable(getattr(module, step)), step
    assert "device" in inspect.signature(module.run).parameters


def test_checks_name_the_value_and_what_is_valid():
    assert check_classes((0, 9), 10, "digits") == (0, 9)
    with pytest.raises(ConfigError, match="class 10 is not a class of digits: it has 10 classes"):
        check_classes((10,), 10, "digits")
    with pytest.raises(ConfigError, match="at least one class must stay novel"):
        check_normal_classes(range(4), 4, "shapes")
    assert check_normal_classes([3, 1, 3], 10, "digits") == (1, 3)
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        check_device("tpu")
    with pytest.raises(ConfigError, match="unknown model"):
        check_choices(("VAE", "GAN"), ("VAE",), "model")
    with pytest.raises(ConfigError, match="change_at must lie in"):
        check_range(9, 1, 8, "change_at")
