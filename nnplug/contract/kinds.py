"""What each kind of plugin is: the objects the hooks in ``nnplug.contract.hookspecs`` return."""
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


class Layer:
    """A layer plugin. The model creates one instance per position in the network, for the shape
    of one sample it receives (``in_shape``, without the batch axis), and asks it the shape it
    returns (``out_shape``): ``(3, 32, 32) -> conv -> (32, 32, 32) -> pool -> (32, 16, 16)``.

    Subclasses set ``name`` (the registry name), ``description`` (one line), ``options`` (their
    defaults; a config may set them; typed by their defaults or by ``option_types``, see
    ``nnplug.contract.options``), ``regularized`` (local names of the parameters L2 applies to),
    and implement ``forward`` and ``backward`` in the cache style of CS231n; ``output_shape``
    when the layer changes the shape (the default keeps it), ``init_params`` when it has
    parameters. ``check_options`` may refuse values of the right type that the layer cannot work
    with (a probability above 1).

    A layer with ``resizes = True`` maps its input to a width the model gives it: the hidden width
    of an MLP, the number of classes for the last such layer, unless its option named
    ``width_option`` sets the width itself (affine's ``units``, conv's ``filters``). Layers written before
    shapes existed keep working: built as ``Layer(in_dim, out_dim)``, their samples are vectors.

    ``rectifier = True`` marks a ReLU-like layer: a unit whose output stays <= 0 passes (almost) no
    gradient, and the training diagnostics count the units that never fire (``nnplug.core.diagnostics``).

    ``rng`` is the layer's own ``numpy.random.Generator`` (the model derives it from its seed);
    ``input_grad`` is False where nobody needs dx (the first layer), so a layer may skip that work.

    Parameters and what the framework does with them:
    - the network names them: a layer's local names (``W``, ``b``, ``gamma``) with the index of
      the weight layer they belong to (``W1, b1, gamma1, W2, ...``), prefixed by the path of the
      composite layers they sit in (``residual4.body.W1``; see ``Composite``);
    - ``param_kinds`` says what each local name is (weight, bias, scale, shift), so that a config's
      parameter groups can select them by kind (no decay on biases and norms, frozen scales);
    - ``frozen`` names local parameters that never train (a whitening filter computed from data):
      they are checkpointed and logged with the model but the Solver leaves them as they are;
    - ``sample_inputs = k`` asks for ``k`` seeded training inputs as they arrive at this layer when
      the network is built: ``init_params`` then gets them as ``sample=`` (an array ``(k, *in_shape)``,
      or None when the network is rebuilt for saved parameters).
    """

    name: str = ""
    description: str = ""
    resizes: bool = False
    width_option: str = "units"
    rectifier: bool = False
    options: dict = {}
    option_types: dict = {}
    regularized: tuple = ()
    param_kinds: dict = {"W": "weight", "b": "bias", "gamma": "scale", "beta": "shift"}
    frozen: tuple = ()
    sample_inputs: int = 0
    layer_lists: dict = {}  # a Composite's options that hold layers (see Composite)
    check_shape: tuple = (6,)  # the sample shape ``nnplug plugins --check`` builds it for
    check_cases: tuple = ()  # option values it checks besides the defaults, e.g. ({"approximate": False},)

    @classmethod
    def check_options(cls, options):
        """Problems with ``options`` (defaults with the config's values over them), one line each,
        each starting with the option's name; none by default."""
        return []

    def __init__(self, in_shape, out_dim=None, *, dtype=np.float64, rng=None, **options):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"layer {self.name!r} has no option {unknown[0]!r} (its options: {allowed})")
        for key, default in self.options.items():
            setattr(self, key, options.get(key, default))
        self.in_shape = (int(in_shape),) if np.ndim(in_shape) == 0 else tuple(int(d) for d in in_shape)
        self.width = None if out_dim is None else int(out_dim)
        self.dtype = np.dtype(dtype)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.input_grad = True
        self.out_shape = tuple(int(d) for d in self.output_shape(self.in_shape))

    def output_shape(self, in_shape):
        """The shape of one sample this layer returns for samples of ``in_shape``; ``in_shape`` by default
        (a resizing layer: its width)."""
        if self.resizes and self.width is not None:
            return (self.width,)
        return in_shape

    @property
    def in_dim(self):
        """Values in one input sample (the fan-in of a layer that flattens its input)."""
        return int(np.prod(self.in_shape))

    @property
    def out_dim(self):
        """Values in one output sample."""
        return int(np.prod(self.out_shape))

    def init_params(self, rng, init="gaussian", weight_scale=1e-2):
        """Return this layer's parameters by local name (``W``, ``gamma``, ...); none by default."""
        return {}

    def forward(self, x, params, mode):
        """Return ``(out, cache)``; ``mode`` is 'train' or 'test'."""
        raise NotImplementedError

    def backward(self, dout, cache):
        """Return ``(dx, grads)`` with ``grads`` keyed like the layer's parameters."""
        raise NotImplementedError

    def fuse(self, following):
        """Offer to run this layer together with the layers that follow it in the network.

        ``following`` lists the layer instances after this one. Return ``(runner, count)`` where
        ``runner`` stands for this layer and the next ``count - 1``; or None (the default) to run
        alone. ``runner.forward(x, params, mode)`` gets ``params`` as a list of ``count`` dicts,
        each layer's parameters by their local names, and returns ``(out, cache)``;
        ``runner.backward(dout, cache)`` returns ``(dx, grads)`` with ``grads`` a list like
        ``params``. The fused layers stay in the network and keep their parameters and state: a
        fused path is only faster arithmetic, never a different model.
        """
        return None

    def get_state(self):
        """Everything besides parameters that a checkpoint must hold (running statistics, RNG state).

        Values are numpy arrays or JSON-serialisable objects. Subclasses with buffers extend it.
        """
        return {"rng": self.rng.bit_generator.state}

    def set_state(self, state):
        """Restore what ``get_state`` returned."""
        self.rng.bit_generator.state = state["rng"]


