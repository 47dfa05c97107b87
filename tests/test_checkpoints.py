"""The checkpoint cache: stable keys, atomic saves, safe loads, a cross-process lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.checkpoints import (
    FileLock,
    cached_model,
    checkpoint_dir,
    checkpoint_key,
    load_checkpoint,
    save_checkpoint,
)


@dataclass(frozen=True)
class Sizes:
    d_model: int = 32
    n_layers: int = 2


@dataclass(frozen=True)
class Config:
    sizes: Sizes = field(default_factory=Sizes)
    dropout: float = 0.1
    vocab: tuple[str, ...] = ("[PAD]", "[MASK]")


def linear_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return nn.Linear(4, 3).state_dict()


# ----------------------------------------------------------------------------- keys


def test_key_is_stable_and_readable():
    key = checkpoint_key("tiny-bert", config=Config(), scale="small", version=1)
    assert key == checkpoint_key("tiny-bert", version=1, scale="small", config=Config())
    assert key.startswith("tiny-bert-") and len(key) == len("tiny-bert-") + 12
    # dict order does not matter, nested or not
    assert checkpoint_key("m", opts={"a": 1, "b": {"x": 1, "y": 2}}) == checkpoint_key(
        "m", opts={"b": {"y": 2, "x": 1}, "a": 1}
    )


@pytest.mark.parametrize(
    "changed",
    [
        {"config": Config(sizes=Sizes(n_layers=3))},  # a nested field
        {"config": Config(dropout=0.0)},
        {"config": Config(vocab=("[PAD]",))},
        {"scale": "full"},
        {"version": 2},
        {"version": 1.0},  # 1.0 is not 1: types count
        {"extra": None},  # a new part
    ],
)
def test_any_change_gives_another_key(changed):
    parts = {"config": Config(), "scale": "small", "version": 1}
    assert checkpoint_key("m", **parts) != checkpoint_key("m", **{**parts, **changed})


def test_the_name_is_part_of_the_key():
    assert checkpoint_key("bert", version=1) != checkpoint_key("gpt", version=1)


@pytest.mark.parametrize(
    "bad, type_name",
    [({"x": {1, 2}}, "set"), ({"x": [torch.zeros(2)]}, "Tensor"), ({"x": Path("a")}, "Path"),
     ({"x": np.float64(1.0)}, "float64"), ({"x": Config}, "type")],
)
def test_unsupported_types_in_a_key_name_the_type(bad, type_name):
    with pytest.raises(TypeError, match=type_name):
        checkpoint_key("m", **bad)


def test_non_str_dict_keys_and_bad_names_are_refused():
    with pytest.raises(TypeError, match="keys must be str"):
        checkpoint_key("m", opts={1: "a"})
    for name in ["", "../escape", "a/b", "-dash-first", "with space"]:
        with pytest.raises(ValueError, match="file name"):
            checkpoint_key(name, version=1)


# ----------------------------------------------------------------------------- save and load


def test_round_trip(tmp_path):
    state = linear_state()
    metadata = {"losses": [2.5, 1.25], "seconds": 3.0, "steps": 10, "notes": None, "ok": True,
                "nested": {"shape": (4, 3)}}
    path = save_checkpoint(tmp_path / "sub" / "m.pt", state, metadata)
    assert path == tmp_path / "sub" / "m.pt"
    loaded, meta = load_checkpoint(path)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert meta == metadata
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temporary file left


def test_the_file_loads_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", linear_state(), {"loss": 1.0})
    saved = torch.load(path, weights_only=True)
    assert saved["format"] == 1 and saved["metadata"] == {"loss": 1.0}
    assert set(saved["state_dict"]) == {"weight", "bias"}


def test_metadata_none_loads_as_an_empty_dict(tmp_path):
    save_checkpoint(tmp_path / "m.pt", linear_state())
    assert load_checkpoint(tmp_path / "m.pt")[1] == {}


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"loss": np.float64(1.0)}, r"metadata\['loss'\] is a numpy.float64"),
        ({"losses": [1.0, torch.tensor(2.0)]}, r"metadata\['losses'\]\[1\] is a torch.Tensor"),
        ({"when": object()}, "builtins.object"),
        ({3: "x"}, "keys must be str"),
        ([1.0, 2.0], "metadata must be a dict"),
    ],
)
def test_metadata_must_be_json_like(tmp_path, metadata, message):
    with pytest.raises(TypeError, match=message):
        save_checkpoint(tmp_path / "m.pt", linear_state(), metadata)
    assert list(tmp_path.iterdir()) == []


def test_state_dict_must_hold_tensors(tmp_path):
    with pytest.raises(TypeError, match="entry 'w' is a list"):
        save_checkpoint(tmp_path / "m.pt", {"w": [1.0]})


def test_tensors_are_saved_detached_on_the_cpu(tmp_path):
    weight = torch.ones(2, requires_grad=True) * 2  # not a leaf: carries autograd history
    save_checkpoint(tmp_path / "m.pt", {"w": weight})
    loaded = load_checkpoint(tmp_path / "m.pt")[0]["w"]
    assert loaded.device.type == "cpu" and not loaded.requires_grad


def test_a_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    def crash(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")  # some bytes reach the file, then the write fails
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "m.pt", linear_state())
    assert list(tmp_path.iterdir()) == []


def test_a_failed_overwrite_keeps_the_good_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", linear_state(0), {"run": 1})
    good_bytes = path.read_bytes()

    def interrupted(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04")
        raise KeyboardInterrupt  # Ctrl-C mid-save

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, linear_state(1), {"run": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert path.read_bytes() == good_bytes


def test_loading_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9])
def test_a_truncated_file_is_reported_as_damaged(tmp_path, keep):
    path = save_checkpoint(tmp_path / "m.pt", linear_state(), {"loss": 1.0})
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="damaged") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value) and "Delete it" in str(caught.value)


def test_other_files_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(linear_state(), plain)  # a bare state dict, not our format
    with pytest.raises(ValueError, match="not a course_utils checkpoint"):
        load_checkpoint(plain)
    newer = tmp_path / "newer.pt"
    torch.save({"format": 2, "state_dict": {}, "metadata": {}}, newer)
    with pytest.raises(ValueError, match="format 2"):
        load_checkpoint(newer)


class Payload:
    """Unpickling this calls open(marker, "w"): a stand-in for any code an attacker chooses."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_code_is_never_run(tmp_path):
    path, marker = tmp_path / "evil.pt", tmp_path / "code-ran.txt"
    torch.save({"format": 1, "state_dict": {}, "metadata": Payload(marker)}, path)
    with pytest.raises(ValueError, match="damaged or is not a PyTorch checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()


# ----------------------------------------------------------------------------- cached_model


class Recorder:
    """A train function that counts its calls and fills the weights with ``value``."""

    def __init__(self, value: float = 1.0):
        self.calls = 0
        self.value = value

    def __call__(self, model: nn.Module) -> dict:
        self.calls += 1
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(self.value)
        return {"losses": [1.0, 0.5], "run": self.calls}


def small() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.1))


