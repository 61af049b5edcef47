"""Replacing an index never deletes the user's own files that sit inside its folder."""

from __future__ import annotations

import pytest
from cli_checks import check_error, check_ok

from nlu_toolkit.errors import OutputError
from nlu_toolkit.search.index import SemanticIndex


def test_index_add_keeps_a_users_file_inside_the_index_folder(nlu, st_model, data_dir, tmp_path):
    index = tmp_path / "idx"
    check_ok(nlu("index", "build", data_dir / "corpus.jsonl", "--out", index, "--model", st_model))
    (index / "NOTES.md").write_text("keep\n", encoding="utf-8")
    more = tmp_path / "more.txt"
    more.write_text("one more document\n", encoding="utf-8")
    check_error(nlu("index", "add", index, more), 2, contains="NOTES.md")
    assert (index / "NOTES.md").read_text(encoding="utf-8") == "keep\n"
    overwrite = nlu("index", "build", more, "--out", index, "--model", st_model, "--overwrite")
    check_error(overwrite, 2, contains="NOTES.md")
    assert (index / "NOTES.md").is_file()


def test_library_save_over_an_index_with_foreign_files_is_refused(st_model, tmp_path):
    folder = tmp_path / "idx"
    with SemanticIndex.build(["a cat", "a dog"], st_model) as index:
        index.save(folder)
        (folder / "sub").mkdir()
        with pytest.raises(OutputError, match="sub"):
            index.save(folder, overwrite=True)
    assert (folder / "sub").is_dir()
