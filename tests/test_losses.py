"""The softmax loss with label smoothing against PyTorch's ``CrossEntropyLoss(label_smoothing=...)``."""
import numpy as np
import pytest

from nnplug.contract.registry import default_registry


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.2])
def test_softmax_with_label_smoothing_is_pytorchs_cross_entropy_value_and_gradient(smoothing):
    torch = pytest.importorskip("torch", reason="the PyTorch reference needs torch (pip install torch)")
    rng = np.random.default_rng(0)
    scores, y = 3 * rng.standard_normal((16, 10)), rng.integers(0, 10, 16)

    loss, dscores = default_registry().get("losses", "softmax")(scores, y, smoothing=smoothing)

    x = torch.tensor(scores, requires_grad=True)
    reference = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)(x, torch.tensor(y))
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-12)
    np.testing.assert_allclose(dscores, x.grad.numpy(), rtol=1e-10, atol=1e-15)
