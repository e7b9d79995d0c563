# JupyterHub for the MLTF Slurm GPU cluster: every session is a Slurm job of the logged-in user, started by
# jupyter_mltf.hub.MLTFSlurmSpawner (batchspawner's SlurmSpawner + a bounded spawn form, pending reasons,
# a status that survives Slurm hiccups) with jupyter_mltf enabled inside.
#
# Run as root (the hub submits with `sudo -E -u USER sbatch`), from any directory:
#   MLTF_VENV=/opt/mltf/venv jupyterhub -f /path/to/hub_config/jupyterhub_config.py
# Every site-specific value below can be set from the environment (MLTF_HUB_*), so the file itself can be
# used as is; scripts/hub/up.sh shows a complete start for the one-host demo cluster.
#
# Requirements on the hub machine: the Slurm client commands, sudo, configurable-http-proxy, and a venv
# (readable by every user, also on the compute nodes) with jupyter-mltf[hub] + jupyterlab.
import os
import sys

c = get_config()  # provided by the config loader


def env(name, default=""):
    return os.environ.get(name, default)


HERE = os.path.dirname(os.path.abspath(__file__))
# the venv the sessions run in (jupyterhub-singleuser, batchspawner-singleuser, jupyter_mltf, mlflow)
VENV = env("MLTF_VENV", os.path.dirname(os.path.dirname(os.path.abspath(sys.executable))))
# where the hub keeps its database, cookie secret and proxy pid file (root-only)
STATE = env("MLTF_HUB_STATE", HERE)
SINGLE_HOST = env("MLTF_HUB_SINGLE_HOST", "1") == "1"

