import pytest

from glitchbook import ConfigError
from glitchbook.config import config_hash
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
