"""mlp.data.split: the stratified, duplicate-aware, optionally grouped split, and group keys from paths."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mlp.data.split import group_keys, stratified_split


def labelled(counts: dict[int, int], copies: dict[int, list[int]] | None = None):
    """y with counts[c] rows of class c, and unique hashes except the rows in each ``copies`` group."""
    y = np.concatenate([np.full(n, c) for c, n in counts.items()])
    hashes = np.array([f"h{i}" for i in range(len(y))], dtype="U16")
    for group, rows in (copies or {}).items():
        hashes[rows] = f"copy{group}"
    return y, hashes


def writers(n_writers: int, n_classes: int):
    """One image per class from each writer: y, hashes (unique) and groups ("w0", "w1", ...)."""
    y = np.tile(np.arange(n_classes), n_writers)
    groups = np.repeat([f"w{i}" for i in range(n_writers)], n_classes)
    return y, np.array([f"h{i}" for i in range(len(y))]), groups


def test_split_is_stratified_and_a_partition():
    y, hashes = labelled({0: 50, 1: 30, 2: 7})
    split = stratified_split(y, hashes, val_fraction=0.2, rng=np.random.default_rng(0))
    assert np.bincount(y[split.val]).tolist() == [10, 6, 1]  # round(0.2 * 7) = 1
    assert sorted(np.concatenate([split.train, split.val]).tolist()) == list(range(len(y)))
    assert split.flagged.size == 0


def test_split_is_seeded():
    y, hashes = labelled({0: 40, 1: 40})
    a = stratified_split(y, hashes, rng=np.random.default_rng(1))
    b = stratified_split(y, hashes, rng=np.random.default_rng(1))
    c = stratified_split(y, hashes, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a.val, b.val)
    assert not np.array_equal(a.val, c.val)


def test_copies_land_on_one_side_and_conflicts_never_in_val():
    y, hashes = labelled({0: 20, 1: 20}, copies={1: [0, 1, 2], 2: [3, 4], 3: [5, 25]})  # group 3: conflict
    for seed in range(30):
        split = stratified_split(y, hashes, val_fraction=0.5, rng=np.random.default_rng(seed))
        assert not set(hashes[split.train]) & set(hashes[split.val])
        assert split.flagged.tolist() == [5, 25] and {5, 25} <= set(split.train.tolist())
        assert np.bincount(y[split.val], minlength=2).tolist() == [10, 10]


def test_added_images_displace_old_validation_images_at_most_one_for_one():
    """Property tested: after adding k new images to one class (rows inserted in front, so every old row's
    index shifts), each class without new images keeps exactly the same validation images, and in the class
    with new images the old validation images that left validation number at most the new images that
    entered it (there are no duplicates here)."""
    y, hashes = labelled({0: 40, 1: 30, 2: 25})
    def split(y, hashes, seed):
        return stratified_split(y, hashes, val_fraction=0.2, rng=np.random.default_rng(seed))

    for seed in range(20):
        for k in (1, 3, 7):
            before = split(y, hashes, seed)
            added = np.array([f"new{i}" for i in range(k)], dtype="U16")
            y2, hashes2 = np.concatenate([np.full(k, 1), y]), np.concatenate([added, hashes])
            after = split(y2, hashes2, seed)
            assert np.bincount(y2[after.val]).tolist() == [8, int(0.2 * (30 + k) + 0.5), 5]
            for c in (0, 1, 2):
                old_val = set(hashes[before.val][y[before.val] == c])
                new_val = set(hashes2[after.val][y2[after.val] == c])
                if c != 1:
                    assert new_val == old_val
                else:
                    assert len(old_val - new_val) <= len(new_val & set(added))


def test_grouped_split_keeps_each_group_on_one_side_and_stays_stratified():
    y, hashes, groups = writers(50, 4)
    for seed in range(10):
        split = stratified_split(y, hashes, val_fraction=0.1, rng=np.random.default_rng(seed), groups=groups)
        assert not set(groups[split.train]) & set(groups[split.val])
        assert np.bincount(y[split.val]).tolist() == [5, 5, 5, 5]  # five whole writers
        assert sorted(np.concatenate([split.train, split.val]).tolist()) == list(range(len(y)))


def test_grouped_split_never_overfills_a_class():
    """Groups hold different mixes of classes; no class ever gets more than its share, and the first groups
    in the seeded order that fit are taken."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    groups = np.array([f"g{i}" for i in rng.integers(0, 40, 300)])
    hashes = np.array([f"h{i}" for i in range(300)])
    for seed in range(10):
        split = stratified_split(y, hashes, val_fraction=0.2, rng=np.random.default_rng(seed), groups=groups)
        share = np.floor(0.2 * np.bincount(y) + 0.5)
        assert np.all(np.bincount(y[split.val], minlength=3) <= share)
        assert split.val.size >= 0.6 * share.sum()  # groups of ~7 rows leave only small gaps
        assert not set(groups[split.train]) & set(groups[split.val])


