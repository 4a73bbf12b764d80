"""The multi-label losses: sigmoid is Keras's, focal and class-balanced reweight it."""

import keras
import numpy as np
import pytest

from bert_tf.multilabel_losses import class_balanced_weights, multilabel_loss, positive_weights

LABELS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], np.float32)
LOGITS = np.array([[2.0, -1.0, 0.5], [-3.0, 0.2, 4.0]], np.float32)


def _value(name, weights=None):
    return float(keras.ops.convert_to_numpy(multilabel_loss(name, LABELS, LOGITS, weights)))


def test_sigmoid_is_keras_binary_cross_entropy():
    expected = keras.losses.binary_crossentropy(LABELS, LOGITS, from_logits=True)
    assert _value("sigmoid") == pytest.approx(float(np.mean(expected)), rel=1e-6)


def test_focal_weighs_easy_decisions_down():
    assert 0 < _value("focal") < _value("sigmoid")


def test_class_balanced_with_unit_weights_is_sigmoid():
    assert _value("class_balanced", np.ones(3, np.float32)) == pytest.approx(
        _value("sigmoid"), rel=1e-5
    )


def test_class_balanced_weights_favour_rare_labels_and_keep_the_most_frequent_at_one():
    train = np.zeros((1000, 3), np.float32)
    train[:500, 0], train[:50, 1], train[:5, 2] = 1, 1, 1
    weights = class_balanced_weights(train)
    assert weights[0] < weights[1] < weights[2]
    assert weights[0] == pytest.approx(1.0)


def test_the_tempered_weights_are_the_square_roots_and_other_losses_have_none():
    train = np.zeros((1000, 3), np.float32)
    train[:500, 0], train[:50, 1], train[:5, 2] = 1, 1, 1
    np.testing.assert_allclose(
        positive_weights("class_balanced_sqrt", train), np.sqrt(class_balanced_weights(train))
    )
    np.testing.assert_allclose(
        positive_weights("class_balanced", train), class_balanced_weights(train)
    )
    assert positive_weights("sigmoid", train) is None and positive_weights("focal", train) is None


def test_unknown_loss_raises():
    with pytest.raises(ValueError, match="unknown loss"):
        multilabel_loss("hinge", LABELS, LOGITS)
