"""The one vocabulary: every module reads its keys, and each key has what the others need."""
import numpy as np
import pytest

from replicate import config, losses, models, theory, tutorial, vocabulary


def test_every_loss_has_a_function_and_every_function_a_term():
    assert tuple(losses.REGISTRY) == vocabulary.LOSS_KEYS
    for key, loss in losses.REGISTRY.items():
        assert loss.term is vocabulary.LOSSES[key]


def test_pixelwise_losses_and_only_they_have_a_closed_form():
    a, x = np.array([0.2]), np.array([0.3])
    for key, term in vocabulary.LOSSES.items():
        if term.pixelwise:
            assert np.isfinite(theory.loss(key, a, x)).all(), key
        else:
            with pytest.raises(ValueError, match="pixelwise losses are"):
                theory.loss(key, a, x)


def test_every_model_has_layers_and_a_protocol():
    assert tuple(models.BUILDERS) == vocabulary.POST_MODELS == tuple(tutorial.PROTOCOLS)
    assert config.MODELS == vocabulary.MODEL_KEYS
    for term in vocabulary.MODELS.values():
        assert term.builder in models.BUILDERS and term.post_model in tutorial.PROTOCOLS, term.key
    assert [vocabulary.code_size(k) for k in ("simple", "simple_8", "simple_256")] == [32, 8, 256]


def test_the_factorial_crosses_weighting_and_saturation():
    """Four losses, one per cell: (BCE's or MSE's weighting) x (saturating logit gradient or not)."""
    cells = {(vocabulary.LOSSES[k].weighting, vocabulary.LOSSES[k].saturates): k for k in vocabulary.FACTORIAL}
    assert cells == {("bce", False): "bce", ("mse", True): "mse", ("bce", True): "mse_bce_weight",
                     ("mse", False): "bce_mse_weight"}


def test_labels_and_colours_tell_the_losses_apart():
    terms = vocabulary.LOSSES.values()
    assert len({t.label for t in terms}) == len({t.color for t in terms}) == len(vocabulary.LOSSES)
    assert vocabulary.BASELINE in vocabulary.TRAINED_LOSSES and vocabulary.COMPARATOR in vocabulary.TRAINED_LOSSES
    assert config.TRAINED_LOSSES == vocabulary.TRAINED_LOSSES and "bce_kl" not in config.TRAINED_LOSSES


def test_an_unknown_key_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown loss 'l3'; valid loss keys: bce, bce_kl"):
        vocabulary.loss("l3")
    with pytest.raises(ValueError, match="valid model keys: simple, sparse"):
        vocabulary.model("resnet")
    assert vocabulary.loss_label("other") == "other" and vocabulary.loss_color("other").startswith("#")


def test_every_metric_that_is_judged_has_one_direction_and_it_is_right():
    """The verdicts' endpoints and the best-loss criteria read their direction here; similarity improves upward,
    error downward, and the marked-only measures have none."""
    from replicate.analysis import selection

    for metric in (*config.ENDPOINTS, *selection.BEST_LOSS_CRITERIA):
        assert vocabulary.BETTER[metric] == (1 if "ssim" in metric or "psnr" in metric else -1), metric
    assert not {"edge_transfer", "edge_transfer_midtone", "hf_energy_ratio",
                "midtone_extreme_rmse_ratio"} & set(vocabulary.BETTER)
