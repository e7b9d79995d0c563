"""JupyterHub integration: sessions as Slurm jobs (:mod:`.spawner`), their spawn form (:mod:`.form`) and an
activity keepalive that stops the idle culler from removing a session that follows running MLTF jobs
(:mod:`.keepalive`, a jupyter_server extension enabled in the sessions by ``session_config/``).

Nothing is imported here: the spawner needs JupyterHub and batchspawner (the hub's venv), the keepalive
only jupyter_server (the session's).
"""
