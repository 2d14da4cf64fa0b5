"""`embedsearch serve` refuses, before it binds, what would otherwise start a server that
cannot answer: a path with no index (it used to start and show a greyed-out entry) and two
folders with the same name (the API names an index by its folder, so one hid the other).
Each gets one line naming what was wrong and a non-zero exit, from the real entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def serve(*names, home):
    env = {**os.environ, "EMBEDSEARCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "embedsearch", "serve", *map(str, names),
                           "--port", "0"], capture_output=True, text=True, env=env, timeout=120)


def one_line_error(result) -> str:
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "explorer:" not in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr


def test_a_path_with_no_index_is_refused(tmp_path):
    missing = tmp_path / "nowhere" / "glove"
    assert f"no index at {missing}" in one_line_error(serve(missing, home=tmp_path))
    (tmp_path / "empty").mkdir()
    assert "no index at" in one_line_error(serve(tmp_path / "empty", home=tmp_path))


def test_two_folders_with_one_name_are_refused_naming_both(tmp_path, word_index_path):
    copy = tmp_path / "elsewhere" / word_index_path.name
    shutil.copytree(word_index_path, copy)
    line = one_line_error(serve(word_index_path, copy, home=tmp_path))
    assert "same folder name" in line and str(word_index_path) in line and str(copy) in line
