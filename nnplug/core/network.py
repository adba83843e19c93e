"""Networks composed from layer plugins, each built for the shape the layer before it returns."""
import numpy as np

from nnplug.contract.kinds import Loss
from nnplug.contract.registry import PluginError, default_registry
from nnplug.core import layer_plan, param_groups
from nnplug.core.layer_tree import Builder, LayerError  # noqa: F401  (LayerError: where callers have met it)

# The output layer feeds no ReLU, so He's or Xavier's gain would make its first scores large and
# the first losses well above log(C): it is drawn small instead (the variance of PyTorch's default
# nn.Linear init). "gaussian" keeps CS231n's weight_scale for every layer.
OUTPUT_INIT = {"he": "small", "xavier": "small"}


class Network:
    """A tree of layer plugins with the CS231n model contract: ``params`` and ``loss(X, y=None)``.

    Inputs:
    - hidden_dims, block, dropout: an MLP, ``{block} x len(hidden_dims) - affine``, the block's
      resizing layer given each hidden width (``dropout`` > 0 appends dropout to each block);
    - layers: instead, any layer list (see ``nnplug.core.layer_plan``): names, Layer classes, or
      either with options, e.g. ``[{"conv": {"filters": 32, "size": 3}}, "relu", {"max_pool":
      {"size": 2}}, "affine"]``, ``repeat`` and ``widths`` entries, composite layers (``residual``,
      ``parallel``, ``sequence``) holding layer lists, and the names of ``blocks``;
    - blocks: layer lists written once and used by name (``{"basic": {"options": {"stride": 1},
      "layers": [...]}}``);
    - input_dim: the shape of one sample (an int for vectors); num_classes: C, the width of the
      last top-level resizing layer that names none;
    - loss: a registered name, a Loss, or a function ``(scores, y) -> (loss, dscores)``;
      loss_options: its options;
    - init ('gaussian', 'he', 'xavier'), weight_scale (for 'gaussian'), reg (L2 on the weights of
      layers that declare them ``regularized``), dtype, seed (the network's own generators: the
      weights, dropout masks; without one, numpy's global generator picks it);
    - layer_options: options by layer name, for every layer of that name;
    - registry: where names are looked up (default: the installed plugins); fuse: let layers
      that offer it run together (``Layer.fuse``: the same model up to rounding, fewer passes);
    - sample: training inputs ``(N, *input_dim)`` for layers that are built from data
      (``Layer.sample_inputs``: a whitening layer), or None (such a layer then gets none: its
      parameters are meant to be replaced by saved ones). A layer that asks for k gets k rows drawn
      without replacement by ``seed`` (all N, in order, when N <= k).

    The layers form a tree (``nnplug.core.layer_tree``): ``root`` is the branch of the top-level
    layers; ``nodes`` lists every layer depth first, ``layers`` the same as ``(layer, names)``
    pairs. Parameters are named ``W1, b1, gamma1, beta1, W2, ...`` as in CS231n's models, prefixed
    by the composites they sit in (``residual4.W1``); ``param_info`` says for each where it sits
    and what kind it is (``nnplug.core.param_groups``).
    """

    def __init__(self, hidden_dims=(), input_dim=3 * 32 * 32, num_classes=10, block=("affine", "relu"),
                 loss="softmax", dropout=0.0, init="gaussian", weight_scale=1e-2, reg=0.0,
                 dtype=np.float64, seed=None, layer_options=None, registry=None, fuse=True, layers=None,
                 loss_options=None, blocks=None, sample=None):
        registry = registry or default_registry()
        self.reg = reg
        self.dtype = np.dtype(dtype)
        self.hidden_dims = [int(h) for h in hidden_dims]
        self.blocks = dict(blocks or {})
        plugin = layer_plan.lookup(registry)
        steps = layer_plan.expand(layers if layers is not None else layer_plan.mlp(self.hidden_dims, block, dropout),
                                  blocks=self.blocks, plugin=plugin)
        steps = layer_plan.with_defaults(steps, {k: dict(v) for k, v in (layer_options or {}).items()})
        self.loss_fn = _loss(loss, registry)
        self.loss_options = dict(loss_options or {})
        self.num_classes = int(num_classes)

        # one stream for the weights, one per layer (spawned in build order) for what it draws while
        # training (dropout). Without a seed, numpy's global generator picks one, so that
        # np.random.seed(...) first gives the same network every time.
        if seed is None:
            seed = int(np.random.randint(2 ** 31))
        init_seq, layer_seq, sample_seq = np.random.SeedSequence(seed).spawn(3)
        self.input_shape = (int(input_dim),) if np.ndim(input_dim) == 0 else tuple(int(d) for d in input_dim)
        # the last resizing layer that names no size, wherever it sits, maps to the classes
        sized = next((s for s in reversed(list(layer_plan.walk(steps)))
                      if s.width is None and _sized_by_model(s, registry)), None)
        builder = Builder(self, registry, self.dtype, init, weight_scale, np.random.default_rng(init_seq), layer_seq,
                          sample=sample, sample_rng=np.random.default_rng(sample_seq), output_init=OUTPUT_INIT,
                          sized=sized, num_classes=self.num_classes)
        self.params = builder.params
        self.grads = {}
        self.root = builder.branch(steps, self.input_shape, input_grad=False)
        if self.root.out_shape != (self.num_classes,):
            raise ValueError(f"the network's output is {self.root.out_shape} per sample, not the {num_classes} "
                             f"classes' scores: end it with a resizing layer (affine) that names no size")
        self.root.plan(fuse)
        self.nodes = list(self.root.walk())
        self.layers = [(node.layer, node.names) for node in self.nodes]
        self.labels = [node.label for node in self.nodes]
        self.steps = [node.step for node in self.root.nodes]  # the top-level layers as built (``architecture``)
        self.num_layers = sum("W" in node.names for node in self.root.nodes)
        self.param_info = param_groups.describe(self.nodes)
        self.regularized = [node.names[local] for node in self.nodes for local in node.layer.regularized
                            if local in node.names]

    def loss(self, X, y=None):
        """Scores ``(N, C)`` in test mode without ``y``; ``(loss, grads)`` in train mode with it.

        A layer that raises, or returns a gradient of the wrong shape, is named in a ``LayerError``:
        its position (a path inside composites), plugin, distribution, pass (forward or backward)
        and the shape it was given.
        """
        mode = "test" if y is None else "train"
        out = X if X.dtype == self.dtype else X.astype(self.dtype)
        out, cache = self.root.forward(out, mode)
        if y is None:
            return out

        loss, dout = self.loss_fn(out, y, **self.loss_options)
        self.grads = grads = {}
        try:
            self.root.backward(dout, cache)
        finally:
            self.grads = {}
        params = self.params
        if self.reg:
            for name in self.regularized:
                w = params[name].ravel(order="K")  # a view in either layout (ravel() copies an F array)
                loss += 0.5 * self.reg * float(w @ w)
                grads[name] += self.reg * params[name]
        return loss, grads

    def architecture(self):
        """The network as plain data (JSON-serialisable): every layer by its registered name with its
        options (a composite's layer lists as lists of such entries) and the width the model gave
        it, the sample shape, classes, loss and dtype.

        ``Network.from_architecture`` builds the same network from it (with fresh parameters; a
        saved model sets its own). Layers and losses given as classes or functions have no name
        to record: ValueError.
        """
        unnamed = [s.label for s in layer_plan.walk(self.steps) if not isinstance(s.spec, str)]
        if unnamed or not isinstance(self.loss_fn, Loss) or not self.loss_fn.name:
            raise ValueError(f"only a network of registered plugins can be written down as data; "
                             f"{', '.join(unnamed) or 'its loss'} is not one")
        return {
            "layers": [_entry(s) for s in self.steps],
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "loss": self.loss_fn.name,
            "loss_options": self.loss_options,
            "dtype": self.dtype.name,
            "reg": self.reg,
        }

    @classmethod
    def from_architecture(cls, architecture, **options):
        """The network ``architecture()`` describes; ``options`` as for ``Network`` (seed, registry, fuse, ...)."""
        a = architecture
        return cls(layers=[_step(entry) for entry in a["layers"]], input_dim=tuple(a["input_shape"]),
                   num_classes=a["num_classes"], loss=a["loss"], loss_options=a["loss_options"], dtype=a["dtype"],
                   reg=a.get("reg", 0.0), **options)

    def get_state(self):
        """Every layer's state (running statistics, random generators), depth first, for checkpoints."""
        return [node.layer.get_state() for node in self.nodes]

    def set_state(self, states):
        for node, state in zip(self.nodes, states):
            node.layer.set_state(state)


