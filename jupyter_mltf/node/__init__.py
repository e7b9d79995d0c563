"""Everything that runs on the compute node: the runner, launchers, project environments, the sweep task,
notebook execution, per-rank logs and signal handling.

The node reads what the server wrote through :mod:`jupyter_mltf.contract` (``RunnerSpec``, ``JobPaths``) and
imports nothing server-side; the server never imports this package (``tests/test_layout.py`` checks both).
"""
