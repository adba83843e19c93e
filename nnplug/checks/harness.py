"""Any layer plugin built on its own for a check, a composite one included.

A plain layer is made as a network makes it (``cls(in_shape, width, dtype=, rng=, **options)``) and
given parameters drawn by its ``init_params``. A composite (``nnplug.contract.kinds.Composite``)
needs a network to build its children; ``Harness`` is that network for one composite: it builds the
composite through the registry, as a network would, and offers the layer contract over all of its
children's parameters (by their names): ``forward(x, params, mode)``, ``backward(dout, cache) ->
(dx, grads)``, ``out_shape``, ``get_state`` and ``set_state``.
"""
import numpy as np

from nnplug.contract.registry import default_registry
from nnplug.core import layer_plan
from nnplug.core.layer_tree import Builder


def make_layer(cls, shape, dtype, options=None, seed=0, width=None, registry=None, weight_scale=0.5):
    """``(layer, params)``: ``cls`` built for samples of ``shape`` with ``options``, its parameters
    drawn from seed ``seed + 1`` with 'gaussian' weights of ``weight_scale``; a resizing layer gets
    ``width``. A composite comes as a ``Harness`` whose parameters are its children's."""
    options = dict(options or {})
    if getattr(cls, "layer_lists", None):
        harness = Harness(cls, shape, dtype, options, seed, width, registry, weight_scale)
        return harness, harness.params
    rng = np.random.default_rng(seed)
    layer = cls(shape, width, dtype=dtype, rng=rng, **options) if width is not None else \
        cls(shape, dtype=dtype, rng=rng, **options)
    params = {k: np.asarray(v, dtype=dtype) for k, v in layer.init_params(np.random.default_rng(seed + 1),
                                                                          "gaussian", weight_scale).items()}
    return layer, params


class Harness:
    """One composite layer built as a network builds it, offering the layer contract (see the module)."""

    def __init__(self, cls, shape, dtype, options, seed=0, width=None, registry=None, weight_scale=0.5):
        registry = registry or default_registry()
        self.grads = {}
        builder = Builder(self, registry, np.dtype(dtype), "gaussian", weight_scale, np.random.default_rng(seed + 1),
                          np.random.SeedSequence(seed))
        self.params = builder.params
        steps = layer_plan.expand([layer_plan.Step(cls, options, width, "layer")], plugin=layer_plan.lookup(registry))
        self.branch = builder.branch(steps, shape)
        self.branch.plan(fuse=True)
        self.layer = self.branch.nodes[0].layer
        self.in_shape, self.out_shape = self.layer.in_shape, self.layer.out_shape

    def forward(self, x, params, mode):
        self.params = params
        return self.branch.forward(x, mode)

    def backward(self, dout, cache):
        self.grads = grads = {}
        dx = self.branch.backward(dout, cache)
        self.grads = {}
        return dx, grads

    def get_state(self):
        return [node.layer.get_state() for node in self.branch.walk()]

    def set_state(self, state):
        for node, part in zip(self.branch.walk(), state):
            node.layer.set_state(part)
