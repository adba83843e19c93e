"""Start a network from another one's trained weights: the same architecture, or a new output layer.

Fine-tuning on a data set with another number of classes keeps every layer but the one that maps
to the classes, which stays as the new network initialised it. Layer state that training
accumulates (batch-norm running statistics) comes along with the weights; the random generators
stay the new network's, so its own seed still decides its dropout masks.
"""
import numpy as np

RANDOM_STATE = "rng"  # the Layer state key of a layer's own generator


def copy_weights(network, trained):
    """Set ``network``'s parameters and layer states to ``trained``'s where the two agree.

    Inputs:
    - network: the ``Network`` about to train (its parameters are overwritten in place);
    - trained: a trained ``Network`` with the same layers (composites and their children too),
      widths, parameter shapes and sample shape; only the layer that maps to the classes may
      differ, when the class counts differ. Options that shape no parameter (dropout's p, a leaky
      ReLU's slope) may differ too.

    Returns ``(copied, fresh)``: the parameter names taken from ``trained``, and those of a new
    output layer left as initialised. Raises ValueError saying where the architectures differ.
    """
    mine, theirs = network.architecture(), trained.architecture()
    if mine["input_shape"] != theirs["input_shape"]:
        raise ValueError(f"it takes samples of shape {tuple(theirs['input_shape'])}, this run's are "
                         f"{tuple(mine['input_shape'])}")
    if [n.step.label for n in network.nodes] != [n.step.label for n in trained.nodes]:
        raise ValueError(f"its layers are {describe(trained)}, this run builds {describe(network)}: expected the same")
    pairs = list(zip(network.nodes, trained.nodes))
    different = [i for i, (a, b) in enumerate(pairs) if _shapes(network, a) != _shapes(trained, b)
                 or a.step.width != b.step.width]
    if different and (different != [_output_layer(network)] or mine["num_classes"] == theirs["num_classes"]):
        raise ValueError(f"its layers are {describe(trained)}, this run builds {describe(network)}: expected the same "
                         f"widths and parameter shapes (only the output layer may differ, for another number "
                         f"of classes)")
    copied, fresh = [], []
    for i, (node, source) in enumerate(pairs):
        if i in different:
            fresh += node.names.values()
            continue
        for local, name in node.names.items():
            np.copyto(network.params[name], trained.params[source.names[local]])
            copied.append(name)
        state = node.layer.get_state()
        state.update({key: value for key, value in source.layer.get_state().items() if key != RANDOM_STATE})
        node.layer.set_state(state)
    return copied, fresh


def describe(network):
    """``affine 100 - relu - affine 100 - relu - affine 10``: a network's layers, with the width of those
    that have parameters; a composite's children in brackets after it."""
    def branch(b):
        return " - ".join(node.step.label + (f" {node.step.width}" if node.step.width is not None and node.names
                                             else "")
                          + "".join(f" [{branch(child)}]" for child in node.branches) for node in b.nodes)
    return branch(network.root)


def _shapes(network, node):
    """The shapes of the parameters of ``node``, by local name."""
    return {local: network.params[name].shape for local, name in node.names.items()}


def _output_layer(network):
    """The index (in ``network.nodes``) of the last layer with parameters: the one that maps to the classes."""
    return max((i for i, node in enumerate(network.nodes) if node.names), default=None)
