"""Networks composed from layer plugins, each built for the shape the layer before it returns."""
import numpy as np

from nnplug.contract.kinds import Loss
from nnplug.contract.registry import PluginError, default_registry
from nnplug.core import layer_plan

# The output layer feeds no ReLU, so He's or Xavier's gain would make its first scores large and
# the first losses well above log(C): it is drawn small instead (the variance of PyTorch's default
# nn.Linear init). "gaussian" keeps CS231n's weight_scale for every layer.
OUTPUT_INIT = {"he": "small", "xavier": "small"}


class LayerError(PluginError):
    """A layer failed while training; the message names it, where it sits and what it was given."""


class Network:
    """A sequence of layer plugins with the CS231n model contract: ``params`` and ``loss(X, y=None)``.

    Inputs:
    - hidden_dims, block, dropout: an MLP, ``{block} x len(hidden_dims) - affine``, the block's
      resizing layer given each hidden width (``dropout`` > 0 appends dropout to each block);
    - layers: instead, any sequence of layers (see ``nnplug.core.layer_plan``): names, Layer
      classes, or either with options, e.g. ``[{"conv": {"filters": 32, "size": 3}}, "relu",
      {"max_pool": {"size": 2}}, "affine"]``, and ``repeat`` and ``widths`` entries;
    - input_dim: the shape of one sample (an int for vectors); num_classes: C, the width of the
      last resizing layer that names none;
    - loss: a registered name, a Loss, or a function ``(scores, y) -> (loss, dscores)``;
      loss_options: its options;
    - init ('gaussian', 'he', 'xavier'), weight_scale (for 'gaussian'), reg (L2 on the weights of
      layers that declare them ``regularized``), dtype, seed (the network's own generators: the
      weights, dropout masks; without one, numpy's global generator picks it);
    - layer_options: options by layer name, for every layer of that name;
    - registry: where names are looked up (default: the installed plugins); fuse: let layers
      that offer it run together (``Layer.fuse``: the same model up to rounding, fewer passes).

    Parameters are named by their local name and an index that grows at each layer with a weight
    matrix ``W`` (``W1, b1, gamma1, beta1, W2, ...``), as in CS231n's models.
    """

    def __init__(self, hidden_dims=(), input_dim=3 * 32 * 32, num_classes=10, block=("affine", "relu"),
                 loss="softmax", dropout=0.0, init="gaussian", weight_scale=1e-2, reg=0.0,
                 dtype=np.float64, seed=None, layer_options=None, registry=None, fuse=True, layers=None,
                 loss_options=None):
        registry = registry or default_registry()
        self.reg = reg
        self.dtype = np.dtype(dtype)
        self.hidden_dims = [int(h) for h in hidden_dims]
        steps = layer_plan.expand(layers if layers is not None else layer_plan.mlp(self.hidden_dims, block, dropout))
        steps = layer_plan.with_defaults(steps, {k: dict(v) for k, v in (layer_options or {}).items()})
        self.loss_fn = _loss(loss, registry)
        self.loss_options = dict(loss_options or {})
        self.num_classes = int(num_classes)

        # one stream for the weights, one per layer for what it draws while training (dropout).
        # Without a seed, numpy's global generator picks one, so that np.random.seed(...) first
        # gives the same network every time.
        if seed is None:
            seed = int(np.random.randint(2 ** 31))
        init_seq, layer_seq = np.random.SeedSequence(seed).spawn(2)
        init_rng = np.random.default_rng(init_seq)
        layer_rngs = [np.random.default_rng(s) for s in layer_seq.spawn(len(steps))]

        self.params = {}
        self.layers = []  # (layer, {local param name: global param name})
        self.labels = []  # how errors name each layer
        self.regularized = []
        self.input_shape = (int(input_dim),) if np.ndim(input_dim) == 0 else tuple(int(d) for d in input_dim)
        shape, index = self.input_shape, 0
        last = max((i for i, s in enumerate(steps) if _sized_by_model(s, registry) and s.width is None), default=None)
        self.steps = []  # each layer as built: plugin, options, width (``architecture``)
        for position, (step, rng) in enumerate(zip(steps, layer_rngs)):
            cls, label = _layer_class(step.spec, registry)
            width = num_classes if position == last else step.width
            try:
                layer = cls(shape, width, dtype=self.dtype, rng=rng, **step.options) if width is not None \
                    else cls(shape, dtype=self.dtype, rng=rng, **step.options)
            except (TypeError, ValueError) as exc:  # the options or the shape do not fit this layer
                raise type(exc)(f"layer {position + 1} {label}: {exc}") from None
            rule = OUTPUT_INIT.get(init, init) if position == last else init
            local_params = layer.init_params(init_rng, rule, weight_scale)
            index += "W" in local_params
            names = {}
            for local, value in local_params.items():
                names[local] = self._unique_name(f"{local}{index}")
                self.params[names[local]] = value.astype(self.dtype, copy=False)
            self.regularized += [names[local] for local in layer.regularized if local in names]
            self.layers.append((layer, names))
            self.labels.append(f"layer {position + 1} {label}")
            self.steps.append(layer_plan.Step(step.spec, dict(step.options), width))
            shape = layer.out_shape
        self.num_layers = index
        if shape != (num_classes,):
            raise ValueError(f"the network's output is {shape} per sample, not the {num_classes} classes' "
                             f"scores: end it with a resizing layer (affine) that names no size")
        if self.layers:
            self.layers[0][0].input_grad = False
        self._runs = self._plan_runs() if fuse else [(layer, names, [i]) for i, (layer, names)
                                                     in enumerate(self.layers)]

    def _plan_runs(self):
        """``(runner, names, positions)`` per step of the forward pass; layers that offer it run fused.

        ``names`` maps the runner's local parameter names to global ones: one dict for a layer
        running alone, a list of them, one per layer, for a fused runner (``Layer.fuse``).
        """
        runs, i = [], 0
        while i < len(self.layers):
            layer, names = self.layers[i]
            fuse = getattr(layer, "fuse", None)  # layers written before fusing existed lack it
            offer = fuse([other for other, _ in self.layers[i + 1:]]) if fuse else None
            if offer is None:
                runs.append((layer, names, [i]))
                i += 1
                continue
            runner, count = offer
            runs.append((runner, [part for _, part in self.layers[i:i + count]], list(range(i, i + count))))
            i += count
        return runs

    def _unique_name(self, name):
        candidate, k = name, 1
        while candidate in self.params:
            k += 1
            candidate = f"{name}_{k}"
        return candidate

    def loss(self, X, y=None):
        """Scores ``(N, C)`` in test mode without ``y``; ``(loss, grads)`` in train mode with it.

        A layer that raises is named in a ``LayerError``: its position, plugin, distribution,
        pass (forward or backward) and the shape it was given.
        """
        mode = "test" if y is None else "train"
        params = self.params
        out = X if X.dtype == self.dtype else X.astype(self.dtype)
        caches = []
        for layer, names, positions in self._runs:
            try:
                out, cache = layer.forward(out, _pick(params, names), mode)
            except Exception as exc:
                raise self._failed(positions, "forward", out, exc) from exc
            caches.append(cache)
        if y is None:
            return out

        loss, dout = self.loss_fn(out, y, **self.loss_options)
        grads = {}
        for (layer, names, positions), cache in zip(reversed(self._runs), reversed(caches)):
            try:
                dout, layer_grads = layer.backward(dout, cache)
                for part_names, part_grads in (zip(names, layer_grads) if isinstance(names, list)
                                               else [(names, layer_grads)]):
                    for local, g in part_names.items():
                        grads[g] = part_grads[local]
            except Exception as exc:
                raise self._failed(positions, "backward", dout, exc) from exc
        if self.reg:
            for name in self.regularized:
                w = params[name].ravel(order="K")  # a view in either layout (ravel() copies an F array)
                loss += 0.5 * self.reg * float(w @ w)
                grads[name] += self.reg * params[name]
        return loss, grads

    def _failed(self, positions, where, given, exc):
        if isinstance(exc, LayerError):
            return exc
        shape = getattr(given, "shape", None)
        what = f"an array of shape {shape}" if shape is not None else f"a {type(given).__name__}"
        labels = " with ".join(self.labels[p] for p in positions)
        return LayerError(f"{labels} failed in its {where} pass on {what}: {type(exc).__name__}: {exc}")

    def architecture(self):
        """The network as plain data (JSON-serialisable): every layer by its registered name with its
        options and the width the model gave it, the sample shape, classes, loss and dtype.

        ``Network.from_architecture`` builds the same network from it (with fresh parameters; a
        saved model sets its own). Layers and losses given as classes or functions have no name
        to record: ValueError.
        """
        unnamed = [s.label for s in self.steps if not isinstance(s.spec, str)]
        if unnamed or not isinstance(self.loss_fn, Loss) or not self.loss_fn.name:
            raise ValueError(f"only a network of registered plugins can be written down as data; "
                             f"{', '.join(unnamed) or 'its loss'} is not one")
        return {
            "layers": [{"layer": s.spec, "options": s.options, "width": s.width} for s in self.steps],
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
        steps = [layer_plan.Step(entry["layer"], dict(entry["options"]), entry["width"]) for entry in a["layers"]]
        return cls(layers=steps, input_dim=tuple(a["input_shape"]), num_classes=a["num_classes"], loss=a["loss"],
                   loss_options=a["loss_options"], dtype=a["dtype"], reg=a.get("reg", 0.0), **options)

    def get_state(self):
        """Per-layer state (running statistics, random generators) for checkpoints."""
        return [layer.get_state() for layer, _ in self.layers]

    def set_state(self, states):
        for (layer, _), state in zip(self.layers, states):
            layer.set_state(state)


def _pick(params, names):
    """The parameters a runner gets: by local name, or a list of such dicts for a fused runner."""
    if isinstance(names, list):
        return [{local: params[g] for local, g in part.items()} for part in names]
    return {local: params[g] for local, g in names.items()}


def _layer_class(spec, registry):
    """The Layer class of a step and how errors name it: ``'swish' (nnplug-swish 0.1.0)``."""
    if isinstance(spec, str):
        info = registry.info("layers", spec)
        return info.obj, f"{spec!r} ({info.dist} {info.version})"
    return spec, f"{getattr(spec, 'name', '') or spec.__name__!r} ({spec.__module__})"


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
