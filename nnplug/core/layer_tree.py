"""A network as a tree of layers: branches of layers run in order, composite layers holding branches.

A ``Branch`` is a list of ``Node`` built one after the other, each for the sample shape the one
before returns. A node is a layer plugin with its parameters' global names; a composite layer's
node also lists the branches it built (``nnplug.contract.kinds.Composite``). The network's
top-level layers are the root branch. Everything that walks a network walks this tree the same
way, depth first: naming, fusion, parameters, state, diagnostics and the written architecture.

Parameters are named by their local name and the index of the weight layer of their branch they
belong to (``W1, b1, gamma1, W2``), prefixed by the composites they sit in: the ``residual`` at
position 4 of the root names its body's parameters ``residual4.W1``, its projection shortcut's
``residual4.shortcut.W1``. A plain chain keeps CS231n's names.
"""
from dataclasses import dataclass, field

import numpy as np

from nnplug.contract.registry import PluginError
from nnplug.core import layer_plan


class LayerError(PluginError):
    """A layer failed while training; the message names it, where it sits and what it was given."""


@dataclass
class Node:
    """A layer as built: its plugin instance, ``names`` (local parameter name -> global name), where
    it sits (``path``: the composite prefix of its parameters; ``position`` in its branch) and how
    messages name it (``label``); a composite's built ``branches``; the ``step`` it was built from."""

    layer: object
    names: dict
    label: str
    path: str
    position: int
    step: object
    branches: list = field(default_factory=list)


@dataclass
class Run:
    """What one step of a branch's forward pass runs: one node, or several a layer fused (``Layer.fuse``)."""

    runner: object
    nodes: list

    def params(self, params):
        picked = [{local: params[g] for local, g in node.names.items()} for node in self.nodes]
        return picked if len(self.nodes) > 1 else picked[0]


class Branch:
    """Layers run one after another: ``forward(x, mode) -> (out, cache)``, ``backward(dout, cache) -> dx``.

    ``owner`` is the network: its ``params`` (read at every call: a Solver may swap them) and, while
    a backward pass runs, its ``grads``, where the branch stores its layers' gradients.
    """

    def __init__(self, owner, in_shape):
        self.owner = owner
        self.in_shape = tuple(in_shape)
        self.nodes = []
        self.runs = []

    @property
    def out_shape(self):
        return self.nodes[-1].layer.out_shape if self.nodes else self.in_shape

    def plan(self, fuse):
        """Group the nodes into runs: layers that offer it run fused with those after them."""
        self.runs, i = [], 0
        while i < len(self.nodes):
            offer_fuse = getattr(self.nodes[i].layer, "fuse", None) if fuse else None
            offer = offer_fuse([n.layer for n in self.nodes[i + 1:]]) if offer_fuse else None
            if offer is None:
                self.runs.append(Run(self.nodes[i].layer, [self.nodes[i]]))
                i += 1
            else:
                runner, count = offer
                self.runs.append(Run(runner, self.nodes[i:i + count]))
                i += count
        for node in self.nodes:
            for branch in node.branches:
                branch.plan(fuse)

    def forward(self, x, mode, observe=None):
        """Output and cache of the branch on ``x``; ``observe(node, out)``, when given, sees every node's
        output (the layers then run one by one, not fused)."""
        params = self.owner.params
        runs = [Run(node.layer, [node]) for node in self.nodes] if observe else self.runs
        out, caches = x, []
        for run in runs:
            given = out
            try:
                out, cache = run.runner.forward(out, run.params(params), mode)
            except Exception as exc:
                raise failed(run.nodes, "forward", given, exc) from exc
            caches.append((cache, given.shape))
            if observe:
                observe(run.nodes[0], out)
        return out, caches

    def backward(self, dout, caches):
        """The gradient of the branch's input; its layers' parameter gradients go to ``owner.grads``."""
        params, grads = self.owner.params, self.owner.grads
        for run, (cache, shape) in zip(reversed(self.runs), reversed(caches)):
            given = dout
            try:
                dout, layer_grads = run.runner.backward(dout, cache)
                for node, part in zip(run.nodes, layer_grads if len(run.nodes) > 1 else [layer_grads]):
                    for local, g in node.names.items():
                        grads[g] = part[local]
                        if np.shape(grads[g]) != params[g].shape:
                            raise ValueError(f"it returned a gradient of shape {np.shape(grads[g])} for its "
                                             f"parameter {local} of shape {params[g].shape}")
                if dout is not None and np.shape(dout) != shape:
                    raise ValueError(f"it returned an input gradient of shape {np.shape(dout)} for its input "
                                     f"of shape {shape}")
            except Exception as exc:
                raise failed(run.nodes, "backward", given, exc) from exc
        return dout

    def walk(self):
        """Every node of this branch and of the branches inside it, depth first."""
        for node in self.nodes:
            yield node
            for branch in node.branches:
                yield from branch.walk()


def failed(nodes, where, given, exc):
    """A ``LayerError`` naming the layers of a run, unless ``exc`` names one already."""
    if isinstance(exc, LayerError):
        return exc
    shape = getattr(given, "shape", None)
    what = f"an array of shape {shape}" if shape is not None else f"a {type(given).__name__}"
    labels = " with ".join(node.label for node in nodes)
    return LayerError(f"{labels} failed in its {where} pass on {what}: {type(exc).__name__}: {exc}")


