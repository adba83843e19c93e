"""The conv nets ``bench/conv_models.py`` times, built by nnplug's registry into a ``Network``.

- ``cifar10_vgg``: the net of ``conf/experiment/cifar10_vgg.yaml`` as Hydra composes it;
- ``cifar10_fast``: airbench94's net (Keller Jordan, 2024) as ``conf/experiment/cifar10_fast.yaml``
  composes it (``conf/model/airbench94.yaml``): a frozen 2x2 whitening conv (3 -> 24) and GELU,
  three groups of conv 3x3 - 2x2 max pool - batch norm - GELU - conv 3x3 - batch norm - GELU at 64,
  256, 256 filters (convs without biases, identity-initialised in part, batch norm momentum 0.6 and
  eps 1e-12), a 3x3 max pool, a linear layer without bias and its scores times 1/9;
- ``resnet20``: the CIFAR ResNet-20 of He et al. as ``conf/experiment/cifar10_resnet.yaml`` trains
  it (``conf/model/resnet.yaml``: n=3, widths 16, 32, 64, padded shortcuts where a stage halves the
  maps); ``resnet20_plain`` is the same layers without the shortcuts and their additions (each
  block's layers in a row), to price the skips;
- ``three_layer``: CS231n's ``ThreeLayerConvNet`` with its defaults (32 7x7 filters, 100 hidden).

All float32, weights drawn with seed 0.
"""
import numpy as np

SEED = 0
INPUT_SHAPE, NUM_CLASSES = (3, 32, 32), 10
NETS = ("cifar10_vgg", "cifar10_fast", "resnet20", "resnet20_plain", "three_layer")
UPDATE = {"cifar10_fast": ("nesterov", 0.85)}  # airbench94's; the others: SGD with momentum 0.9
DEFAULT_UPDATE = ("sgd_momentum", 0.9)


def resnet20(skips=True):
    """ResNet-20's layer list: padded shortcuts (He et al.'s option A) where a block changes the shape;
    without ``skips`` each block's layers follow one another with the relu that came after the add."""
    def block(stride):
        body = [{"conv": {"stride": stride}}, "spatial_batchnorm", "relu", "conv", "spatial_batchnorm"]
        if not skips:
            return [*body, "relu"]
        return [{"residual": {"layers": body, "shortcut": "pad" if stride > 1 else "identity",
                              "activation": "relu"}}]

    stages = []
    for i, width in enumerate((16, 32, 64)):
        stages.append({"widths": [width], "layers": [*block(2 if i else 1), *block(1), *block(1)]})
    return [{"conv": {"filters": 16}}, "spatial_batchnorm", "relu", *stages, "global_avg_pool", "affine"]


def _composed(experiment):
    """The model options of a preset as Hydra composes it, validated as the command validates them."""
    from hydra import compose, initialize_config_module

    from nnplug.app import plugin_configs, schema
    from nnplug.app.experiment import network_options
    from nnplug.app.validate import validate
    from nnplug.contract.registry import default_registry

    schema.register()
    plugin_configs.register()
    with initialize_config_module("nnplug.conf", version_base="1.3"):
        settings = validate(compose("config", overrides=[f"experiment={experiment}", "model.reg=0"]),
                            default_registry())
    return network_options(settings["model"])


def build(net, sample=None):
    """The nnplug model of ``net``, float32, its weights drawn with seed 0; ``sample``: training inputs
    for a layer built from data (the whitening layer), e.g. the first 5,000 training images."""
    from nnplug.core.network import Network

    if net == "three_layer":
        from nnplug.core.classic_models import ThreeLayerConvNet
        np.random.seed(SEED)  # CS231n's classes draw from numpy's global generator
        return ThreeLayerConvNet(dtype=np.float32)
    if net in ("cifar10_vgg", "cifar10_fast"):
        options = _composed(net)
    else:
        options = {"layers": resnet20(skips=net == "resnet20"), "init": "he"}
    options.update(dtype="float32", seed=SEED, reg=0.0)
    return Network(input_dim=INPUT_SHAPE, num_classes=NUM_CLASSES, sample=sample, **options)


def update_rule(net):
    """``(name, momentum)`` of the update rule both sides take for ``net``."""
    return UPDATE.get(net, DEFAULT_UPDATE)


def step_flops(model, batch):
    """Multiply-adds of one training step of a direct convolution, as flops (2 per multiply-add): forward,
    dW (unless frozen) and dx (unless the layer is first) of every conv, whitening and affine layer."""
    flops = 0
    for layer, names in model.layers:
        if "W" not in names or not hasattr(layer, "out_shape"):
            continue
        w = model.params[names["W"]]
        per_output = int(np.prod(w.shape[1:])) if w.ndim == 4 else w.shape[0]
        passes = 1 + ("W" not in getattr(layer, "frozen", ())) + bool(layer.input_grad)
        flops += 2 * batch * int(np.prod(layer.out_shape)) * per_output * passes
    return flops
