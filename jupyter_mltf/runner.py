"""``python -m jupyter_mltf.runner SPEC.json`` stays: queued jobs' scripts run it. Code: jupyter_mltf/node/runner.py."""

from .node.runner import main

if __name__ == "__main__":
    main()