# --------------------------------------------------------------------------------------- network
# Public proxy address (what users open), the hub's internal API (what sessions call back to) and the
# proxy's REST API. On a real cluster, MLTF_HUB_API_IP must be an address the compute nodes can reach.
c.JupyterHub.ip = env("MLTF_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(env("MLTF_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = env("MLTF_HUB_API_IP", "127.0.0.1")
c.JupyterHub.hub_port = int(env("MLTF_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('MLTF_HUB_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "jupyterhub-proxy.pid")
if env("MLTF_HUB_PROXY_CMD"):  # e.g. the PyPI (python) configurable-http-proxy instead of the npm one
    c.ConfigurableHTTPProxy.command = [env("MLTF_HUB_PROXY_CMD")]

# --------------------------------------------------------------------------------------- state
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
# Restarting the hub (upgrade, config change, crash) must not kill sessions: leave them running and
# reconnect to them from the database when the hub comes back (the spawner keeps the Slurm job id).
c.JupyterHub.cleanup_servers = False
c.JupyterHub.default_url = "/hub/home"

# --------------------------------------------------------------------------------------- login
# MLTF_HUB_AUTH=pam (default): the cluster's own accounts, as a site needs them.
# MLTF_HUB_AUTH=demo: demo/tests only; each user logs in with their own password, in the file
# MLTF_HUB_PASSWORD_DIR/<user> that only that user and root can read (scripts/hub/up.sh writes them).
AUTH = env("MLTF_HUB_AUTH", "pam")
if AUTH == "dummy":
    raise ValueError(
        "MLTF_HUB_AUTH=dummy (one password shared by every user) is gone: use MLTF_HUB_AUTH=demo with "
        "MLTF_HUB_PASSWORD_DIR (one password file per user), or pam"
    )
if AUTH == "demo":
    if not env("MLTF_HUB_PASSWORD_DIR"):
        raise ValueError("MLTF_HUB_AUTH=demo needs MLTF_HUB_PASSWORD_DIR (a directory with one password file per user)")
    c.JupyterHub.authenticator_class = "jupyter_mltf.hub.auth.DemoPasswordAuthenticator"
    c.DemoPasswordAuthenticator.password_dir = env("MLTF_HUB_PASSWORD_DIR")
else:
    c.JupyterHub.authenticator_class = "pam"
# who may log in (comma separated; empty = every user the authenticator accepts, PAM only)
USERS = [u for u in env("MLTF_HUB_USERS", "alice,bob" if AUTH == "demo" else "").split(",") if u]
if USERS:
    c.Authenticator.allowed_users = set(USERS)
elif AUTH == "pam":
    c.Authenticator.allow_all = True
c.Authenticator.admin_users = {u for u in env("MLTF_HUB_ADMINS").split(",") if u}

# --------------------------------------------------------------------------------------- services
c.JupyterHub.services = []
c.JupyterHub.load_roles = []
# Idle culler: stops sessions (and so frees their GPUs) after MLTF_HUB_CULL_TIMEOUT seconds without
# activity. A session with MLTF jobs in the queue reports activity (jupyter_mltf.hub.keepalive), so
# following a long training run never counts as idle.
c.JupyterHub.services.append(
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            "--timeout=" + env("MLTF_HUB_CULL_TIMEOUT", "3600"),
            "--cull-every=" + env("MLTF_HUB_CULL_EVERY", "300"),
        ],
    }
)
c.JupyterHub.load_roles.append(
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
)
# An admin service token for automation (the demo's down.sh, monitoring); only when a token file is given.
# The file must be readable by root only: whoever holds the token acts on every user's server.
if env("MLTF_HUB_CI_TOKEN_FILE"):
    with open(env("MLTF_HUB_CI_TOKEN_FILE")) as f:
        c.JupyterHub.services.append({"name": "ci-driver", "api_token": f.read().strip()})
    c.JupyterHub.load_roles.append(
        {
            "name": "ci-driver",
            # access:servers lets it call sessions through the proxy; shutdown lets it restart the hub;
            # tokens lets it issue the short-lived, one-user tokens of scripts/hub/grant.sh
            "scopes": [
                "admin:users",
                "admin:servers",
                "access:servers",
                "list:users",
                "read:users",
                "tokens",
                "shutdown",
            ],
            "services": ["ci-driver"],
        }
    )
# How often the hub reads activity from the proxy and sessions (the culler's clock).
c.JupyterHub.last_activity_interval = int(env("MLTF_HUB_ACTIVITY_INTERVAL", "300"))

# --------------------------------------------------------------------------------------- sessions
c.JupyterHub.spawner_class = "jupyter_mltf.hub.spawner.MLTFSlurmSpawner"
# (with wrapspawner's ProfilesSpawner instead, also set c.WrapSpawner.child_class to this spawner: a spawn
#  without a profile otherwise falls back to a local process. The form below makes that unnecessary.)
c.MLTFSlurmSpawner.batchspawner_singleuser_cmd = VENV + "/bin/batchspawner-singleuser"
c.Spawner.cmd = [VENV + "/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# Simple choices of the spawn form; "Advanced" allows any partition, GPU type/count, CPUs, memory and time
# within what sinfo reports. The first one is the default; the user's last choice is pre-selected.
GPU_PART = env("MLTF_HUB_GPU_PARTITION", "gpu")
CPU_PART = env("MLTF_HUB_CPU_PARTITION", "cpu")
c.MLTFSlurmSpawner.presets = [
    {
        "key": "gpu1",
        "label": "1 GPU, 4 h",
        "resources": {"partition": GPU_PART, "gpus": 1, "cpus": 2, "mem": "8G", "time": "04:00:00"},
    },
    {
        "key": "gpu2",
        "label": "2 GPUs, 8 h",
        "resources": {"partition": GPU_PART, "gpus": 2, "cpus": 4, "mem": "12G", "time": "08:00:00"},
    },
    {
        "key": "cpu",
        "label": "CPU only, 4 h",
        "resources": {"partition": CPU_PART, "gpus": 0, "cpus": 2, "mem": "4G", "time": "04:00:00"},
    },
]
c.MLTFSlurmSpawner.partitions_ttl = 60.0
if env("MLTF_HUB_ACCOUNT"):
    c.MLTFSlurmSpawner.req_account = env("MLTF_HUB_ACCOUNT")
# Queue waits count against start_timeout: allow a long one, the spawn page shows why it waits.
c.Spawner.start_timeout = int(env("MLTF_HUB_START_TIMEOUT", "900"))
c.Spawner.http_timeout = 120
c.MLTFSlurmSpawner.startup_poll_interval = 0.5
c.Spawner.poll_interval = 30
# A failing squeue is "unknown" (the session stays) after this many seconds, never "gone".
c.MLTFSlurmSpawner.status_timeout = 20.0
# One-host cluster (the demo, CI): the server listens on loopback and the hub connects to loopback,
# whatever squeue prints as the job's host. On a real cluster set MLTF_HUB_SINGLE_HOST=0.
if SINGLE_HOST:
    c.MLTFSlurmSpawner.listen_ip = "127.0.0.1"
    c.MLTFSlurmSpawner.state_exechost_exp = "127.0.0.1"
# PATH inside the session: JupyterHub does not forward it, `sudo -E` resets it to secure_path and srun only
# passes the variables of --export on; so export PATH and put the venv first in the job script.
c.MLTFSlurmSpawner.req_keepvars_extra = "PATH"
c.MLTFSlurmSpawner.req_prologue = f"export PATH={VENV}/bin:$PATH"
# The session's environment (MLFLOW_TRACKING_URI defaults to the hub's own; JUPYTER_CONFIG_PATH enabling
# jupyter_mltf and the keepalive is added by the spawner).
c.MLTFSlurmSpawner.mlflow_tracking_uri = env("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
c.Spawner.environment = {
    "MLTF_KEEPALIVE_INTERVAL": env("MLTF_KEEPALIVE_INTERVAL", "300"),
    "JUPYTERHUB_ACTIVITY_INTERVAL": env("MLTF_HUB_ACTIVITY_INTERVAL", "300"),
}