class Composite(Layer):
    """A layer made of child layers: a residual block, parallel branches, a named group of layers.

    Options named in ``layer_lists`` hold layers, written as a model's ``layers`` is (names, names
    with options, ``repeat`` and ``widths`` entries, blocks): ``{"layers": 1}`` for an option that
    holds one layer list, ``{"branches": 2}`` for one that holds a list of layer lists. The
    framework expands them (an enclosing ``widths`` entry's width reaches the resizing layers
    inside) before the composite is made.

    The composite builds its children in ``output_shape``, through ``self.child(layers, in_shape,
    name)``, which the framework provides: it builds ``layers`` (a layer list, or one the composite
    writes itself, like a projection shortcut) through the network's own registry, names their
    parameters under the composite's path and ``name`` (``residual4.body.W1``), and returns a
    branch with ``in_shape``, ``out_shape``, ``forward(x, mode) -> (out, cache)`` and
    ``backward(dout, cache) -> dx``; the branch fetches its layers' parameters and stores their
    gradients itself, fused where its layers offer it. The composite's own ``forward`` and
    ``backward`` only combine its branches: a residual block returns ``x + body(x)`` and passes
    ``dout + body.backward(dout)`` down. Its own parameters, if any, are declared and handled as
    any layer's.

    A composite with a ``label`` option gives its children that path instead of
    ``<name><position>`` (``stem.W1`` rather than ``sequence1.W1``).
    """

    def __init__(self, in_shape, out_dim=None, *, child=None, **options):
        if child is None:
            raise TypeError(f"composite layer {self.name!r} is built by a network, which gives it child=")
        self.child = child
        super().__init__(in_shape, out_dim, **options)