def _entry(step):
    """A built step as plain data: ``{"layer", "options", "width"}``, layer lists inside as such entries."""
    options = {}
    for key, value in step.options.items():
        if isinstance(value, list) and value and all(isinstance(s, layer_plan.Step) for s in value):
            value = [_entry(s) for s in value]
        elif isinstance(value, list) and value and all(
                isinstance(b, list) and all(isinstance(s, layer_plan.Step) for s in b) for b in value):
            value = [[_entry(s) for s in branch] for branch in value]
        options[key] = value
    return {"layer": step.spec, "options": options, "width": step.width}


def _step(entry):
    """The ``Step`` an ``_entry`` wrote down (composites' layer lists too)."""
    def back(value):
        if isinstance(value, list) and value and all(isinstance(e, dict) and "layer" in e for e in value):
            return [_step(e) for e in value]
        if isinstance(value, list) and value and all(isinstance(b, list) for b in value):
            return [back(b) if b else b for b in value]
        return value
    return layer_plan.Step(entry["layer"], {key: back(value) for key, value in entry["options"].items()},
                           entry["width"])


def _sized_by_model(step, registry):
    """Whether the model gives this step its width: a resizing layer whose own width option is unset."""
    cls = registry.get("layers", step.spec) if isinstance(step.spec, str) else step.spec
    return getattr(cls, "resizes", False) and step.options.get(getattr(cls, "width_option", "units")) is None


def _loss(loss, registry):
    """A loss plugin object from a name, a Loss, or a function ``(scores, y) -> (loss, dscores)``."""
    if isinstance(loss, str):
        return registry.get("losses", loss)
    if isinstance(loss, Loss):
        return loss
    if callable(loss):
        return Loss(getattr(loss, "__name__", "loss"), loss)
    raise TypeError(f"loss={loss!r}: expected a loss name, a Loss, or a function (scores, y) -> (loss, dscores)")
