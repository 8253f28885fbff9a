"""kit.artifacts.oof: the oof.npz format round-trips every field, fold groups included."""

import numpy as np

from kit.artifacts.oof import OofImage, read_oof, write_oof


def test_oof_file_keeps_fold_groups_and_reads_files_without_them(tmp_path):
    probs, targets = np.full((1, 4, 4), 200, np.uint8), np.zeros((1, 4, 4), np.uint8)
    images = [OofImage("a", probs, targets, "kidney", fold_group="s1", fold_column="sequence"),
              OofImage("b", probs, targets, "kidney", fold_group="s2", fold_column="sequence")]
    back = read_oof(write_oof(tmp_path / "oof.npz", images))
    assert [(im.id, im.group, im.fold_group, im.fold_column) for im in back] == [
        ("a", "kidney", "s1", "sequence"), ("b", "kidney", "s2", "sequence")]
    assert np.array_equal(back[0].probs, probs)
    with np.load(tmp_path / "oof.npz") as data:  # a file from before fold groups were recorded
        older = {k: data[k] for k in data.files if k not in ("fold_groups", "fold_columns")}
    np.savez(tmp_path / "older.npz", **older)
    assert [(im.fold_group, im.fold_column) for im in read_oof(tmp_path / "older.npz")] == [("", "")] * 2
