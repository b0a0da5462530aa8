"""Settings: defaults < YAML config file < command-line flags; every key checked, errors name the key."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from acc.config import KEYS, ConfigError, Settings, load_config, resolve_settings

GOOD = {
    "backend": "opencv",
    "model": "test-linear",
    "model_dir": "~/acc-models",
    "batch_size": 16,
    "workers": 3,
    "threads": 2,
    "format": "png",
    "quality": 80,
    "overwrite": True,
    "max_pixels": 5_000_000,
    "memory_limit": 6 << 30,
    "strict": True,
    "saturation": 1.3,
    "ray": "ray://head.example:10001",
    "metadata": "strip",
    "provenance": False,
    "c2pa_sign": ["~/c2pa/chain.pem", "~/c2pa/signer.key"],
}

BAD = {
    "backend": [5, "", None],
    "model": [["a"], ""],
    "model_dir": [3, ""],
    "batch_size": [0, 257, "4", 2.5, True],
    "workers": [0, 65, "two"],
    "threads": [-1, 257, 1.0],
    "format": ["gif", "JPEG", 1],
    "quality": [0, 101, "high"],
    "overwrite": ["yes", 1, None],
    "max_pixels": [0, -5, "100MP", 1e8],
    "memory_limit": [0, -1, "lots", "6X", "G", True],
    "strict": ["yes", 1],
    "saturation": [-0.1, 4.5, "high", True],
    "ray": ["", "  ", 6379, True],
    "metadata": ["keep", "COPY", True],
    "provenance": ["no", 0],
    "c2pa_sign": ["chain.pem", ["chain.pem"], ["a", "b", "c"], [1, 2], ["", "key.pem"]],
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "acc.yaml"
    path.write_text(text)
    return path


def test_the_tables_name_real_settings() -> None:
    assert set(GOOD) <= set(KEYS) and set(BAD) <= set(KEYS)


def every_key() -> dict:
    """GOOD, plus the default of any setting added since this table was written: a file with every key."""
    defaults = {f.name: getattr(Settings(), f.name) for f in fields(Settings)}
    return {**{k: v for k, v in defaults.items() if v is not None and not isinstance(v, Path)}, **GOOD}


def test_defaults() -> None:
    s = resolve_settings(None, {})
    assert (s.model, s.batch_size, s.format, s.quality, s.overwrite) == (None, 4, "jpeg", 95, False)
    assert s.backend in ("opencv", "cpu")
    assert s.max_pixels == 100_000_000
    assert 2 <= s.workers <= 8


def test_the_default_batch_size_depends_on_the_backend(tmp_path: Path) -> None:
    """A GPU is busy only with whole batches: 64 photos a batch on cuda, unless a flag or the file says."""
    assert resolve_settings(None, {"backend": "cuda"}).batch_size == 64
    assert resolve_settings(None, {"backend": "cpu"}).batch_size == 4
    assert resolve_settings(None, {"backend": "cuda", "batch_size": 8}).batch_size == 8
    assert resolve_settings(write(tmp_path, "backend: cuda\n"), {}).batch_size == 64
    assert resolve_settings(write(tmp_path, "backend: cuda\nbatch_size: 16\n"), {}).batch_size == 16


def test_config_file_with_every_key(tmp_path: Path) -> None:
    import yaml

    config = every_key()
    assert set(config) == set(KEYS)
    s = resolve_settings(write(tmp_path, yaml.safe_dump(config)), {})
    for key, value in config.items():
        if key == "model_dir":
            assert s.model_dir == Path(value).expanduser()
        elif key == "c2pa_sign":
            assert s.c2pa_sign == tuple(Path(v).expanduser() for v in value)
        else:
            assert getattr(s, key) == value, key


@pytest.mark.parametrize("text,size", [("6G", 6 << 30), ("512M", 512 << 20), ("1.5g", 3 << 29), ("100000", 100000),
                                       ("2GiB", 2 << 30), (" 64k ", 64 << 10)])  # fmt: skip
def test_memory_limit_takes_sizes_with_units(tmp_path: Path, text: str, size: int) -> None:
    assert resolve_settings(write(tmp_path, f"memory_limit: '{text}'\n"), {}).memory_limit == size
    assert resolve_settings(None, {"memory_limit": text}).memory_limit == size


def test_flags_win_over_the_file_and_none_means_not_given(tmp_path: Path) -> None:
    path = write(tmp_path, "format: png\nquality: 70\nbatch_size: 8\n")
    s = resolve_settings(path, {"format": "jpeg", "quality": None, "batch_size": 2})
    assert (s.format, s.quality, s.batch_size) == ("jpeg", 70, 2)


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert resolve_settings(write(tmp_path, "# nothing set\n"), {}) == Settings()


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "batch_size: 4\nbatchsize: 8\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: unknown key 'batchsize' (known: backend, ")


@pytest.mark.parametrize("key,value", [(k, v) for k, values in BAD.items() for v in values])
def test_bad_value_is_named(tmp_path: Path, key: str, value: object) -> None:
    import yaml

    path = write(tmp_path, yaml.safe_dump({key: value}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"'{key}'" in str(err.value) and str(path) in str(err.value)
    if value is not None:  # a flag's None means "not given"; any other value gets the same check
        with pytest.raises(ConfigError, match=f"'{key}'"):
            resolve_settings(None, {key: value})


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "a: [1\n"])
def test_file_must_be_a_mapping_of_settings(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "absent.yaml")


def test_settings_fields_are_the_keys() -> None:
    assert KEYS == tuple(f.name for f in fields(Settings))