class Transform:
    """A training-time transform plugin (data augmentation): changes each training minibatch.

    The Solver creates one instance per transform for the shape of one training sample
    (``in_shape``, without the batch axis) with its own ``rng`` (a ``numpy.random.Generator``
    derived from the run's seed), and calls it on every minibatch before the forward pass,
    never on validation or test data. ``__call__(x)`` takes the minibatch ``(N, *in_shape)``
    (a fresh copy the transform may change in place) and returns the transformed batch of the
    same shape and dtype.

    Subclasses set ``name``, ``description``, ``options`` (defaults; typed by them or
    ``option_types``), ``check_shape`` (the sample shape ``nnplug plugins --check`` uses), may
    refuse values in ``check_options`` and samples they cannot take in ``__init__`` (ValueError),
    and implement ``__call__``. Everything random must come from ``self.rng``: its state is
    checkpointed, so a resumed run draws exactly what an uninterrupted one would.

    Before every minibatch the Solver calls ``set_epoch(epoch)`` with the number of epochs done
    (0 in the first), which a transform that changes by epoch reads as ``self.epoch``.
    """

    name: str = ""
    description: str = ""
    options: dict = {}
    option_types: dict = {}
    check_shape: tuple = (3, 8, 8)

    @classmethod
    def check_options(cls, options):
        """Problems with ``options``, one line each starting with the option's name; none by default."""
        return []

    def __init__(self, in_shape, *, rng=None, **options):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            allowed = ", ".join(sorted(self.options)) or "none"
            raise ValueError(f"transform {self.name!r} has no option {unknown[0]!r} (its options: {allowed})")
        for key, default in self.options.items():
            setattr(self, key, options.get(key, default))
        self.in_shape = (int(in_shape),) if np.ndim(in_shape) == 0 else tuple(int(d) for d in in_shape)
        self.rng = rng if rng is not None else np.random.default_rng()

    epoch = 0

    def __call__(self, x):
        raise NotImplementedError

    def set_epoch(self, epoch):
        """The Solver's epoch count before each minibatch: the epoch is the Solver's state, not the transform's."""
        self.epoch = int(epoch)

    def get_state(self):
        return {"rng": self.rng.bit_generator.state}

    def set_state(self, state):
        self.rng.bit_generator.state = state["rng"]


def check_mode(mode):
    if mode not in ("train", "test"):
        raise ValueError(f"Invalid forward mode {mode!r}: expected 'train' or 'test'")
    return mode


@dataclass(frozen=True)
class Loss:
    """A loss plugin: ``fn(scores (N, C), y (N,), **options) -> (loss, dscores)``.

    ``options`` are its options' defaults (``loss.smoothing=0.1`` sets one), typed by them or by
    ``option_types``; ``check(options)`` returns problems with their values, one line each.
    """

    name: str
    fn: Callable
    description: str = ""
    options: dict = field(default_factory=dict)
    option_types: dict = field(default_factory=dict)
    check: Callable | None = None
    check_cases: tuple = ()  # option values ``nnplug plugins --check`` checks besides the defaults

    def __call__(self, scores, y, **options):
        return self.fn(scores, y, **options)


@dataclass(frozen=True)
class UpdateRule:
    """An update-rule plugin: ``fn(w, dw, config, out=None) -> (next_w, config)``.

    ``config`` is a per-parameter dict the rule fills with ``defaults`` and its own state. With
    ``out`` given (``out=w`` for in place) the rule writes the step there instead of allocating.
    The hyperparameters are typed by ``defaults`` or ``option_types``; ``check(hyperparameters)``
    returns problems with their values, one line each.
    """

    name: str
    fn: Callable
    defaults: dict = field(default_factory=dict)
    description: str = ""
    option_types: dict = field(default_factory=dict)
    check: Callable | None = None

    def __call__(self, w, dw, config=None, out=None):
        return self.fn(w, dw, config, out=out)


@dataclass(frozen=True)
class Dataset:
    """A data-set plugin: ``load(**options) -> dict`` of raw splits.

    The dict holds ``X_train, y_train, X_test, y_test`` (and ``X_val, y_val`` where the data set
    defines its own validation split) plus ``class_names``; ``nnplug.data.prepare`` does the rest.
    """

    name: str
    load: Callable[..., dict]
    description: str = ""
    options: dict = field(default_factory=dict)
    option_types: dict = field(default_factory=dict)
    check: Callable | None = None
    val_size: int | None = None  # training rows held out for validation unless a config says otherwise

    def __call__(self, **options) -> Any:
        return self.load(**options)