def test_cached_model_trains_once_then_loads(tmp_path, capsys):
    train = Recorder()
    model, meta = cached_model("m", small, train, folder=tmp_path)
    assert train.calls == 1 and meta == {"losses": [1.0, 0.5], "run": 1}
    assert "trained and saved m" in capsys.readouterr().out
    assert (tmp_path / "m.pt").is_file()

    again, meta_again = cached_model("m", small, train, folder=tmp_path)
    assert train.calls == 1  # loaded, not trained
    assert meta_again == meta
    out = capsys.readouterr().out
    assert out == f"loaded m from the checkpoint cache ({tmp_path / 'm.pt'})\n"
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    assert not model.training and not again.training  # eval mode both times


def test_retrain_trains_again(tmp_path, capsys):
    cached_model("m", small, Recorder(1.0), folder=tmp_path, verbose=False)
    train = Recorder(2.0)
    model, _ = cached_model("m", small, train, folder=tmp_path, retrain=True, verbose=False)
    assert train.calls == 1 and torch.all(model[0].weight == 2.0)
    loaded, _ = cached_model("m", small, train, folder=tmp_path, verbose=False)
    assert train.calls == 1 and torch.all(loaded[0].weight == 2.0)  # the new weights were saved
    assert capsys.readouterr().out == ""


def test_a_damaged_checkpoint_is_kept_aside_and_the_model_retrained(tmp_path):
    cached_model("m", small, Recorder(), folder=tmp_path, verbose=False)
    path = tmp_path / "m.pt"
    truncated = path.read_bytes()[:100]
    path.write_bytes(truncated)
    train = Recorder()
    with pytest.warns(UserWarning, match="damaged.*renamed to .*m.pt.damaged"):
        model, _ = cached_model("m", small, train, folder=tmp_path, verbose=False)
    assert train.calls == 1
    assert (tmp_path / "m.pt.damaged").read_bytes() == truncated  # the user's file, kept
    assert load_checkpoint(path)[1]["run"] == 1  # a good checkpoint again


