"""Declared hyperparameters: rules in words, checks with one error shape, and the Config."""

from __future__ import annotations

import pickle

import pytest

from hpstudy.config import Bool, Choice, Config, Float, Int, Space
from hpstudy.errors import ConfigError
from hpstudy.tasks import get_task

DROPOUT = Float("dropout", 0.0, "drop probability", low=0.0, high=1.0, high_open=True)
LR = Float("lr", 0.001, "learning rate", low=0.0, low_open=True, log=True)
LAYERS = Int("layers", 2, "hidden layers", low=1)
KERNEL = Int("kernel", 3, "kernel size", low=1, high=7)
RESIDUAL = Bool("residual", False, "skip connections")
NORM = Choice("norm", "batch", ("batch", "layer", "none"), "normalization")


@pytest.mark.parametrize(("param", "rule"), [
    (DROPOUT, "a float in [0, 1)"), (LR, "a float > 0"), (LAYERS, "an int >= 1"),
    (KERNEL, "an int in [1, 7]"), (RESIDUAL, "true or false"),
    (NORM, "one of batch, layer, none"),
    (Float("t", 1.0, "", low=0.5, low_open=True, high=2.5), "a float in (0.5, 2.5]"),
    (Float("u", 1.0, "", high=10.0, high_open=True), "a float < 10"),
])
def test_rule_wording_follows_the_declaration(param, rule) -> None:
    """Each kind and bound reads as the error messages and `hpstudy tasks` state it."""
    assert param.rule == rule


@pytest.mark.parametrize(("param", "value", "message"), [
    (DROPOUT, 1.0, "The 'dropout' hyperparameter must be a float in [0, 1). Got 1.0."),
    (DROPOUT, -0.1, "The 'dropout' hyperparameter must be a float in [0, 1). Got -0.1."),
    (DROPOUT, "abc", "The 'dropout' hyperparameter must be a float in [0, 1). Got 'abc'."),
    (DROPOUT, True, "Got True"),
    (DROPOUT, float("nan"), "Got nan"),
    (LR, 0.0, "The 'lr' hyperparameter must be a float > 0. Got 0.0."),
    (LR, -1, "The 'lr' hyperparameter must be a float > 0. Got -1."),
    (LAYERS, 1.5, "must be an int >= 1. Got 1.5."),
    (LAYERS, 0, "must be an int >= 1. Got 0."),
    (KERNEL, 8, "must be an int in [1, 7]. Got 8."),
    (RESIDUAL, 1, "The 'residual' hyperparameter must be true or false. Got 1."),
    (NORM, "group", "must be one of batch, layer, none. Got 'group'."),
    (NORM, None, "Got None"),
])
def test_check_refuses_with_one_line(param, value, message) -> None:
    """A value outside its declaration: one line naming the parameter, the rule and the value."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        param.check(value)


@pytest.mark.parametrize(("param", "value", "checked"), [
    (DROPOUT, 0, 0.0), (DROPOUT, 0.999, 0.999), (KERNEL, 7, 7), (RESIDUAL, True, True),
    (NORM, "none", "none"), (Float("m", None, "", low=0.0, high=1.0), None, None)])
def test_check_accepts_and_canonicalizes(param, value, checked) -> None:
    """Bounds are inclusive unless open; an int where a float is declared becomes a float;
    None passes only where it is the default."""
    result = param.check(value)
    assert result == checked and type(result) is type(checked)


def test_space_applies_defaults_and_refuses_undeclared_ones() -> None:
    """A task's `defaults` change declared defaults; a default for an undeclared name is an
    error naming the task."""
    space = Space("mine", (LAYERS, DROPOUT), {"layers": 4})
    assert space.defaults() == {"layers": 4, "dropout": 0.0}
    with pytest.raises(ConfigError, match="Task 'mine' sets a default for 'width'"):
        Space("mine", (LAYERS,), {"width": 8})
    with pytest.raises(ConfigError, match="'layers' hyperparameter must be an int >= 1"):
        Space("mine", (LAYERS,), {"layers": 0})
    with pytest.raises(ConfigError, match="Unknown hyperparameter 'depth' for task 'mine'"):
        space.config({"depth": 3})


def test_config_reads_as_attributes_and_is_immutable() -> None:
    """`cfg.dropout` reads a value; Configs are frozen, hashable and picklable."""
    space = Space("mine", (LAYERS, DROPOUT), {})
    cfg = space.config({"dropout": 0.25})
    assert cfg.dropout == 0.25 and cfg.layers == 2
    with pytest.raises(AttributeError, match="immutable"):
        cfg.layers = 3  # type: ignore[misc]
    with pytest.raises(AttributeError, match="declare it in the task's `params`"):
        _ = cfg.width
    assert cfg == space.config({"dropout": 0.25}) and hash(cfg) == hash(cfg.replace())
    assert {cfg: 1}[cfg.replace(dropout=0.25)] == 1 and cfg != cfg.replace(layers=3)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert isinstance(cfg, Config) and cfg.as_dict() == {"layers": 2, "dropout": 0.25}


def test_every_task_has_the_trainer_knobs_and_its_own() -> None:
    """Built-in tasks declare their model's knobs; the trainer's come with every task, with
    defaults that keep the report's training (no schedule, no clipping, momentum unset)."""
    for name, own in (("usps", ("layers", "width", "activation", "loss")),
                      ("houses", ("layers", "width", "activation", "loss", "normalize"))):
        space = get_task(name).space
        assert space.names[:len(own)] == own
        defaults = space.defaults()
        assert {k: defaults[k] for k in ("schedule", "warmup_epochs", "grad_clip", "momentum")} \
            == {"schedule": "none", "warmup_epochs": 0, "grad_clip": 0.0, "momentum": None}
    assert get_task("houses").default_config().epochs == 100
    assert get_task("usps").default_config().epochs == 30
