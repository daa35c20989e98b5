"""Environments: the generator in the loop, shared by stages, trainers and evaluation.

- ``revision``: (problem, solution, critique) -> the frozen generator's revision -> sandbox verdict.
- ``episode``: execution-feedback episodes (problem -> code -> public tests -> feedback -> ...).

Each batches its generation (one backend call per batch or turn) and its sandbox calls (one
``sandbox.judge`` call per batch or turn). Verdicts come from the sandbox only.
"""
