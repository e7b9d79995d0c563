"""The ``gateway`` backend: submit through the facility's MLTF gateway (PyPI ``mltf-gateway``) over REST.

Laid out like jupyter_server's ``gateway/``: ``credentials`` finds the bearer token, ``client`` is the retrying
HTTP client with the gateway's error answers mapped to ours, ``backend`` maps our job model onto the wire API.
"""

from .backend import GATEWAY_STATES, GatewayBackend, map_status

__all__ = ["GATEWAY_STATES", "GatewayBackend", "map_status"]
