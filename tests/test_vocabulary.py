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
    assert tuple(models.BUILDERS) == vocabulary.MODEL_KEYS == config.MODELS
    assert set(tutorial.PROTOCOLS) == set(vocabulary.MODEL_KEYS)


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
