"""What Pegasus's tests and its tools (bench/, drills/, eval/) share, outside the test suite.

Real things on loopback, started and stopped by context managers: synthesized speech
(``audio``), the fixture lectures' words and files (``lectures``), free ports (``ports``), a
moto S3 server (``moto_server``), Prometheus (``prometheus``), a fake OpenAI-compatible LLM
(``fake_llm``), migrated databases cloned from a template (``databases``), the project's CLI as
a subprocess (``cli``) and `pegasus serve` / `pegasus worker` deployments (``deployment``).

Nothing here imports pytest: the suite's fixtures (tests/conftest.py) wrap these helpers, and
tools run them directly (``python -m drills.alert_drill``, ``python -m eval.run``, ...).
"""
