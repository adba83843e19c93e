"""Networks composed from layer plugins by name: ``{block} x (L-1) - affine - loss``."""
import numpy as np

from nnplug.contract.registry import default_registry


# The output layer feeds no ReLU, so He's or Xavier's gain would make its first scores large and
# the first losses well above log(C): it is drawn small instead (the variance of PyTorch's default
# nn.Linear init). "gaussian" keeps CS231n's weight_scale for every layer.
OUTPUT_INIT = {"he": "small", "xavier": "small"}


class Network:
    """A stack of layer plugins with the CS231n model contract: ``params`` and ``loss(X, y=None)``.

    Parameters are named by their layer's local name and the index of their hidden block
    (``W1, b1, gamma1, ...``); the output affine layer's are ``W<L>, b<L>``.

    Consecutive layers that offer it (``Layer.fuse``, e.g. affine-batchnorm-relu) run as one fused
    step: the same model up to rounding, fewer passes over memory. ``fuse=False`` runs every layer
    on its own.
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, block=("affine", "relu"),
                 loss="softmax", dropout=0.0, init="gaussian", weight_scale=1e-2, reg=0.0,
                 dtype=np.float64, seed=None, layer_options=None, registry=None, fuse=True):
        registry = registry or default_registry()
        self.reg = reg
        self.dtype = np.dtype(dtype)
        self.hidden_dims = [int(h) for h in hidden_dims]
        self.num_layers = len(self.hidden_dims) + 1
        self.block = list(block) + (["dropout"] if dropout else [])
        layer_options = {name: dict(opts) for name, opts in (layer_options or {}).items()}
        if dropout:
            layer_options.setdefault("dropout", {})["p"] = dropout
        self.loss_fn = registry.get("losses", loss)

        # one stream for the weights, one per layer for what it draws while training (dropout).
        # Without a seed, numpy's global generator picks one: CS231n drew its weights from it, so
        # a notebook that calls np.random.seed(...) first gets the same network every time.
        if seed is None:
            seed = int(np.random.randint(2 ** 31))
        init_seq, layer_seq = np.random.SeedSequence(seed).spawn(2)
        init_rng = np.random.default_rng(init_seq)
        plan = [(i, name, h) for i, h in enumerate(self.hidden_dims, 1) for name in self.block]
        plan.append((self.num_layers, "affine", num_classes))
        layer_rngs = [np.random.default_rng(s) for s in layer_seq.spawn(len(plan))]

        self.params = {}
        self.layers = []  # (layer, {local param name: global param name})
        self.regularized = []
        dim = int(np.prod(input_dim))
        for (index, name, width), rng in zip(plan, layer_rngs):
            layer = registry.get("layers", name)(dim, width, dtype=self.dtype, rng=rng,
                                                 **layer_options.get(name, {}))
            names = {}
            rule = OUTPUT_INIT.get(init, init) if index == self.num_layers else init
            for local, value in layer.init_params(init_rng, rule, weight_scale).items():
                names[local] = self._unique_name(f"{local}{index}")
                self.params[names[local]] = value.astype(self.dtype, copy=False)
            self.regularized += [names[local] for local in layer.regularized]
            self.layers.append((layer, names))
            dim = layer.out_dim
        if self.layers:
            self.layers[0][0].input_grad = False
        self._runs = self._plan_runs() if fuse else self.layers

    def _plan_runs(self):
        """``(runner, names)`` per step of the forward pass, where layers that offer it run fused."""
        runs, i = [], 0
        while i < len(self.layers):
            layer, names = self.layers[i]
            fuse = getattr(layer, "fuse", None)  # layers written before fusing existed lack it
            offer = fuse([other for other, _ in self.layers[i + 1:]]) if fuse else None
            if offer is not None:
                runner, count = offer
                merged = {}
                for _, part_names in self.layers[i:i + count]:
                    merged.update(part_names)
                runs.append((runner, merged))
                i += count
            else:
                runs.append((layer, names))
                i += 1
        return runs

    def _unique_name(self, name):
        candidate, k = name, 1
        while candidate in self.params:
            k += 1
            candidate = f"{name}_{k}"
        return candidate

    def loss(self, X, y=None):
        """Scores ``(N, C)`` in test mode without ``y``; ``(loss, grads)`` in train mode with it."""
        mode = "test" if y is None else "train"
        params = self.params
        out = X if X.dtype == self.dtype else X.astype(self.dtype)
        caches = []
        for layer, names in self._runs:
            out, cache = layer.forward(out, {local: params[g] for local, g in names.items()}, mode)
            caches.append(cache)
        if y is None:
            return out

        loss, dout = self.loss_fn(out, y)
        grads = {}
        for (layer, names), cache in zip(reversed(self._runs), reversed(caches)):
            dout, layer_grads = layer.backward(dout, cache)
            for local, g in names.items():
                grads[g] = layer_grads[local]
        if self.reg:
            for name in self.regularized:
                w = params[name].ravel(order="K")  # a view in either layout (ravel() copies an F array)
                loss += 0.5 * self.reg * float(w @ w)
                grads[name] += self.reg * params[name]
        return loss, grads

    def get_state(self):
        """Per-layer state (running statistics, random generators) for checkpoints."""
        return [layer.get_state() for layer, _ in self.layers]

    def set_state(self, states):
        for (layer, _), state in zip(self.layers, states):
            layer.set_state(state)
