"""The assignment network: the documented shapes, and identical starts for both implementations."""

import pytest
import torch

from fmnist.errors import DataError
from fmnist.nn.assignment import (
    build_network,
    copy_weights,
    first_line,
    initial_network,
    network_state,
    restore_network,
)


@pytest.mark.parametrize("impl", ["custom", "torch"])
def test_block_shapes(impl):
    net = build_network(impl)
    x = torch.rand(5, 1, 28, 28)
    shapes = []
    for layer in net:
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(5, 32, 26, 26), (5, 32, 12, 12), (5, 32, 12, 12), (5, 64, 10, 10),
                      (5, 64, 4, 4), (5, 64, 4, 4), (5, 10, 1, 1), (5, 10)]


def test_same_init_gives_same_outputs():
    custom, reference = initial_network("custom", 7), initial_network("torch", 7)
    for a, b in zip(custom.parameters(), reference.parameters(), strict=True):
        assert torch.equal(a, b)
    x = torch.rand(16, 1, 28, 28)
    assert (custom(x) - reference(x)).abs().max() < 1e-5


def test_copy_weights_rejects_other_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        copy_weights(build_network("torch"), torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_unknown_impl():
    with pytest.raises(ValueError, match="impl must be one of"):
        build_network("numpy")


@pytest.mark.parametrize("impl", ["custom", "torch"])
def test_state_round_trip(impl):
    net = initial_network(impl, 3)
    loaded = restore_network(network_state(net, impl), "m.pt")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(loaded(x), net(x))
    assert all(isinstance(layer, type(orig)) for layer, orig in zip(loaded, net, strict=True))


@pytest.mark.parametrize(("saved", "message"), [
    ({"state_dict": {}}, "not an assignment network"),
    ({"impl": "numpy", "state_dict": {}}, "not an assignment network"),
    ([1, 2], "not an assignment network"),
    ({"impl": "torch", "state_dict": {"0.weight": torch.zeros(1)}}, "weights do not fit"),
    ({"impl": "torch"}, "weights do not fit"),
])
def test_restore_rejects_foreign_content(saved, message):
    with pytest.raises(DataError, match=f"^m.pt: {message}"):
        restore_network(saved, "m.pt")


def test_an_error_without_a_message_is_named_by_its_type():
    assert first_line(KeyError()) == "KeyError"
    assert first_line(RuntimeError("Error(s) in loading:\n\tMissing key")) == "Error(s) in loading:"
