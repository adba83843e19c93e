"""Which layers one HWNC conv chain runs, and in what steps (``nnplug_std.layers.conv_chain`` runs them).

Which layers the chain computes is said by their classes themselves: a class's own
``chain_role`` ('conv', 'bn', 'relu', 'gelu', 'pool', 'residual'), read from the class body only,
so that a subclass, which may compute something else, runs on its own unless it declares the role
itself. A residual block joins when all of its branches' layers do (its shortcut an identity, a
projection of such layers, or zero-padded or pooled, on maps).

The steps (``flatten``): each run of plain layers is scheduled by ``schedule``; a residual block
becomes ``save`` (its input kept for the shortcut), its body's steps, ``swap`` (the body's output
kept, the input taken up again), its shortcut's steps (or ``reshape`` for a padded or pooled one),
``add``, and its activation's steps (``add_relu``: the addition and a ReLU after it in one pass). A step names its layers by their index in the chain's list
of layers (``slots``), which holds a residual block's child layers too, each with where its
parameters are: an index into the runner's own parameters, or its branch and node.
"""
from dataclasses import dataclass

ACTIVATIONS = ("relu", "gelu")
SHORTCUTS = ("identity", "projection", "pad", "pool")


def role(layer):
    """What the chain computes for ``layer``: its class's own ``chain_role``, or None."""
    return vars(type(layer)).get("chain_role")


def winograd_fits(conv):
    return conv.size == 3 and conv.stride == 1 and 0 <= conv.padding <= 2


def pools_pairs(pool):
    """2x2 windows, stride 2, on maps of at least 2x2: what the HWNC max pool takes."""
    return len(pool.in_shape) == 3 and pool.size == 2 and pool.stride in (None, 2) and min(pool.in_shape[1:]) >= 2


def branches(block):
    """A residual block's branches, in the order its steps run them: body, shortcut (or None), activation (or None)."""
    return block.body, block.short, block.act


def joins(layer):
    """Whether the chain computes ``layer`` (see the module)."""
    kind = role(layer)
    if kind in ("bn", "conv", *ACTIVATIONS):
        return len(layer.in_shape) in (2, 3) if kind != "conv" else len(layer.in_shape) == 3
    if kind == "pool":
        return pools_pairs(layer)
    if kind == "residual":
        return (len(layer.in_shape) == len(layer.out_shape) == 3 and layer.kind in SHORTCUTS
                and all(joins(node.layer) for branch in branches(layer) if branch is not None for node in branch.nodes))
    return False


def plan(conv, following):
    """The layers one chain from ``conv`` on runs, ``[conv, ...]``; empty when not even two fit.

    The chain starts at a convolution of images; it takes every later layer that ``joins`` and
    stops at the first other one, unless that is an affine layer (the net's head: it runs as itself,
    after the chain's maps are channels-first again, its products shared out with the chain's).
    """
    if role(conv) != "conv" or len(conv.in_shape) != 3:
        return []
    taken = [conv]
    for layer in following:
        if not joins(layer):
            if role(layer) == "affine":
                taken.append(layer)
            break
        taken.append(layer)
    return taken if len(taken) > 1 else []


@dataclass
class Slot:
    """A layer the chain runs and where its parameters are: ``source`` is an index into the runner's
    parameters, or ``(branch, node)`` for a layer inside a residual block."""

    layer: object
    source: object


def flatten(layers, sources, slots=None, steps=None):
    """``(slots, steps)`` of ``layers`` (with their parameters' ``sources``); see the module."""
    slots = [] if slots is None else slots
    steps = [] if steps is None else steps
    segment = []

    def close():
        if segment:
            roles = [role(slots[s].layer) for s in segment]
            biased = [kind == "conv" and bool(slots[s].layer.bias) for kind, s in zip(roles, segment)]
            for step in schedule(roles, biased):
                steps.append((step[0], *(None if i is None else segment[i] for i in step[1:])))
            segment.clear()

    for layer, source in zip(layers, sources):
        if role(layer) != "residual":
            slots.append(Slot(layer, source))
            segment.append(len(slots) - 1)
            continue
        close()
        r = len(slots)
        slots.append(Slot(layer, source))
        body, short, act = branches(layer)
        steps.append(("save", r))
        flatten([n.layer for n in body.nodes], [(body, n) for n in body.nodes], slots, steps)
        steps.append(("swap", r))
        if short is not None:
            flatten([n.layer for n in short.nodes], [(short, n) for n in short.nodes], slots, steps)
        elif layer.out_shape != layer.in_shape:
            steps.append(("reshape", r))
        if act is not None and [role(n.layer) for n in act.nodes] == ["relu"]:  # add and relu in one pass
            slots.append(Slot(act.nodes[0].layer, (act, act.nodes[0])))
            steps.append(("add_relu", r, len(slots) - 1))
            continue
        steps.append(("add", r))
        if act is not None:
            flatten([n.layer for n in act.nodes], [(act, n) for n in act.nodes], slots, steps)
    close()
    return slots, steps


def schedule(roles, biased):
    """The chain's steps, in order, from its layers' roles and which of its convs have biases.

    Each step is ``(kind, index)``, or ``("bn", index, activation index or None)`` for a batch norm
    and the activation it runs with: ``conv`` (``image`` or ``winograd`` is decided when it runs),
    ``pool``, ``bias`` (a conv's bias added here), ``relu``, ``gelu``. Two rewrites, both exact:

    - a ReLU right before a max pool runs after it, on a quarter of the values (max and ReLU
      commute, and so do their gradients: a window's gradient reaches its first maximum where that
      is positive);
    - a conv's bias is added where the next layer but a max pool needs it (adding a constant
      commutes with the max), or left to a batch norm, which removes it.
    """
    order, i = [], 0
    while i < len(roles):
        if roles[i] == "relu" and i + 1 < len(roles) and roles[i + 1] == "pool":
            order += [i + 1, i]
            i += 2
        else:
            order.append(i)
            i += 1
    steps, pending, skip = [], None, set()
    for position, i in enumerate(order):
        kind = roles[i]
        if i in skip:
            continue
        if kind == "pool":
            steps.append(("pool", i))
            continue
        if kind == "bn":
            after = order[position + 1] if position + 1 < len(order) else None
            act = after if after is not None and roles[after] in ACTIVATIONS else None
            steps.append(("bn", i, act, pending))  # the pending bias goes to batch norm, which removes it
            skip.add(act)
            pending = None
            continue
        if pending is not None:
            steps.append(("bias", pending))
            pending = None
        steps.append((kind, i))
        if kind == "conv" and biased[i]:
            pending = i
    if pending is not None:
        steps.append(("bias", pending))
    return steps


