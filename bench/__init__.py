"""nnplug's benchmark suite: not part of the tests. Run it from the repository root:

    pip install -e '.[bench]'      # PyTorch 2.13 CPU and threadpoolctl, for comparison only
    python -m bench                # the full table, 1 and 2 BLAS threads, and the launcher comparison
                                   # (25-40 minutes on a 2-core machine)
    python -m bench --quick        # one row: 3072-100x4-10 with batch norm, batch 256, float32, 1 thread

Each module holds one part: ``workloads`` (what is trained), ``contenders`` (nnplug's Solver with and
without tracking, a bare numpy loop, PyTorch), ``roofline`` (the GEMMs of one step, timed alone),
``suite`` (runs and interleaves them), ``sweep`` (basic against joblib launcher) and ``report``
(the table and JSON). The run quoted in the README is kept in bench/RESULTS.md.

Conv nets have their own scripts: ``python bench/conv_models.py`` trains the CIFAR-10 presets' nets
(``cifar10_vgg``, airbench94's ``cifar10_fast``), ResNet-20 with and without its skips and
``ThreeLayerConvNet`` with nnplug's Solver and with their PyTorch twins (samples/s, roofline
fraction, peak memory; ``model_zoo`` builds them, ``torch_twin`` mirrors any of them in PyTorch);
``python bench/conv.py`` takes the VGG-like net's step apart into its GEMMs. Their runs are kept in
bench/CONV_RESULTS.md.
"""
