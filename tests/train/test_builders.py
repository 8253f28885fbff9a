"""kit.train.builders: the fold groups recorded beside the OOF images."""

from kit.sample import make_sample
from kit.train.builders import fold_groups, fold_items
from kit.train.config import TrainConfig


def test_fold_groups_name_each_image_s_group_and_refuse_unknown_ids(tmp_path):
    data = tmp_path / "data"
    make_sample("bkai-igh-neopolyp", data, n=8, size=64, seed=0)
    config = TrainConfig(competition="bkai-igh-neopolyp", data_dir=str(data))
    ids = [p.stem for p in sorted((data / "train_gt" / "train_gt").glob("*.jpeg"))][:3]
    items = fold_items(config)[0]
    assert fold_groups(config, items, ids) == ("id", ids)  # NeoPolyp folds are grouped by image
    assert fold_groups(config, items, ["not-an-image"]) is None  # e.g. tile entries
    assert fold_groups(config, items.drop(columns="id"), ids) is None
