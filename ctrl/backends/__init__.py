"""Generation backends behind ``ctrl.generation.load_backend``: transformers, vllm, openai."""
