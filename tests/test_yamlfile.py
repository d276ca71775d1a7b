"""YAML files: errors naming file, line and key; near-miss keys; refused bombs (issue 19 §5)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2sframe.cli import main as cli_main
from s2sframe.compat.config import BadInput, load_config, yaml_load
from s2sframe.exceptions import ConfigFileError, ConfigWarning
from s2sframe.testing import example_database
from s2sframe.yamlfile import MAX_EXPANDED, parse_yaml, read_yaml

BOMB = "\n".join([
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
    *(f"{b}: &{b} [{', '.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)),
    "",
])  # 9**9 (387 million) values through aliases, 9 lines of text


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("yamldemo")
    example_database(folder / "db.sqlite")
    (folder / "f.py").write_text("def main(segment, config):\n    return {'id': segment.id}\n")
    return folder


def _process(demo: Path, config: Path, out: Path):
    return CliRunner().invoke(cli_main, [
        "process", "-d", f"sqlite:///{demo / 'db.sqlite'}", "-c", str(config),
        "-p", str(demo / "f.py"), "-q", str(out)], catch_exceptions=False)


def test_invalid_unquoted_date_names_file_line_and_key_and_exits_2(demo: Path, tmp_path: Path):
    config = tmp_path / "conf.yaml"
    config.write_text("segments_selection:\n  id: '<5'\nwindow:\n  start: 2021-02-28\n"
                      "  end: 2021-02-30\n")
    result = _process(demo, config, tmp_path / "out.csv")
    assert result.exit_code == 2, result.output
    assert f"Error: {config}, line 5, key 'window.end': invalid date '2021-02-30' (day is out " \
           "of range for month)" in result.output
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(ConfigFileError) as info:  # the same from Python
        yaml_load(config)
    assert (info.value.path, info.value.line, info.value.key) == (str(config), 5, "window.end")
    # in lists too, and dates that exist are dates
    with pytest.raises(ConfigFileError, match=r"x\.yaml, line 3, key 'days\[1\]': invalid date"):
        parse_yaml("days:\n- 2021-01-01\n- 2021-13-01 10:00:00\n", "x.yaml")
    assert str(parse_yaml("d: 2021-02-28\n")["d"]) == "2021-02-28"


def test_syntax_errors_name_the_file_not_unicode_string(demo: Path, tmp_path: Path):
    config = tmp_path / "broken.yaml"
    config.write_text("segments_selection:\n  id: '<5'\n bad: indentation\n")
    result = _process(demo, config, tmp_path / "out.csv")
    assert result.exit_code == 2, result.output
    assert "<unicode string>" not in result.output
    assert f"Error: {config}, line 3, column 2: invalid YAML" in result.output
    with pytest.raises(BadInput) as info:
        load_config(str(config))
    assert "<unicode string>" not in str(info.value) and info.value.line == 3  # type: ignore[attr-defined]


def test_near_miss_keys_are_warned_with_file_and_line(demo: Path, tmp_path: Path):
    config = tmp_path / "typo.yaml"
    config.write_text("snr_threshold: 3\nsegment_selection:\n  id: '<5'\n"
                      "advanced_settings:\n  num_process: 2\n  my_own_key: 1\n")
    result = CliRunner().invoke(cli_main, [
        "process", "-d", f"sqlite:///{demo / 'db.sqlite'}", "-c", str(config),
        "-p", str(demo / "f.py"), "-q", str(tmp_path / "out.csv")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert lines == [
        f"Warning: {config}, line 2: unknown key 'segment_selection' (ignored): did you mean "
        "'segments_selection'?",
        f"Warning: {config}, line 5: unknown key 'advanced_settings.num_process' (ignored): "
        "did you mean 'advanced_settings.num_processes'?",
    ]
    # from Python: a ConfigWarning (also for a dict); the user's own keys are not warned
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_config(config)
    assert [(w.category, str(w.message)) for w in caught] == [
        (ConfigWarning, line.removeprefix("Warning: ")) for line in lines]
    with pytest.warns(ConfigWarning, match="config: unknown key 'segment_selection'"):
        load_config({"segment_selection": {}, "snr_threshold": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config({"segments_selection": {}, "snr_threshold": 3, "segment": 1})


def test_non_utf8_file_is_refused_naming_file_and_line(demo: Path, tmp_path: Path):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("snr_threshold: 3\nstation: 'Zürich'\n".encode("latin-1"))
    result = _process(demo, config, tmp_path / "out.csv")
    assert result.exit_code == 2, result.output
    assert f"Error: {config}, line 2: not UTF-8 text (byte 0xfc" in result.output
    assert read_yaml(_write(tmp_path / "bom.yaml", b"\xef\xbb\xbfa: 1\n")) == {"a": 1}


def test_alias_bombs_and_recursive_aliases_are_refused(tmp_path: Path):
    path = _write(tmp_path / "bomb.yaml", BOMB.encode())
    t0 = time.perf_counter()
    with pytest.raises(ConfigFileError, match=rf"bomb\.yaml, line \d: aliases \(\*name\) expand "
                                              rf"to more than {MAX_EXPANDED} values"):
        yaml_load(path)
    assert time.perf_counter() - t0 < 5  # refused, not expanded
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigFileError, match="recursive"):
        read_yaml(path)
    # aliases of ordinary use are fine
    assert parse_yaml("base: &b {x: 1}\nother: *b\nmerged:\n  <<: *b\n  y: 2\n") == {
        "base": {"x": 1}, "other": {"x": 1}, "merged": {"x": 1, "y": 2}}


def test_show_configuration_text_errors_name_line_and_key():
    with pytest.raises(ConfigFileError, match="the configuration, line 1, key 'when': invalid"):
        parse_yaml("when: 2021-02-30\n", "the configuration")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
