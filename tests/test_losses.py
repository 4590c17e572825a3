"""Losses against values computed by hand on a tiny tensor, and their invariances."""

from __future__ import annotations

import math

import pytest
import torch

from eoxai.losses import build_loss, class_weights, cross_entropy, focal_loss, rift_loss, tversky_loss

LN3 = math.log(3.0)


@pytest.fixture
def tiny() -> tuple[torch.Tensor, torch.Tensor]:
    """Three pixels, two classes: p = (1/4, 3/4) at A (class 1) and B (class 0); C is ignored."""
    logits = torch.tensor([[[[0.0, 0.0, 5.0]], [[LN3, LN3, -5.0]]]])  # (1, 2, 1, 3)
    target = torch.tensor([[[1, 0, -1]]])  # (1, 1, 3)
    return logits, target


W = torch.tensor([1.0, 3.0])


def test_class_weights_by_hand() -> None:
    w = class_weights([30, 10, 0])
    assert torch.allclose(w, torch.tensor([40 / 60, 40 / 20, 0.0]))
    assert class_weights([1000, 1], max_weight=10.0)[1] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="no labelled pixel"):
        class_weights([0, 0])


def test_cross_entropy_by_hand(tiny) -> None:
    logits, target = tiny
    # A: -log 3/4, weight 3; B: -log 1/4, weight 1; mean weighted by class weights
    expected = (3 * math.log(4 / 3) + 1 * math.log(4)) / 4
    assert float(cross_entropy(logits, target, W)) == pytest.approx(expected, rel=1e-6)
    assert float(cross_entropy(logits, target)) == pytest.approx((math.log(4 / 3) + math.log(4)) / 2, rel=1e-6)


def test_focal_by_hand(tiny) -> None:
    logits, target = tiny
    expected = (3 * (1 / 4) ** 2 * math.log(4 / 3) + 1 * (3 / 4) ** 2 * math.log(4)) / 4
    assert float(focal_loss(logits, target, W, gamma=2.0)) == pytest.approx(expected, rel=1e-6)


def test_focal_gamma0_is_weighted_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 8, 8, generator=g)
    target = torch.randint(-1, 4, (2, 8, 8), generator=g)
    w = torch.tensor([0.5, 1.0, 2.0, 4.0])
    assert float(focal_loss(logits, target, w, gamma=0.0)) == pytest.approx(float(cross_entropy(logits, target, w)),
                                                                            rel=1e-5)


def test_tversky_by_hand(tiny) -> None:
    logits, target = tiny
    # class 0: TP = 1/4 (B), FP = 1/4 (A), FN = 3/4 (B); class 1: TP = 3/4 (A), FP = 3/4 (B), FN = 1/4 (A)
    ti0 = 0.25 / (0.25 + 0.3 * 0.25 + 0.7 * 0.75)
    ti1 = 0.75 / (0.75 + 0.3 * 0.75 + 0.7 * 0.25)
    expected = ((1 - ti0) + (1 - ti1)) / 2
    assert float(tversky_loss(logits, target, alpha=0.3, beta=0.7)) == pytest.approx(expected, rel=1e-5)


def test_rift_is_weighted_focal_plus_tversky(tiny) -> None:
    logits, target = tiny
    expected = 0.25 * float(focal_loss(logits, target, W)) + 0.75 * float(tversky_loss(logits, target))
    assert float(rift_loss(logits, target, W, lam=0.25)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["ce", "focal", "tversky", "rift"])
def test_ignored_pixels_do_not_count(name: str, tiny) -> None:
    logits, target = tiny
    fn = build_loss(name, W)
    changed = logits.clone()
    changed[..., 2] = torch.tensor([-7.0, 9.0]).view(1, 2, 1)  # the ignored pixel
    assert float(fn(logits, target)) == pytest.approx(float(fn(changed, target)), rel=1e-6)
    all_ignored = torch.full_like(target, -1)
    value = fn(logits.requires_grad_(), all_ignored).detach()
    assert torch.isfinite(value) and value.item() == 0.0


def test_unknown_loss_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="rift"):
        build_loss("dice")
