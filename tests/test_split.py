"""The spatial block split: no leakage across splits, every class where possible, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from eoxai.split import BUFFER, TEST, TRAIN, UNUSED, VAL, apply_buffer, block_split, class_balance, min_distance_between


@pytest.mark.parametrize("buffer", [0, 4, 8])
def test_no_training_pixel_borders_a_test_pixel(sen1floods11_sample, buffer):
    label = sen1floods11_sample["label"].values
    split = block_split(label, block_size=128, buffer=buffer, seed=11, n_classes=2)
    for a, b in ((TRAIN, TEST), (TRAIN, VAL), (VAL, TEST)):
        assert min_distance_between(split, a, b) == 2 * buffer + 1


def test_split_is_blocked_seeded_and_balanced(sen1floods11_sample):
    label = sen1floods11_sample["label"].values
    a = block_split(label, block_size=128, buffer=8, seed=5, n_classes=2)
    b = block_split(label, block_size=128, buffer=8, seed=5, n_classes=2)
    c = block_split(label, block_size=128, buffer=8, seed=6, n_classes=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    blocks = a.reshape(4, 128, 4, 128).transpose(0, 2, 1, 3).reshape(16, -1)
    for blk in blocks:  # one split per block, apart from its buffer
        assert len(set(np.unique(blk)) - {BUFFER}) == 1
    per_split = [sum(int((set(np.unique(blk)) - {BUFFER}) == {s}) for blk in blocks) for s in (TRAIN, VAL, TEST)]
    assert per_split == [10, 3, 3]  # 0.6/0.2/0.2 of 16 blocks = 9.6/3.2/3.2, rounded to sum 16
    table = class_balance(label, a, ["not_water", "water"])
    assert (table["pixels"] > 0).all()  # both classes in every split


def test_remainder_rows_are_unused(eolearn_sample):
    label = eolearn_sample["label"].values  # 101 x 100
    split = block_split(label, block_size=32, buffer=2, seed=0, n_classes=5)
    assert (split[96:, :] == UNUSED).all() and (split[:, 96:] == UNUSED).all()
    assert set(np.unique(split[:96, :96])) <= {TRAIN, VAL, TEST, BUFFER}


def test_split_errors():
    label = np.zeros((64, 64), dtype=np.int16)
    with pytest.raises(ValueError, match="only 1 block"):
        block_split(label, block_size=64, buffer=2)
    with pytest.raises(ValueError, match="buffer"):
        block_split(label, block_size=16, buffer=8)
    with pytest.raises(ValueError, match="fractions"):
        block_split(label, block_size=16, buffer=2, fractions=(0.5, 0.5, 0.5))


def test_buffer_marks_both_sides():
    split = np.zeros((10, 10), dtype=np.int8)
    split[:, 5:] = TEST
    out = apply_buffer(split, 1)
    assert (out[:, 4:6] == BUFFER).all() and (out[:, :4] == TRAIN).all() and (out[:, 6:] == TEST).all()
