"""CS231n's ``cs231n.vis_utils.visualize_grid``: many images (a conv layer's filters) tiled as one."""
import math

import numpy as np


def visualize_grid(Xs, ubound=255.0, padding=1):
    """Tile a 4D array of images into one grid, each image scaled to [0, ubound] on its own.

    Inputs:
    - Xs: images of shape (N, H, W, C), channels last (``W1.transpose(0, 2, 3, 1)`` of a conv layer)
    - ubound: the brightest value of each scaled image
    - padding: blank pixels between neighbouring images

    Returns an array of shape (G * H + (G - 1) * padding, G * W + (G - 1) * padding, C) with
    G = ceil(sqrt(N)), images row by row; a constant image (nothing to scale) stays 0.
    """
    n, h, w, c = Xs.shape
    grid_size = int(math.ceil(math.sqrt(n)))
    grid = np.zeros((h * grid_size + padding * (grid_size - 1), w * grid_size + padding * (grid_size - 1), c))
    for index in range(n):
        row, col = divmod(index, grid_size)
        img = Xs[index]
        low, high = np.min(img), np.max(img)
        y0, x0 = row * (h + padding), col * (w + padding)
        if high > low:
            grid[y0:y0 + h, x0:x0 + w] = ubound * (img - low) / (high - low)
    return grid
