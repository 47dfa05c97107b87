"""Scale presets, device choice and seeding."""

import random

import numpy as np
import pytest
import torch

from course_utils import config


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("COURSE_SCALE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    return monkeypatch


@pytest.mark.parametrize("name", config.SCALE_NAMES)
def test_scale_from_environment(clean_env, name):
    clean_env.setenv("COURSE_SCALE", name)
    assert config.scale_name() == name
    assert config.get_scale().name == name


def test_scale_is_case_and_space_insensitive(clean_env):
    clean_env.setenv("COURSE_SCALE", " Laptop ")
    assert config.scale_name() == "laptop"


def test_default_scale_depends_on_cuda(clean_env):
    clean_env.setattr(torch.cuda, "is_available", lambda: False)
    assert config.scale_name() == "laptop"
    clean_env.setattr(torch.cuda, "is_available", lambda: True)
    assert config.scale_name() == "gpu"


def test_autograding_means_smoke(clean_env):
    clean_env.setenv("COURSE_SCALE", "gpu")
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    assert config.scale_name() == "smoke"


def test_unknown_scale_lists_the_allowed_ones(clean_env):
    clean_env.setenv("COURSE_SCALE", "huge")
    with pytest.raises(ValueError, match="'huge'.*smoke, laptop, gpu"):
        config.scale_name()
    with pytest.raises(ValueError, match="smoke, laptop, gpu"):
        config.get_scale("tiny")


def test_scales_grow_from_smoke_to_gpu():
    smoke, laptop, gpu = (config.get_scale(n) for n in config.SCALE_NAMES)
    assert smoke.bpe.num_merges < laptop.bpe.num_merges <= gpu.bpe.num_merges
    assert smoke.bpe.num_words <= laptop.bpe.num_words <= gpu.bpe.num_words
    for scale in (smoke, laptop, gpu):
        assert max(scale.bpe.merge_grid) == scale.bpe.num_merges
        assert list(scale.bpe.merge_grid) == sorted(scale.bpe.merge_grid)


def test_device_choice():
    assert config.get_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert config.get_device().type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA is not available"):
            config.get_device("cuda")


def test_seed_everything_repeats_every_generator():
    def draw():
        config.seed_everything(123)
        return random.random(), np.random.rand(), torch.rand(3)

    a, b = draw(), draw()
    assert a[0] == b[0] and a[1] == b[1]
    torch.testing.assert_close(a[2], b[2])
    generator = config.seed_everything(5)
    assert torch.equal(torch.rand(2, generator=generator),
                       torch.rand(2, generator=torch.Generator().manual_seed(5)))


@pytest.mark.parametrize("seed", [-1, 1.5, "7"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="non-negative int"):
        config.seed_everything(seed)


def test_scale_table_lists_every_size_of_every_scale():
    table = config.scale_table()
    assert list(table.columns) == list(config.SCALE_NAMES)
    assert table.loc["bpe.num_merges", "laptop"] == config.SCALES["laptop"].bpe.num_merges
    assert "reverse.train_steps" in table.index and "tiny.d_model" in table.index
