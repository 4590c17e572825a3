"""All-class batched Grad-CAM: equal to captum's LayerGradCam class by class, and clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam

from eoxai.errors import BandCountError
from eoxai.models import build_model
from eoxai.tiles import TileDataset
from eoxai.xai.checks import ModelModeError
from eoxai.xai.gradcam import (
    AllClassGradCAM,
    StrategyError,
    all_class_scores,
    class_scores,
    gradcam_all_classes,
    last_conv_layer,
    score_function,
)
from eoxai.xai.maps import class_map
from eoxai.xai.targets import ScalarOutput

CLASSES = ["water", "not_water", "cloud"]  # three classes so that no two CAMs are tied by symmetry


@pytest.fixture(scope="module")
def tiles(sen1floods11_cube) -> torch.Tensor:
    """Two real 32 x 32 test crops of the fused Sentinel-1 + Sentinel-2 cube, in float64."""
    ds = TileDataset(sen1floods11_cube, "test", 64)
    return torch.stack([ds[i]["image"][:, :32, :32] for i in range(2)]).double()


@pytest.fixture(scope="module")
def model64() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("manet_mit", {"s1": 2, "s2": 13}, CLASSES, "b0").double().eval()


def captum_per_class(model, layer, x, score, classes):
    """The seed's way: one captum LayerGradCam call per class, upsampled as captum does."""
    fn = score_function(score)
    forward = ScalarOutput(model, lambda z: torch.stack([fn(z, c) for c in range(z.shape[1])], dim=1))
    module = dict(model.named_modules())[layer]
    maps = torch.cat([LayerGradCam(forward, module).attribute(x, target=c) for c in classes], dim=1)
    return F.interpolate(maps, size=x.shape[-2:], mode="nearest")


@pytest.mark.parametrize("layer", ["segmentation_head.0", "decoder.blocks.3"])
@pytest.mark.parametrize("score", ["softmax_sum", "masked_logit"])
def test_equals_captum_class_by_class_in_float64(model64, tiles, layer, score):
    ours = AllClassGradCAM(model64, layer, score=score).attribute(tiles)
    ref = captum_per_class(model64, layer, tiles, score, range(3))
    assert ours.shape == (2, 3, 32, 32)
    assert ref.abs().max() > 1e-3  # the maps are not trivially zero
    assert (ours - ref).abs().max().item() < 1e-5
    assert (ours[:, 0] - ref[:, 1]).abs().max() > 1e-3  # and the classes are not interchangeable


@pytest.mark.parametrize("strategy", ["loop", "vmap", "chunked", "probe", "auto"])
def test_every_backward_strategy_equals_captum_in_float64(model64, tiles, strategy):
    ref = captum_per_class(model64, "decoder.blocks.3", tiles, "softmax_sum", range(3))
    ours = AllClassGradCAM(model64, "decoder.blocks.3", strategy=strategy, chunk=2).attribute(tiles)
    assert (ours - ref).abs().max().item() < 1e-5 * ref.abs().max().item()


@pytest.mark.parametrize("score", ["softmax_sum", "softmax_mean", "masked_logit"])
def test_shared_scores_equal_the_per_class_scores(score):
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    assert torch.allclose(all_class_scores(logits, [3, 0, 2], score),
                          class_scores(logits, [3, 0, 2], score_function(score)), atol=1e-12)
    mask = torch.rand(2, 8, 8) > 0.5
    assert torch.allclose(all_class_scores(logits, [1, 2], "masked_logit", mask),
                          class_scores(logits, [1, 2], score_function("masked_logit", mask)), atol=1e-12)


def test_nothing_below_the_layer_enters_autograd(model64, tiles):
    """No encoder weight is saved for backward: the graph starts at the explained layer."""
    encoder = {p.data_ptr() for p in model64.encoder.parameters()}
    head = {p.data_ptr() for p in model64.segmentation_head.parameters()}
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        gradcam_all_classes(model64, "decoder.blocks.3", tiles)
    assert saved and head & set(saved)  # the layers above the explained one are recorded ...
    assert not encoder & set(saved)  # ... the encoder below it is not
    with torch.no_grad():  # and a caller's no_grad does not stop the explanation
        cams = gradcam_all_classes(model64, "segmentation_head.0", tiles).cams
    assert cams.abs().max() > 1e-3 and torch.is_grad_enabled()


def test_unknown_strategy_is_refused(model64):
    with pytest.raises(StrategyError, match="unknown backward strategy 'fast'"):
        AllClassGradCAM(model64, strategy="fast")


def test_unbatched_fallback_and_target_subset_agree(model64, tiles):
    gc = AllClassGradCAM(model64, "decoder.blocks.3")
    full = gc.attribute(tiles)
    loop = AllClassGradCAM(model64, "decoder.blocks.3", strategy="loop").attribute(tiles, target=[2, 0])
    assert torch.allclose(loop, full[:, [2, 0]], atol=1e-10)
    chunked = AllClassGradCAM(model64, "decoder.blocks.3", batch_size=1).attribute_all(tiles)
    assert torch.allclose(chunked.cams, full, atol=1e-10) and chunked.logits.shape[0] == 2
    one = gc.attribute(tiles, target=1, upsample=None)
    assert one.shape[1] == 1 and one.shape[-1] < 32  # the decoder block works at a coarser resolution


def test_softmax_sum_cams_sum_to_zero_over_classes(model64, tiles):
    """sum_c softmax_c = 1 at every pixel, so the seed's target gives CAMs that cancel over classes."""
    r = AllClassGradCAM(model64, "segmentation_head.0").attribute_all(tiles)
    assert r.cams.sum(dim=1).abs().max() < 1e-8 * r.cams.abs().max()
    assert r.scores.shape == (2, 3) and torch.allclose(r.scores.sum(1), torch.full((2,), 32.0 * 32, dtype=torch.float64))
    assert r.logits.shape == (2, 3, 32, 32)


def test_relu_and_labelled_maps(model64, tiles):
    gc = AllClassGradCAM(model64)
    assert gc.layer == last_conv_layer(model64) == "segmentation_head.0"
    cams = gc.attribute(tiles, relu_attributions=True)
    assert cams.min() >= 0
    da = class_map(cams, CLASSES)
    assert list(da["class"].values) == CLASSES and da.dims == ("sample", "class", "y", "x")


def test_bad_inputs_give_clear_errors(model64, tiles):
    with pytest.raises(KeyError, match="decoder.nope"):
        AllClassGradCAM(model64, "decoder.nope")
    gc = AllClassGradCAM(model64, "segmentation_head.0")
    with pytest.raises(ValueError, match=r"\[3\] outside the model's 3 classes"):
        gc.attribute(tiles, target=3)
    with pytest.raises(BandCountError, match="14 bands; the model takes 15"):
        gc.attribute(tiles[:, :14])
    with pytest.raises(ValueError, match="unknown score"):
        AllClassGradCAM(model64, score="logit_max").attribute(tiles)
    model64.train()
    try:
        with pytest.raises(ModelModeError, match="training mode"):
            gc.attribute(tiles)
    finally:
        model64.eval()