class Builder:
    """Builds a network's tree: every layer through ``registry``, in order, for the shape before it.

    Inputs: owner (the network the branches belong to), registry, dtype, init and weight_scale (how
    weights are drawn), init_rng (draws every weight, in build order), layer_seeds (a
    ``SeedSequence`` each layer's own generator is spawned from, in build order), sample (training
    inputs for layers that ask for some, or None) and sample_rng (which of them they get),
    num_classes and the root step sized by the model.
    """

    def __init__(self, owner, registry, dtype, init, weight_scale, init_rng, layer_seeds, sample=None,
                 sample_rng=None, output_init=None, sized=None, num_classes=None):
        self.owner, self.registry, self.dtype = owner, registry, dtype
        self.sized, self.num_classes = sized, num_classes  # the step that maps to the classes, wherever it sits
        self.init, self.weight_scale, self.output_init = init, weight_scale, output_init or {}
        self.init_rng, self.layer_seeds = init_rng, layer_seeds
        self.sample, self.sample_rng = sample, sample_rng
        self.params = {}

    def branch(self, steps, in_shape, prefix="", parent=None, input_grad=True):
        """A ``Branch`` of ``steps`` (layer entries or ``Step``) for samples of ``in_shape``.

        ``prefix`` is its parameters' path; ``parent`` how messages name the composite it belongs to
        (None: the network's top-level layers).
        """
        steps = [s if isinstance(s, layer_plan.Step) else layer_plan.parse(s) for s in steps]
        branch, shape, index = Branch(self.owner, in_shape), tuple(in_shape), 0
        for position, step in enumerate(steps, start=1):
            cls, text = self._layer_class(step.spec)
            label = f"{parent} > {position} {text}" if parent else f"layer {position} {text}"
            plain = f"{parent} > {position} {step.label}" if parent else f"layer {position} {step.label}"
            step_width = self.num_classes if step is self.sized else step.width
            node = Node(None, {}, label, prefix, position, layer_plan.Step(step.spec, step.options, step_width,
                                                                          step.where))
            layer = self._make(cls, step, step_width, shape, node, prefix, label, plain)
            rule = self.output_init.get(self.init, self.init) if step is self.sized else self.init
            wants = getattr(cls, "sample_inputs", 0) or 0
            extra = {"sample": self._sample_at(branch, wants, parent, label)} if wants else {}
            local_params = layer.init_params(self.init_rng, rule, self.weight_scale, **extra)
            index += "W" in local_params
            for local, value in local_params.items():
                node.names[local] = self._unique(f"{prefix}{local}{index}")
                self.params[node.names[local]] = value.astype(self.dtype, copy=False)
            node.layer = layer
            branch.nodes.append(node)
            shape = layer.out_shape
        if branch.nodes:
            branch.nodes[0].layer.input_grad = input_grad
        return branch

    def _make(self, cls, step, width, shape, node, prefix, label, plain):
        rng = np.random.default_rng(self.layer_seeds.spawn(1)[0])
        kwargs = dict(dtype=self.dtype, rng=rng, **step.options)
        if getattr(cls, "layer_lists", None):
            base = f"{prefix}{step.options.get('label') or f'{step.label}{node.position}'}."
            kwargs["child"] = self._child(node, base, plain)
        try:
            return cls(shape, width, **kwargs) if width is not None else cls(shape, **kwargs)
        except (TypeError, ValueError) as exc:  # the options or the shape do not fit this layer
            if getattr(exc, "located", False):
                raise
            located = type(exc)(f"{label}: {exc}")
            located.located = True
            raise located from None

    def _child(self, node, base, plain):
        """What a composite builds its branches with: ``child(layers, in_shape, name=None)``."""
        def child(layers, in_shape, name=None):
            steps = layer_plan.expand(layers, plugin=self._plugin, where=f"{plain} > {name or 'layers'}")
            built = self.branch(steps, in_shape, prefix=f"{base}{name}." if name else base,
                                parent=f"{plain} > {name}" if name else plain)
            node.branches.append(built)
            return built
        return child

    def _plugin(self, spec):
        try:
            return self.registry.get("layers", spec) if isinstance(spec, str) else spec
        except PluginError:
            return None

    def _layer_class(self, spec):
        """The Layer class of a step and how errors name it: ``'swish' (nnplug-swish 0.1.0)``; a message
        names a layer by its position: ``layer 2 'swish' (...)``, ``layer 4 residual > 2 'conv' (...)``."""
        if isinstance(spec, str):
            info = self.registry.info("layers", spec)
            return info.obj, f"{spec!r} ({info.dist} {info.version})"
        return spec, f"{getattr(spec, 'name', '') or spec.__name__!r} ({spec.__module__})"

    def _sample_at(self, branch, wants, parent, label):
        """``wants`` of the training inputs (all of them if there are no more), drawn by the network's
        seed, as they arrive at the next layer of the top-level ``branch`` (test mode); None without any."""
        if parent is not None:
            raise ValueError(f"{label}: a layer that asks for training inputs (sample_inputs) belongs in the "
                             f"network's top-level layers, not inside a composite")
        if self.sample is None:  # a net rebuilt for saved parameters, or for a check: the layer's own default
            return None
        rows = len(self.sample)
        # drawn from the whole set, whatever its order; sorted so that the rows are read in one pass
        picked = slice(None) if rows <= wants else np.sort(self.sample_rng.choice(rows, wants, replace=False))
        x = np.asarray(self.sample[picked], dtype=self.dtype)
        for node in branch.nodes:
            x, _ = node.layer.forward(x, {local: self.params[g] for local, g in node.names.items()}, "test")
        return x

    def _unique(self, name):
        candidate, k = name, 1
        while candidate in self.params:
            k += 1
            candidate = f"{name}_{k}"
        return candidate

