"""What a model folder claims, checked before it is believed: a folder may have been changed by anyone.

A model is read only from inside its own folder (no file that leads out of it by a symlink), its
archives are read only as nnplug writes them (``checkpoint.check_archive``: uncompressed members,
each once), and the sizes its description asks for are checked against the arrays it stores
before any array is made: a description that says 50,000 units where the stored weights have 100
would otherwise have the network allocate gigabytes before the weights are compared.
"""
import os
import zipfile

import numpy as np

from nnplug.core import checkpoint

HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def inside(folder, name):
    """The path of ``name`` in ``folder``; ValueError when it leads out of the folder (a symlink, ``..``)."""
    path = os.path.join(folder, name)
    root = os.path.realpath(folder)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        raise ValueError(f"{path} leads out of the model's folder, to {os.path.realpath(path)}")
    return path


def stored_shapes(path):
    """``{name: shape}`` of the arrays in the ``.npz`` at ``path``, read from their headers alone.

    Raises ValueError (or zipfile's and numpy's errors) for an archive nnplug did not write this way.
    """
    checkpoint.check_archive(path)
    shapes = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"member {info.filename} is not an array")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in HEADERS:
                    raise ValueError(f"member {info.filename} is in .npy format {version}, not one numpy writes for np.savez")
                shape, _, dtype = HEADERS[version](member)
            if dtype.hasobject or np.dtype(dtype).itemsize * int(np.prod(shape)) > info.file_size:
                raise ValueError(f"member {info.filename} holds more than its {info.file_size} bytes")
            shapes[info.filename[:-len(".npy")]] = tuple(shape)
    return shapes


def size_problem(architecture, shapes, registry):
    """The first size ``architecture`` asks for that the stored parameters (``{name: shape}``) cannot
    have, as one line; None when every one fits.

    Each resizing layer's width (the width its option sets, else the one the model gave it), inside
    composite layers too, and the number of classes must be the length of some axis of a stored
    parameter: a layer of width w holds parameters with an axis of w (the columns of an affine, the
    filters of a conv). Layers are numbered depth first.
    """
    axes = {d for shape in shapes.values() for d in shape}
    listed = ", ".join(f"{name} {shape}" for name, shape in sorted(shapes.items())) or "none"
    claims = [(f"num_classes {architecture['num_classes']}", architecture["num_classes"])]
    for position, entry in enumerate(_entries(architecture["layers"]), 1):
        cls = registry.get("layers", entry["layer"])
        if getattr(cls, "resizes", False):
            width = (entry.get("options") or {}).get(getattr(cls, "width_option", "units")) or entry.get("width")
            if width is not None:
                claims.append((f"layer {position} {entry['layer']!r} of width {width}", width))
    for claim, value in claims:
        if not isinstance(value, int) or isinstance(value, bool) or value not in axes:
            return f"{claim}: no stored parameter has an axis of that length (they are {listed})"
    return None


def _entries(entries):
    """Every layer entry of an architecture's layer list, depth first: those in a composite's options
    (a layer list, or a list of them) after the composite."""
    for entry in entries:
        yield entry
        for value in (entry.get("options") or {}).values():
            for item in value if isinstance(value, list) else ():
                if isinstance(item, dict) and "layer" in item:
                    yield from _entries([item])
                elif isinstance(item, list):
                    yield from _entries([e for e in item if isinstance(e, dict) and "layer" in e])
