"""Prefect flows for ctrl, derived from the step registry (``ctrl.registry``).

- ``flows/stage.py``: every stage's task (called by the pipeline) and flow (a GPU deployment).
- ``flows/pipeline.py``: flow ``ctrl`` (deployment ``ctrl/full-pipeline``) and ``ctrl-retrain``.
- ``flows/deploy.py``: work pools and deployments from ``prefect.yaml`` (``python -m flows.deploy``).
- ``flows/artifacts.py``: Prefect artifacts (preview tables, metrics, the report).
Flows only sequence; stages live in ``ctrl/`` and data in ``storage/`` (keys pass, never data).
"""