def test_a_checkpoint_of_another_architecture_is_retrained(tmp_path):
    cached_model("m", small, Recorder(), folder=tmp_path, verbose=False)
    train = Recorder()
    with pytest.warns(UserWarning, match="size mismatch"):
        model, _ = cached_model("m", lambda: nn.Sequential(nn.Linear(5, 3)), train, folder=tmp_path,
                                verbose=False)
    assert train.calls == 1 and model[0].weight.shape == (3, 5)
    assert (tmp_path / "m.pt.damaged").is_file()
    assert load_checkpoint(tmp_path / "m.pt")[0]["0.weight"].shape == (3, 5)


def test_missing_keys_also_retrain(tmp_path):
    cached_model("m", small, Recorder(), folder=tmp_path, verbose=False)
    train = Recorder()
    with pytest.warns(UserWarning, match="Missing key"):
        cached_model("m", lambda: nn.Sequential(small(), nn.Linear(3, 1)), train, folder=tmp_path,
                     verbose=False)
    assert train.calls == 1


def test_cached_model_refuses_a_key_with_a_path(tmp_path):
    with pytest.raises(ValueError, match="cannot be used in a file name"):
        cached_model("../m", small, Recorder(), folder=tmp_path)


def test_checkpoint_dir_honours_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert checkpoint_dir() == tmp_path / "checkpoints"
    train = Recorder()
    cached_model("m", small, train, verbose=False)  # no folder: the default one
    assert (tmp_path / "checkpoints" / "m.pt").is_file()
    monkeypatch.delenv("COURSE_CACHE_DIR")
    assert checkpoint_dir().name == "checkpoints"
    assert checkpoint_dir().parent.name == "course_utils"  # the datasets' root


# ----------------------------------------------------------------------------- the lock


def test_a_held_lock_times_out_with_its_path(tmp_path):
    lock_path = tmp_path / "m.pt.lock"
    with FileLock(lock_path):
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="m.pt.lock"):
            with FileLock(lock_path, timeout=0.2, poll=0.05):
                pass
        assert 0.2 <= time.monotonic() - start < 2
    with FileLock(lock_path, timeout=0):  # released: taken at once
        pass


def test_lock_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="timeout"):
        FileLock(tmp_path / "x.lock", timeout=-1)
    with pytest.raises(ValueError, match="poll"):
        FileLock(tmp_path / "x.lock", poll=0)


def _slow_train(model: nn.Module, counter: Path) -> dict:
    with open(counter, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(0.5)
    return {"pid": os.getpid()}


def _load_or_train(folder: str, barrier) -> tuple[str, list]:
    """Build a randomly initialised model, then load or train it, in step with the others."""
    with torch.random.fork_rng(devices=[]):  # leave the test process's global seed alone
        torch.manual_seed(os.getpid())  # each process would train different weights
        barrier.wait(timeout=60)  # all processes ask at the same moment
        model, meta = cached_model(
            "shared", small, lambda m: _slow_train(m, Path(folder) / "counter.txt"),
            folder=folder, verbose=False,
        )
    return json.dumps(meta), [p.tolist() for p in model.parameters()]


def _worker(folder: str, barrier, results) -> None:
    results.put(_load_or_train(folder, barrier))


N_SPAWNED = 1


def test_parallel_processes_train_once_and_share_the_weights(tmp_path):
    # N_SPAWNED fresh processes and this one race for the same key. Each spawned process pays
    # for importing torch (seconds on a busy machine), so keep N_SPAWNED small.
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(N_SPAWNED + 1), context.Queue()
    processes = [context.Process(target=_worker, args=(str(tmp_path), barrier, results))
                 for _ in range(N_SPAWNED)]
    for process in processes:
        process.start()
    try:
        outputs = [_load_or_train(str(tmp_path), barrier)]
        outputs += [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
    finally:
        for process in processes:  # never leave a stuck child behind
            if process.is_alive():
                process.terminate()
    assert len((tmp_path / "counter.txt").read_text().splitlines()) == 1  # trained exactly once
    assert all(output == outputs[0] for output in outputs)  # same metadata and weights
