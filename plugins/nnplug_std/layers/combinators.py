"""Composite layers: a residual block, parallel branches, a named group of layers.

Each holds layer lists in its options (written as a model's ``layers``), which the network builds
for it (``nnplug.contract.kinds.Composite``); a composite only says how its branches' outputs
combine and how the gradient splits: ``y = x + F(x)`` passes ``dy`` to F and to the shortcut and
adds what comes back; parallel branches joined by ``add`` each get ``dy``, joined by ``concat``
each its slice of it.
"""
import numpy as np

from nnplug.contract.kinds import Composite

SHORTCUTS = ("auto", "identity", "projection", "pool", "pad")


class Residual(Composite):
    """``y = x + F(x)``, then an optional activation (``relu`` after the add, as He et al. 2016).

    When F changes the shape the shortcut must too: ``projection`` (the default then) is a strided
    1x1 convolution with batch norm (an affine layer with batch norm for vectors); ``pool`` averages
    stride x stride windows and ``pad`` takes every stride-th position, both adding zero channels
    (He et al.'s option A). ``identity`` refuses a change of shape.
    """

    name = "residual"
    description = "y = x + F(x), F the layers given; a projection, pooled or padded shortcut where F changes the shape"
    options = {"layers": [], "shortcut": "auto", "activation": None, "label": None}
    option_types = {"activation": (str, type(None)), "label": (str, type(None))}
    layer_lists = {"layers": 1}
    chain_role = "residual"  # the HWNC conv chain runs it when its layers all join (nnplug_std.layers.chain_plan)
    check_shape = (2, 4, 4)
    check_cases = ({"layers": [{"conv": {"filters": 2}}, "spatial_batchnorm", "relu"], "activation": "relu"},
                   {"layers": [{"conv": {"filters": 3, "stride": 2}}], "shortcut": "projection"},
                   {"layers": [{"conv": {"filters": 3, "stride": 2}}], "shortcut": "pad"},
                   {"layers": [{"conv": {"filters": 4, "stride": 2}}], "shortcut": "pool"})

    @classmethod
    def check_options(cls, options):
        shortcut = options.get("shortcut")
        return [] if shortcut in SHORTCUTS else [f"shortcut={shortcut!r}: expected one of {', '.join(SHORTCUTS)}"]

    def output_shape(self, in_shape):
        self.body = self.child(self.layers, in_shape)
        out = self.body.out_shape
        # a shortcut is only ever needed to change the shape: where F keeps it, x itself is added
        kind = "identity" if out == in_shape else ("projection" if self.shortcut == "auto" else self.shortcut)
        self.kind, self.short, self.act = kind, None, None
        if self.shortcut == "identity" and out != in_shape:
            raise ValueError(f"its layers turn samples of shape {in_shape} into {out}: an identity shortcut needs "
                             f"the same shape (shortcut: projection, pool or pad)")
        if kind == "projection":
            self.short = self.child(projection(in_shape, out), in_shape, "shortcut")
        elif kind in ("pool", "pad"):
            self.stride = _stride(in_shape, out, exact=kind == "pool")
            if len(in_shape) != 3 or out[0] < in_shape[0]:
                raise ValueError(f"a {kind} shortcut takes (C, H, W) maps to as many channels or more, not "
                                 f"{in_shape} to {out}")
        if self.activation:
            self.act = self.child([self.activation], out, "activation")
        return out

    def forward(self, x, params, mode):
        y, body = self.body.forward(x, mode)
        if self.short is not None:
            s, short = self.short.forward(x, mode)
        else:
            s, short = self._reshape(x), None
        out = y + s
        act = None
        if self.act is not None:
            out, act = self.act.forward(out, mode)
        return out, (body, short, act, x.shape)

    def backward(self, dout, cache):
        body, short, act, shape = cache
        if self.act is not None:
            dout = self.act.backward(dout, act)
        dx = self.body.backward(dout, body)
        ds = self.short.backward(dout, short) if self.short is not None else self._reshape_back(dout, shape)
        return (ds if dx is None else dx + ds), {}

    def _reshape(self, x):
        """The parameter-free shortcut: x itself, or pooled/subsampled with zero channels added."""
        if self.out_shape == self.in_shape:
            return x
        s, c = self.stride, self.out_shape[0] - self.in_shape[0]
        if self.kind == "pad":
            taken = x[:, :, ::s, ::s]
        else:
            n, ch, h, w = x.shape
            taken = x.reshape(n, ch, h // s, s, w // s, s).mean(axis=(3, 5))
        return np.pad(taken, ((0, 0), (0, c), (0, 0), (0, 0)))

    def _reshape_back(self, dout, shape):
        if self.out_shape == self.in_shape:
            return dout
        s, kept = self.stride, dout[:, :self.in_shape[0]]
        dx = np.zeros(shape, dtype=dout.dtype)
        if self.kind == "pad":
            dx[:, :, ::s, ::s] = kept
        else:
            n, ch, h, w = shape
            dx.reshape(n, ch, h // s, s, w // s, s)[...] = (kept / (s * s))[:, :, :, None, :, None]
        return dx


def projection(in_shape, out_shape):
    """The layers of a projection shortcut from ``in_shape`` to ``out_shape``: a strided 1x1 convolution
    and batch norm for maps, an affine layer and batch norm for vectors."""
    if len(in_shape) == 3 and len(out_shape) == 3:
        return [{"conv": {"filters": out_shape[0], "size": 1, "stride": _stride(in_shape, out_shape), "pad": 0}},
                "spatial_batchnorm"]
    if len(in_shape) == 1 and len(out_shape) == 1:
        return [{"affine": {"units": out_shape[0]}}, "batchnorm"]
    raise ValueError(f"no projection shortcut from samples of shape {in_shape} to {out_shape}: expected maps "
                     f"(C, H, W) to maps or vectors to vectors")


def _stride(in_shape, out_shape, exact=False):
    """The stride that takes each spatial size of ``in_shape`` to ``out_shape``'s (a 1x1 window, no padding)."""
    sizes = list(zip(in_shape[1:], out_shape[1:]))
    for s in range(1, max(in_shape[1:]) + 1):
        if all(1 + (a - 1) // s == b and (not exact or a == b * s) for a, b in sizes):
            return s
    raise ValueError(f"no stride takes maps of {in_shape[1:]} to {out_shape[1:]}" +
                     (" in whole windows" if exact else ""))


class Parallel(Composite):
    """Branches that all take the input, joined by ``add`` (same shapes) or ``concat`` (along channels)."""

    name = "parallel"
    description = "Branches of layers on the same input, joined by add or concat (along channels)"
    options = {"branches": [[], []], "join": "add", "label": None}
    option_types = {"label": (str, type(None))}
    layer_lists = {"branches": 2}
    check_shape = (2, 4, 4)
    check_cases = ({"branches": [[{"conv": {"filters": 2}}], [{"conv": {"filters": 2, "size": 1}}, "relu"]]},
                   {"branches": [[{"conv": {"filters": 3}}], []], "join": "concat"})

    @classmethod
    def check_options(cls, options):
        join = options.get("join")
        return [] if join in ("add", "concat") else [f"join={join!r}: expected add or concat"]

    def output_shape(self, in_shape):
        if not self.branches:
            raise ValueError("parallel needs at least one branch (branches: [[layers...], [layers...]])")
        self.paths = [self.child(branch, in_shape, f"branch{i}") for i, branch in enumerate(self.branches, 1)]
        shapes = [path.out_shape for path in self.paths]
        if self.join == "add":
            if len(set(shapes)) != 1:
                raise ValueError(f"its branches return {', '.join(map(str, shapes))}: joined by add they must agree")
            return shapes[0]
        if len({shape[1:] for shape in shapes}) != 1:
            raise ValueError(f"its branches return {', '.join(map(str, shapes))}: joined by concat they must agree "
                             f"but in their channels (the first axis)")
        self.channels = [shape[0] for shape in shapes]
        return (sum(self.channels), *shapes[0][1:])

    def forward(self, x, params, mode):
        results = [path.forward(x, mode) for path in self.paths]
        outs = [out for out, _ in results]
        out = np.concatenate(outs, axis=1) if self.join == "concat" else sum(outs[1:], outs[0].copy())
        return out, [cache for _, cache in results]

    def backward(self, dout, caches):
        if self.join == "concat":
            parts = np.split(dout, np.cumsum(self.channels)[:-1], axis=1)
        else:
            parts = [dout] * len(self.paths)
        grads = [path.backward(part, cache) for path, part, cache in zip(self.paths, parts, caches)]
        grads = [g for g in grads if g is not None]
        return (sum(grads[1:], grads[0].copy()) if grads else None), {}


class Sequence(Composite):
    """Layers run one after another as one layer: a stage of a net, named by ``label`` (``stem.W1``)."""

    name = "sequence"
    description = "A group of layers run in order, its parameters named under its label"
    options = {"layers": [], "label": None}
    option_types = {"label": (str, type(None))}
    layer_lists = {"layers": 1}
    check_shape = (6,)
    check_cases = ({"layers": [{"affine": {"units": 4}}, "relu"], "label": "stem"},)

    def output_shape(self, in_shape):
        self.inner = self.child(self.layers, in_shape)
        return self.inner.out_shape

    def forward(self, x, params, mode):
        return self.inner.forward(x, mode)

    def backward(self, dout, cache):
        return self.inner.backward(dout, cache), {}