def test_a_copy_across_two_groups_joins_them():
    y, hashes, groups = writers(20, 2)
    hashes[0] = hashes[2]  # writer w0's image of class 0 is a copy of writer w1's
    for seed in range(20):
        split = stratified_split(y, hashes, val_fraction=0.2, rng=np.random.default_rng(seed), groups=groups)
        in_val = set(groups[split.val])
        assert ("w0" in in_val) == ("w1" in in_val)
        assert not set(hashes[split.train]) & set(hashes[split.val])


def test_a_label_conflict_keeps_its_whole_group_out_of_validation():
    y, hashes, groups = writers(10, 2)
    hashes[3] = hashes[4]  # w1's class-1 image is w2's class-0 image: two labels for one content
    for seed in range(20):
        split = stratified_split(y, hashes, val_fraction=0.5, rng=np.random.default_rng(seed), groups=groups)
        assert split.flagged.tolist() == [3, 4]
        assert not {"w1", "w2"} & set(groups[split.val])


def test_added_writers_keep_old_validation_writers():
    y, hashes, groups = writers(60, 3)
    for seed in range(10):
        before = stratified_split(y, hashes, val_fraction=0.1, rng=np.random.default_rng(seed), groups=groups)
        y2, h2, g2 = writers(70, 3)  # ten more writers, the same first sixty
        after = stratified_split(y2, h2, val_fraction=0.1, rng=np.random.default_rng(seed), groups=g2)
        old, new = set(groups[before.val]), set(g2[after.val])
        assert len(old - new) <= len(new - set(groups))


def test_split_bad_input():
    y, hashes = labelled({0: 4})
    rng = np.random.default_rng(0)
    for fraction in (-0.1, 1.0):
        with pytest.raises(ValueError, match="val_fraction"):
            stratified_split(y, hashes, val_fraction=fraction, rng=rng)
    with pytest.raises(ValueError, match="class indices"):
        stratified_split(y - 1, hashes, rng=rng)
    with pytest.raises(ValueError, match="one length"):
        stratified_split(y, hashes[:2], rng=rng)
    with pytest.raises(ValueError, match="groups must have the shape"):
        stratified_split(y, hashes, rng=rng, groups=hashes[:3])
    with pytest.raises(TypeError, match="Generator"):
        stratified_split(y, hashes, rng=0)


def test_group_keys_from_paths():
    paths = np.array(["train/1/17.bmp", "train/2/17.bmp", "train/10/alice_3.png", "train/2/sub/bob_1.bmp"])
    assert group_keys(paths, "none") is None
    assert group_keys(paths, "stem").tolist() == ["17", "17", "alice_3", "bob_1"]
    assert group_keys(paths[2:], r"(\w+?)_").tolist() == ["alice", "bob"]
    assert group_keys(paths[2:], r"^[^/_]+").tolist() == ["alice", "sub"]  # no group: the whole match
    with pytest.raises(ValueError, match=r"does not match 'train/1/17.bmp' \(searched in '17.bmp'\)"):
        group_keys(paths, r"(\w+?)_")
    with pytest.raises(ValueError, match=r"matches 'train/1/17.bmp' without its first group taking part"):
        group_keys(paths, r"(\w+?)_|\d+")  # the alternative without the group matched
    with pytest.raises(ValueError, match="nor a valid regular expression"):
        group_keys(paths, "(unclosed")


def test_split_of_hanzi12_keeps_copies_together(hanzi12_root):
    files = sorted((hanzi12_root / "train").glob("*/*.bmp"))
    y = np.array([int(f.parent.name) - 1 for f in files])
    hashes = np.array([hashlib.sha256(f.read_bytes()).hexdigest() for f in files])
    split = stratified_split(y, hashes, val_fraction=0.1, rng=np.random.default_rng(0))
    assert not set(hashes[split.train]) & set(hashes[split.val])
    assert np.bincount(y[split.val]).tolist() == [round(0.1 * n) for n in np.bincount(y)]


def test_writer_split_of_hanzi12(hanzi12_root):
    """By file stem (the writer): no writer and no image content on both sides, and close to 10% of every
    class in validation, as whole writers."""
    files = sorted((hanzi12_root / "train").glob("*/*.bmp"))
    y = np.array([int(f.parent.name) - 1 for f in files])
    hashes = np.array([hashlib.sha256(f.read_bytes()).hexdigest() for f in files])
    groups = group_keys(np.array([f"train/{f.parent.name}/{f.name}" for f in files]), "stem")
    split = stratified_split(y, hashes, val_fraction=0.1, rng=np.random.default_rng(0), groups=groups)
    assert not set(groups[split.train]) & set(groups[split.val])
    assert not set(hashes[split.train]) & set(hashes[split.val])
    per_class = np.bincount(y[split.val], minlength=12)
    assert per_class.max() <= 56 and per_class.min() >= 50, per_class
